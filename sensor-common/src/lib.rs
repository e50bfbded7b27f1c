//! Records shared by the kernel programs (`sensor-ebpf`) and the agent (`sensor`).
//!
//! Every record that crosses the ring buffer starts with an [`EventHeader`]; its `kind` says which
//! payload follows. All types are `#[repr(C)]`, `Copy` and built from fixed-width integers so that
//! both sides agree on the layout byte for byte; the agent checks the sizes it receives against
//! `size_of` before it reads anything.
//!
//! Kind numbers are grouped in ranges per category and a retired number is never reused, so an
//! old agent reading a newer kernel object can always tell "unknown" from "misread".
#![no_std]

/// Length of `task_struct::comm`, including the terminating NUL.
pub const COMM_LEN: usize = 16;
/// Bytes kept of a path (exec file name, mount source and target, opened file).
pub const PATH_LEN: usize = 256;
/// Bytes kept of an exec's argument block (NUL-separated, as the kernel lays it out).
pub const ARGS_LEN: usize = 512;
/// Bytes kept of a mount's file system type.
pub const FSTYPE_LEN: usize = 32;
/// Bytes kept of a mount's option string (the `data` argument).
pub const MOUNT_DATA_LEN: usize = 128;
/// `sizeof(sockaddr_un::sun_path)`.
pub const UNIX_PATH_LEN: usize = 108;

/// Event kinds. Ranges: 1–99 container lifecycle, 100–199 processes, 200–299 network,
/// 300–399 mounts, 400–499 namespaces, 500–599 files, 600–699 kernel.
pub mod kind {
    pub const CGROUP_MKDIR: u32 = 1;
    pub const CGROUP_RMDIR: u32 = 2;
    pub const CGROUP_ATTACH: u32 = 3;
    pub const EXEC: u32 = 100;
    pub const CONNECT: u32 = 200;
    pub const MOUNT: u32 = 300;
    pub const FSOPEN: u32 = 301;
    pub const OPEN_TREE: u32 = 302;
    pub const MOVE_MOUNT: u32 = 303;
    pub const MOUNT_SETATTR: u32 = 304;
    pub const SETNS: u32 = 400;
    pub const UNSHARE: u32 = 401;
    pub const OPEN_WRITE: u32 = 500;
    pub const CHROOT: u32 = 501;
    pub const MODULE_LOAD: u32 = 600;
    pub const IO_URING_SETUP: u32 = 601;
}

/// Slots of the per-CPU `LOST` counter array: one per event kind, so a loss report can say which
/// kind of evidence is missing.
pub mod loss_slot {
    pub const CGROUP: u32 = 0;
    pub const EXEC: u32 = 1;
    pub const CONNECT: u32 = 2;
    pub const MOUNT: u32 = 3;
    pub const NAMESPACE: u32 = 4;
    pub const OPEN: u32 = 5;
    /// Module loads and other bare syscalls.
    pub const SYSCALL: u32 = 6;
    /// Number of slots; the size of the `LOST` map.
    pub const COUNT: u32 = 7;
    /// Names in slot order, for reports.
    pub const NAMES: [&str; COUNT as usize] = [
        "cgroup",
        "exec",
        "connect",
        "mount",
        "namespace",
        "open",
        "module",
    ];
}

/// Bits of [`EventHeader::flags`].
pub mod flags {
    /// The process is not in a container cgroup (host events are only sent when asked for, or
    /// for the few host events the rules need, such as usermode-helper execs).
    pub const HOST: u32 = 1 << 0;
    /// The exec was started by the kernel's usermode helper (parent is kthreadd): release_agent,
    /// core_pattern pipes, modprobe and uevent helpers run this way, on the host.
    pub const USERMODE_HELPER: u32 = 1 << 1;
    /// A string or argument block did not fit and was cut.
    pub const TRUNCATED: u32 = 1 << 2;
    /// The kernel offsets were unknown, so ppid and namespace fields are zero.
    pub const NO_TASK_FIELDS: u32 = 1 << 3;
    /// The container cgroup map was full: this container's events are not filtered in.
    pub const UNTRACKED: u32 = 1 << 4;
    /// The container's first exec outside the host's mount namespace: its workload starts now,
    /// after the runtime finished setting it up (volumes included).
    pub const FIRST_EXEC: u32 = 1 << 5;
    /// An open whose path, as passed, does not name a watched file, but whose opened file (after
    /// symlinks) is one, on the file system it belongs to: seen at the syscall's exit.
    pub const LINKED: u32 = 1 << 6;
    /// A connect made by a TCP Fast Open send (`sendto`/`sendmsg` with `MSG_FASTOPEN`).
    pub const FAST_OPEN: u32 = 1 << 7;
}

