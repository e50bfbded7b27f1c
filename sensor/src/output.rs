//! The detection stream: one line per detection on stdout (or any writer), text or JSON.
//!
//! Writing happens on a thread of its own behind a bounded queue, so a slow reader of stdout can
//! never stall the ring-buffer reader: when the queue is full the detection is dropped and
//! counted, and the count is reported.

use std::{
    io::{self, Write},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use tokio::sync::mpsc;

use crate::detection::Detection;

/// Output format of the detection stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One readable line per detection.
    Text,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// The name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

/// Detections queued for writing before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 4096;

/// Sends detections to the writer thread.
#[derive(Clone)]
pub struct Output {
    tx: mpsc::Sender<Detection>,
    dropped: Arc<AtomicU64>,
}

impl Output {
    /// Queues a detection; never blocks. Returns false (and counts it) when the queue is full.
    pub fn emit(&self, detection: Detection) -> bool {
        match self.tx.try_send(detection) {
            Ok(()) => true,
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// True once the writer thread has stopped (its output failed, e.g. a closed pipe).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Detections dropped so far because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the writer thread. It ends, flushing, once every [`Output`] clone is dropped.
pub fn spawn(
    format: Format,
    mut writer: Box<dyn Write + Send>,
) -> io::Result<(Output, JoinHandle<io::Result<()>>)> {
    let (tx, mut rx) = mpsc::channel::<Detection>(QUEUE_CAPACITY);
    let handle = std::thread::Builder::new()
        .name("output".into())
        .spawn(move || {
            let mut line = String::new();
            while let Some(detection) = rx.blocking_recv() {
                write_one(&mut *writer, format, &detection, &mut line)?;
                // Flush when the queue is drained: one syscall per burst, never a stale line.
                while let Ok(next) = rx.try_recv() {
                    write_one(&mut *writer, format, &next, &mut line)?;
                }
                writer.flush()?;
            }
            writer.flush()
        })?;
    let output = Output {
        tx,
        dropped: Arc::new(AtomicU64::new(0)),
    };
    Ok((output, handle))
}

fn write_one(
    writer: &mut dyn Write,
    format: Format,
    detection: &Detection,
    line: &mut String,
) -> io::Result<()> {
    line.clear();
    match format {
        Format::Text => line.push_str(&detection.to_text()),
        Format::Json => line.push_str(&detection.to_json().to_string()),
    }
    line.push('\n');
    writer.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::Map;

    use super::*;
    use crate::detection::{mitre, Enrichment, Severity};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn detection(title: &str) -> Detection {
        Detection {
            time_unix_ns: 0,
            ktime_ns: 0,
            rule: "test-rule",
            title: title.into(),
            severity: Severity::High,
            technique: mitre::ESCAPE_TO_HOST,
            container: None,
            enrichment: Enrichment::NotApplicable,
            process: None,
            evidence: Map::new(),
            response: "r".into(),
            degraded: false,
            count: 1,
        }
    }

    #[test]
    fn writes_one_json_object_per_line_and_flushes_on_close() {
        let sink = Shared::default();
        let (output, handle) = spawn(Format::Json, Box::new(sink.clone())).unwrap();
        assert!(output.emit(detection("one")));
        assert!(output.emit(detection("two")));
        drop(output);
        handle.join().unwrap().unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let titles: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["title"].to_string())
            .collect();
        assert_eq!(titles, ["\"one\"", "\"two\""]);
    }

    #[test]
    fn counts_drops_when_the_writer_falls_behind() {
        let (tx, _rx) = mpsc::channel(1);
        let output = Output {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        assert!(output.emit(detection("fits")));
        assert!(!output.emit(detection("dropped")));
        assert_eq!(output.dropped(), 1);
    }
}
