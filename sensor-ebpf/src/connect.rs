//! `syscalls:sys_enter_connect` — a process asks to connect a socket; and `sys_enter_sendto` /
//! `sys_enter_sendmsg` with `MSG_FASTOPEN`, which connect a TCP socket without `connect`.
//!
//! Record: `int fd` at 16, `struct sockaddr *uservaddr` at 24, `int addrlen` at 32 (each field
//! is 8 bytes wide in syscall records).
//!
//! The address is read from user memory at entry, before the kernel resolves it, so a unix path
//! is the path as the container sees it; the agent maps it through the container's mounts to the
//! host object. Only unix, IPv4 and IPv6 addresses are sent.

use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_probe_read_user,
        generated::bpf_probe_read_user as probe_read_user_raw,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use sensor_common::{
    flags, kind, loss_slot, ConnectEvent, HOST_EXEC_PREFIXES, HOST_EXEC_PREFIX_LEN, UNIX_PATH_LEN,
};

use crate::{
    maps::{batched_submit_flags, count_loss, EVENTS, HOST_CONNECT_PATH},
    task::{container_subject, fill_header, subject, Subject},
};

const FD_OFFSET: usize = 16;
const ADDR_OFFSET: usize = 24;
const ADDRLEN_OFFSET: usize = 32;

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
/// `sizeof(sa_family_t)`: where the unix path starts.
const FAMILY_LEN: u64 = 2;

/// `struct sockaddr_in6` up to the end of its address.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockaddrIn6 {
    family: u16,
    port: u16,
    flowinfo: u32,
    addr: [u8; 16],
}

/// A host process connecting to one of the runtime API sockets the agent listed. Host connects
/// are otherwise dropped; these few let the agent see that a container creation right after came
/// from a host client, not from a container.
#[inline(always)]
fn is_runtime_socket(addr: u64, addrlen: u64) -> bool {
    let Ok(family) = (unsafe { bpf_probe_read_user(addr as *const u16) }) else {
        return false;
    };
    if family != AF_UNIX || addrlen <= FAMILY_LEN {
        return false;
    }
    let Ok(path) =
        (unsafe { bpf_probe_read_user((addr + FAMILY_LEN) as *const [u8; HOST_EXEC_PREFIX_LEN]) })
    else {
        return false;
    };
    for index in 0..HOST_EXEC_PREFIXES {
        let Some(known) = HOST_CONNECT_PATH.get(index) else {
            return false;
        };
        if known.len == 0 {
            return false;
        }
        if same_path(&path, &known.bytes, known.len) {
            return true;
        }
    }
    false
}

/// `path` is exactly the first `len` bytes of `known`, NUL-terminated (or filling the buffer).
#[inline(always)]
fn same_path(
    path: &[u8; HOST_EXEC_PREFIX_LEN],
    known: &[u8; HOST_EXEC_PREFIX_LEN],
    len: u32,
) -> bool {
    for i in 0..HOST_EXEC_PREFIX_LEN {
        if i as u32 == len {
            return path[i] == 0;
        }
        if path[i] != known[i] {
            return false;
        }
    }
    true
}

#[tracepoint]
pub fn sys_enter_connect(ctx: TracePointContext) -> u32 {
    try_connect(&ctx).unwrap_or(0)
}

fn try_connect(ctx: &TracePointContext) -> Result<u32, i64> {
    let addr: u64 = unsafe { ctx.read_at(ADDR_OFFSET) }.map_err(i64::from)?;
    let addrlen: u64 = unsafe { ctx.read_at(ADDRLEN_OFFSET) }.map_err(i64::from)?;
    let subject = match subject() {
        Some(subject) => subject,
        None if is_runtime_socket(addr, addrlen) => Subject {
            cgroup_id: unsafe { bpf_get_current_cgroup_id() },
            state: None,
        },
        None => return Ok(0),
    };
    let fd: u64 = unsafe { ctx.read_at(FD_OFFSET) }.map_err(i64::from)?;
    send_connect(&subject, fd, addr, addrlen, 0)
}

/// `MSG_FASTOPEN`: the send carries the connection's first data and connects the socket.
const MSG_FASTOPEN: u64 = 0x2000_0000;

/// `syscalls:sys_enter_sendto` — `int fd` at 16, `unsigned int flags` at 40, `struct sockaddr
/// *addr` at 48, `int addr_len` at 56. Only a TCP Fast Open send connects; it is sent as a
/// connect. Sends are frequent, so the flag is checked before anything else.
#[tracepoint]
pub fn sys_enter_sendto(ctx: TracePointContext) -> u32 {
    try_fast_open(&ctx, 40, false).unwrap_or(0)
}

