//! A real OCI registry for the tests: Debian's `docker-registry` (CNCF
//! distribution 2.8) serving a temporary storage directory on 127.0.0.1 with
//! an ephemeral port, optionally behind an htpasswd realm. Killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the registry may take to print its address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How the registry authenticates clients.
enum Realm {
    /// Anonymous pull and push.
    Open,
    /// HTTP Basic against an htpasswd file of one `(user, password)`.
    Htpasswd(String, String),
    /// Bearer tokens from a token service (`realm` URL), signed by the key
    /// of the PEM certificate `certificate`.
    Token { realm: String, certificate: PathBuf },
}

/// A running `docker-registry serve`.
pub struct Registry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub host: String,
    realm: Realm,
}

impl Registry {
    /// An open registry (anonymous pull and push).
    pub fn start() -> Registry {
        Registry::launch(Realm::Open)
    }

    /// A registry that answers 401 without the credentials `user:password`
    /// (HTTP Basic).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::launch(Realm::Htpasswd(user.to_owned(), password.to_owned()))
    }

    /// A registry that answers 401 with a Bearer challenge naming
    /// `service`'s realm, and accepts only the tokens it signs (the token
    /// flow of Docker Hub, GHCR and distribution).
    pub fn start_with_token_service(service: &super::token_service::TokenService) -> Registry {
        Registry::launch(Realm::Token {
            realm: service.realm.clone(),
            certificate: service.certificate.clone(),
        })
    }

    fn launch(realm: Realm) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry {
            child: None,
            dir,
            host: "127.0.0.1:0".to_owned(),
            realm,
        };
        registry.write_config();
        registry.run();
        registry
    }

    fn write_config(&self) {
        let root = self.dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {}\n  secret: wasmfn-tests\n",
            root.join("storage").display(),
            self.host
        );
        if let Realm::Htpasswd(user, password) = &self.realm {
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (Debian apache2-utils) is installed");
            assert!(output.status.success(), "htpasswd failed");
            std::fs::write(root.join("htpasswd"), output.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wasmfn-tests\n    path: {}\n",
                root.join("htpasswd").display()
            ));
        }
        if let Realm::Token { realm, certificate } = &self.realm {
            use super::token_service::{ISSUER, SERVICE};
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                certificate.display()
            ));
        }
        std::fs::write(root.join("config.yml"), config).unwrap();
    }

    fn run(&mut self) {
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry (Debian docker-registry) is installed");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let address = rest.split(['"', ' ']).next().unwrap_or(rest).to_owned();
                    let _ = tx.send(address);
                }
            }
        });
        let address = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .expect("docker-registry did not print its address");
        self.host = address;
        self.child = Some(child);
        self.wait_until_answering();
    }

    fn wait_until_answering(&self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(&self.host).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("docker-registry on {} does not answer", self.host);
    }

    /// Kills the registry (its storage stays): "registry down".
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.stop();
        self.write_config();
        self.run();
    }

    /// Where the registry keeps the blob with `digest` (`sha256:<hex>`).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// A Docker config JSON holding `user:password` for this registry.
    pub fn auth_file(&self, dir: &Path, user: &str, password: &str) -> PathBuf {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let path = dir.join("config.json");
        std::fs::write(
            &path,
            format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, self.host),
        )
        .unwrap();
        path
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
