//! The log writer: formatted lines queue in memory and one thread writes
//! them to stderr, many lines per `write(2)`, woken by a timer while lines
//! keep coming rather than by each line.
//!
//! Why not `tracing-appender`'s non-blocking writer, used before: it wakes
//! its thread for every line, and a guest that logs once per event paid a
//! futex wake and ~2.5 context switches per event for it (issue 15:
//! +1.5 µs of kernel time per event). Here a line wakes the thread only
//! when it sleeps with nothing queued; while lines keep coming, the thread
//! takes what queued every [`BATCH_EVERY`] and writes it at once.
//!
//! What stays as before: lines are written in the order they were queued;
//! a request never waits on stderr (only on the queue's lock, held for a
//! copy); the queue is bounded ([`MAX_QUEUED_BYTES`]), and a line that
//! does not fit is dropped and counted (`wasmfn_log_lines_dropped_total`)
//! — a stuck stderr reader never blocks requests; dropping the guard
//! writes what is queued (waiting at most [`FLUSH_ON_EXIT`]).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

/// Bytes of formatted lines that may wait for stderr; past it new lines
/// are dropped. About 5,000 typical lines (tracing-appender's 8,192-line
/// queue before was allocated up front; this one grows as lines come).
pub(super) const MAX_QUEUED_BYTES: usize = 1 << 20;
/// How long the writer thread lets lines gather after a write while they
/// keep coming: what a line may wait, at most, before it is written.
const BATCH_EVERY: Duration = Duration::from_millis(5);
/// How long dropping the guard waits for the queued lines to be written.
const FLUSH_ON_EXIT: Duration = Duration::from_secs(1);

/// Lines dropped so far because the queue was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lines dropped so far because the queue to stderr was full.
pub(super) fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The queue's writing end: each `write` queues one formatted line.
#[derive(Clone)]
pub(super) struct LogQueue {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

struct Queue {
    lines: Vec<u8>,
    /// The writer thread waits for a line (nothing was queued).
    idle: bool,
    /// The guard was dropped: write what is left and stop.
    closed: bool,
}

/// Keep it until the process ends: dropping it writes the lines still
/// queued and stops the writer thread.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    shared: Arc<Shared>,
    done: mpsc::Receiver<()>,
}

/// A queue in front of `out` and the thread that writes it there.
pub(super) fn spawn<W: Write + Send + 'static>(out: W) -> (LogQueue, LogGuard) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            lines: Vec::new(),
            idle: false,
            closed: false,
        }),
        wake: Condvar::new(),
    });
    let (done_tx, done) = mpsc::channel();
    let writer = shared.clone();
    std::thread::Builder::new()
        .name("wasmfn-log".into())
        .spawn(move || {
            write_lines(&writer, out);
            let _ = done_tx.send(());
        })
        .expect("spawning the log writer thread");
    (
        LogQueue {
            shared: shared.clone(),
        },
        LogGuard { shared, done },
    )
}

/// The writer thread: takes everything queued, writes it, lets more gather
/// for [`BATCH_EVERY`]; sleeps until woken when nothing is queued.
fn write_lines(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut queue = shared.queue.lock().expect("log queue lock");
            while queue.lines.is_empty() && !queue.closed {
                queue.idle = true;
                queue = shared.wake.wait(queue).expect("log queue lock");
            }
            queue.idle = false;
            std::mem::swap(&mut batch, &mut queue.lines);
            queue.closed
        };
        // A failing stderr loses these lines; there is nowhere to say so.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if closed {
            return;
        }
        std::thread::sleep(BATCH_EVERY);
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogQueue {
    type Writer = LogQueue;

    fn make_writer(&'a self) -> LogQueue {
        self.clone()
    }
}

impl Write for LogQueue {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut queue = self.shared.queue.lock().expect("log queue lock");
        if queue.lines.len() + line.len() > MAX_QUEUED_BYTES {
            drop(queue);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        queue.lines.extend_from_slice(line);
        let wake = std::mem::take(&mut queue.idle);
        drop(queue);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.queue.lock().expect("log queue lock").closed = true;
        self.shared.wake.notify_one();
        let _ = self.done.recv_timeout(FLUSH_ON_EXIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stderr that records what it is given, in `write` calls.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_in_order_and_the_guard_flushes_them() {
        let out = Recorded::default();
        let (queue, guard) = spawn(out.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut queue = queue.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        queue.write_all(format!("{t} {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let writes = out.0.lock().unwrap().clone();
        let text = String::from_utf8(writes.concat()).unwrap();
        assert_eq!(text.lines().count(), 2000);
        for t in 0..4 {
            let own: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(
                own,
                (0..500).collect::<Vec<_>>(),
                "thread {t}'s lines in order"
            );
        }
        assert!(writes.len() < 2000, "lines were written in batches");
    }

    #[test]
    fn a_full_queue_drops_and_counts_new_lines() {
        /// A stderr nobody reads: its first write never returns.
        struct Stuck(mpsc::Receiver<()>);
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                let _ = self.0.recv();
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (unstick, stuck) = mpsc::channel();
        let (mut queue, guard) = spawn(Stuck(stuck));
        let before = dropped_lines();
        let line = [b'x'; 1000];
        for _ in 0..(3 * MAX_QUEUED_BYTES / line.len()) {
            queue.write_all(&line).unwrap();
        }
        let queued = queue.shared.queue.lock().unwrap().lines.len();
        assert!(queued <= MAX_QUEUED_BYTES, "{queued}");
        assert!(dropped_lines() - before >= (MAX_QUEUED_BYTES / line.len()) as u64);
        drop(unstick);
        drop(guard);
    }
}
