//! Start-up posture: which running containers could escape if compromised.

use serde_json::Map;

use super::{dangers::dangers, put, Finding};
use crate::{
    detection::{mitre, Severity},
    docker::ContainerInfo,
};

pub const POSTURE: &str = "risky-container-configuration";

const RESPONSE: &str = "Review whether the container needs this access; remove runtime socket \
    mounts and privileged mode where possible, or allowlist the container if it is a trusted \
    tool.";

/// The posture finding of one running container, if it has dangerous settings.
pub fn assess(info: &ContainerInfo) -> Option<Finding> {
    let dangers = dangers(info);
    if dangers.is_empty() {
        return None;
    }
    let mut evidence = Map::new();
    put(&mut evidence, "dangers", dangers.clone());
    put(&mut evidence, "binds", info.binds.clone());
    Some(
        Finding::new(
            POSTURE,
            Severity::Medium,
            mitre::ESCAPE_TO_HOST,
            format!(
                "Running container {} is exposed to escape ({})",
                info.name,
                dangers.join(", ")
            ),
        )
        .container(Some(info.id.clone()))
        .evidence(evidence)
        .response(RESPONSE)
        .dedup_by("posture", 24 * 3600),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_mounted_container_is_reported_once_with_its_dangers() {
        let info = ContainerInfo {
            id: "a".into(),
            name: "dash".into(),
            binds: vec!["/var/run/docker.sock:/var/run/docker.sock".into()],
            running: true,
            ..Default::default()
        };
        let f = assess(&info).unwrap();
        assert_eq!((f.rule, f.severity), (POSTURE, Severity::Medium));
        assert!(f.title.contains("dash"));
        assert!(f.evidence["dangers"][0]
            .as_str()
            .unwrap()
            .contains("docker.sock"));
    }

    #[test]
    fn plain_container_has_no_posture_finding() {
        assert!(assess(&ContainerInfo {
            id: "b".into(),
            running: true,
            ..Default::default()
        })
        .is_none());
    }
}
