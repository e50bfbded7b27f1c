//! Exec rules: cryptominers, executables dropped into a container, fileless execution.
//!
//! Besides judging each exec, the rule remembers a little about what happened before in the same
//! container — downloads (`wget`/`curl` with their URL and output file) and `chmod +x` — so a
//! detection can say where the binary came from.

mod history;
mod stager;

use std::{
    collections::{HashMap, VecDeque},
    path::Path,
};

use serde_json::{json, Map, Value};

use self::{history::Transfer, stager::PipelineStep};
use super::{
    miner,
    origin::{self, Lookup, Origin, WrittenFile},
    put, DedupKey, Finding,
};
use crate::{
    detection::{mitre, ProcessInfo, Severity},
    docker::ContainerInfo,
    event::ExecView as _,
    timefmt::rfc3339,
};
use sensor_common::ExecEvent;

pub const CRYPTOMINER: &str = "cryptominer";
pub const DROPPED_EXECUTABLE: &str = "dropped-executable";
pub const FILELESS: &str = "fileless-execution";
pub const DECODED_PAYLOAD: &str = "decoded-payload-executed";

/// Arguments looked at per exec (the kernel sends at most `ARGS_LEN` bytes anyway).
const MAX_ARGS: usize = 64;
/// Earlier downloads and chmods remembered per container.
const HISTORY_PER_CONTAINER: usize = 16;
/// Containers with history remembered.
const HISTORY_CONTAINERS: usize = 4096;
/// Repeats of the same rule, container and file within this window fold into one detection.
const DEDUP_SECS: u64 = 300;

/// How long after a decoded stager a dropped executable is linked to it.
const STAGER_LINK_NS: u64 = 60_000_000_000;

const INTERPRETERS: &[&str] = &[
    "sh", "bash", "ash", "dash", "zsh", "ksh", "busybox", "python", "python2", "python3", "perl",
    "ruby", "node", "php",
];

const MINER_RESPONSE: &str = "Pause the container (docker pause) rather than removing it, so its \
    memory and writable layer stay available; preserve the binary (docker cp <container>:<path>, or \
    copy it from the layer path in the evidence); block the pool address; find out who started the \
    container and rotate credentials it could reach.";
const DROPPED_RESPONSE: &str = "Pause the container (docker pause) instead of removing it; keep \
    the binary for analysis (docker cp <container>:<path>, or the layer path in the evidence); \
    check the download source and what else the container wrote (docker diff).";
const DECODED_RESPONSE: &str = "A shell ran a script that arrived encoded. Pause the \
    container, recover the encoded text from the parent process's command line or the container \
    logs, decode it, and follow what it fetched or started (see other detections of this \
    container).";
const FILELESS_RESPONSE: &str =
    "Pause the container (docker pause) to keep the in-memory payload; \
    capture the process memory (/proc/<pid>/mem or a core dump) before stopping anything; look for \
    the loader that created the descriptor.";

/// Input of the exec rules for one event.
pub struct ExecInput<'a> {
    pub event: &'a ExecEvent,
    pub container_id: &'a str,
    pub info: Option<&'a ContainerInfo>,
    /// The container's writable layer on the host, when known (from Docker or mountinfo).
    pub upper_dir: Option<&'a Path>,
    /// Container creation, nanoseconds since the epoch (0 unknown).
    pub created_unix_ns: i64,
    /// Start of the container's workload, nanoseconds since the epoch (0 unknown).
    pub workload_started_unix_ns: i64,
    pub proc_root: &'a Path,
}

/// What the exec rules remember about one container.
#[derive(Default)]
struct ContainerHistory {
    transfers: VecDeque<Transfer>,
    pipeline: VecDeque<PipelineStep>,
    /// The last decoded stager: when, and the decoder's command line.
    stager: Option<(u64, String)>,
}

/// State of the exec rules.
#[derive(Default)]
pub struct ExecRules {
    history: HashMap<String, ContainerHistory>,
}

