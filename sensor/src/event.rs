//! Decoding of ring-buffer records into typed events.
//!
//! The kernel side writes `sensor_common` structs; a record is accepted only if it is at least as
//! long as its kind's struct and every length field stays inside its buffer. Decoding copies the
//! record onto the stack (no allocation); strings are borrowed views into it.

use std::{borrow::Cow, mem::size_of, net::IpAddr};

use sensor_common::{
    kind, CgroupEvent, ChrootEvent, ConnectEvent, EventHeader, ExecEvent, MountEvent,
    NamespaceEvent, OpenEvent, SyscallEvent, ARGS_LEN, FSTYPE_LEN, MOUNT_DATA_LEN, PATH_LEN,
    UNIX_PATH_LEN,
};

/// Why a record was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than an event header ({need} bytes)")]
    ShortHeader { len: usize, need: usize },
    #[error("unknown event kind {0}")]
    UnknownKind(u32),
    #[error("{kind} record of {len} bytes is shorter than its {need}-byte layout")]
    ShortRecord {
        kind: &'static str,
        len: usize,
        need: usize,
    },
    #[error("{kind} record: {field} length {len} exceeds its {max}-byte buffer")]
    BadLength {
        kind: &'static str,
        field: &'static str,
        len: u32,
        max: usize,
    },
}

/// A decoded kernel event.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    CgroupMkdir(CgroupEvent),
    CgroupRmdir(CgroupEvent),
    Exec(ExecEvent),
    Connect(ConnectEvent),
    Mount(MountEvent),
    Namespace(NamespaceEvent),
    Open(OpenEvent),
    Chroot(ChrootEvent),
    /// A container task moved a task out of the containers' cgroups.
    CgroupAttach(CgroupEvent),
    /// Module loads and io_uring set-ups.
    Syscall(SyscallEvent),
}

/// Name of a kind number.
pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        kind::CGROUP_MKDIR => "cgroup_mkdir",
        kind::CGROUP_RMDIR => "cgroup_rmdir",
        kind::CGROUP_ATTACH => "cgroup_attach",
        kind::EXEC => "exec",
        kind::CONNECT => "connect",
        kind::MOUNT => "mount",
        kind::FSOPEN => "fsopen",
        kind::OPEN_TREE => "open_tree",
        kind::MOVE_MOUNT => "move_mount",
        kind::MOUNT_SETATTR => "mount_setattr",
        kind::SETNS => "setns",
        kind::UNSHARE => "unshare",
        kind::OPEN_WRITE => "open_write",
        kind::CHROOT => "chroot",
        kind::MODULE_LOAD => "module_load",
        kind::IO_URING_SETUP => "io_uring_setup",
        _ => "unknown",
    }
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let header: EventHeader = read(bytes, "header").map_err(|_| DecodeError::ShortHeader {
        len: bytes.len(),
        need: size_of::<EventHeader>(),
    })?;
    let name = kind_name(header.kind);
    match header.kind {
        kind::CGROUP_MKDIR | kind::CGROUP_RMDIR | kind::CGROUP_ATTACH => {
            let e: CgroupEvent = read(bytes, name)?;
            check_len(name, "path", e.path_len, PATH_LEN)?;
            Ok(match header.kind {
                kind::CGROUP_MKDIR => Event::CgroupMkdir(e),
                kind::CGROUP_RMDIR => Event::CgroupRmdir(e),
                _ => Event::CgroupAttach(e),
            })
        }
        kind::EXEC => {
            let e: ExecEvent = read(bytes, name)?;
            check_len(name, "filename", e.filename_len, PATH_LEN)?;
            check_len(name, "args", e.args_len, ARGS_LEN)?;
            Ok(Event::Exec(e))
        }
        kind::CONNECT => {
            let e: ConnectEvent = read(bytes, name)?;
            check_len(name, "path", e.path_len, UNIX_PATH_LEN)?;
            Ok(Event::Connect(e))
        }
        kind::MOUNT | kind::FSOPEN | kind::OPEN_TREE | kind::MOVE_MOUNT | kind::MOUNT_SETATTR => {
            let e: MountEvent = read(bytes, name)?;
            check_len(name, "source", e.source_len, PATH_LEN)?;
            check_len(name, "target", e.target_len, PATH_LEN)?;
            check_len(name, "fstype", e.fstype_len, FSTYPE_LEN)?;
            check_len(name, "data", e.data_len, MOUNT_DATA_LEN)?;
            Ok(Event::Mount(e))
        }
        kind::SETNS | kind::UNSHARE => Ok(Event::Namespace(read(bytes, name)?)),
        kind::OPEN_WRITE => {
            let e: OpenEvent = read(bytes, name)?;
            check_len(name, "path", e.path_len, PATH_LEN)?;
            Ok(Event::Open(e))
        }
        kind::CHROOT => {
            let e: ChrootEvent = read(bytes, name)?;
            check_len(name, "path", e.path_len, PATH_LEN)?;
            Ok(Event::Chroot(e))
        }
        kind::MODULE_LOAD | kind::IO_URING_SETUP => Ok(Event::Syscall(read(bytes, name)?)),
        other => Err(DecodeError::UnknownKind(other)),
    }
}

