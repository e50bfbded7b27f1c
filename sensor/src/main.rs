static OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sensor-ebpf.o"));
fn main() { println!("{}", OBJ.len()); }
