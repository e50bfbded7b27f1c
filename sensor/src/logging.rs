//! Logs to stderr, one line each: `<time> <LEVEL> <message>` with `key=value` details.
//! Detections never go here; they go to the output stream.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

use crate::timefmt::{now_unix_ns, rfc3339};

struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "{} {:<5} {}\n",
            rfc3339(now_unix_ns()),
            record.level(),
            record.args()
        );
        // One write per line keeps lines whole when several threads log.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the logger; later calls are ignored.
pub fn init(level: LevelFilter) {
    let logger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
