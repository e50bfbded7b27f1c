//! Folding repeats: one detection per container, rule and object per time window, with a count.
//!
//! The first occurrence is emitted at once. Repeats inside the window are counted, not emitted,
//! unless they are more severe than what was emitted. The next occurrence after the window is
//! emitted again and carries the number of occurrences it stands for (itself plus the repeats
//! folded since the last emission).

use std::collections::HashMap;

use super::DedupKey;
use crate::detection::Severity;

/// Keys remembered at most; the oldest half is dropped when full (a burst of distinct objects
/// then re-alerts rather than growing memory without bound).
pub const CAPACITY: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// When the last emitted detection of this key happened.
    emitted_at: u64,
    /// Occurrences folded since then.
    folded: u64,
    /// Severity of the last emitted detection.
    severity: Severity,
}

/// Deduplication state.
#[derive(Default)]
pub struct Deduper {
    entries: HashMap<(String, &'static str, String), Entry>,
}

/// What to do with an occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Emit, standing for this many occurrences.
    Emit(u64),
    /// Folded into an earlier detection.
    Fold,
}

impl Deduper {
    /// Decides for an occurrence at `now_ns` (kernel time).
    pub fn check(
        &mut self,
        container: &str,
        rule: &'static str,
        key: &DedupKey,
        now_ns: u64,
        severity: Severity,
    ) -> Verdict {
        let map_key = (container.to_string(), rule, key.object.clone());
        if let Some(entry) = self.entries.get_mut(&map_key) {
            let inside = now_ns.saturating_sub(entry.emitted_at) < key.window_ns;
            if inside && severity <= entry.severity {
                entry.folded += 1;
                return Verdict::Fold;
            }
            let count = entry.folded + 1;
            *entry = Entry {
                emitted_at: now_ns,
                folded: 0,
                severity,
            };
            return Verdict::Emit(count);
        }
        if self.entries.len() >= CAPACITY {
            self.evict_oldest_half();
        }
        self.entries.insert(
            map_key,
            Entry {
                emitted_at: now_ns,
                folded: 0,
                severity,
            },
        );
        Verdict::Emit(1)
    }

    /// Marks a key as already reported at `severity` (e.g. by the start-up posture report), so
    /// the first live occurrence within the window folds into it.
    pub fn seed(
        &mut self,
        container: &str,
        rule: &'static str,
        object: &str,
        now_ns: u64,
        severity: Severity,
    ) {
        let key = (container.to_string(), rule, object.to_string());
        self.entries.insert(
            key,
            Entry {
                emitted_at: now_ns,
                folded: 0,
                severity,
            },
        );
    }

    /// Forgets everything about a removed container.
    pub fn forget_container(&mut self, container: &str) {
        self.entries.retain(|(c, _, _), _| c != container);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn evict_oldest_half(&mut self) {
        let mut times: Vec<u64> = self.entries.values().map(|e| e.emitted_at).collect();
        times.sort_unstable();
        let cutoff = times[times.len() / 2];
        self.entries.retain(|_, e| e.emitted_at > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn key(object: &str, window_ns: u64) -> DedupKey {
        DedupKey {
            object: object.to_string(),
            window_ns,
        }
    }

    #[test]
    fn a_more_severe_repeat_is_not_folded() {
        let mut d = Deduper::default();
        let k = key("o", 60 * SEC);
        assert_eq!(d.check("c", "r", &k, 0, Severity::High), Verdict::Emit(1));
        assert_eq!(d.check("c", "r", &k, SEC, Severity::Medium), Verdict::Fold);
        assert_eq!(
            d.check("c", "r", &k, 2 * SEC, Severity::Critical),
            Verdict::Emit(2)
        );
        assert_eq!(
            d.check("c", "r", &k, 3 * SEC, Severity::Critical),
            Verdict::Fold
        );
    }

    #[test]
    fn folds_repeats_inside_the_window_and_counts_them() {
        let mut d = Deduper::default();
        assert_eq!(
            d.check("c", "r", &key("/s", 60 * SEC), 0, Severity::Medium),
            Verdict::Emit(1)
        );
        for t in 1..=5 {
            assert_eq!(
                d.check("c", "r", &key("/s", 60 * SEC), t * SEC, Severity::Medium),
                Verdict::Fold
            );
        }
        assert_eq!(
            d.check("c", "r", &key("/s", 60 * SEC), 61 * SEC, Severity::Medium),
            Verdict::Emit(6)
        );
        assert_eq!(
            d.check("c", "r", &key("/s", 60 * SEC), 62 * SEC, Severity::Medium),
            Verdict::Fold
        );
    }

    #[test]
    fn different_containers_rules_and_objects_are_separate() {
        let mut d = Deduper::default();
        assert_eq!(
            d.check("a", "r", &key("o", SEC), 0, Severity::Medium),
            Verdict::Emit(1)
        );
        assert_eq!(
            d.check("b", "r", &key("o", SEC), 0, Severity::Medium),
            Verdict::Emit(1)
        );
        assert_eq!(
            d.check("a", "q", &key("o", SEC), 0, Severity::Medium),
            Verdict::Emit(1)
        );
        assert_eq!(
            d.check("a", "r", &key("p", SEC), 0, Severity::Medium),
            Verdict::Emit(1)
        );
    }

    #[test]
    fn seeded_keys_fold_and_forgotten_containers_alert_again() {
        let mut d = Deduper::default();
        d.seed("c", "r", "o", 0, Severity::Medium);
        assert_eq!(
            d.check("c", "r", &key("o", 10 * SEC), SEC, Severity::Medium),
            Verdict::Fold
        );
        d.forget_container("c");
        assert_eq!(
            d.check("c", "r", &key("o", 10 * SEC), 2 * SEC, Severity::Medium),
            Verdict::Emit(1)
        );
    }

    #[test]
    fn stays_bounded() {
        let mut d = Deduper::default();
        for i in 0..(CAPACITY as u64 * 3) {
            d.check("c", "r", &key(&i.to_string(), SEC), i, Severity::Medium);
        }
        assert!(d.len() <= CAPACITY);
    }
}
