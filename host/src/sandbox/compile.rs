//! Compiling within bounds: Cranelift runs in a child process (`wasmfn
//! __compile`) under a memory limit and a CPU-time limit, so a module shaped
//! to make the compiler slow or huge costs at most the bound and is refused
//! with a message naming it, instead of stalling reloads or taking the
//! host's memory.
//!
//! Why CPU time and not the wall clock: what a module costs to compile is
//! CPU, while the wall clock also counts the node's other work. The Python
//! transformer (18 MB) needs 10–13 CPU-s of Cranelift, which on a loaded
//! 2-core node took up to 95 s of wall clock: a wall-clock bound refused a
//! legitimate module because the node was busy. The wall clock remains only
//! as a backstop ([`WALL_CLOCK_BACKSTOP`] × the CPU bound) against a worker
//! stuck without computing, which `RLIMIT_CPU` never stops.
//!
//! Why a process and not a thread with a deadline: Cranelift cannot be
//! cancelled, so an abandoned thread would keep its core and its memory (the
//! attack probe saw 10–55 s and 2 GB for generated `br_table`/`if` shapes
//! under 1 MiB). A child can be killed, and the kernel enforces its memory.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use wasmtime::Engine;

/// Default CPU-time bound, in seconds, on compiling one module
/// (`--compile-timeout-secs`), all compiler threads counted. The Rust
/// example functions need under 0.2 CPU-s; the Python transformer (18 MB)
/// 10–13 and the JavaScript handler (12 MB) 12–13 (`bench/winch.sh`).
pub const DEFAULT_COMPILE_TIMEOUT_SECS: u64 = 60;

/// The wall-clock backstop, as a multiple of the CPU bound: a worker still
/// running after this many times its CPU seconds is killed even though it
/// did not use them. Measured: 10–13 CPU-s of compile took up to 95 s on a
/// loaded 2-core node (7–9×), so 10× refuses no module the CPU bound admits
/// there.
const WALL_CLOCK_BACKSTOP: u32 = 10;

/// Default memory bound of the compiling process, in MiB
/// (`--compile-memory-mb`), enforced as `RLIMIT_DATA` (private writable
/// memory: the heap, thread stacks). Measured peaks: 255 MB for 5,000 nested
/// `if`s (55 KB of Wasm), 2.8 GB and 56 s for 20,000 (220 KB), which this
/// bound stops after 8 s. `RLIMIT_AS` was tried first: it also counts
/// address space malloc reserves per thread but never uses (64 MiB per
/// arena), so its need grows with the machine's core count.
pub const DEFAULT_COMPILE_MEMORY_MB: u64 = 1024;

/// The hidden subcommand that compiles in a child process.
pub const COMPILE_WORKER_COMMAND: &str = "__compile";

/// How long the parent sleeps between checks on a compiling child.
const POLL: Duration = Duration::from_millis(5);

/// Bounds on compiling one module, enforced in a child process.
#[derive(Debug, Clone)]
pub struct CompileBounds {
    /// CPU time the child may use (`RLIMIT_CPU`, whole seconds); it is
    /// killed past it, and past [`WALL_CLOCK_BACKSTOP`] times it of wall
    /// clock.
    pub cpu_time: Duration,
    /// The child's memory limit (`RLIMIT_DATA`), in bytes.
    pub memory_bytes: u64,
    /// The `wasmfn` binary that runs `__compile` (the running one).
    pub program: PathBuf,
}

impl CompileBounds {
    /// Bounds of `cpu_time` and `memory_mb`, compiled by this very binary.
    pub fn new(cpu_time: Duration, memory_mb: u64) -> std::io::Result<CompileBounds> {
        Ok(CompileBounds {
            cpu_time,
            memory_bytes: memory_mb << 20,
            program: std::env::current_exe()?,
        })
    }

    /// The CPU bound in whole seconds, as `RLIMIT_CPU` counts it (at least 1).
    fn cpu_secs(&self) -> u64 {
        self.cpu_time.as_secs().max(1)
    }

