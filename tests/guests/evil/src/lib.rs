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
        "print-long" => {
            println!("{}", "s".repeat(10_000));
            Ok(Vec::new())
        }
        "log-flood" => {
            for i in 0..10_000 {
                wasmfn_guest::info!("flood record {i}");
                // Below the host's level: neither logged nor counted.
                wasmfn_guest::debug!("quiet record {i}");
            }
            Ok(Vec::new())
        }
        "log-huge" => {
            wasmfn_guest::info!("huge:{}", "h".repeat(1 << 20));
            Ok(Vec::new())
        }
        "log-forge" => {
            wasmfn_guest::info!("benign\n2026-12-01T00:00:00Z ERROR wasmfn: FORGED line");
            Ok(Vec::new())
        }
        "big-subject" => Ok(vec![
            Event::new("big", "wasmfn/evil").with_subject("s".repeat(5 << 20)),
        ]),
        "many-extensions" => Ok(vec![
            (0..100).fold(Event::new("wide", "wasmfn/evil"), |event, i| {
                event.with_extension(format!("x{i}"), "v")
            }),
        ]),
        "control-output" => Ok(vec![
            Event::new("t", "wasmfn/evil").with_subject("line\nforged"),
        ]),
        "bad-schema" => {
            let mut event = Event::new("t", "wasmfn/evil");
            event.dataschema = Some("not a uri".into());
            Ok(vec![event])
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
        "remember" => Ok(vec![
            Event::new("remembered", "wasmfn/evil").with_subject(remember()),
        ]),
        other => Err(Error::invalid(format!("unknown evil request `{other}`"))),
    }
}

/// What an earlier event would have left behind if its memory reached this
/// one: a counter and a buffer in zeroed static memory, a string in
/// initialised static data — each read, then overwritten. A fresh instance
/// (or a pooled slot reset properly) always reports
/// `calls=1 data=initial! zeroed=true`.
fn remember() -> String {
    use std::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    static mut DATA: [u8; 8] = *b"initial!";
    static mut ZEROED: [u8; 4096] = [0; 4096];
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    // SAFETY: single-threaded; raw, volatile accesses to our own statics.
    let (data, zeroed) = unsafe {
        let data = read_volatile(addr_of!(DATA));
        write_volatile(addr_of_mut!(DATA), *b"touched!");
        let zeroed = read_volatile(addr_of!(ZEROED)).iter().all(|b| *b == 0);
        write_volatile(addr_of_mut!(ZEROED), [0xAA; 4096]);
        (data, zeroed)
    };
    format!(
        "calls={calls} data={} zeroed={zeroed}",
        String::from_utf8_lossy(&data)
    )
}

/// Recursion on the Wasm stack itself (scalar frames, no shadow-stack
/// memory), until the engine's stack limit stops it.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))).wrapping_add(depth)
}

wasmfn_guest::function!(handle);
