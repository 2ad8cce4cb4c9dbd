//! A registry token service, as Docker Hub, GHCR and CNCF distribution use:
//! a real HTTP server on 127.0.0.1 that takes HTTP Basic credentials at
//! `GET /token?service=…&scope=repository:NAME:ACTIONS` and answers with a
//! JWT (RS256, its certificate in the `x5c` header) that the registry
//! (`auth: token`) verifies against the certificate it was given.
//!
//! The key, the certificate and each signature come from the `openssl` CLI
//! (Debian `openssl`), so the tests need no JWT crate.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The `iss` of every token; the registry is configured to expect it.
pub const ISSUER: &str = "wasmfn-tests-token-service";
/// The `service` the registry names in its challenge.
pub const SERVICE: &str = "wasmfn-tests-registry";

struct Shared {
    user: String,
    password: String,
    key: PathBuf,
    certificate_der: Vec<u8>,
    issued: AtomicU64,
    refused: AtomicU64,
}

/// A running token service; stops with the test's runtime.
pub struct TokenService {
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>/token`: the registry's `realm`.
    pub realm: String,
    /// The PEM certificate the registry trusts (`rootcertbundle`).
    pub certificate: PathBuf,
}

impl TokenService {
    /// Starts a service that grants every scope asked for to `user` with
    /// `password`, and answers 401 to anyone else.
    pub async fn start(user: &str, password: &str) -> TokenService {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let certificate = dir.path().join("cert.pem");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={ISSUER}"),
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            certificate.to_str().unwrap(),
        ]);
        let certificate_der = openssl(&[
            "x509",
            "-in",
            certificate.to_str().unwrap(),
            "-outform",
            "DER",
        ]);
        let shared = Arc::new(Shared {
            user: user.to_owned(),
            password: password.to_owned(),
            key,
            certificate_der,
            issued: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route("/token", axum::routing::get(token))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        TokenService {
            shared,
            _dir: dir,
            realm: format!("http://{address}/token"),
            certificate,
        }
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.shared.issued.load(Ordering::SeqCst)
    }

    /// Requests refused for missing or wrong credentials so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

/// `GET /token`: a JWT for the scopes asked for, to the right credentials.
async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, query: RawQuery) -> Response {
    if basic_credentials(&headers) != Some((shared.user.clone(), shared.password.clone())) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"wasmfn-tests\"")],
        )
            .into_response();
    }
    let query = query.0.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let service = pairs
        .iter()
        .find(|(k, _)| k == "service")
        .map_or(SERVICE.to_owned(), |(_, v)| v.clone());
    // `repository:fns/f:pull,push` → {type, name, actions}.
    let access: Vec<serde_json::Value> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, scope)| scope.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(serde_json::json!({
                "type": kind,
                "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let issued = shared.issued.fetch_add(1, Ordering::SeqCst);
    let header = serde_json::json!({
        "alg": "RS256",
        "typ": "JWT",
        "x5c": [STANDARD.encode(&shared.certificate_der)],
    });
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": shared.user,
        "aud": service,
        "exp": now + 600,
        "nbf": now - 60,
        "iat": now - 60,
        "jti": format!("wasmfn-tests-{issued}"),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(&shared.key, signing_input.as_bytes());
    let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    axum::Json(serde_json::json!({
        "token": jwt,
        "access_token": jwt,
        "expires_in": 600,
    }))
    .into_response()
}

/// The `(user, password)` of an `Authorization: Basic …` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// An RS256 signature (PKCS#1 v1.5 over SHA-256) of `input` with `key`.
fn sign(key: &Path, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign", key.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl (Debian openssl) is installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl dgst failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs `openssl ARGS`, returning its stdout.
fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl (Debian openssl) is installed");
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
