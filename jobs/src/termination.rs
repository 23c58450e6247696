//! The job → operator channel: a compact JSON summary in the container's
//! termination message.

use std::path::{Path, PathBuf};

use vigil_core::text::cut_to_bytes;
use vigil_core::wire::SUMMARY_LIMIT;

/// Where Kubernetes reads a container's termination message by default.
pub const DEFAULT_PATH: &str = "/dev/termination-log";

/// The path to write to: the explicit one, else the Kubernetes default when
/// it exists (inside a Pod), else none.
pub fn resolve(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => {
            let default = Path::new(DEFAULT_PATH);
            default.exists().then(|| default.to_path_buf())
        }
    }
}

/// Writes the message, cut to the Kubernetes limit.
pub fn write(path: &Path, message: &str) -> std::io::Result<()> {
    std::fs::write(path, cut_to_bytes(message, SUMMARY_LIMIT))
}
