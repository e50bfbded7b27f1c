//! Docker enrichment: what the agent knows about each container.
//!
//! Kernel events name a container only by its cgroup; the engine needs its name, image,
//! privileges, mounts, labels and command to judge what happens inside it. Asking the Docker API
//! per kernel event would be far too slow (and would stall detection when Docker hangs), so the
//! engine keeps a cache, and [`watch`] is its only feed:
//!
//! * on (re)connect it negotiates the API version (bollard speaks 1.53, Debian's dockerd 20.10
//!   serves 1.41), sends [`DockerUpdate::Connected`], then lists every container, running or not,
//!   inspects each and sends the lot as [`DockerUpdate::Inventory`], which replaces the cache;
//! * it then follows the daemon's event stream for container `create`, `start` and `destroy`,
//!   inspecting on create and start, so the cache changes only when containers do. The stream is
//!   requested from the moment before the listing, so nothing falls between the two (events may
//!   come twice; updates are idempotent);
//! * when Docker is unreachable or the connection breaks it sends
//!   [`DockerUpdate::Disconnected`] and retries with exponential backoff (1 s to 30 s). The agent
//!   never depends on Docker being up.
//!
//! [`container_info`] is the pure conversion from an inspect answer, usable on its own.

mod convert;
pub mod model;
mod watch;

pub use model::{ContainerInfo, DockerUpdate};
pub use watch::watch;
