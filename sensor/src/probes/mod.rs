//! Loading and attaching the kernel programs, and the maps the agent reads and writes.

pub mod btf;
mod tracefs;

use std::{io, path::Path};

use aya::{
    maps::{Array, HashMap, MapData, MapError, PerCpuArray, RingBuf},
    programs::{ProgramError, TracePoint},
    Ebpf, EbpfLoader,
};
use log::{debug, info, warn};
use sensor_common::{
    cgroup_state, loss_slot, CgroupState, KernelOffsets, PathPrefix, ProbeConfig,
    HOST_EXEC_PREFIXES, HOST_EXEC_PREFIX_LEN,
};

/// The kernel object, built by `build.rs`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor-ebpf.o"));

/// Where vmlinux BTF lives.
const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// A tracepoint program; the program name is the tracepoint's name.
struct Hook {
    program: &'static str,
    category: &'static str,
    /// The sensor refuses to run without it; the others widen coverage and are skipped (and
    /// reported at start-up) on kernels that lack them.
    required: bool,
}

const fn hook(category: &'static str, program: &'static str, required: bool) -> Hook {
    Hook {
        program,
        category,
        required,
    }
}

/// Every hook.
#[rustfmt::skip]
const HOOKS: &[Hook] = &[
    hook("cgroup", "cgroup_mkdir", true),
    hook("cgroup", "cgroup_rmdir", true),
    hook("cgroup", "cgroup_attach_task", false),
    hook("sched", "sched_process_exec", true),
    hook("syscalls", "sys_enter_connect", true),
    hook("syscalls", "sys_enter_sendto", false),
    hook("syscalls", "sys_enter_sendmsg", false),
    hook("syscalls", "sys_enter_sendmmsg", false),
    hook("syscalls", "sys_enter_mount", true),
    hook("syscalls", "sys_enter_fsopen", false),
    hook("syscalls", "sys_enter_open_tree", false),
    hook("syscalls", "sys_enter_move_mount", false),
    hook("syscalls", "sys_enter_mount_setattr", false),
    hook("syscalls", "sys_enter_setns", false),
    hook("syscalls", "sys_exit_setns", false),
    hook("syscalls", "sys_enter_openat", false),
    hook("syscalls", "sys_enter_open", false),
    hook("syscalls", "sys_enter_openat2", false),
    hook("syscalls", "sys_enter_creat", false),
    hook("syscalls", "sys_exit_openat", false),
    hook("syscalls", "sys_exit_open", false),
    hook("syscalls", "sys_exit_openat2", false),
    hook("syscalls", "sys_exit_creat", false),
    hook("syscalls", "sys_enter_chroot", false),
    hook("syscalls", "sys_exit_chroot", false),
    hook("syscalls", "sys_enter_init_module", false),
    hook("syscalls", "sys_enter_finit_module", false),
    hook("syscalls", "sys_enter_io_uring_setup", false),
];

