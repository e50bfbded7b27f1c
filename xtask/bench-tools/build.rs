//! `tiny` brings its own `_start` (no C runtime): the smallest exec target possible, so that an
//! exec storm spends its time in fork and exec, where the sensor's hooks are.
fn main() {
    println!("cargo:rustc-link-arg-bin=tiny=-nostartfiles");
    println!("cargo:rustc-link-arg-bin=tiny=-nostdlib");
    println!("cargo:rustc-link-arg-bin=tiny=-static");
    println!("cargo:rerun-if-changed=build.rs");
}