impl ExecRules {
    /// Judges one exec in a container; findings are appended to `out`.
    pub fn on_exec(&mut self, input: &ExecInput<'_>, out: &mut Vec<Finding>) {
        let mut argv = [""; MAX_ARGS];
        let mut argc = 0;
        for arg in input.event.arg_strs().take(MAX_ARGS) {
            argv[argc] = arg;
            argc += 1;
        }
        let argv = &argv[..argc];
        let filename = crate::event::text(&input.event.filename, input.event.filename_len);
        // The kernel keeps 256 bytes of the name and 512 of the arguments; past that, the
        // process itself says what it runs (while it lives), so padding hides nothing.
        let truncated = input.event.header.flags & sensor_common::flags::TRUNCATED != 0;
        let full_filename = truncated.then(|| exe_of(input)).flatten();
        let full_args = truncated.then(|| cmdline_of(input)).flatten();
        let filename: &str = full_filename.as_deref().unwrap_or(&filename);
        let full_argv: Option<Vec<&str>> = full_args
            .as_ref()
            .map(|a| a.iter().map(String::as_str).collect());
        let argv: &[&str] = full_argv.as_deref().unwrap_or(argv);
        let tool = tool_name(filename, argv);

        self.remember(input, tool, argv);
        if let Some(finding) = self.pipeline(input, tool, argv, filename) {
            out.push(finding);
        }
        let process = || process_info(input.event, filename, argv);
        if let Some(finding) = super::module::on_tool(tool, argv, process, input.container_id) {
            out.push(finding);
        }

        let lookup = Lookup {
            pid: input.event.header.tgid,
            filename,
            upper_dir: input.upper_dir,
            created_unix_ns: input.created_unix_ns,
            workload_started_unix_ns: input.workload_started_unix_ns,
            exe_ino: input.event.exe_ino,
            proc_root: input.proc_root,
            mounts: input.info.map_or(&[], |i| i.mounts.as_slice()),
        };
        let mut executed = origin::origin(&lookup);
        let mut script = None;
        // Busybox runs `sh <script>` through /proc/self/exe: the interpreter is named by argv[0].
        let interpreter =
            INTERPRETERS.contains(&basename(filename)) || INTERPRETERS.contains(&tool);
        if matches!(executed, Origin::Image) && interpreter {
            if let Some(path) = script_argument(argv) {
                // The kernel's inode is the interpreter's, not the script's.
                let lookup = Lookup {
                    filename: path,
                    exe_ino: 0,
                    ..lookup
                };
                if let Origin::Written(file) = origin::origin(&lookup) {
                    script = Some(path.to_string());
                    executed = Origin::Written(file);
                }
            }
        }
        if let Some(finding) = self.judge(input, filename, argv, executed, script) {
            out.push(finding);
        }
    }

    /// Pairs a decoder with a stdin-fed shell started by the same parent.
    fn pipeline(
        &mut self,
        input: &ExecInput<'_>,
        tool: &str,
        argv: &[&str],
        filename: &str,
    ) -> Option<Finding> {
        let h = &input.event.header;
        let this = stager::step(tool, argv, h.ktime_ns, h.ppid)?;
        let history = self.history_mut(input.container_id);
        let (decoder_step, shell_step) =
            stager::pair(&mut history.pipeline, this, HISTORY_PER_CONTAINER)?;
        history.stager = Some((h.ktime_ns, decoder_step.argv.clone()));

        let mut evidence = Map::new();
        put(&mut evidence, "decoder", decoder_step.argv);
        put(&mut evidence, "shell", shell_step.argv);
        put(&mut evidence, "parent_pid", h.ppid);
        Some(
            Finding::new(
                DECODED_PAYLOAD,
                Severity::High,
                mitre::DEOBFUSCATE,
                "Container piped a decoded payload into a shell".to_string(),
            )
            .in_container(input.container_id)
            .process(process_info(input.event, filename, argv))
            .evidence(evidence)
            .response(DECODED_RESPONSE)
            .dedup_by(format!("ppid:{}", h.ppid), DEDUP_SECS),
        )
    }

    fn history_mut(&mut self, container_id: &str) -> &mut ContainerHistory {
        if self.history.len() >= HISTORY_CONTAINERS && !self.history.contains_key(container_id) {
            self.history.clear();
        }
        self.history.entry(container_id.to_string()).or_default()
    }

