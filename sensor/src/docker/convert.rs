//! Pure conversion of a `docker inspect` answer into a [`ContainerInfo`].
//!
//! Every field of the inspect answer is optional in bollard's models (and older daemons leave
//! many of them out or `null`), so each missing value becomes the field's default: a partial
//! answer yields a partial `ContainerInfo`, never a panic.

use std::path::PathBuf;

use bollard::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, DeviceMapping, HostConfig,
    MountPoint,
};

use super::model::{ContainerInfo, MountInfo};

/// Distils the inspect answer of one container into what the agent keeps about it.
pub fn container_info(inspect: &ContainerInspectResponse) -> ContainerInfo {
    let no_host = HostConfig::default();
    let host = inspect.host_config.as_ref().unwrap_or(&no_host);
    let no_config = ContainerConfig::default();
    let config = inspect.config.as_ref().unwrap_or(&no_config);
    let no_state = ContainerState::default();
    let state = inspect.state.as_ref().unwrap_or(&no_state);
    // Without the `chrono`/`time` features bollard keeps `Created` as the string Docker sent.
    let created = inspect.created.clone().unwrap_or_default();
    let running = state.running.unwrap_or(false);
    // Docker stores names with a leading '/' (a legacy of container links).
    let name = inspect.name.as_deref().unwrap_or_default();
    ContainerInfo {
        id: text(&inspect.id),
        name: name.strip_prefix('/').unwrap_or(name).to_owned(),
        image: text(&config.image),
        image_id: text(&inspect.image),
        created_unix_ns: parse_rfc3339_ns(&created).unwrap_or(0),
        created,
        started_unix_ns: started_unix_ns(state),
        privileged: host.privileged.unwrap_or(false),
        binds: list(&host.binds),
        mounts: inspect.mounts.iter().flatten().map(mount_info).collect(),
        labels: config
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        command: command(inspect),
        pid_mode: text(&host.pid_mode),
        network_mode: text(&host.network_mode),
        ipc_mode: text(&host.ipc_mode),
        uts_mode: text(&host.uts_mode),
        userns_mode: text(&host.userns_mode),
        cap_add: list(&host.cap_add),
        security_opt: security_options(host),
        devices: host.devices.iter().flatten().map(device).collect(),
        device_cgroup_rules: list(&host.device_cgroup_rules),
        upper_dir: graph_dir(inspect, "UpperDir"),
        merged_dir: graph_dir(inspect, "MergedDir"),
        pid: pid(state, running),
        running,
    }
}

/// `HostConfig.SecurityOpt`, plus `systempaths=unconfined` where that option left its mark:
/// Docker does not keep it among the options, it empties `MaskedPaths` instead.
fn security_options(host: &HostConfig) -> Vec<String> {
    let mut options = list(&host.security_opt);
    let unmasked = host.masked_paths.as_ref().is_some_and(Vec::is_empty);
    if unmasked && !host.privileged.unwrap_or(false) {
        options.push("systempaths=unconfined".to_string());
    }
    options
}

fn text(value: &Option<String>) -> String {
    value.as_deref().unwrap_or_default().to_owned()
}

fn list(value: &Option<Vec<String>>) -> Vec<String> {
    value.as_deref().unwrap_or_default().to_vec()
}

/// A never-started container reports Go's zero time `0001-01-01T00:00:00Z`, which lies outside
/// the i64 nanosecond range and so maps to 0 like any unparsable value.
fn started_unix_ns(state: &ContainerState) -> i64 {
    state
        .started_at
        .as_deref()
        .and_then(parse_rfc3339_ns)
        .unwrap_or(0)
}

/// Docker keeps the last pid of a stopped container in some versions; only a running
/// container's pid names a live process.
fn pid(state: &ContainerState, running: bool) -> Option<u32> {
    let pid = state.pid.filter(|&pid| running && pid > 0)?;
    u32::try_from(pid).ok()
}

