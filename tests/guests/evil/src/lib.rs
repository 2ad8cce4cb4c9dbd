//! `evil`: a test-only function that misbehaves as the event's `type` asks,
//! so end-to-end tests can prove the host contains each kind of fault.

use wasmfn_guest::{Error, Event};

fn handle(event: Event) -> Result<Vec<Event>, Error> {
    match event.type_.as_str() {
        "ok" => Ok(vec![Event::new("evil.ok", "wasmfn/evil")]),
        "fail" => Err(Error::failed("asked to fail")),
        "invalid" => Err(Error::invalid("asked to be invalid")),
        "panic" => panic!("asked to panic"),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
            }
        }
        "recurse" => Ok(vec![
            Event::new("depth", "wasmfn/evil").with_subject(recurse(0).to_string()),
        ]),
        "many-events" => Ok((0..10_000)
            .map(|_| Event::new("spam", "wasmfn/evil"))
            .collect()),
        "big-payload" => {
            Ok(vec![Event::new("big", "wasmfn/evil").with_data(
                "application/octet-stream",
                vec![7u8; 50 << 20],
            )])
        }
        "two-events" => Ok(vec![
            Event::new("a", "wasmfn/evil"),
            Event::new("b", "wasmfn/evil"),
        ]),
        "bad-output" => Ok(vec![
            Event::new("t", "wasmfn/evil").with_extension("Bad.Name", "x"),
        ]),
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(400));
            Ok(Vec::new())
        }
        "print" => {
            println!("evil says hello on stdout");
            Ok(Vec::new())
        }
        "read-env" => Ok(vec![Event::new("env", "wasmfn/evil").with_subject(
            format!(
                "{} vars, HOME={:?}",
                std::env::vars().count(),
                std::env::var("HOME").ok()
            ),
        )]),
        "open-file" => match std::fs::read("/etc/passwd") {
            Ok(_) => Err(Error::failed("opened /etc/passwd")),
            Err(err) => Ok(vec![
                Event::new("denied", "wasmfn/evil").with_subject(err.to_string()),
            ]),
        },
        "socket" => match std::net::TcpStream::connect("127.0.0.1:1") {
            Ok(_) => Err(Error::failed("opened a socket")),
            Err(err) => Ok(vec![
                Event::new("denied", "wasmfn/evil").with_subject(err.to_string()),
            ]),
        },
        other => Err(Error::invalid(format!("unknown evil request `{other}`"))),
    }
}

/// Recursion on the Wasm stack itself (scalar frames, no shadow-stack
/// memory), until the engine's stack limit stops it.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))).wrapping_add(depth)
}

wasmfn_guest::function!(handle);
