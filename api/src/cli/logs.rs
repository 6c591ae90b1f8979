//! Where log lines go: standard error, written by a thread of their own that takes
//! whatever lines have queued up and writes them with one call, then flushes. A busy
//! gateway logs a line per request; written one by one, from the request's thread,
//! each would be a system call on the webhook path (and a wake-up of the writer).
//! Lines appear within about 10 ms, in their order; none is
//! dropped (a full queue makes the logger wait); `flush` waits until every line logged
//! before it is written (the CLI calls it before the process exits).

use std::io::Write;
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, SyncSender};

/// Lines waiting for the writer at most; past this, logging waits for it.
const QUEUE: usize = 64 * 1024;

/// How long the writer rests after writing what had queued up.
const REST: std::time::Duration = std::time::Duration::from_millis(10);

enum Message {
    Line(Vec<u8>),
    Flushed(mpsc::Sender<()>),
}

static QUEUE_TX: OnceLock<SyncSender<Message>> = OnceLock::new();

fn sender() -> &'static SyncSender<Message> {
    QUEUE_TX.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("log writer".into())
            .spawn(move || write_lines(rx, std::io::stderr()))
            .expect("the log writer thread starts");
        tx
    })
}

fn write_lines(rx: Receiver<Message>, out: impl Write) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(first) = rx.recv() {
        let mut message = Some(first);
        while let Some(m) = message.take().or_else(|| rx.try_recv().ok()) {
            match m {
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flushed(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
        }
        let _ = out.flush();
        // Lines that come while this one rests are written together: under load the
        // writer wakes a hundred times a second, not once a line.
        std::thread::sleep(REST);
    }
}

/// The `MakeWriter` of the log: each event is formatted into a buffer of its own and
/// queued as one line when the formatter is done with it.
#[derive(Clone, Copy, Default)]
pub struct Stderr;

pub struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let line = std::mem::take(&mut self.0);
            // The writer thread lives as long as the process; were it gone, the line
            // goes out directly.
            if let Err(mpsc::SendError(Message::Line(line))) = sender().send(Message::Line(line)) {
                let _ = std::io::stderr().write_all(&line);
            }
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line(Vec::with_capacity(256))
    }
}

/// Waits until every line logged so far is written.
pub fn flush() {
    let Some(tx) = QUEUE_TX.get() else {
        return;
    };
    let (done, written) = mpsc::channel();
    if tx.send(Message::Flushed(done)).is_ok() {
        let _ = written.recv_timeout(std::time::Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_and_flush_waits_for_them() {
        let (tx, rx) = mpsc::sync_channel(4);
        let out = Shared::default();
        let writer = {
            let out = out.clone();
            std::thread::spawn(move || write_lines(rx, out))
        };
        for i in 0..100 {
            tx.send(Message::Line(format!("line {i}\n").into_bytes()))
                .unwrap();
        }
        let (done, written) = mpsc::channel();
        tx.send(Message::Flushed(done)).unwrap();
        written.recv().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
        drop(tx);
        writer.join().unwrap();
    }
}
