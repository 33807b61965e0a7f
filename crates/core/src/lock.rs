//! Exclusive locks on output folders: one writer per cache, run or sweep directory. The lock
//! is an OS file lock (`flock`) on a file in the folder, so it dies with its process, however
//! that ends: a crash never leaves a stale lock behind. The file records who holds it, for
//! the message a second writer gets.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file of a writer of a folder.
pub const LOCK_FILE: &str = ".distill.lock";

/// A folder another process is writing, or a lock that could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("{dir} is in use by another distill process ({holder})", dir = .dir.display())]
    Busy {
        /// The folder.
        dir: PathBuf,
        /// Who holds it, as the holder recorded it.
        holder: String,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {path}", path = .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive lock on a folder, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock `name` of `dir` (an existing folder) at once, or fails naming its
    /// holder. `what` says what this process does there, for the next one's message.
    pub fn try_acquire(dir: &Path, name: &str, what: &str) -> Result<DirLock, LockError> {
        let (mut file, path) = open(dir, name)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(LockError::Busy {
                    dir: dir.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(LockError::Io { path, source }),
        }
        record(&mut file, what).map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(DirLock { _file: file, path })
    }

    /// Takes the lock `name` of `dir`, waiting while another process holds it (for short
    /// critical sections, such as two sweep shards claiming one sweep folder).
    pub fn acquire(dir: &Path, name: &str, what: &str) -> Result<DirLock, LockError> {
        let (mut file, path) = open(dir, name)?;
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        file.lock().map_err(io)?;
        record(&mut file, what).map_err(io)?;
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open(dir: &Path, name: &str) -> Result<(File, PathBuf), LockError> {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
    Ok((file, path))
}

/// Writes who holds the lock into its file.
fn record(file: &mut File, what: &str) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "pid {}: {what}", std::process::id())
}
