//! The configuration file: an allowlist, by intent, of containers that may use a container
//! runtime's API.
//!
//! ```toml
//! [[allow]]
//! description = "dashboard reads container state"
//! images = ["portainer/portainer-ce:*"]     # any of these image patterns (`*` wildcard)
//! names = ["dashboard-*"]                   # and any of these container name patterns
//! labels = { "com.example.role" = "dashboard" }   # and all of these labels
//! runtime_api = "read"     # "read": list and inspect; "create": also create ordinary containers
//! action = "lower"         # "lower" (default): report as low; "silence": do not report
//! ```
//!
//! An entry matches a container when every criterion it names matches. What it changes:
//! runtime-socket notices (connections to a runtime's socket or TCP port, and the start-up posture
//! of a container whose only risk is the socket mount) and, with `runtime_api = "create"`,
//! notices about the ordinary containers it creates. It never changes the report of a dangerous
//! creation (privileged, host binds, host namespaces, added capabilities): an attacker can wear
//! any name.

use std::{collections::BTreeMap, fs, io::Read, path::Path};

use serde::Deserialize;

use crate::{detection::Severity, docker::ContainerInfo, rules};

/// Why the configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config file {path}: allow entry {index} ({description}): {problem}")]
    Invalid {
        path: String,
        index: usize,
        description: String,
        problem: String,
    },
}

/// The parsed configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
}

/// What an allowed container may do through a runtime API.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeApi {
    /// List and inspect.
    #[default]
    Read,
    /// Also create ordinary (unprivileged, no host binds) containers.
    Create,
}

/// What happens to a matching notice.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Report at low severity.
    #[default]
    Lower,
    /// Do not report.
    Silence,
}

/// One allowlist entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub runtime_api: RuntimeApi,
    #[serde(default)]
    pub action: Action,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let read = |source| ConfigError::Read {
            path: shown.clone(),
            source,
        };
        // Bounded: a device or a huge file given by mistake must not be read forever.
        let mut text = String::new();
        fs::File::open(path)
            .map_err(read)?
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::Parse {
                path: shown,
                message: format!("larger than {MAX_CONFIG_BYTES} bytes; is it the right file?"),
            });
        }
        Config::parse(&text, &shown)
    }

    /// Parses and validates configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_string(),
            message: err.to_string().trim_end().to_string(),
        })?;
        for (index, entry) in config.allow.iter().enumerate() {
            let invalid = |problem: &str| ConfigError::Invalid {
                path: path.to_string(),
                index: index + 1,
                description: if entry.description.is_empty() {
                    "no description".into()
                } else {
                    entry.description.clone()
                },
                problem: problem.to_string(),
            };
            if entry.images.is_empty() && entry.names.is_empty() && entry.labels.is_empty() {
                return Err(invalid(
                    "names none of images, names or labels, so it would match every container",
                ));
            }
            if entry
                .images
                .iter()
                .chain(&entry.names)
                .any(|p| matches_anything(p))
            {
                return Err(invalid(
                    "a pattern is empty or only wildcards and separators (such as '*', '**' or \
                     '*:*'), which matches every container",
                ));
            }
        }
        Ok(config)
    }

    /// The first entry that matches the container, if any.
    pub fn entry_for(&self, info: &ContainerInfo) -> Option<&AllowEntry> {
        self.allow.iter().find(|entry| entry.matches(info))
    }

    /// Applies the allowlist to a finding about `info`'s container: `None` silences it.
    pub fn adjust(
        &self,
        finding: rules::Finding,
        info: Option<&ContainerInfo>,
    ) -> Option<rules::Finding> {
        let Some(entry) = info.and_then(|info| self.entry_for(info)) else {
            return Some(finding);
        };
        let socket_notice = matches!(
            finding.rule,
            rules::socket::RUNTIME_SOCKET | rules::socket::RUNTIME_TCP
        ) || (finding.rule == rules::posture::POSTURE
            && only_socket_dangers(&finding));
        let allowed_create = finding.rule == rules::escape::CONTAINER_CREATES_CONTAINER
            && entry.runtime_api == RuntimeApi::Create;
        if !socket_notice && !allowed_create {
            return Some(finding);
        }
        match entry.action {
            Action::Silence => None,
            Action::Lower => {
                let mut finding = finding;
                finding.severity = finding.severity.min(Severity::Low);
                rules::put(
                    &mut finding.evidence,
                    "allowlisted",
                    if entry.description.is_empty() {
                        "yes".to_string()
                    } else {
                        entry.description.clone()
                    },
                );
                Some(finding)
            }
        }
    }
}

/// Config files are small; anything larger is a mistake.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A name or image pattern that matches every container: nothing left but wildcards and the
/// separators of image references (`*`, `**`, `*:*`, `*/*`, `*@*`).
fn matches_anything(pattern: &str) -> bool {
    pattern
        .trim()
        .chars()
        .all(|c| matches!(c, '*' | '?' | ':' | '/' | '@'))
}

/// A posture finding whose dangers are all runtime-socket binds.
fn only_socket_dangers(finding: &rules::Finding) -> bool {
    finding
        .evidence
        .get("dangers")
        .and_then(|d| d.as_array())
        .is_some_and(|dangers| {
            dangers
                .iter()
                .all(|d| d.as_str().is_some_and(|d| d.contains("runtime socket")))
        })
}

