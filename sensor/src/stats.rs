//! Counting and reporting losses: events the kernel could not queue (ring buffer full) and
//! detections the output could not keep up with. Losses are reported on stderr with a hint, at
//! most once per [`WARN_EVERY`], and all counters can be written to a JSON file.

use std::{
    fs, io,
    path::Path,
    time::{Duration, Instant},
};

use log::warn;
use sensor_common::loss_slot;
use serde_json::{json, Value};

use crate::engine::EngineStats;

/// Minimum time between two loss warnings.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

const SLOTS: usize = loss_slot::COUNT as usize;

/// Loss bookkeeping.
pub struct Losses {
    ring_buffer_bytes: u32,
    /// Kernel totals as last read.
    kernel: [u64; SLOTS],
    /// Kernel losses not yet warned about.
    unreported: [u64; SLOTS],
    output_dropped: u64,
    output_unreported: u64,
    last_warning: Option<Instant>,
}

impl Losses {
    pub fn new(ring_buffer_bytes: u32) -> Self {
        Losses {
            ring_buffer_bytes,
            kernel: [0; SLOTS],
            unreported: [0; SLOTS],
            output_dropped: 0,
            output_unreported: 0,
            last_warning: None,
        }
    }

    /// Takes fresh totals; returns true when anything new was lost.
    pub fn update(&mut self, kernel: [u64; SLOTS], output_dropped: u64) -> bool {
        let mut new = false;
        for ((total, last), unreported) in kernel.iter().zip(&self.kernel).zip(&mut self.unreported)
        {
            let delta = total.saturating_sub(*last);
            *unreported += delta;
            new |= delta > 0;
        }
        self.kernel = kernel;
        let delta = output_dropped.saturating_sub(self.output_dropped);
        self.output_dropped = output_dropped;
        self.output_unreported += delta;
        new || delta > 0
    }

    /// Logs pending losses unless a warning went out recently (or `force`).
    pub fn warn_if_due(&mut self, force: bool) {
        let due = force
            || self
                .last_warning
                .is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if !due {
            return;
        }
        if let Some(message) = self.message() {
            warn!("{message}");
            self.unreported = [0; SLOTS];
            self.output_unreported = 0;
            self.last_warning = Some(Instant::now());
        }
    }

    /// The warning for losses not yet reported, if any.
    pub fn message(&self) -> Option<String> {
        let kernel: u64 = self.unreported.iter().sum();
        let mut parts = Vec::new();
        if kernel > 0 {
            let by_kind: Vec<String> = (0..SLOTS)
                .filter(|&s| self.unreported[s] > 0)
                .map(|s| format!("{}={}", loss_slot::NAMES[s], self.unreported[s]))
                .collect();
            parts.push(format!(
                "lost {kernel} events in the kernel ({}): the {} KiB ring buffer was full; raise --ring-buffer-size or reduce the event rate",
                by_kind.join(" "),
                self.ring_buffer_bytes / 1024
            ));
        }
        if self.output_unreported > 0 {
            parts.push(format!(
                "dropped {} detections: the output is not read fast enough (stdout blocked)",
                self.output_unreported
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    pub fn kernel_totals(&self) -> [u64; SLOTS] {
        self.kernel
    }

    pub fn output_dropped(&self) -> u64 {
        self.output_dropped
    }
}

/// All counters as one JSON object.
pub fn snapshot(engine: &EngineStats, losses: &Losses, containers: usize, cgroups: usize) -> Value {
    let lost: serde_json::Map<String, Value> = (0..SLOTS)
        .map(|s| {
            (
                loss_slot::NAMES[s].to_string(),
                json!(losses.kernel_totals()[s]),
            )
        })
        .collect();
    json!({
        "events": engine.events,
        "decode_errors": engine.decode_errors,
        "unresolved_events": engine.unresolved,
        "detections": engine.detections,
        "folded_repeats": engine.folded,
        "lost_events": lost,
        "lost_events_total": losses.kernel_totals().iter().sum::<u64>(),
        "dropped_detections": losses.output_dropped(),
        "containers": containers,
        "container_cgroups": cgroups,
        "silenced_by_allowlist": engine.silenced,
    })
}

/// Writes the counters atomically (temporary file, then rename).
pub fn write_file(path: &Path, value: &Value) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, format!("{value}\n"))?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_new_losses_once_with_counts_and_a_hint() {
        let mut losses = Losses::new(4 << 20);
        assert!(!losses.update([0; SLOTS], 0));
        assert!(losses.message().is_none());

        let mut totals = [0; SLOTS];
        totals[loss_slot::CONNECT as usize] = 7;
        totals[loss_slot::EXEC as usize] = 3;
        assert!(losses.update(totals, 2));
        let message = losses.message().unwrap();
        for part in [
            "lost 10 events",
            "exec=3",
            "connect=7",
            "4096 KiB",
            "--ring-buffer-size",
            "dropped 2 detections",
        ] {
            assert!(message.contains(part), "{part} missing: {message}");
        }
        losses.warn_if_due(true);
        assert!(
            losses.message().is_none(),
            "reported losses are not repeated"
        );
        assert!(!losses.update(totals, 2), "same totals are not new losses");
        assert_eq!(losses.kernel_totals().iter().sum::<u64>(), 10);
    }

    #[test]
    fn snapshot_names_every_counter() {
        let losses = Losses::new(4096);
        let v = snapshot(&EngineStats::default(), &losses, 3, 4);
        assert_eq!(v["containers"], 3);
        assert_eq!(v["container_cgroups"], 4);
        assert_eq!(v["lost_events"]["exec"], 0);
        assert_eq!(v["lost_events_total"], 0);
    }
}
