//! `syscall-probe io-uring-setup | connect-unix PATH|@NAME |
//! fast-open-{sendto,sendmsg,sendmmsg} IPV4:PORT`: makes one system call the busybox image has no applet for, and
//! prints its result.
//!
//! - `io-uring-setup` creates (and closes) a small io_uring, as a program about to do its I/O
//!   out of sight of the syscall hooks would;
//! - `connect-unix` connects a stream socket to a unix path, or to an abstract name when the
//!   argument starts with `@`;
//! - `fast-open-*` connects a TCP socket without connect(2): a TCP Fast Open send
//!   (`MSG_FASTOPEN`) through sendto, sendmsg or sendmmsg.
//!
//! A refused connection (nobody listening) is still reported as the call's result: the attempt
//! is what the sensor sees. Only std and glibc's own symbols are used, so the crate has no
//! dependencies.

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
    fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
    fn sendto(
        fd: i32,
        buf: *const c_void,
        len: usize,
        flags: i32,
        addr: *const c_void,
        addr_len: u32,
    ) -> isize;
    fn sendmsg(fd: i32, msg: *const MsgHdr, flags: i32) -> isize;
    fn sendmmsg(fd: i32, msgs: *mut MMsgHdr, count: u32, flags: i32) -> i32;
}

const AF_INET: i32 = 2;
const SOCK_STREAM: i32 = 1;
const MSG_FASTOPEN: i32 = 0x2000_0000;

/// `struct sockaddr_in`.
#[repr(C)]
struct SockaddrIn {
    family: u16,
    port_be: u16,
    addr: [u8; 4],
    zero: [u8; 8],
}

/// `struct iovec`.
#[repr(C)]
struct IoVec {
    base: *const c_void,
    len: usize,
}

/// `struct msghdr`.
#[repr(C)]
struct MsgHdr {
    name: *const c_void,
    name_len: u32,
    iov: *const IoVec,
    iov_len: usize,
    control: *const c_void,
    control_len: usize,
    flags: i32,
}

/// `struct mmsghdr`.
#[repr(C)]
struct MMsgHdr {
    header: MsgHdr,
    len: u32,
}

/// The system call a Fast Open send goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SendCall {
    SendTo,
    SendMsg,
    SendMmsg,
}

/// Sends a greeting with `MSG_FASTOPEN` to `target` (`a.b.c.d:port`) on a fresh TCP socket.
fn fast_open(target: &str, call: SendCall) -> io::Result<()> {
    let address: std::net::SocketAddrV4 = target
        .parse()
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, format!("{target}: {err}")))?;
    let sockaddr = SockaddrIn {
        family: AF_INET as u16,
        port_be: address.port().to_be(),
        addr: address.ip().octets(),
        zero: [0; 8],
    };
    let greeting = b"GET /_ping HTTP/1.0\r\n\r\n";
    // SAFETY: plain socket call.
    let fd = unsafe { socket(AF_INET, SOCK_STREAM, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let sockaddr_ptr = (&sockaddr as *const SockaddrIn).cast::<c_void>();
    let sockaddr_len = std::mem::size_of::<SockaddrIn>() as u32;
    let iov = IoVec {
        base: greeting.as_ptr().cast(),
        len: greeting.len(),
    };
    let msg = MsgHdr {
        name: sockaddr_ptr,
        name_len: sockaddr_len,
        iov: &iov,
        iov_len: 1,
        control: std::ptr::null(),
        control_len: 0,
        flags: 0,
    };
    // SAFETY: every pointer refers to live memory of the stated length for the whole call.
    let sent = unsafe {
        match call {
            SendCall::SendMsg => sendmsg(fd, &msg, MSG_FASTOPEN),
            SendCall::SendMmsg => {
                let mut one = MMsgHdr {
                    header: msg,
                    len: 0,
                };
                sendmmsg(fd, &mut one, 1, MSG_FASTOPEN) as isize
            }
            SendCall::SendTo => sendto(
                fd,
                greeting.as_ptr().cast(),
                greeting.len(),
                MSG_FASTOPEN,
                sockaddr_ptr,
                sockaddr_len,
            ),
        }
    };
    let result = if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    };
    // SAFETY: `fd` is ours and closed once.
    unsafe { close(fd) };
    result
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
        ["fast-open-sendto", target] => fast_open(target, SendCall::SendTo),
        ["fast-open-sendmsg", target] => fast_open(target, SendCall::SendMsg),
        ["fast-open-sendmmsg", target] => fast_open(target, SendCall::SendMmsg),
        _ => {
            eprintln!(
                "usage: syscall-probe io-uring-setup | connect-unix PATH|@NAME | \
                 fast-open-{{sendto,sendmsg,sendmmsg}} IPV4:PORT"
            );
            exit(2);
        }
    };
    match result {
        Ok(()) => println!("ok"),
        Err(err) => println!("error: {err}"),
    }
}
