//! One writer per index: an advisory lock on `writer.lock` in the index directory, held for
//! the life of a run. Readers never take it.

use std::fs::File;
use std::path::Path;

use super::error::{Result, StoreError};

pub const LOCK_FILE: &str = "writer.lock";

/// Held while a run writes; released when dropped (or when the process dies).
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock of the index at `db_dir` (creating the directory), or says who holds it.
    pub fn acquire(db_dir: &Path) -> Result<WriterLock> {
        let bad = |path: &Path, e: std::io::Error| StoreError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(db_dir).map_err(|e| bad(db_dir, e))?;
        let path = db_dir.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| bad(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Busy {
                dir: db_dir.to_path_buf(),
                lock: path,
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(bad(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_done() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = WriterLock::acquire(dir.path()).expect("first");
        assert!(matches!(
            WriterLock::acquire(dir.path()),
            Err(StoreError::Busy { .. })
        ));
        drop(first);
        WriterLock::acquire(dir.path()).expect("free again");
    }
}