/// Start of every ring-buffer record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EventHeader {
    /// One of [`kind`].
    pub kind: u32,
    /// Bits of [`flags`].
    pub flags: u32,
    /// `bpf_ktime_get_ns()` when the hook ran (CLOCK_MONOTONIC).
    pub ktime_ns: u64,
    /// cgroup v2 id of the task (the inode number of its cgroup directory).
    pub cgroup_id: u64,
    /// Thread id.
    pub pid: u32,
    /// Process id (thread group leader).
    pub tgid: u32,
    /// Process id of the real parent.
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Inode number of the task's mount namespace.
    pub mntns: u32,
    /// `task_struct::comm`, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

/// A container cgroup appeared or went away (`cgroup:cgroup_mkdir` / `cgroup_rmdir`), or a
/// task in a container moved a task out of the containers' cgroups (`cgroup_attach_task`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupEvent {
    pub header: EventHeader,
    /// Id of the cgroup that was created, removed, or attached to.
    pub id: u64,
    /// Depth below the hierarchy root.
    pub level: u32,
    /// The task that was moved (attach only).
    pub task: u32,
    pub _pad: u32,
    /// Bytes of `path` used (without the NUL).
    pub path_len: u32,
    /// Path relative to the cgroup2 mount, e.g. `/docker/<64 hex>`.
    pub path: [u8; PATH_LEN],
}

/// A successful exec (`sched:sched_process_exec`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecEvent {
    pub header: EventHeader,
    /// Bytes of `filename` used.
    pub filename_len: u32,
    /// Bytes of `args` used.
    pub args_len: u32,
    /// For a relative file name: the inode number of the file executed
    /// (`mm->exe_file`), which finds it again when the name cannot be resolved any more; 0
    /// otherwise.
    pub exe_ino: u64,
    /// The file name the kernel executed, as the caller spelled it (`/dev/fd/N` for execveat
    /// with an empty path).
    pub filename: [u8; PATH_LEN],
    /// `argv`, NUL-separated, copied from the new process's stack.
    pub args: [u8; ARGS_LEN],
}

/// A `connect(2)` attempt to a unix, IPv4 or IPv6 address (`syscalls:sys_enter_connect`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConnectEvent {
    pub header: EventHeader,
    pub fd: u32,
    /// `AF_UNIX`, `AF_INET` or `AF_INET6`.
    pub family: u16,
    /// Port in host byte order (zero for unix sockets).
    pub port: u16,
    /// IPv4 in the first four bytes, or IPv6, network byte order.
    pub addr: [u8; 16],
    /// Bytes of `path` used; an abstract unix name starts with a NUL byte.
    pub path_len: u32,
    pub _pad: u32,
    pub path: [u8; UNIX_PATH_LEN],
    pub _pad2: [u8; 4],
}

/// A `mount(2)` call (`syscalls:sys_enter_mount`), or an `fsopen(2)` of the new mount API.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MountEvent {
    pub header: EventHeader,
    /// `MS_*` flags as passed.
    pub flags: u64,
    pub source_len: u32,
    pub target_len: u32,
    pub fstype_len: u32,
    pub data_len: u32,
    pub source: [u8; PATH_LEN],
    pub target: [u8; PATH_LEN],
    pub fstype: [u8; FSTYPE_LEN],
    pub data: [u8; MOUNT_DATA_LEN],
}

/// A successful `setns(2)` that changed the task's mount, network or pid-for-children
/// namespace: the namespaces before and after the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NamespaceEvent {
    pub header: EventHeader,
    /// `nstype` as passed to setns (a `CLONE_NEW*` bit, or 0 for "any").
    pub nstype: u64,
    /// File descriptor passed to setns.
    pub fd: i32,
    pub mntns_before: u32,
    /// Mount namespace after the call (also in the header).
    pub mntns: u32,
    pub netns_before: u32,
    pub netns: u32,
    /// PID namespace for children, before and after.
    pub pidns_before: u32,
    pub pidns: u32,
    pub _pad: u32,
}

/// What `sys_enter_setns` remembers for `sys_exit_setns`, per thread.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SetnsStart {
    pub nstype: u64,
    pub fd: i32,
    pub mntns: u32,
    pub netns: u32,
    pub pidns: u32,
}

/// An open for writing of a file the escape rules watch (`syscalls:sys_enter_openat` and
/// friends), or a `chroot(2)`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OpenEvent {
    pub header: EventHeader,
    /// `O_*` flags as passed.
    pub open_flags: u32,
    pub path_len: u32,
    /// Directory a relative path is resolved against (`AT_FDCWD`, -100, for the working
    /// directory).
    pub dirfd: i32,
    /// With [`flags::LINKED`]: `s_magic` of the opened file's file system; 0 otherwise.
    pub fs_magic: u32,
    /// The path as the process passed it.
    pub path: [u8; PATH_LEN],
    /// With [`flags::LINKED`]: the opened file's own name (after symlinks); empty otherwise.
    pub file_name: [u8; FILE_NAME_LEN],
    pub file_name_len: u32,
    pub _pad: u32,
}

