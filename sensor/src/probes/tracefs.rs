//! tracefs: where tracepoint ids are read from. Many hosts do not mount it by default.

use std::{
    ffi::CString,
    io,
    path::{Path, PathBuf},
};

const CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Returns a mounted tracefs, mounting one at `/sys/kernel/tracing` if none is.
pub fn ensure_mounted() -> io::Result<PathBuf> {
    if let Some(found) = find() {
        return Ok(found);
    }
    let target = Path::new(CANDIDATES[0]);
    let c_target = CString::new(CANDIDATES[0]).map_err(io::Error::other)?;
    let c_fstype = CString::new("tracefs").map_err(io::Error::other)?;
    let c_source = CString::new("nodev").map_err(io::Error::other)?;
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            c_source.as_ptr(),
            c_target.as_ptr(),
            c_fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    log::info!("mounted tracefs at {}", target.display());
    find().ok_or_else(|| io::Error::other("tracefs mounted but its events directory is missing"))
}

/// A tracefs whose `events` directory is populated.
pub fn find() -> Option<PathBuf> {
    CANDIDATES.iter().map(PathBuf::from).find(|dir| {
        dir.join("events")
            .read_dir()
            .map(|mut e| e.next().is_some())
            .unwrap_or(false)
    })
}

/// True when `events/<category>/<name>` exists.
pub fn has_tracepoint(tracefs: &Path, category: &str, name: &str) -> bool {
    tracefs
        .join("events")
        .join(category)
        .join(name)
        .join("id")
        .exists()
}