/// `syscalls:sys_enter_sendmsg` — `int fd` at 16, `struct user_msghdr *msg` at 24, `unsigned
/// int flags` at 32; the address is the message's `msg_name` (`msg_namelen` at 8).
#[tracepoint]
pub fn sys_enter_sendmsg(ctx: TracePointContext) -> u32 {
    try_fast_open(&ctx, 32, true).unwrap_or(0)
}

/// `syscalls:sys_enter_sendmmsg` — `int fd` at 16, `struct mmsghdr *mmsg` at 24, `unsigned int
/// flags` at 40; the first message's header starts the first `mmsghdr`, and it connects.
#[tracepoint]
pub fn sys_enter_sendmmsg(ctx: TracePointContext) -> u32 {
    try_fast_open(&ctx, 40, true).unwrap_or(0)
}

fn try_fast_open(ctx: &TracePointContext, flags_offset: usize, message: bool) -> Result<u32, i64> {
    let send_flags: u64 = unsafe { ctx.read_at(flags_offset) }.map_err(i64::from)?;
    if send_flags & MSG_FASTOPEN == 0 {
        return Ok(0);
    }
    let Some(subject) = container_subject() else {
        return Ok(0);
    };
    let (addr, addrlen) = if message {
        let msg: u64 = unsafe { ctx.read_at(24) }.map_err(i64::from)?;
        let name: u64 = unsafe { bpf_probe_read_user(msg as *const u64) }.map_err(i64::from)?;
        let len: u32 =
            unsafe { bpf_probe_read_user((msg + 8) as *const u32) }.map_err(i64::from)?;
        (name, len as u64)
    } else {
        let addr: u64 = unsafe { ctx.read_at(48) }.map_err(i64::from)?;
        let len: u64 = unsafe { ctx.read_at(56) }.map_err(i64::from)?;
        (addr, len)
    };
    if addr == 0 {
        return Ok(0);
    }
    let fd: u64 = unsafe { ctx.read_at(FD_OFFSET) }.map_err(i64::from)?;
    send_connect(&subject, fd, addr, addrlen, flags::FAST_OPEN)
}

/// Sends a connect to the user-memory address `addr` of `addrlen` bytes.
#[inline(always)]
fn send_connect(
    subject: &Subject,
    fd: u64,
    addr: u64,
    addrlen: u64,
    extra_flags: u32,
) -> Result<u32, i64> {
    let family: u16 = unsafe { bpf_probe_read_user(addr as *const u16) }.map_err(i64::from)?;
    if family != AF_UNIX && family != AF_INET && family != AF_INET6 {
        return Ok(0);
    }

    let Some(mut entry) = EVENTS.reserve::<ConnectEvent>(0) else {
        count_loss(loss_slot::CONNECT);
        return Ok(0);
    };
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind::CONNECT, subject, extra_flags);
    event.fd = fd as u32;
    event.family = family;
    event.port = 0;
    event.addr = [0; 16];
    event.path_len = 0;
    event._pad = 0;
    event._pad2 = [0; 4];

    match family {
        AF_UNIX => {
            let len = addrlen.saturating_sub(FAMILY_LEN);
            let len = if len > UNIX_PATH_LEN as u64 {
                UNIX_PATH_LEN as u64
            } else {
                len
            };
            // Bounded again for the verifier ("invalid access to memory" otherwise): 127 covers
            // the 108-byte path and the mask keeps the range known.
            let len = (len as u32) & 127;
            if len > 0 && len <= UNIX_PATH_LEN as u32 {
                let ok = unsafe {
                    probe_read_user_raw(
                        event.path.as_mut_ptr().cast(),
                        len,
                        (addr + FAMILY_LEN) as *const _,
                    )
                };
                if ok == 0 {
                    event.path_len = len;
                }
            }
        }
        AF_INET => {
            if let Ok(sin) = unsafe { bpf_probe_read_user(addr as *const [u8; 8]) } {
                event.port = u16::from_be_bytes([sin[2], sin[3]]);
                event.addr[..4].copy_from_slice(&sin[4..8]);
            }
        }
        _ => {
            if let Ok(sin6) = unsafe { bpf_probe_read_user(addr as *const SockaddrIn6) } {
                event.port = u16::from_be(sin6.port);
                event.addr = sin6.addr;
            }
        }
    }

    entry.submit(batched_submit_flags());
    Ok(0)
}