/// Why the programs could not be loaded or attached.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "the sensor must run as root to load eBPF programs (effective uid {0}); run it with sudo"
    )]
    NotRoot(u32),
    #[error("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: {0}")]
    Tracefs(#[source] io::Error),
    #[error("tracepoint {category}/{name} does not exist in this kernel (no {tracefs}/events/{category}/{name}); the sensor needs it")]
    MissingTracepoint {
        category: &'static str,
        name: &'static str,
        tracefs: String,
    },
    #[error("loading the eBPF programs failed (is BPF available: CONFIG_BPF_SYSCALL, CAP_BPF and CAP_PERFMON or CAP_SYS_ADMIN?)")]
    Load(#[source] aya::EbpfError),
    #[error("program {name} is missing from the eBPF object")]
    MissingProgram { name: &'static str },
    #[error("program {name} could not be loaded or attached: {detail}")]
    Program { name: &'static str, detail: String },
    #[error("map {name} is missing from the eBPF object")]
    MissingMap { name: &'static str },
    #[error("map {name}")]
    Map {
        name: &'static str,
        #[source]
        source: MapError,
    },
}

/// Load-time choices.
pub struct ProbeOptions {
    /// Send host (non-container) events too.
    pub host_events: bool,
    /// Ring buffer size in bytes (a power of two, at least one page).
    pub ring_buffer_bytes: u32,
    /// Host paths whose execution by host processes is reported (container storage).
    pub host_exec_prefixes: Vec<String>,
    /// Runtime API socket paths whose connection by host processes is reported.
    pub host_connect_paths: Vec<String>,
    /// Inode number of the host's mount namespace.
    pub host_mntns: u32,
}

/// The loaded and attached programs.
pub struct Probes {
    ebpf: Ebpf,
    pub attached: Vec<&'static str>,
    pub skipped: Vec<&'static str>,
    /// False when kernel offsets were not found: ppid and namespaces are then unknown.
    pub offsets_valid: bool,
}

/// Per-kind counters of events the kernel could not queue.
pub struct LossCounters {
    map: PerCpuArray<MapData, u64>,
}

impl LossCounters {
    /// Totals over all CPUs, by [`loss_slot`].
    pub fn read(&self) -> [u64; loss_slot::COUNT as usize] {
        let mut totals = [0u64; loss_slot::COUNT as usize];
        for (slot, total) in totals.iter_mut().enumerate() {
            if let Ok(values) = self.map.get(&(slot as u32), 0) {
                *total = values.iter().sum();
            }
        }
        totals
    }
}

/// Tells the kernel programs whether the agent is draining the ring on its timer (then events
/// need not wake it) or sleeping until woken.
pub struct PollingFlag {
    map: Array<MapData, u32>,
}

impl PollingFlag {
    pub fn set(&mut self, polling: bool) -> Result<(), MapError> {
        self.map.set(0, u32::from(polling), 0)
    }
}

/// The kernel's container cgroup filter.
pub struct CgroupFilter {
    map: HashMap<MapData, u64, CgroupState>,
}

impl CgroupFilter {
    /// Adds a container cgroup found at start-up. Running containers are past their set-up, so
    /// their mounts count. An entry the kernel already made (a container created in the
    /// meantime) is left as it is.
    pub fn add_started(&mut self, cgroup_id: u64) -> Result<(), MapError> {
        const BPF_NOEXIST: u64 = 1;
        let state = CgroupState {
            flags: cgroup_state::STARTED,
            _pad: 0,
        };
        match self.map.insert(cgroup_id, state, BPF_NOEXIST) {
            Ok(()) => Ok(()),
            Err(MapError::SyscallError(err))
                if err.io_error.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(())
            }
            Err(err) => Err(err),
        }
    }
}

/// The host exec prefixes the kernel compares against, extendable at run time (Docker's root
/// directory is only known once the agent reached Docker).
pub struct HostExecPrefixes {
    map: Array<MapData, PathPrefix>,
    used: Vec<String>,
}

impl HostExecPrefixes {
    /// Adds `prefix` if it is new and a slot is free; returns whether it was added.
    pub fn add(&mut self, prefix: &str) -> Result<bool, MapError> {
        let bytes = prefix.as_bytes();
        let slot = self.used.len() as u32;
        if self.used.iter().any(|p| p == prefix)
            || slot >= HOST_EXEC_PREFIXES
            || bytes.len() < 8
            || bytes.len() > HOST_EXEC_PREFIX_LEN
        {
            return Ok(false);
        }
        let mut entry = PathPrefix {
            len: bytes.len() as u32,
            bytes: [0; HOST_EXEC_PREFIX_LEN],
        };
        entry.bytes[..bytes.len()].copy_from_slice(bytes);
        self.map.set(slot, entry, 0)?;
        self.used.push(prefix.to_string());
        Ok(true)
    }
}

impl Probes {
    /// Checks privileges, resolves kernel offsets, loads and attaches every program.
    pub fn load(options: &ProbeOptions) -> Result<Self, ProbeError> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(ProbeError::NotRoot(euid));
        }
        let tracefs = tracefs::ensure_mounted().map_err(ProbeError::Tracefs)?;
        raise_memlock_limit();

        let offsets = kernel_offsets();
        let config = ProbeConfig {
            host_events: u32::from(options.host_events),
            host_mntns: options.host_mntns,
        };
        let mut ebpf = EbpfLoader::new()
            // The programs carry no CO-RE relocations (offsets come in as constants), so aya
            // need not parse the kernel's BTF too: that parse alone is most of the agent's
            // peak memory.
            .btf(None)
            .override_global("OFFSETS", &offsets, true)
            .override_global("CONFIG", &config, true)
            .map_max_entries("EVENTS", options.ring_buffer_bytes)
            .load(OBJECT)
            .map_err(ProbeError::Load)?;

        if let Err(err) = aya_log::EbpfLogger::init(&mut ebpf) {
            debug!("kernel-side logging unavailable: {err}");
        }
        set_paths(&mut ebpf, "HOST_EXEC_PREFIX", &options.host_exec_prefixes)?;
        set_paths(&mut ebpf, "HOST_CONNECT_PATH", &options.host_connect_paths)?;

        let mut probes = Probes {
            ebpf,
            attached: Vec::new(),
            skipped: Vec::new(),
            offsets_valid: offsets.valid != 0,
        };
        for hook in HOOKS {
            if !tracefs::has_tracepoint(&tracefs, hook.category, hook.program) {
                if hook.required {
                    return Err(ProbeError::MissingTracepoint {
                        category: hook.category,
                        name: hook.program,
                        tracefs: tracefs.display().to_string(),
                    });
                }
                info!(
                    "tracepoint {}/{} is not in this kernel; that hook is off",
                    hook.category, hook.program
                );
                probes.skipped.push(hook.program);
                continue;
            }
            probes.attach(hook)?;
        }
        // aya's loader parses the kernel's BTF as well (~17 MiB, freed with the loader): return
        // those pages now, before the ring buffer is mapped, so the two never add up.
        release_free_heap();
        info!(
            "probes attached count={} programs={}",
            probes.attached.len(),
            probes.attached.join(",")
        );
        Ok(probes)
    }

    fn attach(&mut self, hook: &Hook) -> Result<(), ProbeError> {
        let name = hook.program;
        let program: &mut TracePoint = self
            .ebpf
            .program_mut(name)
            .ok_or(ProbeError::MissingProgram { name })?
            .try_into()
            .map_err(|err| program_error(name, &err))?;
        program.load().map_err(|err| program_error(name, &err))?;
        program
            .attach(hook.category, name)
            .map_err(|err| program_error(name, &err))?;
        self.attached.push(name);
        Ok(())
    }

    /// The event ring buffer (can be taken once).
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>, ProbeError> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .ok_or(ProbeError::MissingMap { name: "EVENTS" })?;
        RingBuf::try_from(map).map_err(|source| ProbeError::Map {
            name: "EVENTS",
            source,
        })
    }

    /// The loss counters (can be taken once).
    pub fn take_loss_counters(&mut self) -> Result<LossCounters, ProbeError> {
        let map = self
            .ebpf
            .take_map("LOST")
            .ok_or(ProbeError::MissingMap { name: "LOST" })?;
        let map = PerCpuArray::try_from(map).map_err(|source| ProbeError::Map {
            name: "LOST",
            source,
        })?;
        Ok(LossCounters { map })
    }

    /// The host exec prefixes (can be taken once); `initial` are those set at load time.
    pub fn take_host_exec_prefixes(
        &mut self,
        initial: &[String],
    ) -> Result<HostExecPrefixes, ProbeError> {
        let name = "HOST_EXEC_PREFIX";
        let map = self
            .ebpf
            .take_map(name)
            .ok_or(ProbeError::MissingMap { name })?;
        let map = Array::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        let used = initial
            .iter()
            .take(HOST_EXEC_PREFIXES as usize)
            .cloned()
            .collect();
        Ok(HostExecPrefixes { map, used })
    }

    /// The agent's polling flag (can be taken once).
    pub fn take_polling_flag(&mut self) -> Result<PollingFlag, ProbeError> {
        let name = "AGENT_POLLING";
        let map = self
            .ebpf
            .take_map(name)
            .ok_or(ProbeError::MissingMap { name })?;
        let map = Array::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        Ok(PollingFlag { map })
    }

    /// The container cgroup filter (can be taken once).
    pub fn take_cgroup_filter(&mut self) -> Result<CgroupFilter, ProbeError> {
        let name = "CONTAINER_CGROUPS";
        let map = self
            .ebpf
            .take_map(name)
            .ok_or(ProbeError::MissingMap { name })?;
        let map = HashMap::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
        Ok(CgroupFilter { map })
    }
}

