//! `syscall-probe io-uring-setup` | `syscall-probe connect-unix PATH|@NAME`: makes one system
//! call the busybox image has no applet for, and prints its result.
//!
//! - `io-uring-setup` creates (and closes) a small io_uring, as a program about to do its I/O
//!   out of sight of the syscall hooks would;
//! - `connect-unix` connects a stream socket to a unix path, or to an abstract name when the
//!   argument starts with `@`. A refused connection (nobody listening) is still reported as the
//!   call's result: the attempt is what the sensor sees.
//!
//! Only std and glibc's own `syscall` symbol are used, so the crate has no dependencies.

use std::{
    env,
    ffi::{c_long, c_void},
    io,
    os::{
        linux::net::SocketAddrExt,
        unix::net::{SocketAddr, UnixStream},
    },
    process::exit,
};

extern "C" {
    fn syscall(number: c_long, ...) -> c_long;
    fn close(fd: i32) -> i32;
}

/// x86_64 system call number of io_uring_setup.
const SYS_IO_URING_SETUP: c_long = 425;
/// Size of `struct io_uring_params`, which the kernel fills in.
const IO_URING_PARAMS_LEN: usize = 120;

fn io_uring_setup() -> io::Result<()> {
    let mut params = [0u8; IO_URING_PARAMS_LEN];
    // SAFETY: `params` is a zeroed, writable io_uring_params-sized buffer that outlives the call.
    let fd = unsafe {
        syscall(
            SYS_IO_URING_SETUP,
            4 as c_long,
            params.as_mut_ptr() as *mut c_void,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is the ring's descriptor, owned by nobody else.
    unsafe { close(fd as i32) };
    Ok(())
}

fn connect_unix(target: &str) -> io::Result<()> {
    let address = match target.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(target)?,
    };
    UnixStream::connect_addr(&address).map(drop)
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["io-uring-setup"] => io_uring_setup(),
        ["connect-unix", target] => connect_unix(target),
        _ => {
            eprintln!(
                "usage: syscall-probe io-uring-setup | syscall-probe connect-unix PATH|@NAME"
            );
            exit(2);
        }
    };
    match result {
        Ok(()) => println!("ok"),
        Err(err) => println!("error: {err}"),
    }
}
