//! `execstorm <path> <count>`: fork + execve `<path>` `<count>` times, one after the other, and
//! print `count=<n> elapsed_ns=<ns>` (the loop only: start-up is not measured).
use bench_tools::{fail, monotonic_ns, Args, Program};

fn main() {
    let args = Args::parse(2..=2, "execstorm <path> <count>");
    let program = Program::new(args.text(0).as_ref()).unwrap_or_else(|e| fail("path", e));
    let count = args.number(1, 0);
    let start = monotonic_ns();
    for _ in 0..count {
        program
            .run()
            .unwrap_or_else(|e| fail(&format!("running {}", args.text(0)), e));
    }
    let elapsed = monotonic_ns() - start;
    println!("count={count} elapsed_ns={elapsed}");
}