    fn judge(
        &self,
        input: &ExecInput<'_>,
        filename: &str,
        argv: &[&str],
        executed: Origin,
        script: Option<String>,
    ) -> Option<Finding> {
        let file_path = match &executed {
            Origin::Written(file) => file.path.as_str(),
            _ => filename,
        };
        let external = matches!(
            executed,
            Origin::Image | Origin::Mounted { .. } | Origin::Unknown(_)
        );
        // `sh -c '<script>'` carries a miner's arguments inside its script; the miner's own exec
        // is judged when it happens.
        if external
            && stager::SHELLS.contains(&tool_name(filename, argv))
            && argv.get(1) == Some(&"-c")
        {
            return None;
        }
        let transfers = self.explaining(input.container_id, file_path);
        let urls: Vec<&str> = transfers.iter().filter_map(|t| t.url.as_deref()).collect();
        let indicators = miner::indicators(file_path, argv, &urls);
        // The common case — a program of the image, no miner signs — ends here, before anything
        // is allocated.
        if external && !indicators.is_miner() {
            return None;
        }

        let mut evidence = Map::new();
        put(&mut evidence, "executed", file_path);
        if let Some(script) = &script {
            put(&mut evidence, "script", script.clone());
        }
        let (rule, severity, technique, title, response) = match &executed {
            Origin::Written(file) => {
                add_written(&mut evidence, file);
                if indicators.is_miner() {
                    (
                        CRYPTOMINER,
                        Severity::Critical,
                        mitre::RESOURCE_HIJACKING,
                        "Cryptominer started from a file written inside the container",
                        MINER_RESPONSE,
                    )
                } else {
                    (
                        DROPPED_EXECUTABLE,
                        Severity::High,
                        mitre::INGRESS_TOOL_TRANSFER,
                        "Container executed a file written inside it after it was created",
                        DROPPED_RESPONSE,
                    )
                }
            }
            Origin::Deleted { exe } => {
                put(&mut evidence, "deleted", true);
                put(&mut evidence, "exe", exe.clone());
                if indicators.is_miner() {
                    (
                        CRYPTOMINER,
                        Severity::Critical,
                        mitre::RESOURCE_HIJACKING,
                        "Cryptominer running from a deleted file",
                        MINER_RESPONSE,
                    )
                } else {
                    (
                        DROPPED_EXECUTABLE,
                        Severity::High,
                        mitre::INGRESS_TOOL_TRANSFER,
                        "Container runs a program whose file was deleted",
                        DROPPED_RESPONSE,
                    )
                }
            }
            Origin::Fileless { target } => {
                put(&mut evidence, "target", target.clone());
                (
                    FILELESS,
                    Severity::High,
                    mitre::REFLECTIVE_CODE_LOADING,
                    "Container executed a program without a file on disk",
                    FILELESS_RESPONSE,
                )
            }
            Origin::Image | Origin::Mounted { .. } | Origin::Unknown(_) => {
                if let Origin::Unknown(reason) = &executed {
                    put(&mut evidence, "origin_unknown", reason.clone());
                }
                (
                    CRYPTOMINER,
                    Severity::Critical,
                    mitre::RESOURCE_HIJACKING,
                    "Cryptominer started in a container",
                    MINER_RESPONSE,
                )
            }
        };
        if indicators.is_miner() {
            put(&mut evidence, "miner_indicators", indicators.all());
        }
        if !transfers.is_empty() {
            put(
                &mut evidence,
                "history",
                transfers
                    .iter()
                    .map(history::to_json)
                    .collect::<Vec<Value>>(),
            );
        }
        let stager = self
            .history
            .get(input.container_id)
            .and_then(|h| h.stager.as_ref())
            .filter(|(at, _)| input.event.header.ktime_ns.saturating_sub(*at) <= STAGER_LINK_NS);
        if let Some((at, decoder)) = stager {
            put(
                &mut evidence,
                "decoded_stager",
                json!({ "decoder": decoder, "ktime_ns": at }),
            );
        }
        let dedup = DedupKey::new(file_path, DEDUP_SECS);
        Some(
            Finding::new(rule, severity, technique, title.to_string())
                .in_container(input.container_id)
                .process(process_info(input.event, filename, argv))
                .evidence(evidence)
                .response(response)
                .dedup_key(dedup),
        )
    }

    /// Records downloads and chmods so later detections can explain a file.
    fn remember(&mut self, input: &ExecInput<'_>, tool: &str, argv: &[&str]) {
        let Some(mut transfer) = history::parse(tool, argv) else {
            return;
        };
        transfer.ktime_ns = input.event.header.ktime_ns;
        let list = &mut self.history_mut(input.container_id).transfers;
        if list.len() >= HISTORY_PER_CONTAINER {
            list.pop_front();
        }
        list.push_back(transfer);
    }