/// Bytes of [`OpenEvent::file_name`].
pub const FILE_NAME_LEN: usize = 32;

/// A `chroot(2)`, sent when it returns: the name the task asked for, the result, and the root
/// the task has afterwards, by identity (inode and device), which tells the host's root directory
/// apart from any other whatever path led there.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ChrootEvent {
    pub header: EventHeader,
    /// chroot's return value: 0, or a negative errno.
    pub ret: i32,
    pub path_len: u32,
    /// `fs->root.dentry->d_inode->i_ino` after the call; 0 when unknown.
    pub root_ino: u64,
    /// `i_sb->s_dev` of that inode, as the kernel encodes it (major << 20 | minor).
    pub root_dev: u32,
    pub _pad: u32,
    pub path: [u8; PATH_LEN],
}

/// A syscall whose arguments matter little: a kernel module load request (`init_module` /
/// `finit_module`), or the set-up of an io_uring (whose operations bypass syscall hooks).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SyscallEvent {
    pub header: EventHeader,
    /// The syscall number used.
    pub syscall: u32,
    /// The file descriptor for `finit_module`, -1 otherwise.
    pub fd: i32,
}

/// Value of the `CONTAINER_CGROUPS` map, keyed by cgroup id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CgroupState {
    /// Bits of [`cgroup_state`].
    pub flags: u32,
    pub _pad: u32,
}

/// Bits of [`CgroupState::flags`].
pub mod cgroup_state {
    /// The container's first exec happened: the runtime has finished setting it up, so mounts
    /// from now on are the workload's own.
    pub const STARTED: u32 = 1 << 0;
}

/// Offsets of the kernel struct fields the programs read, found by the agent in the running
/// kernel's BTF and handed to the programs as a load-time constant. Rust eBPF code gets no CO-RE
/// relocations, so this is how one object runs on many kernels. A zero `valid` means "unknown":
/// the programs then leave ppid and namespace fields at zero and set [`flags::NO_TASK_FIELDS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelOffsets {
    /// Non-zero when the offsets below were resolved. `u32` rather than `bool` keeps the struct
    /// free of padding and of invalid bit patterns.
    pub valid: u32,
    pub task_real_parent: u32,
    pub task_tgid: u32,
    pub task_nsproxy: u32,
    pub task_mm: u32,
    pub nsproxy_mnt_ns: u32,
    pub nsproxy_net_ns: u32,
    pub nsproxy_pid_ns_for_children: u32,
    /// Offset of `ns.inum` inside `struct mnt_namespace`.
    pub mnt_ns_inum: u32,
    /// Offset of `ns.inum` inside `struct net`.
    pub net_inum: u32,
    /// Offset of `ns.inum` inside `struct pid_namespace`.
    pub pid_ns_inum: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub mm_exe_file: u32,
    pub task_fs: u32,
    /// Offset of `root.dentry` inside `struct fs_struct`.
    pub fs_root_dentry: u32,
    pub dentry_inode: u32,
    pub inode_ino: u32,
    pub inode_sb: u32,
    pub sb_dev: u32,
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdtable_fd: u32,
    /// Offset of `f_path.dentry` inside `struct file`.
    pub file_dentry: u32,
    /// Offset of `d_name.name` inside `struct dentry`.
    pub dentry_name: u32,
    pub dentry_sb: u32,
    pub sb_magic: u32,
}

/// Number of host path prefixes the exec hook compares host execs against.
pub const HOST_EXEC_PREFIXES: u32 = 4;
/// Bytes of each host path prefix.
pub const HOST_EXEC_PREFIX_LEN: usize = 64;

/// An entry of the `HOST_EXEC_PREFIXES` map: host execs of files under this path (container
/// storage such as `/var/lib/docker/`) are sent even though host events are otherwise dropped in
/// the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PathPrefix {
    /// Bytes of `bytes` in use; zero marks an unused entry.
    pub len: u32,
    pub bytes: [u8; HOST_EXEC_PREFIX_LEN],
}

/// Load-time settings of the programs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeConfig {
    /// Non-zero: send events of host processes too.
    pub host_events: u32,
    /// Inode number of the host's mount namespace.
    pub host_mntns: u32,
}

#[cfg(feature = "user")]
mod user {
    use super::*;

    // SAFETY: plain `repr(C)` structs of integers and byte arrays without padding holes that
    // matter; any bit pattern is a valid value.
    unsafe impl aya::Pod for KernelOffsets {}
    unsafe impl aya::Pod for ProbeConfig {}
    unsafe impl aya::Pod for CgroupState {}
    unsafe impl aya::Pod for PathPrefix {}
}
