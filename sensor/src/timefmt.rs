//! RFC 3339 time stamps and the mapping from kernel time to wall-clock time.
//!
//! Kernel events carry `bpf_ktime_get_ns()` (CLOCK_MONOTONIC); detections are stamped with wall
//! time. The offset between the two clocks is measured at start-up and refreshed periodically, so
//! NTP steps are followed without a per-event syscall.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats nanoseconds since the Unix epoch as RFC 3339 UTC with microseconds,
/// e.g. `2026-12-04T15:52:54.123456Z`.
pub fn rfc3339(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let micros = unix_ns.rem_euclid(1_000_000_000) / 1_000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Current wall-clock time in nanoseconds since the Unix epoch.
pub fn now_unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Current CLOCK_MONOTONIC in nanoseconds: the clock of `bpf_ktime_get_ns()`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Maps kernel monotonic time stamps to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// wall − monotonic, in nanoseconds.
    offset_ns: i64,
}

impl Clock {
    /// Measures the offset now.
    pub fn measure() -> Self {
        // Bracket the wall-clock read with two monotonic reads and use their midpoint.
        let before = monotonic_ns();
        let wall = now_unix_ns();
        let after = monotonic_ns();
        let mono = before / 2 + after / 2;
        Clock {
            offset_ns: wall - mono as i64,
        }
    }

    pub fn wall_ns(&self, ktime_ns: u64) -> i64 {
        ktime_ns as i64 + self.offset_ns
    }

    /// Monotonic time of a wall-clock instant (for Docker event times).
    pub fn ktime_ns(&self, unix_ns: i64) -> u64 {
        (unix_ns - self.offset_ns).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            rfc3339(1_796_399_574_123_456_789),
            "2026-12-04T15:52:54.123456Z"
        );
        assert_eq!(rfc3339(-1_000), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn clock_round_trips() {
        let clock = Clock::measure();
        let k = monotonic_ns();
        let wall = clock.wall_ns(k);
        assert!(
            (wall - now_unix_ns()).abs() < 1_000_000_000,
            "offset off by more than 1 s"
        );
        assert_eq!(clock.ktime_ns(wall), k);
    }
}