fn command(inspect: &ContainerInspectResponse) -> Vec<String> {
    let path = inspect.path.iter().filter(|p| !p.is_empty()).cloned();
    path.chain(inspect.args.iter().flatten().cloned()).collect()
}

fn mount_info(mount: &MountPoint) -> MountInfo {
    MountInfo {
        kind: text(&mount.typ),
        source: text(&mount.source),
        destination: text(&mount.destination),
        read_write: mount.rw.unwrap_or(false),
        volume: text(&mount.name),
    }
}

fn device(device: &DeviceMapping) -> String {
    format!(
        "{}:{}:{}",
        text(&device.path_on_host),
        text(&device.path_in_container),
        text(&device.cgroup_permissions)
    )
}

/// overlay2 (and fuse-overlayfs) publish their layer directories in `GraphDriver.Data`; other
/// storage drivers have no such keys and leave the field `None`.
fn graph_dir(inspect: &ContainerInspectResponse, key: &str) -> Option<PathBuf> {
    let dir = inspect.graph_driver.as_ref()?.data.get(key)?;
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Parses an RFC 3339 timestamp as Docker writes it (`2024-05-01T12:00:00.123456789Z`, Go's
/// `RFC3339Nano`: trailing zeros of the fraction dropped, `Z` or a `±hh:mm` offset) into
/// nanoseconds since the Unix epoch.
///
/// Returns `None` for malformed input and for times outside the i64 nanosecond range
/// (years 1677..2262), such as Go's zero time `0001-01-01T00:00:00Z`. Digits of the fraction
/// beyond nanoseconds are ignored.
pub fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    let mut cur = Cursor(s.as_bytes());
    let year = cur.number(4)?;
    cur.expect(b'-')?;
    let month = cur.number(2)?;
    cur.expect(b'-')?;
    let day = cur.number(2)?;
    cur.expect_any(b"Tt ")?;
    let hour = cur.number(2)?;
    cur.expect(b':')?;
    let minute = cur.number(2)?;
    cur.expect(b':')?;
    let second = cur.number(2)?;
    let nanos = cur.fraction()?;
    let offset = cur.offset_seconds()?;
    let valid_date = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
    if !cur.0.is_empty() || !valid_date || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// The unparsed rest of a timestamp.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn next_if(&mut self, wanted: impl Fn(u8) -> bool) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        wanted(first).then(|| {
            self.0 = rest;
            first
        })
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.next_if(|b| b == byte).map(drop)
    }

    fn expect_any(&mut self, bytes: &[u8]) -> Option<u8> {
        self.next_if(|b| bytes.contains(&b))
    }

    fn digit(&mut self) -> Option<i64> {
        self.next_if(|b| b.is_ascii_digit())
            .map(|b| i64::from(b - b'0'))
    }

    /// Exactly `width` decimal digits.
    fn number(&mut self, width: usize) -> Option<i64> {
        (0..width).try_fold(0, |acc, _| Some(acc * 10 + self.digit()?))
    }

    /// An optional `.digits` fraction, in nanoseconds.
    fn fraction(&mut self) -> Option<i64> {
        if self.expect(b'.').is_none() {
            return Some(0);
        }
        let (mut nanos, mut scale, mut count) = (0, 100_000_000, 0);
        while let Some(digit) = self.digit() {
            nanos += digit * scale;
            scale /= 10;
            count += 1;
        }
        (count > 0).then_some(nanos)
    }

    /// `Z` or `±hh:mm`, as seconds east of UTC.
    fn offset_seconds(&mut self) -> Option<i64> {
        let sign = match self.expect_any(b"Zz+-")? {
            b'+' => 1,
            b'-' => -1,
            _ => return Some(0),
        };
        let hours = self.number(2)?;
        self.expect(b':')?;
        let minutes = self.number(2)?;
        (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3_600 + minutes * 60))
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date: count whole 400-year eras (146 097
/// days each) from 0000-03-01, then the day within the era, with March as the first month so
/// that the leap day falls at the end of the year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raw `GET /v1.41/containers/{id}/json` answers of dockerd 20.10 on the dev machine.
    fn fixture(json: &str) -> ContainerInfo {
        let inspect: ContainerInspectResponse =
            serde_json::from_str(json).expect("fixture parses with bollard's models");
        container_info(&inspect)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn overlay(layer: &str, dir: &str) -> Option<PathBuf> {
        Some(PathBuf::from(format!(
            "/var/lib/docker/overlay2/{layer}/{dir}"
        )))
    }

    #[test]
    fn plain_running_container() {
        let info = fixture(include_str!("fixtures/inspect-plain.json"));
        let layer = "e14e811073ca3ac8e431d3fbf83ff5fc1c4608583b2fb352d699442e59b30e17";
        assert_eq!(
            info,
            ContainerInfo {
                id: "1a57129ae08004d6d9cac53c21199f5372f7ea810826a27329afa7a1fa7318e9".into(),
                name: "dockerhelper-plain".into(),
                image: "dockerhelper/busybox:1".into(),
                image_id: "sha256:33ce7f8cb4f6cf0d370c7e3c56a3827582672d4c333f0f425c61ea6dd99837d5"
                    .into(),
                created: "2026-12-04T16:06:04.347245779Z".into(),
                created_unix_ns: 1_796_400_364_347_245_779,
                started_unix_ns: 1_796_400_364_570_168_252,
                command: strings(&["sleep", "600"]),
                network_mode: "default".into(),
                ipc_mode: "private".into(),
                upper_dir: overlay(layer, "diff"),
                merged_dir: overlay(layer, "merged"),
                pid: Some(9949),
                running: true,
                ..ContainerInfo::default()
            }
        );
    }

    #[test]
    fn socket_and_root_binds_with_label() {
        let info = fixture(include_str!("fixtures/inspect-socket.json"));
        assert_eq!(info.name, "dockerhelper-socket");
        // Binds verbatim; `Mounts` comes in map order from the daemon, so compare as a set.
        assert_eq!(
            info.binds,
            strings(&["/var/run/docker.sock:/var/run/docker.sock", "/:/host:ro"])
        );
        let mut mounts = info.mounts.clone();
        mounts.sort_by(|a, b| a.destination.cmp(&b.destination));
        let bind = |source: &str, destination: &str, read_write| MountInfo {
            kind: "bind".into(),
            source: source.into(),
            destination: destination.into(),
            read_write,
            volume: String::new(),
        };
        assert_eq!(
            mounts,
            vec![
                bind("/", "/host", false),
                bind("/var/run/docker.sock", "/var/run/docker.sock", true),
            ]
        );
        assert_eq!(info.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(info.created_unix_ns, 1_796_400_364_588_749_250);
        assert_eq!(info.pid, Some(10015));
        assert!(!info.privileged);
    }

    #[test]
    fn unmasked_system_paths_and_device_rules_are_kept() {
        let unmasked = fixture(
            r#"{"Id":"u","Name":"/u","HostConfig":{"MaskedPaths":[],"ReadonlyPaths":[],
                "DeviceCgroupRules":["b *:* rwm"]}}"#,
        );
        assert_eq!(unmasked.security_opt, strings(&["systempaths=unconfined"]));
        assert_eq!(unmasked.device_cgroup_rules, strings(&["b *:* rwm"]));
        let masked =
            fixture(r#"{"Id":"m","Name":"/m","HostConfig":{"MaskedPaths":["/proc/kcore"]}}"#);
        assert!(masked.security_opt.is_empty());
        // Privileged containers have no masked paths either; that danger is named already.
        let privileged =
            fixture(r#"{"Id":"p","Name":"/p","HostConfig":{"Privileged":true,"MaskedPaths":[]}}"#);
        assert!(privileged.security_opt.is_empty());
    }

    #[test]
    fn privileged_container_that_never_started() {
        let info = fixture(include_str!("fixtures/inspect-priv.json"));
        assert!(info.privileged);
        assert_eq!(info.pid_mode, "host");
        // The CLI (28.x) writes capabilities with the CAP_ prefix; older clients did not.
        assert_eq!(info.cap_add, strings(&["CAP_SYS_ADMIN"]));
        // The CLI adds `label=disable` whenever a host namespace is shared.
        assert_eq!(
            info.security_opt,
            strings(&["seccomp=unconfined", "label=disable"])
        );
        assert_eq!(info.devices, strings(&["/dev/null:/dev/xnull:rwm"]));
        // Go trims trailing zeros of the fraction: ".82611953" is 826 119 530 ns.
        assert_eq!(info.created, "2026-12-04T16:06:04.82611953Z");
        assert_eq!(info.created_unix_ns, 1_796_400_364_826_119_530);
        assert_eq!(info.started_unix_ns, 0);
        assert_eq!((info.pid, info.running), (None, false));
        assert!(info.mounts.is_empty() && info.binds.is_empty());
    }

    #[test]
    fn exited_container_with_volume_tmpfs_and_host_namespaces() {
        let info = fixture(include_str!("fixtures/inspect-modes.json"));
        assert_eq!(info.command, strings(&["/bin/sh", "-c", "exit 3"]));
        assert_eq!(
            (info.network_mode.as_str(), info.ipc_mode.as_str()),
            ("none", "host")
        );
        assert_eq!(
            (info.uts_mode.as_str(), info.userns_mode.as_str()),
            ("host", "host")
        );
        assert_eq!(info.cap_add, strings(&["CAP_NET_ADMIN", "CAP_SYS_PTRACE"]));
        assert_eq!(info.started_unix_ns, 1_796_400_377_153_211_321);
        assert_eq!((info.pid, info.running), (None, false));
        let volume = MountInfo {
            kind: "volume".into(),
            source: "/var/lib/docker/volumes/dockerhelper-vol/_data".into(),
            destination: "/data".into(),
            read_write: true,
            volume: "dockerhelper-vol".into(),
        };
        let tmpfs = MountInfo {
            kind: "tmpfs".into(),
            destination: "/scratch".into(),
            read_write: true,
            ..MountInfo::default()
        };
        assert_eq!(info.mounts, vec![volume, tmpfs]);
    }

    #[test]
    fn empty_and_null_answers_give_defaults() {
        assert_eq!(fixture("{}"), ContainerInfo::default());
        let nulls = r#"{"Name":"/x","State":{"Running":true,"Pid":-1},"HostConfig":null,
            "Mounts":null,"GraphDriver":{"Name":"vfs","Data":null},"Config":{"Labels":null}}"#;
        let info = fixture(nulls);
        assert_eq!((info.name.as_str(), info.pid), ("x", None));
        assert_eq!((info.upper_dir, info.merged_dir), (None, None));
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00.000000001Z"), Some(1));
        assert_eq!(parse_rfc3339_ns("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339_ns("1969-12-31T23:30:00-00:30"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("1969-12-31T23:59:59.5Z"),
            Some(-500_000_000)
        );
        let leap_day = 951_868_799_000_000_000 + 123_456_789;
        assert_eq!(
            parse_rfc3339_ns("2000-02-29T23:59:59.123456789Z"),
            Some(leap_day)
        );
        // More digits than nanoseconds: the excess is ignored.
        assert_eq!(
            parse_rfc3339_ns("2000-02-29t23:59:59.1234567891z"),
            Some(leap_day)
        );
        assert_eq!(
            parse_rfc3339_ns("2262-04-11T23:47:16Z"),
            Some(9_223_372_036_000_000_000)
        );
    }

    #[test]
    fn rfc3339_rejects() {
        for bad in [
            "",
            "0001-01-01T00:00:00Z", // Go's zero time: outside the i64 ns range
            "2262-04-12T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00Zjunk",
            "2024-1-01T00:00:00Z",
            "２０２４-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad:?}");
        }
    }
}
