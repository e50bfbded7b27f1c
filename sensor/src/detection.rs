//! A detection: what happened, where, how bad, the evidence, and what to do about it.
//!
//! The JSON form is the product's contract (documented in the README): keys listed there stay
//! stable; new keys may be added.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::timefmt::rfc3339;

/// How urgent a detection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    #[expect(
        dead_code,
        reason = "the bottom of the documented scale; no rule emits it yet"
    )]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A MITRE ATT&CK technique.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Technique {
    pub id: &'static str,
    pub name: &'static str,
    pub tactic: &'static str,
}

/// The techniques the rules report.
pub mod mitre {
    use super::Technique;

    pub const ESCAPE_TO_HOST: Technique = Technique {
        id: "T1611",
        name: "Escape to Host",
        tactic: "Privilege Escalation",
    };
    pub const RESOURCE_HIJACKING: Technique = Technique {
        id: "T1496",
        name: "Resource Hijacking",
        tactic: "Impact",
    };
    pub const INGRESS_TOOL_TRANSFER: Technique = Technique {
        id: "T1105",
        name: "Ingress Tool Transfer",
        tactic: "Command and Control",
    };
    pub const DEPLOY_CONTAINER: Technique = Technique {
        id: "T1610",
        name: "Deploy Container",
        tactic: "Execution",
    };
    pub const REFLECTIVE_CODE_LOADING: Technique = Technique {
        id: "T1620",
        name: "Reflective Code Loading",
        tactic: "Defense Evasion",
    };
    pub const KERNEL_MODULES: Technique = Technique {
        id: "T1547.006",
        name: "Kernel Modules and Extensions",
        tactic: "Persistence",
    };
    pub const DEOBFUSCATE: Technique = Technique {
        id: "T1140",
        name: "Deobfuscate/Decode Files or Information",
        tactic: "Defense Evasion",
    };
}

/// The container a detection is about, as far as it is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSnapshot {
    pub id: String,
    pub name: String,
    pub image: String,
    pub created: String,
    pub privileged: bool,
}

/// Whether container metadata could be attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enrichment {
    /// Docker metadata attached.
    Complete,
    /// Metadata could not be had; the reason says why (Docker unreachable, container gone, …).
    Failed(String),
    /// The detection is not about a container.
    NotApplicable,
}

/// The process that did it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub comm: String,
    pub filename: String,
    pub argv: Vec<String>,
}

impl ProcessInfo {
    /// The process fields every event header carries (no file name or arguments).
    pub fn of(header: &sensor_common::EventHeader) -> Self {
        ProcessInfo {
            pid: header.tgid,
            ppid: header.ppid,
            uid: header.uid,
            comm: crate::event::comm(header).into_owned(),
            filename: String::new(),
            argv: Vec::new(),
        }
    }
}

/// One detection, ready for output.
#[derive(Clone, Debug)]
pub struct Detection {
    /// When it happened (the kernel event, or the Docker event), nanoseconds since the epoch.
    pub time_unix_ns: i64,
    /// Kernel time stamp of the event (CLOCK_MONOTONIC), 0 for Docker-only detections.
    pub ktime_ns: u64,
    /// Stable kebab-case rule id.
    pub rule: &'static str,
    pub title: String,
    pub severity: Severity,
    pub technique: Technique,
    pub container: Option<ContainerSnapshot>,
    pub enrichment: Enrichment,
    pub process: Option<ProcessInfo>,
    /// Rule-specific facts.
    pub evidence: Map<String, Value>,
    /// What the analyst should do.
    pub response: String,
    /// Events were being lost when this was raised: related evidence may be missing.
    pub degraded: bool,
    /// How many occurrences this detection stands for (repeats folded by deduplication).
    pub count: u64,
}

