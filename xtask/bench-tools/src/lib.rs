//! What the bench programs share: a few libc calls (declared here, so the crate has no
//! dependencies and builds offline), the monotonic clock, fork + exec, and argument parsing.
//!
//! Every program prints one result line `key=value ...` on stdout and errors on stderr, with a
//! non-zero exit status.

use std::{
    ffi::{CString, OsStr},
    io,
    os::{raw::c_char, unix::ffi::OsStrExt},
    process::exit,
};

mod sys {
    use std::os::raw::{c_char, c_int, c_long};

    #[repr(C)]
    pub struct Timespec {
        pub tv_sec: c_long,
        pub tv_nsec: c_long,
    }

    pub const CLOCK_MONOTONIC: c_int = 1;

    extern "C" {
        pub fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
        pub fn fork() -> c_int;
        pub fn execve(
            path: *const c_char,
            argv: *const *const c_char,
            envp: *const *const c_char,
        ) -> c_int;
        pub fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        pub fn _exit(status: c_int) -> !;
        pub fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int;
        pub fn connect(fd: c_int, addr: *const u8, len: u32) -> c_int;
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of the kernel's `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = sys::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out pointer; CLOCK_MONOTONIC always exists.
    unsafe { sys::clock_gettime(sys::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A program to start with fork + execve, without arguments beyond argv[0] and with an empty
/// environment. Prepared once so that the loop only forks, execs and waits.
pub struct Program {
    path: CString,
}

impl Program {
    pub fn new(path: &OsStr) -> io::Result<Program> {
        let path = CString::new(path.as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        Ok(Program { path })
    }

    /// fork, execve in the child, wait for it; an error unless it exited with 0.
    pub fn run(&self) -> io::Result<()> {
        let argv: [*const c_char; 2] = [self.path.as_ptr(), std::ptr::null()];
        let envp: [*const c_char; 1] = [std::ptr::null()];
        // SAFETY: the child only calls execve and _exit (async-signal-safe) on memory prepared
        // before the fork; the caller is single-threaded.
        let pid = unsafe { sys::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            unsafe {
                sys::execve(self.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                sys::_exit(127);
            }
        }
        let mut status = 0;
        loop {
            // SAFETY: valid out pointer; pid is our child.
            let got = unsafe { sys::waitpid(pid, &mut status, 0) };
            if got == pid {
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        if status != 0 {
            return Err(io::Error::other(format!(
                "{} ended with wait status {status:#x}",
                self.path.to_string_lossy()
            )));
        }
        Ok(())
    }
}

/// An unbound unix stream socket that keeps asking to connect to one path. A path that does not
/// exist fails with ENOENT and leaves the socket unconnected, so one socket serves every call:
/// each call is a single cheap `connect` system call that the sensor hooks.
pub struct Connector {
    fd: i32,
    addr: [u8; 110],
    len: u32,
}

impl Connector {
    pub fn new(path: &str) -> io::Result<Connector> {
        const AF_UNIX: i32 = 1;
        const SOCK_STREAM: i32 = 1;
        let bytes = path.as_bytes();
        if bytes.is_empty() || bytes.len() > 107 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a unix socket path has 1 to 107 bytes",
            ));
        }
        // SAFETY: plain system call.
        let fd = unsafe { sys::socket(AF_UNIX, SOCK_STREAM, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut addr = [0u8; 110];
        addr[..2].copy_from_slice(&(AF_UNIX as u16).to_ne_bytes());
        addr[2..2 + bytes.len()].copy_from_slice(bytes);
        Ok(Connector {
            fd,
            addr,
            len: (2 + bytes.len() + 1) as u32,
        })
    }

    /// One `connect`; true when it failed as expected (the path does not exist).
    pub fn attempt(&self) -> bool {
        // SAFETY: `addr` holds a sockaddr_un of `len` bytes.
        let rc = unsafe { sys::connect(self.fd, self.addr.as_ptr(), self.len) };
        rc != 0
    }
}

/// Positional arguments after the program name.
pub struct Args {
    usage: &'static str,
    values: Vec<String>,
}

impl Args {
    pub fn parse(count: std::ops::RangeInclusive<usize>, usage: &'static str) -> Args {
        let values: Vec<String> = std::env::args().skip(1).collect();
        if !count.contains(&values.len()) || values.iter().any(|v| v == "--help") {
            eprintln!("usage: {usage}");
            exit(2);
        }
        Args { usage, values }
    }

    pub fn text(&self, index: usize) -> &str {
        &self.values[index]
    }

    pub fn number(&self, index: usize, default: u64) -> u64 {
        match self.values.get(index) {
            None => default,
            Some(text) => text.parse().unwrap_or_else(|_| {
                eprintln!("{text:?} is not a number; usage: {}", self.usage);
                exit(2);
            }),
        }
    }
}

/// Prints `what: err` on stderr and exits with 1.
pub fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {err}");
    exit(1)
}
