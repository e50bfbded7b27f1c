//! The agent's view of containers: cgroup id → container id, and container id → Docker metadata.
//!
//! Both maps are bounded. Metadata of removed containers is kept for a while (up to
//! [`GONE_CAPACITY`] of them), so late events and Docker events about a container that already
//! exited can still name it.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use crate::{
    detection::{ContainerSnapshot, Enrichment},
    docker::ContainerInfo,
};

/// Containers whose metadata is kept at most (running and recently removed).
pub const CONTAINER_CAPACITY: usize = 8192;
/// Removed containers whose metadata is kept.
pub const GONE_CAPACITY: usize = 512;
/// cgroups tracked at most; the kernel's container cgroup map has the same size.
pub const CGROUP_CAPACITY: usize = 16384;

/// A container cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupEntry {
    /// Shared, so resolving an event to its container costs no allocation.
    pub container_id: Arc<str>,
    /// Kernel time the cgroup appeared, when seen live (0 for cgroups found at start-up).
    pub created_ktime: u64,
    /// Kernel time of the container's first exec (its workload starting), when seen (0 for
    /// containers that started before the agent).
    pub first_exec_ktime: u64,
}

/// Container and cgroup tables.
#[derive(Default)]
pub struct Containers {
    by_id: HashMap<String, Arc<ContainerInfo>>,
    cgroups: HashMap<u64, CgroupEntry>,
    gone: VecDeque<String>,
    /// Inserts refused because a table was full.
    pub refused: u64,
}

impl Containers {
    pub fn cgroup_count(&self) -> usize {
        self.cgroups.len()
    }

    /// Records a container cgroup.
    pub fn add_cgroup(&mut self, cgroup_id: u64, container_id: &str, created_ktime: u64) {
        if self.cgroups.len() >= CGROUP_CAPACITY && !self.cgroups.contains_key(&cgroup_id) {
            self.refused += 1;
            return;
        }
        self.cgroups.insert(
            cgroup_id,
            CgroupEntry {
                container_id: Arc::from(container_id),
                created_ktime,
                first_exec_ktime: 0,
            },
        );
    }

    /// Records the kernel time of a container cgroup's first exec.
    pub fn note_first_exec(&mut self, cgroup_id: u64, ktime: u64) {
        if let Some(entry) = self.cgroups.get_mut(&cgroup_id) {
            entry.first_exec_ktime = ktime;
        }
    }

    pub fn remove_cgroup(&mut self, cgroup_id: u64) {
        self.cgroups.remove(&cgroup_id);
    }

    pub fn cgroup(&self, cgroup_id: u64) -> Option<&CgroupEntry> {
        self.cgroups.get(&cgroup_id)
    }

    pub fn get(&self, container_id: &str) -> Option<&Arc<ContainerInfo>> {
        self.by_id.get(container_id)
    }

    pub fn running(&self) -> impl Iterator<Item = &Arc<ContainerInfo>> {
        self.by_id.values().filter(|c| c.running)
    }