impl Detection {
    /// The JSON object of the documented schema.
    pub fn to_json(&self) -> Value {
        let container = self.container.as_ref().map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "image": c.image,
                "created": c.created,
                "privileged": c.privileged,
            })
        });
        let process = self.process.as_ref().map(|p| {
            json!({
                "pid": p.pid,
                "ppid": p.ppid,
                "uid": p.uid,
                "comm": p.comm,
                "filename": p.filename,
                "argv": p.argv,
            })
        });
        let enrichment = match &self.enrichment {
            Enrichment::Complete => json!({ "status": "complete" }),
            Enrichment::Failed(reason) => json!({ "status": "failed", "reason": reason }),
            Enrichment::NotApplicable => json!({ "status": "not-applicable" }),
        };
        json!({
            "time": rfc3339(self.time_unix_ns),
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity.as_str(),
            "mitre": {
                "technique_id": self.technique.id,
                "technique": self.technique.name,
                "tactic": self.technique.tactic,
            },
            "container": container,
            "process": process,
            "evidence": self.evidence,
            "response": self.response,
            "enrichment": enrichment,
            "degraded": self.degraded,
            "count": self.count,
            "ktime_ns": self.ktime_ns,
        })
    }

    /// One readable line.
    pub fn to_text(&self) -> String {
        let mut line = format!(
            "{} {:<8} {} [{}] {}",
            rfc3339(self.time_unix_ns),
            self.severity.as_str().to_uppercase(),
            self.rule,
            self.technique.id,
            self.title
        );
        if let Some(c) = &self.container {
            let short = c.id.get(..12).unwrap_or(&c.id);
            let name = if c.name.is_empty() { "?" } else { &c.name };
            let _ = write!(line, " | container={name} id={short}");
            if !c.image.is_empty() {
                let _ = write!(line, " image={}", c.image);
            }
        }
        if let Enrichment::Failed(reason) = &self.enrichment {
            let _ = write!(line, " enrichment=failed({reason})");
        }
        if let Some(p) = &self.process {
            let _ = write!(line, " | pid={} comm={} exe={}", p.pid, p.comm, p.filename);
            if !p.argv.is_empty() {
                let _ = write!(line, " argv={:?}", p.argv.join(" "));
            }
        }
        if !self.evidence.is_empty() {
            line.push_str(" | ");
            for (i, (key, value)) in self.evidence.iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                match value {
                    Value::String(s) => {
                        let _ = write!(line, "{key}={s:?}");
                    }
                    other => {
                        let _ = write!(line, "{key}={other}");
                    }
                }
            }
        }
        if self.count > 1 {
            let _ = write!(line, " | repeated={}", self.count);
        }
        if self.degraded {
            line.push_str(" | DEGRADED (events were lost)");
        }
        let _ = write!(line, " | response: {}", self.response);
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Detection {
        let mut evidence = Map::new();
        evidence.insert("path".into(), json!("/tmp/m"));
        Detection {
            time_unix_ns: 1_796_399_574_000_000_000,
            ktime_ns: 5,
            rule: "cryptominer",
            title: "Cryptominer started in container xmr".into(),
            severity: Severity::Critical,
            technique: mitre::RESOURCE_HIJACKING,
            container: Some(ContainerSnapshot {
                id: "a".repeat(64),
                name: "xmr".into(),
                image: "img:1".into(),
                created: "2026-12-04T15:00:00Z".into(),
                privileged: false,
            }),
            enrichment: Enrichment::Complete,
            process: Some(ProcessInfo {
                pid: 10,
                ppid: 9,
                uid: 0,
                comm: "m".into(),
                filename: "/tmp/m".into(),
                argv: vec!["/tmp/m".into(), "-o".into()],
            }),
            evidence,
            response: "pause it".into(),
            degraded: false,
            count: 1,
        }
    }

    #[test]
    fn json_has_the_documented_keys() {
        let v = sample().to_json();
        for key in [
            "time",
            "rule",
            "title",
            "severity",
            "mitre",
            "container",
            "process",
            "evidence",
            "response",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["time"], "2026-12-04T15:52:54.000000Z");
        assert_eq!(v["severity"], "critical");
        assert_eq!(v["mitre"]["technique_id"], "T1496");
        assert_eq!(v["mitre"]["tactic"], "Impact");
        assert_eq!(v["container"]["name"], "xmr");
        assert_eq!(v["container"]["privileged"], false);
        assert_eq!(v["process"]["argv"], json!(["/tmp/m", "-o"]));
        assert_eq!(v["evidence"]["path"], "/tmp/m");
        assert_eq!(v["degraded"], false);
    }

    #[test]
    fn text_is_one_line_with_the_essentials() {
        let line = sample().to_text();
        assert!(!line.contains('\n'));
        for part in [
            "CRITICAL",
            "cryptominer",
            "[T1496]",
            "container=xmr",
            "image=img:1",
            "exe=/tmp/m",
            "path=\"/tmp/m\"",
            "response: pause it",
        ] {
            assert!(line.contains(part), "{part} missing in {line}");
        }
    }

    #[test]
    fn severity_orders_and_lowers() {
        assert!(Severity::Critical > Severity::High && Severity::Medium > Severity::Low);
    }
}