    /// The wall-clock time after which a worker is killed whatever CPU it used.
    fn wall_clock_backstop(&self) -> Duration {
        Duration::from_secs(self.cpu_secs()) * WALL_CLOCK_BACKSTOP
    }
}

/// Precompiles `bytes` (a component or a WASI command, told by its header)
/// for `engine`: in this process without
/// `bounds`, else in a bounded child whose engine is built with the same
/// `meter_fuel` (the only engine setting that changes compiled code; the
/// deserializing engine checks the rest and refuses a mismatch).
pub(super) fn precompile_component(
    engine: &Engine,
    bounds: Option<&CompileBounds>,
    meter_fuel: bool,
    bytes: &[u8],
) -> wasmtime::Result<Vec<u8>> {
    let Some(bounds) = bounds else {
        return precompile_any(engine, bytes);
    };
    let mut command = Command::new(&bounds.program);
    command
        .arg(COMPILE_WORKER_COMMAND)
        .arg("--memory-bytes")
        .arg(bounds.memory_bytes.to_string())
        .arg("--cpu-secs")
        .arg(bounds.cpu_secs().to_string());
    // mimalloc (the host's allocator) reserves 1 GiB arenas, which alone fill the
    // worker's data limit: a 4 KB module was refused as needing "more than
    // 1024 MiB". Smaller arenas keep the bound about the compile.
    command.env("MIMALLOC_ARENA_RESERVE", "64MiB");
    if meter_fuel {
        command.arg("--fuel");
    }
    run_bounded(command, bytes, bounds)
}

/// Runs the worker `command` on `bytes` and returns what it wrote, or why not.
fn run_bounded(
    mut command: Command,
    bytes: &[u8],
    bounds: &CompileBounds,
) -> wasmtime::Result<Vec<u8>> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| {
            wasmtime::format_err!(
                "cannot start the compiler process {}: {err}",
                bounds.program.display()
            )
        })?;
    let started = Instant::now();
    let (mut stdin, mut stdout, stderr) = (
        child.stdin.take().expect("piped stdin"),
        child.stdout.take().expect("piped stdout"),
        child.stderr.take().expect("piped stderr"),
    );
    // Pipes are drained on their own threads so that neither side blocks on
    // a full pipe while the other waits.
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // A child that dies early closes the pipe: its status says why.
            let _ = stdin.write_all(bytes);
        });
        let artifact = scope.spawn(move || {
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).map(|_| out)
        });
        let message = scope.spawn(move || {
            let mut out = String::new();
            let _ = stderr.take(4096).read_to_string(&mut out);
            out
        });
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() >= bounds.wall_clock_backstop() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(wasmtime::format_err!(
                    "the compiler process was still running after {} s of wall clock ({}× its CPU bound of {} s, not used up), so it was killed and the module is refused (--compile-timeout-secs, WASMFN_COMPILE_TIMEOUT_SECS)",
                    bounds.wall_clock_backstop().as_secs(),
                    WALL_CLOCK_BACKSTOP,
                    bounds.cpu_secs(),
                ));
            }
            std::thread::sleep(POLL);
        };
        let artifact = artifact.join().expect("stdout reader panicked")?;
        let message = message.join().expect("stderr reader panicked");
        if status.success() {
            return Ok(artifact);
        }
        let message = message.trim();
        // The worker reports a compile error on stderr and exits 1. The
        // kernel ends it with SIGXCPU at the CPU bound (SIGKILL a second
        // later if that did not end it); an allocation failure past the
        // memory bound aborts it.
        if status.code() == Some(1) && !message.is_empty() {
            return Err(wasmtime::format_err!("{message}"));
        }
        if matches!(status.signal(), Some(libc::SIGXCPU)) {
            return Err(wasmtime::format_err!(
                "compiling needed more than {} s of CPU time, so the module is refused (--compile-timeout-secs, WASMFN_COMPILE_TIMEOUT_SECS)",
                bounds.cpu_secs(),
            ));
        }
        Err(wasmtime::format_err!(
            "compiling needed more than {} MiB of memory, so the module is refused (--compile-memory-mb, WASMFN_COMPILE_MEMORY_MB; the compiler process ended with {status})",
            bounds.memory_bytes >> 20,
        ))
    })
}

