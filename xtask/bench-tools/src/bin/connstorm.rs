//! `connstorm <unix-path> <rate-per-s> <duration-ms> [threads]`: call connect() on a unix
//! socket path that does not exist, `<rate-per-s>` times a second in total (0: as fast as
//! possible) for `<duration-ms>`, spread over `[threads]` threads (default 1). Prints
//! `count=<n> elapsed_ns=<ns> rate=<calls per second achieved>`.
use std::thread;

use bench_tools::{fail, monotonic_ns, Args, Connector};

/// Calls between two looks at the clock.
const BATCH: u64 = 32;

fn main() {
    let args = Args::parse(
        3..=4,
        "connstorm <unix-path> <rate-per-s> <duration-ms> [threads]",
    );
    let path = args.text(0).to_string();
    let rate = args.number(1, 0);
    let duration_ns = args.number(2, 1000) * 1_000_000;
    let threads = args.number(3, 1).max(1);
    let start = monotonic_ns();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let connector = Connector::new(&path).unwrap_or_else(|e| fail("socket", e));
            let per_thread = rate / threads;
            thread::spawn(move || storm(&connector, per_thread, start, duration_ns))
        })
        .collect();
    let mut count = 0;
    for worker in workers {
        count += worker.join().unwrap_or_else(|_| fail("worker", "panicked"));
    }
    let elapsed = monotonic_ns() - start;
    let achieved = count as f64 * 1e9 / elapsed as f64;
    println!("count={count} elapsed_ns={elapsed} rate={achieved:.0}");
}

/// One thread's share: `rate` calls a second (0: unpaced) until `duration_ns` after `start`.
fn storm(connector: &Connector, rate: u64, start: u64, duration_ns: u64) -> u64 {
    let end = start + duration_ns;
    let mut done = 0u64;
    loop {
        let now = monotonic_ns();
        if now >= end {
            return done;
        }
        let batch = if rate == 0 {
            BATCH
        } else {
            // Calls owed by now; a generator that falls behind catches up in bursts.
            let due = ((now - start) as u128 * rate as u128 / 1_000_000_000) as u64;
            if due <= done {
                // Ahead of schedule: wait for the next call's slot (short sleeps keep the
                // pacing smooth without spinning a core).
                let next = start + (done + 1) * 1_000_000_000 / rate;
                let wait = next.saturating_sub(now).min(1_000_000);
                if wait > 50_000 {
                    std::thread::sleep(std::time::Duration::from_nanos(wait));
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            (due - done).min(BATCH)
        };
        for _ in 0..batch {
            if !connector.attempt() {
                fail("connect", "succeeded: the path must not exist");
            }
        }
        done += batch;
    }
}