/// Copies a `T` out of the start of `bytes`.
fn read<T: Copy>(bytes: &[u8], kind: &'static str) -> Result<T, DecodeError> {
    let need = size_of::<T>();
    if bytes.len() < need {
        return Err(DecodeError::ShortRecord {
            kind,
            len: bytes.len(),
            need,
        });
    }
    // SAFETY: the length is checked above; every `sensor_common` record is plain old data for
    // which any bit pattern is valid, and `read_unaligned` makes no alignment assumption.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

fn check_len(
    kind: &'static str,
    field: &'static str,
    len: u32,
    max: usize,
) -> Result<(), DecodeError> {
    if len as usize > max {
        return Err(DecodeError::BadLength {
            kind,
            field,
            len,
            max,
        });
    }
    Ok(())
}

/// `bytes[..len]` up to the first NUL, as text (lossy for invalid UTF-8).
pub fn text(bytes: &[u8], len: u32) -> Cow<'_, str> {
    let used = &bytes[..(len as usize).min(bytes.len())];
    let end = used.iter().position(|&b| b == 0).unwrap_or(used.len());
    String::from_utf8_lossy(&used[..end])
}

/// The task's command name.
pub fn comm(header: &EventHeader) -> Cow<'_, str> {
    text(&header.comm, header.comm.len() as u32)
}

/// Borrowed views of an exec event's buffers.
pub trait ExecView {
    /// The arguments (argv[0] first) as `&str`, without allocating. An argument with invalid
    /// UTF-8 is cut at the first bad byte; an argument cut by truncation is returned as far as
    /// it got.
    fn arg_strs(&self) -> impl Iterator<Item = &str>;
}

impl ExecView for ExecEvent {
    fn arg_strs(&self) -> impl Iterator<Item = &str> {
        let len = (self.args_len as usize).min(self.args.len());
        let used = &self.args[..len];
        let used = used.strip_suffix(&[0]).unwrap_or(used);
        let count = if used.is_empty() { 0 } else { usize::MAX };
        used.split(|&b| b == 0)
            .take(count)
            .map(|part| match std::str::from_utf8(part) {
                Ok(s) => s,
                Err(err) => std::str::from_utf8(&part[..err.valid_up_to()]).unwrap_or(""),
            })
    }
}