/// Verifier logs run to thousands of lines; the error keeps the end, where the reason is, and
/// the whole log goes to the debug log.
fn program_error(name: &'static str, err: &ProgramError) -> ProbeError {
    const TAIL_LINES: usize = 12;
    let full = err.to_string();
    debug!("program {name}: {full}");
    let lines: Vec<&str> = full.lines().collect();
    let detail = if lines.len() > TAIL_LINES {
        format!("… {}", lines[lines.len() - TAIL_LINES..].join("\n"))
    } else {
        full
    };
    ProbeError::Program { name, detail }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones use cgroup accounting.
fn raise_memlock_limit() {
    let limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid pointer to an initialised rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) } != 0 {
        debug!(
            "could not raise RLIMIT_MEMLOCK ({}); not needed on kernels >= 5.11",
            io::Error::last_os_error()
        );
    }
}

/// Field offsets from the running kernel's BTF; zero (invalid) when BTF is unusable.
fn kernel_offsets() -> KernelOffsets {
    let found =
        btf::Btf::from_file(Path::new(VMLINUX_BTF)).and_then(|btf| btf::kernel_offsets(&btf));
    // The parsed BTF is gone; return its pages before aya parses the same file again.
    release_free_heap();
    match found {
        Ok(offsets) => offsets,
        Err(err) => {
            warn!(
                "kernel BTF unusable ({err}): ppid, namespaces and exec arguments will be missing"
            );
            KernelOffsets::default()
        }
    }
}

