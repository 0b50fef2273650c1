//! A lock file that refuses a second concurrent run on one output directory. A lock left by a
//! process that no longer exists on this machine is taken over, with a warning.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const LOCK_FILE: &str = ".discotag.lock";

/// Held for the whole run; removed when dropped.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn process_alive(pid: u32) -> bool {
    if Path::new("/proc").is_dir() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true // cannot tell without /proc: assume the holder is alive
    }
}

impl OutputLock {
    /// Takes the lock on `out_dir`.
    ///
    /// # Errors
    /// When another live process holds it, or the file cannot be created.
    pub fn acquire(out_dir: &Path) -> Result<Self> {
        let path = out_dir.join(LOCK_FILE);
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    let _ = writeln!(file, "{} {}", std::process::id(), host());
                    return Ok(OutputLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut parts = holder.split_whitespace();
                    let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
                    let same_host = parts.next().unwrap_or_default() == host();
                    match pid {
                        Some(pid) if same_host && !process_alive(pid) => {
                            tracing::warn!(lock = %path.display(), pid, "taking over a stale lock left by a process that has ended");
                            let _ = std::fs::remove_file(&path);
                        }
                        _ => {
                            return Err(Error::Output {
                                path: out_dir.to_path_buf(),
                                reason: format!(
                                    "another discotag run ({}) is writing here; wait for it to finish, or remove {} if you are sure it is not running",
                                    holder.trim(),
                                    path.display()
                                ),
                            });
                        }
                    }
                }
                Err(e) => return Err(Error::io(format!("creating {}", path.display()), e)),
            }
        }
        Err(Error::Output {
            path: out_dir.to_path_buf(),
            reason: "could not take the lock".into(),
        })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_and_stale_lock_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path()).unwrap();
        let err = OutputLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("another discotag run"), "{err}");
        drop(first);
        // A pid that cannot exist on Linux (above pid_max).
        std::fs::write(dir.path().join(LOCK_FILE), format!("4194999 {}\n", host())).unwrap();
        let _taken = OutputLock::acquire(dir.path()).unwrap();
    }
}