/// Address of a connect event, borrowed from the record (no allocation for valid UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketAddress<'a> {
    /// A unix socket path as the process named it.
    Unix(Cow<'a, str>),
    /// An abstract unix socket name (without the leading NUL).
    Abstract(Cow<'a, str>),
    Ip(IpAddr, u16),
    Unnamed,
}

pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// The address a connect event targets.
pub fn socket_address(e: &ConnectEvent) -> SocketAddress<'_> {
    match e.family {
        AF_UNIX => {
            let len = (e.path_len as usize).min(UNIX_PATH_LEN);
            let path = &e.path[..len];
            match path.first() {
                None => SocketAddress::Unnamed,
                Some(0) => SocketAddress::Abstract(text(&path[1..], len as u32 - 1)),
                Some(_) => SocketAddress::Unix(text(path, len as u32)),
            }
        }
        AF_INET => {
            let octets = [e.addr[0], e.addr[1], e.addr[2], e.addr[3]];
            SocketAddress::Ip(IpAddr::from(octets), e.port)
        }
        AF_INET6 => SocketAddress::Ip(IpAddr::from(e.addr), e.port),
        _ => SocketAddress::Unnamed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{connect, exec};

    fn as_bytes<T: Copy>(value: &T) -> Vec<u8> {
        // SAFETY: reading the bytes of a plain-old-data struct.
        unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
            .to_vec()
    }

    #[test]
    fn decodes_exec_with_arguments() {
        let record = as_bytes(&exec(
            "/bin/wget",
            &["wget", "-q", "http://x/m", "-O", "/tmp/m"],
        ));
        let Ok(Event::Exec(e)) = decode(&record) else {
            panic!("exec record did not decode");
        };
        assert_eq!(text(&e.filename, e.filename_len), "/bin/wget");
        let strs: Vec<_> = e.arg_strs().collect();
        assert_eq!(strs, ["wget", "-q", "http://x/m", "-O", "/tmp/m"]);
        assert_eq!(comm(&e.header), "test");
    }

    #[test]
    fn truncated_argument_block_yields_the_partial_argument() {
        let mut e = exec("/tmp/m", &["m", "--donate-level"]);
        e.args_len = 5; // "m\0--d"
        assert_eq!(e.arg_strs().collect::<Vec<_>>(), ["m", "--d"]);
        e.args_len = 0;
        assert_eq!(e.arg_strs().count(), 0);
        let mut e = exec("/x", &["a", "", "b"]);
        e.args[0] = 0xff;
        assert_eq!(e.arg_strs().collect::<Vec<_>>(), ["", "", "b"]);
    }

    #[test]
    fn rejects_short_records() {
        assert_eq!(
            decode(&[0u8; 10]).unwrap_err(),
            DecodeError::ShortHeader {
                len: 10,
                need: size_of::<EventHeader>()
            }
        );
        let record = as_bytes(&exec("/bin/true", &["true"]));
        let err = decode(&record[..record.len() - 1]).unwrap_err();
        assert!(
            matches!(err, DecodeError::ShortRecord { kind: "exec", .. }),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_kinds_and_bad_lengths() {
        let mut e = exec("/bin/true", &["true"]);
        e.header.kind = 9999;
        assert_eq!(
            decode(&as_bytes(&e)).unwrap_err(),
            DecodeError::UnknownKind(9999)
        );

        let mut e = exec("/bin/true", &["true"]);
        e.args_len = ARGS_LEN as u32 + 1;
        let err = decode(&as_bytes(&e)).unwrap_err();
        assert!(
            matches!(err, DecodeError::BadLength { field: "args", .. }),
            "{err}"
        );
    }

    #[test]
    fn decodes_socket_addresses() {
        let unix = connect(AF_UNIX, b"/run/app.sock\0", [0; 16], 0);
        assert_eq!(
            socket_address(&unix),
            SocketAddress::Unix("/run/app.sock".into())
        );

        let abstract_name = connect(AF_UNIX, b"\0/containerd-shim/x.sock", [0; 16], 0);
        assert_eq!(
            socket_address(&abstract_name),
            SocketAddress::Abstract("/containerd-shim/x.sock".into())
        );

        let mut v4 = [0; 16];
        v4[..4].copy_from_slice(&[127, 0, 0, 1]);
        let inet = connect(AF_INET, b"", v4, 2375);
        assert_eq!(
            socket_address(&inet),
            SocketAddress::Ip("127.0.0.1".parse().unwrap(), 2375)
        );

        let v6: std::net::Ipv6Addr = "::1".parse().unwrap();
        let inet6 = connect(AF_INET6, b"", v6.octets(), 3333);
        assert_eq!(
            socket_address(&inet6),
            SocketAddress::Ip(IpAddr::V6(v6), 3333)
        );

        let record = as_bytes(&unix);
        assert!(matches!(decode(&record), Ok(Event::Connect(_))));
    }

    #[test]
    fn text_stops_at_nul_and_replaces_invalid_utf8() {
        assert_eq!(text(b"abc\0def", 7), "abc");
        assert_eq!(text(b"a\xffb", 3), "a\u{fffd}b");
        assert_eq!(text(b"abc", 99), "abc");
    }
}