/// The arguments of `wasmfn __compile`.
#[derive(Debug, clap::Args)]
pub struct CompileWorkerArgs {
    /// Memory limit (`RLIMIT_DATA`) of this process, in bytes.
    #[arg(long)]
    pub memory_bytes: u64,
    /// CPU-time limit of this process, in seconds (`RLIMIT_CPU`: SIGXCPU
    /// at it, SIGKILL one second later).
    #[arg(long)]
    pub cpu_secs: u64,
    /// Compile for an engine that meters fuel.
    #[arg(long)]
    pub fuel: bool,
}

/// Precompiles a component, or a core module (a WASI command) by its header.
fn precompile_any(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Vec<u8>> {
    match super::footprint::GuestForm::of(bytes) {
        Ok(super::footprint::GuestForm::Command) => engine.precompile_module(bytes),
        _ => engine.precompile_component(bytes),
    }
}

/// `wasmfn __compile`: reads a component or a WASI command on stdin, writes the precompiled
/// artifact on stdout. A compile error is one line on stderr and exit 1.
/// Runs before logging and the async runtime start, with its limits set
/// first; it is the process the kernel's OOM killer should pick first.
pub fn compile_worker(args: &CompileWorkerArgs) -> ExitCode {
    limit_self(args);
    let mut bytes = Vec::new();
    if let Err(err) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("cannot read the module from the host: {err}");
        return ExitCode::from(1);
    }
    let result =
        super::engine::compile_engine(args.fuel).and_then(|engine| precompile_any(&engine, &bytes));
    match result {
        Ok(artifact) => match std::io::stdout().lock().write_all(&artifact) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("cannot hand the compiled module to the host: {err}");
                ExitCode::from(1)
            }
        },
        Err(err) => {
            eprintln!("{err:#}");
            ExitCode::from(1)
        }
    }
}

/// Sets this process's memory and CPU limits (and no core dump when one
/// ends it: a dump of a compiler near its memory bound is that big), makes
/// it the OOM killer's first choice, and has it killed if the host dies.
fn limit_self(args: &CompileWorkerArgs) {
    // (resource, soft, hard): at the soft CPU limit the kernel sends
    // SIGXCPU, which tells the parent which bound ended the worker.
    let limits = [
        (libc::RLIMIT_DATA, args.memory_bytes, args.memory_bytes),
        (
            libc::RLIMIT_CPU,
            args.cpu_secs,
            args.cpu_secs.saturating_add(1),
        ),
        (libc::RLIMIT_CORE, 0, 0),
    ];
    for (resource, soft, hard) in limits {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit only reads the struct passed to it.
        unsafe {
            libc::setrlimit(resource, &limit);
        }
    }
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and changes only
    // this process's attributes.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_waits_without_computing_is_not_refused_at_its_cpu_bound() {
        // A stand-in worker that takes 2 s of wall clock and almost no CPU,
        // as a compile does on a node busy with other work: the bound of
        // 1 CPU-s must not refuse it (the wall-clock backstop is 10 s).
        let bounds = CompileBounds {
            cpu_time: Duration::from_secs(1),
            memory_bytes: 1 << 30,
            program: PathBuf::from("sleep"),
        };
        let mut command = Command::new("sleep");
        command.arg("2");
        let output = run_bounded(command, b"", &bounds).expect("refused a worker that waited");
        assert!(output.is_empty());
    }

    #[test]
    fn the_wall_clock_backstop_is_a_multiple_of_the_cpu_bound() {
        let bounds = CompileBounds::new(Duration::from_secs(60), 1024).unwrap();
        assert_eq!(bounds.cpu_secs(), 60);
        assert_eq!(bounds.wall_clock_backstop(), Duration::from_secs(600));
        let zero = CompileBounds::new(Duration::ZERO, 1024).unwrap();
        assert_eq!(zero.cpu_secs(), 1);
    }
}