    /// Earlier downloads and chmods of `path` in the container, oldest first.
    fn explaining(&self, container_id: &str, path: &str) -> Vec<Transfer> {
        let Some(list) = self.history.get(container_id) else {
            return Vec::new();
        };
        list.transfers
            .iter()
            .filter(|t| history::explains(t, path))
            .cloned()
            .collect()
    }

    /// Forgets a removed container.
    pub fn forget_container(&mut self, container_id: &str) {
        self.history.remove(container_id);
    }
}

fn add_written(evidence: &mut Map<String, Value>, file: &WrittenFile) {
    put(evidence, "written_in_container", true);
    put(evidence, "detected_by", file.method);
    if let Some(host_path) = &file.host_path {
        // Where to preserve the file from: the writable layer, or the volume's directory.
        let key = if file.method == "volume" {
            "volume_path"
        } else {
            "layer_path"
        };
        put(evidence, key, host_path.display().to_string());
    }
    put(evidence, "size", file.size);
    put(evidence, "mode", format!("{:o}", file.mode & 0o7777));
    put(evidence, "modified", rfc3339(file.mtime_unix_ns));
}

/// The process fields of a detection.
pub fn process_info(event: &ExecEvent, filename: &str, argv: &[&str]) -> ProcessInfo {
    ProcessInfo {
        filename: filename.to_string(),
        argv: argv.iter().map(|a| a.to_string()).collect(),
        ..ProcessInfo::of(&event.header)
    }
}

/// The executable of a live process (`/proc/<pid>/exe`).
fn exe_of(input: &ExecInput<'_>) -> Option<String> {
    let link = input
        .proc_root
        .join(input.event.header.tgid.to_string())
        .join("exe");
    let exe = std::fs::read_link(link)
        .ok()?
        .to_string_lossy()
        .into_owned();
    Some(
        exe.strip_suffix(" (deleted)")
            .map(str::to_string)
            .unwrap_or(exe),
    )
}

/// The whole command line of a live process (`/proc/<pid>/cmdline`).
fn cmdline_of(input: &ExecInput<'_>) -> Option<Vec<String>> {
    let path = input
        .proc_root
        .join(input.event.header.tgid.to_string())
        .join("cmdline");
    let bytes = std::fs::read(path).ok()?;
    let args: Vec<String> = bytes
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then_some(args)
}