/// Returns free heap pages to the system (glibc keeps them otherwise).
pub fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Fills one of the path arrays the kernel compares against.
fn set_paths(ebpf: &mut Ebpf, name: &'static str, prefixes: &[String]) -> Result<(), ProbeError> {
    let map = ebpf.map_mut(name).ok_or(ProbeError::MissingMap { name })?;
    let mut array: Array<&mut MapData, PathPrefix> =
        Array::try_from(map).map_err(|source| ProbeError::Map { name, source })?;
    for (index, prefix) in prefixes
        .iter()
        .take(HOST_EXEC_PREFIXES as usize)
        .enumerate()
    {
        let bytes = prefix.as_bytes();
        if bytes.is_empty() || bytes.len() > HOST_EXEC_PREFIX_LEN {
            warn!("{name} entry {prefix:?} ignored: must be 1 to {HOST_EXEC_PREFIX_LEN} bytes");
            continue;
        }
        let mut entry = PathPrefix {
            len: bytes.len() as u32,
            bytes: [0; HOST_EXEC_PREFIX_LEN],
        };
        entry.bytes[..bytes.len()].copy_from_slice(bytes);
        array
            .set(index as u32, entry, 0)
            .map_err(|source| ProbeError::Map { name, source })?;
    }
    Ok(())
}
