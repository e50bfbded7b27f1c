//! `openstorm <dir> <count>`: create-or-truncate, write 64 bytes to and close one of 64 files in
//! `<dir>`, `<count>` times in a row, and print `count=<n> elapsed_ns=<ns>` (the loop only). Every
//! iteration is an open for writing: the case the sensor's open hooks do the most work for.
use std::{fs::File, io::Write, path::PathBuf};

use bench_tools::{fail, monotonic_ns, Args};

/// Distinct files cycled through, so the directory stays small and the dentries stay cached.
const FILES: u64 = 64;

fn main() {
    let args = Args::parse(2..=2, "openstorm <dir> <count>");
    let dir = PathBuf::from(args.text(0));
    let count = args.number(1, 0);
    let paths: Vec<PathBuf> = (0..FILES).map(|i| dir.join(format!("f{i}"))).collect();
    let payload = [b'x'; 64];
    let start = monotonic_ns();
    for i in 0..count {
        let path = &paths[(i % FILES) as usize];
        let mut file =
            File::create(path).unwrap_or_else(|e| fail(&format!("creating {}", path.display()), e));
        file.write_all(&payload)
            .unwrap_or_else(|e| fail(&format!("writing {}", path.display()), e));
    }
    let elapsed = monotonic_ns() - start;
    println!("count={count} elapsed_ns={elapsed}");
}