/// The program's name: argv[0]'s last component, else the file name's.
fn tool_name<'a>(filename: &'a str, argv: &[&'a str]) -> &'a str {
    basename(argv.first().copied().unwrap_or(filename))
}

/// The last path component.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `sh /tmp/x.sh` → `/tmp/x.sh`; `sh -c '…'` → none.
/// `sh -e /tmp/x.sh`, `sh -- x.sh` and `busybox sh x.sh` alike; `sh -c '…'` (the script is the
/// argument itself) → none.
fn script_argument<'a>(argv: &[&'a str]) -> Option<&'a str> {
    let args = if argv.first().is_some_and(|a| basename(a) == "busybox") {
        argv.get(1..)?
    } else {
        argv
    };
    for arg in args.iter().skip(1) {
        match *arg {
            "--" => continue,
            "" => return None,
            option if option.starts_with('-') => {
                if option.contains('c') && !option.starts_with("--") {
                    return None;
                }
            }
            script => return Some(script),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::{fs, path::PathBuf};

    use super::*;

    fn event(filename: &str, args: &[&str], ktime: u64) -> ExecEvent {
        let mut e = crate::testutil::exec(filename, args);
        e.header.ktime_ns = ktime;
        e
    }

    struct Fixture {
        upper: PathBuf,
        proc_root: PathBuf,
        info: ContainerInfo,
    }

    fn fixture(name: &str) -> Fixture {
        let base = std::env::temp_dir().join(format!("execrule-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let upper = base.join("upper");
        let proc_root = base.join("proc");
        fs::create_dir_all(upper.join("tmp")).unwrap();
        fs::create_dir_all(&proc_root).unwrap();
        let info = ContainerInfo {
            id: "c".repeat(64),
            upper_dir: Some(upper.clone()),
            ..Default::default()
        };
        Fixture {
            upper,
            proc_root,
            info,
        }
    }

    fn run(rules: &mut ExecRules, f: &Fixture, e: &ExecEvent) -> Option<Finding> {
        let mut out = Vec::new();
        let input = ExecInput {
            event: e,
            container_id: &f.info.id,
            info: Some(&f.info),
            upper_dir: f.info.upper_dir.as_deref(),
            created_unix_ns: 1,
            workload_started_unix_ns: 1,
            proc_root: &f.proc_root,
        };
        rules.on_exec(&input, &mut out);
        out.pop()
    }

    #[test]
    fn downloaded_miner_is_critical_and_explained() {
        let f = fixture("miner");
        let mut rules = ExecRules::default();
        assert!(run(
            &mut rules,
            &f,
            &event(
                "/bin/wget",
                &["wget", "-q", "http://127.0.0.1:8000/miner", "-O", "/tmp/m"],
                1
            )
        )
        .is_none());
        fs::write(f.upper.join("tmp/m"), b"#!/bin/sh\nsleep 60\n").unwrap();
        assert!(run(
            &mut rules,
            &f,
            &event("/bin/chmod", &["chmod", "+x", "/tmp/m"], 2)
        )
        .is_none());
        let finding =
            run(&mut rules, &f, &event("/tmp/m", &["/bin/sh", "/tmp/m"], 3)).expect("a finding");
        assert_eq!(finding.rule, CRYPTOMINER);
        assert_eq!(finding.severity, Severity::Critical);
        assert_eq!(finding.technique.id, "T1496");
        assert_eq!(finding.evidence["written_in_container"], true);
        assert_eq!(finding.evidence["executed"], "/tmp/m");
        let history = finding.evidence["history"].as_array().unwrap();
        assert_eq!(history[0]["url"], "http://127.0.0.1:8000/miner");
        assert_eq!(history[1]["made_executable"], true);
        assert!(history[0].get("made_executable").is_none(), "{history:?}");
        assert_eq!(finding.process.unwrap().filename, "/tmp/m");
    }

    #[test]
    fn dropped_binary_without_miner_signs_is_high() {
        let f = fixture("dropped");
        fs::create_dir_all(f.upper.join("usr/local/lib")).unwrap();
        fs::write(f.upper.join("usr/local/lib/helper"), b"x").unwrap();
        let mut rules = ExecRules::default();
        let finding = run(
            &mut rules,
            &f,
            &event("/usr/local/lib/helper", &["helper", "--serve"], 1),
        )
        .unwrap();
        assert_eq!(
            (finding.rule, finding.severity),
            (DROPPED_EXECUTABLE, Severity::High)
        );
        assert_eq!(finding.technique.id, "T1105");
        assert!(finding.evidence["layer_path"]
            .as_str()
            .unwrap()
            .ends_with("usr/local/lib/helper"));
    }

    #[test]
    fn renamed_binary_with_miner_arguments_is_a_miner() {
        let f = fixture("renamed");
        fs::write(f.upper.join("tmp/kswapd"), b"x").unwrap();
        let mut rules = ExecRules::default();
        let e = event(
            "/tmp/kswapd",
            &[
                "/tmp/kswapd",
                "-o",
                "stratum+tcp://192.0.2.1:3333",
                "-u",
                "w",
                "-p",
                "x",
                "--donate-level",
                "1",
            ],
            1,
        );
        let finding = run(&mut rules, &f, &e).unwrap();
        assert_eq!(finding.rule, CRYPTOMINER);
        let indicators = finding.evidence["miner_indicators"].to_string();
        assert!(
            indicators.contains("stratum") && indicators.contains("--donate-level"),
            "{indicators}"
        );
    }

    #[test]
    fn image_binaries_are_quiet_and_image_miners_are_not() {
        let f = fixture("image");
        let mut rules = ExecRules::default();
        assert!(run(&mut rules, &f, &event("/bin/true", &["true"], 1)).is_none());
        assert!(run(
            &mut rules,
            &f,
            &event("/bin/sh", &["sh", "-c", "echo hi"], 1)
        )
        .is_none());
        let launcher = [
            "sh",
            "-c",
            "/tmp/x -o stratum+tcp://192.0.2.1:3333 --donate-level 1",
        ];
        let launched = run(&mut rules, &f, &event("/bin/sh", &launcher, 1));
        assert!(launched.is_none(), "the shell is not the miner");
        let miner = run(
            &mut rules,
            &f,
            &event("/opt/xmrig/xmrig", &["xmrig", "--donate-level", "1"], 1),
        )
        .unwrap();
        assert_eq!(miner.rule, CRYPTOMINER);
    }

    #[test]
    fn scripts_written_in_the_container_are_caught_through_the_interpreter() {
        let f = fixture("script");
        fs::write(f.upper.join("tmp/run.sh"), b"echo").unwrap();
        let mut rules = ExecRules::default();
        let finding = run(&mut rules, &f, &event("/bin/sh", &["sh", "/tmp/run.sh"], 1)).unwrap();
        assert_eq!(finding.rule, DROPPED_EXECUTABLE);
        assert_eq!(finding.evidence["script"], "/tmp/run.sh");
    }

    #[test]
    fn finds_the_script_behind_shell_options() {
        assert_eq!(script_argument(&["sh", "-e", "/tmp/x"]), Some("/tmp/x"));
        assert_eq!(
            script_argument(&["sh", "-x", "--", "/tmp/x"]),
            Some("/tmp/x")
        );
        assert_eq!(
            script_argument(&["busybox", "sh", "/tmp/x"]),
            Some("/tmp/x")
        );
        assert_eq!(
            script_argument(&["/bin/busybox", "ash", "-e", "y"]),
            Some("y")
        );
        assert_eq!(script_argument(&["sh", "-c", "/tmp/x"]), None);
        assert_eq!(script_argument(&["sh", "-ec", "/tmp/x"]), None);
        assert_eq!(script_argument(&["sh"]), None);
    }

    #[test]
    fn fileless_execution() {
        let f = fixture("fileless");
        let mut rules = ExecRules::default();
        let finding = run(&mut rules, &f, &event("/dev/fd/3", &["payload"], 1)).unwrap();
        assert_eq!((finding.rule, finding.technique.id), (FILELESS, "T1620"));
    }

    fn with_ppid(mut e: ExecEvent, ppid: u32) -> ExecEvent {
        e.header.ppid = ppid;
        e
    }

    #[test]
    fn a_decoder_piped_into_a_shell_is_a_stager_in_either_exec_order() {
        let f = fixture("stager");
        let mut rules = ExecRules::default();
        let shell = with_ppid(event("/proc/self/exe", &["sh"], 1_000), 77);
        assert!(run(&mut rules, &f, &shell).is_none());
        let decoder = with_ppid(event("/proc/self/exe", &["base64", "-d"], 2_000), 77);
        let finding = run(&mut rules, &f, &decoder).unwrap();
        assert_eq!(
            (finding.rule, finding.severity, finding.technique.id),
            (DECODED_PAYLOAD, Severity::High, "T1140")
        );
        assert_eq!(finding.evidence["decoder"], "base64 -d");

        // The payload's dropped binary is linked to the stager.
        fs::write(f.upper.join("tmp/p"), b"x").unwrap();
        let dropped = run(&mut rules, &f, &event("/tmp/p", &["/tmp/p"], 3_000)).unwrap();
        assert_eq!(dropped.evidence["decoded_stager"]["decoder"], "base64 -d");
    }

    #[test]
    fn unrelated_decodes_and_shells_are_not_stagers() {
        let f = fixture("nostager");
        let mut rules = ExecRules::default();
        assert!(run(
            &mut rules,
            &f,
            &with_ppid(event("/bin/base64", &["base64", "-d", "key.b64"], 1), 5)
        )
        .is_none());
        // Another parent, and a shell with a script: neither pairs.
        assert!(run(&mut rules, &f, &with_ppid(event("/bin/sh", &["sh"], 2), 6)).is_none());
        assert!(run(
            &mut rules,
            &f,
            &with_ppid(event("/bin/sh", &["sh", "-c", "echo"], 3), 5)
        )
        .is_none());
        // Same parent but seconds later.
        assert!(run(
            &mut rules,
            &f,
            &with_ppid(event("/bin/sh", &["sh"], 10_000_000_000), 5)
        )
        .is_none());
        assert!(run(
            &mut rules,
            &f,
            &with_ppid(event("/bin/base64", &["base64", "file"], 4), 6)
        )
        .is_none());
    }

    #[test]
    fn module_tools_are_reported() {
        let f = fixture("module");
        let mut rules = ExecRules::default();
        let finding = run(
            &mut rules,
            &f,
            &event("/bin/insmod", &["insmod", "/tmp/x.ko"], 1),
        )
        .unwrap();
        assert_eq!(finding.rule, super::super::module::MODULE_LOAD);
    }
}