    /// Every container with metadata, running or not.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ContainerInfo>> {
        self.by_id.values()
    }

    /// Replaces everything known from Docker with a fresh listing. Removed containers already
    /// remembered stay remembered.
    pub fn replace_all(&mut self, listing: Vec<ContainerInfo>) {
        let gone: Vec<(String, Arc<ContainerInfo>)> = self
            .gone
            .iter()
            .filter_map(|id| self.by_id.get(id).map(|info| (id.clone(), info.clone())))
            .collect();
        self.by_id.clear();
        for (id, info) in gone {
            self.by_id.insert(id, info);
        }
        for info in listing {
            self.upsert(info);
        }
    }

    /// Adds or refreshes one container.
    pub fn upsert(&mut self, info: ContainerInfo) {
        if self.by_id.len() >= CONTAINER_CAPACITY && !self.by_id.contains_key(&info.id) {
            if let Some(oldest) = self.gone.pop_front() {
                self.by_id.remove(&oldest);
            } else {
                self.refused += 1;
                return;
            }
        }
        self.gone.retain(|id| id != &info.id);
        self.by_id.insert(info.id.clone(), Arc::new(info));
    }

    /// Marks a container removed; its metadata is kept until [`GONE_CAPACITY`] newer removals.
    /// Records that a container's processes ended (it stays known, for detections about it).
    pub fn mark_stopped(&mut self, container_id: &str) {
        if let Some(info) = self.by_id.get_mut(container_id) {
            if info.running {
                let mut stopped = (**info).clone();
                stopped.running = false;
                stopped.pid = None;
                *info = Arc::new(stopped);
            }
        }
    }

    pub fn mark_gone(&mut self, container_id: &str) {
        if !self.by_id.contains_key(container_id) {
            return;
        }
        self.mark_stopped(container_id);
        if !self.gone.iter().any(|id| id == container_id) {
            self.gone.push_back(container_id.to_string());
        }
        while self.gone.len() > GONE_CAPACITY {
            if let Some(oldest) = self.gone.pop_front() {
                self.by_id.remove(&oldest);
            }
        }
    }

    /// What a detection says about a container id, and whether that is complete.
    pub fn snapshot(
        &self,
        container_id: &str,
        docker_state: &str,
    ) -> (ContainerSnapshot, Enrichment) {
        match self.by_id.get(container_id) {
            Some(info) => (snapshot_of(info), Enrichment::Complete),
            None => (
                ContainerSnapshot {
                    id: container_id.to_string(),
                    ..Default::default()
                },
                Enrichment::Failed(format!(
                    "no Docker metadata for container {container_id}: {docker_state}"
                )),
            ),
        }
    }
}

/// The detection view of a container.
pub fn snapshot_of(info: &ContainerInfo) -> ContainerSnapshot {
    ContainerSnapshot {
        id: info.id.clone(),
        name: info.name.clone(),
        image: info.image.clone(),
        created: info.created.clone(),
        privileged: info.privileged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, name: &str) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: name.into(),
            running: true,
            ..Default::default()
        }
    }

    #[test]
    fn removed_containers_stay_named_until_pushed_out() {
        let mut table = Containers::default();
        table.upsert(info("a", "web"));
        table.add_cgroup(10, "a", 0);
        table.mark_gone("a");
        let (snap, enrichment) = table.snapshot("a", "connected");
        assert_eq!(
            (snap.name.as_str(), enrichment),
            ("web", Enrichment::Complete)
        );
        assert!(!table.get("a").unwrap().running);

        for i in 0..GONE_CAPACITY {
            let id = format!("x{i}");
            table.upsert(info(&id, "other"));
            table.mark_gone(&id);
        }
        assert!(
            table.get("a").is_none(),
            "the oldest removed container is forgotten"
        );
        let (snap, enrichment) = table.snapshot("a", "Docker unreachable");
        assert_eq!(snap.id, "a");
        assert!(
            matches!(enrichment, Enrichment::Failed(reason) if reason.contains("Docker unreachable"))
        );
    }

    #[test]
    fn stopped_containers_are_known_but_not_running() {
        let mut table = Containers::default();
        table.upsert(ContainerInfo {
            pid: Some(42),
            ..info("a", "job")
        });
        table.upsert(info("b", "web"));
        table.mark_stopped("a");
        table.mark_stopped("unknown");
        assert_eq!(table.running().count(), 1);
        let a = table.get("a").unwrap();
        assert_eq!((a.name.as_str(), a.running, a.pid), ("job", false, None));
    }

    #[test]
    fn a_new_listing_keeps_remembered_removals() {
        let mut table = Containers::default();
        table.upsert(info("a", "old"));
        table.mark_gone("a");
        table.replace_all(vec![info("b", "new")]);
        assert_eq!(table.get("a").unwrap().name, "old");
        assert_eq!(table.get("b").unwrap().name, "new");
        assert_eq!(table.running().count(), 1);
    }

    #[test]
    fn cgroups_are_bounded() {
        let mut table = Containers::default();
        for i in 0..CGROUP_CAPACITY as u64 + 5 {
            table.add_cgroup(i, "a", 0);
        }
        assert_eq!(table.cgroup_count(), CGROUP_CAPACITY);
        assert_eq!(table.refused, 5);
        table.remove_cgroup(0);
        assert!(table.cgroup(0).is_none());
    }
}
