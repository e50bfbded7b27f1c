//! Builders of kernel records for unit tests.

use sensor_common::{
    kind, ChrootEvent, ConnectEvent, EventHeader, ExecEvent, MountEvent, OpenEvent, ARGS_LEN,
    FSTYPE_LEN, MOUNT_DATA_LEN, PATH_LEN, UNIX_PATH_LEN,
};

/// The pid every test record carries; tests that fake `/proc` use it for their directory.
pub const PID: u32 = 4242;

pub fn header(kind: u32) -> EventHeader {
    EventHeader {
        kind,
        flags: 0,
        ktime_ns: 1,
        cgroup_id: 7,
        pid: PID,
        tgid: PID,
        ppid: 1,
        uid: 0,
        gid: 0,
        mntns: 0,
        comm: *b"test\0\0\0\0\0\0\0\0\0\0\0\0",
    }
}

/// Copies `text` into `buf` and returns its length.
pub fn fill(buf: &mut [u8], text: &[u8]) -> u32 {
    buf[..text.len()].copy_from_slice(text);
    text.len() as u32
}

/// An exec of `filename` with `args` laid out NUL-separated, as the kernel copies them.
pub fn exec(filename: &str, args: &[&str]) -> ExecEvent {
    let mut e = ExecEvent {
        header: header(kind::EXEC),
        filename_len: 0,
        args_len: 0,
        exe_ino: 0,
        filename: [0; PATH_LEN],
        args: [0; ARGS_LEN],
    };
    e.filename_len = fill(&mut e.filename, filename.as_bytes());
    let mut at = 0;
    for arg in args {
        at += fill(&mut e.args[at..], arg.as_bytes()) as usize + 1;
    }
    e.args_len = at as u32;
    e
}

/// A connect to a unix path (a leading NUL makes it abstract) or, with `family` AF_INET/6, to
/// `addr:port`.
pub fn connect(family: u16, path: &[u8], addr: [u8; 16], port: u16) -> ConnectEvent {
    let mut e = ConnectEvent {
        header: header(kind::CONNECT),
        fd: 3,
        family,
        port,
        addr,
        path_len: 0,
        _pad: 0,
        path: [0; UNIX_PATH_LEN],
        _pad2: [0; 4],
    };
    e.path_len = fill(&mut e.path, path);
    e
}

pub fn mount(source: &str, target: &str, fstype: &str, flags: u64) -> MountEvent {
    let mut e = MountEvent {
        header: header(kind::MOUNT),
        flags,
        source_len: 0,
        target_len: 0,
        fstype_len: 0,
        data_len: 0,
        source: [0; PATH_LEN],
        target: [0; PATH_LEN],
        fstype: [0; FSTYPE_LEN],
        data: [0; MOUNT_DATA_LEN],
    };
    e.source_len = fill(&mut e.source, source.as_bytes());
    e.target_len = fill(&mut e.target, target.as_bytes());
    e.fstype_len = fill(&mut e.fstype, fstype.as_bytes());
    e
}

/// A successful chroot to `path` whose new root the kernel did not identify.
pub fn chroot(path: &str) -> ChrootEvent {
    let mut e = ChrootEvent {
        header: header(kind::CHROOT),
        ret: 0,
        path_len: 0,
        root_ino: 0,
        root_dev: 0,
        _pad: 0,
        path: [0; PATH_LEN],
    };
    e.path_len = fill(&mut e.path, path.as_bytes());
    e
}

pub fn open(path: &str) -> OpenEvent {
    let mut e = OpenEvent {
        header: header(kind::OPEN_WRITE),
        open_flags: 0o1101,
        path_len: 0,
        dirfd: -100,
        fs_magic: 0,
        path: [0; PATH_LEN],
        file_name: [0; sensor_common::FILE_NAME_LEN],
        file_name_len: 0,
        _pad: 0,
    };
    e.path_len = fill(&mut e.path, path.as_bytes());
    e
}