impl AllowEntry {
    fn matches(&self, info: &ContainerInfo) -> bool {
        let image_ok = self.images.is_empty() || self.images.iter().any(|p| glob(p, &info.image));
        let name_ok = self.names.is_empty() || self.names.iter().any(|p| glob(p, &info.name));
        let labels_ok = self
            .labels
            .iter()
            .all(|(k, v)| info.labels.get(k) == Some(v));
        image_ok && name_ok && labels_ok
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::detection::mitre;

    const SAMPLE: &str = r#"
[[allow]]
description = "dashboard"
images = ["example/dash:*"]
labels = { "role" = "dashboard" }

[[allow]]
description = "ci runner"
names = ["ci-*"]
runtime_api = "create"
action = "silence"
"#;

    fn finding(rule: &'static str, severity: Severity) -> rules::Finding {
        rules::Finding {
            rule,
            title: String::new(),
            severity,
            technique: mitre::ESCAPE_TO_HOST,
            container_id: Some("c".into()),
            process: None,
            evidence: Map::new(),
            response: String::new(),
            dedup: None,
            unresolved: Vec::new(),
        }
    }

    fn container(name: &str, image: &str, labels: &[(&str, &str)]) -> ContainerInfo {
        ContainerInfo {
            name: name.into(),
            image: image.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn lowers_or_silences_socket_notices_of_allowed_containers() {
        let config = Config::parse(SAMPLE, "test.toml").unwrap();
        let dash = container("d1", "example/dash:2.1", &[("role", "dashboard")]);
        let lowered = config
            .adjust(
                finding(rules::socket::RUNTIME_SOCKET, Severity::Medium),
                Some(&dash),
            )
            .unwrap();
        assert_eq!(lowered.severity, Severity::Low);
        assert_eq!(lowered.evidence["allowlisted"], "dashboard");

        let ci = container("ci-7", "any", &[]);
        assert!(config
            .adjust(
                finding(rules::socket::RUNTIME_SOCKET, Severity::Medium),
                Some(&ci)
            )
            .is_none());
        assert!(config
            .adjust(
                finding(rules::escape::CONTAINER_CREATES_CONTAINER, Severity::Low),
                Some(&ci)
            )
            .is_none());
        // The dashboard may only read: a creation by it stays reported.
        let created = config
            .adjust(
                finding(rules::escape::CONTAINER_CREATES_CONTAINER, Severity::Low),
                Some(&dash),
            )
            .unwrap();
        assert_eq!(created.severity, Severity::Low);
    }

    #[test]
    fn never_touches_escapes_or_unlisted_containers() {
        let config = Config::parse(SAMPLE, "test.toml").unwrap();
        let ci = container("ci-7", "any", &[]);
        let escape = config
            .adjust(
                finding(rules::escape::ESCAPE, Severity::Critical),
                Some(&ci),
            )
            .unwrap();
        assert_eq!(escape.severity, Severity::Critical);
        let dash_without_label = container("d1", "example/dash:2.1", &[]);
        let kept = config
            .adjust(
                finding(rules::socket::RUNTIME_SOCKET, Severity::Medium),
                Some(&dash_without_label),
            )
            .unwrap();
        assert_eq!(
            kept.severity,
            Severity::Medium,
            "all criteria of an entry must match"
        );
        assert_eq!(
            config
                .adjust(
                    finding(rules::socket::RUNTIME_SOCKET, Severity::Medium),
                    None
                )
                .unwrap()
                .severity,
            Severity::Medium
        );
    }

    #[test]
    fn rejects_bad_files_with_clear_errors() {
        let err = Config::parse("[[allow]]\nimagez = [\"x\"]\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml") && err.contains("imagez"), "{err}");
        let err = Config::parse("[[allow]]\ndescription = \"all\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("entry 1 (all)") && err.contains("every container"),
            "{err}"
        );
        for everything in ["*", "**", " *:* ", "*/*", "*@*", "?*"] {
            let text = format!("[[allow]]\nimages = [\"{everything}\"]\n");
            let err = Config::parse(&text, "c.toml").unwrap_err().to_string();
            assert!(err.contains("only wildcards"), "{everything}: {err}");
        }
        assert!(Config::parse("[[allow]]\nimages = [\"*/dash:*\"]\n", "c.toml").is_ok());
        let err = Config::load(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/dev/zero") && err.contains("larger than"),
            "{err}"
        );
        let err = Config::parse(
            "[[allow]]\nnames = [\"a\"]\naction = \"ignore\"\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ignore"), "{err}");
        assert!(Config::parse("", "c.toml").unwrap().allow.is_empty());
    }

    #[test]
    fn glob_patterns() {
        assert!(glob("ci-*", "ci-runner-1"));
        assert!(glob("*/dash:*", "example/dash:2"));
        assert!(glob("a*b*c", "a--b--c"));
        assert!(!glob("a*b*c", "a--c--b"));
        assert!(!glob("ci-*", "xci-1"));
        assert!(glob("exact", "exact") && !glob("exact", "exact2"));
        assert!(!glob("ab*ba", "aba"));
    }
}
