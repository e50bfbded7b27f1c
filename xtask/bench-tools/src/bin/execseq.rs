//! `execseq <source> <dir> <count> <interval_ms>`: copy `<source>` to `<dir>/0` … `<dir>/<count-1>`
//! (new files written by this process, i.e. in the container's writable layer), then run each
//! copy once, starting one every `<interval_ms>`. Prints `count=<n> first_ns=<t> last_ns=<t>`
//! (CLOCK_MONOTONIC just before the first and the last exec).
use std::{fs, path::Path, thread, time::Duration};

use bench_tools::{fail, monotonic_ns, Args, Program};

fn main() {
    let args = Args::parse(4..=4, "execseq <source> <dir> <count> <interval_ms>");
    let source = Path::new(args.text(0));
    let dir = Path::new(args.text(1));
    let count = args.number(2, 0);
    let interval_ns = args.number(3, 20) * 1_000_000;
    fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("creating {}", dir.display()), e));
    let mut programs = Vec::new();
    for i in 0..count {
        let copy = dir.join(i.to_string());
        // fs::copy keeps the source's mode, so the copy is executable.
        fs::copy(source, &copy).unwrap_or_else(|e| fail(&format!("writing {}", copy.display()), e));
        programs.push(Program::new(copy.as_os_str()).unwrap_or_else(|e| fail("path", e)));
    }
    let start = monotonic_ns();
    let (mut first, mut last) = (0, 0);
    for (i, program) in programs.iter().enumerate() {
        let due = start + i as u64 * interval_ns;
        let now = monotonic_ns();
        if due > now {
            thread::sleep(Duration::from_nanos(due - now));
        }
        last = monotonic_ns();
        if i == 0 {
            first = last;
        }
        program.run().unwrap_or_else(|e| fail("exec", e));
    }
    println!("count={count} first_ns={first} last_ns={last}");
}
