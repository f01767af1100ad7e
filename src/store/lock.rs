//! One writer of sections per index, held for the life of a run; readers never take it.
//!
//! - On disk: an advisory lock on `writer.lock`, released by the OS when the process dies.
//! - On object storage a file lock means nothing across hosts, so the writer holds a lease:
//!   `writer.lease`, created with a conditional put (`If-None-Match: *`), renewed every third
//!   of its term with a conditional put on its own ETag (`If-Match`), taken over the same way
//!   once it has expired. A crashed writer blocks others for one term at most; a writer
//!   that could not renew (paused, cut off) learns it before its next commit and stops
//!   (see [`WriterLock::check`]).

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};
use super::location::{Location, Remote};

pub const LOCK_FILE: &str = "writer.lock";
pub const LEASE_FILE: &str = "writer.lease";
/// How long a lease holds without renewal: how long a crashed writer on object storage
/// blocks the next one.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Held while a run writes; released when dropped (a lease: when it expires, or at once by
/// [`WriterLock::release`]).
pub struct WriterLock {
    held: Held,
    /// False once a lease could not be renewed: the writer must not commit again.
    valid: Arc<AtomicBool>,
}

enum Held {
    File(#[allow(dead_code)] File),
    Lease(Lease),
}

struct Lease {
    remote: Arc<Remote>,
    version: Arc<Mutex<UpdateVersion>>,
    renewal: tokio::task::JoinHandle<()>,
}

/// What the lease object says.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    holder: String,
    /// Milliseconds since the Unix epoch.
    expires_ms: u64,
}

impl WriterLock {
    /// Takes the writer lock of the index at `at` (creating a directory), or says who holds
    /// it. `term`: a lease's term on object storage.
    pub async fn acquire(at: &Location, term: Duration) -> Result<WriterLock> {
        let valid = Arc::new(AtomicBool::new(true));
        let held = match at {
            Location::Dir(dir) => Held::File(lock_file(dir, at)?),
            Location::Remote(remote) => {
                Held::Lease(take_lease(remote.clone(), term, valid.clone(), at).await?)
            }
        };
        Ok(WriterLock { held, valid })
    }

    /// Fails when the lease was lost (not renewed within its term, and perhaps taken by
    /// another writer): called before every commit of sections.
    pub fn check(&self, at: &Location) -> Result<()> {
        if self.valid.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(StoreError::LeaseLost {
                dir: at.to_string(),
            })
        }
    }

    /// Gives a lease back at once (marks it expired, if it is still this writer's); a file
    /// lock is released by dropping it.
    pub async fn release(self) {
        if let Held::Lease(lease) = &self.held {
            lease.renewal.abort();
            let version = lease.version.lock().map(|v| v.clone());
            if let Ok(version) = version {
                let body = LeaseBody {
                    holder: String::new(),
                    expires_ms: 0,
                };
                let _ = put_lease(&lease.remote, &body, PutMode::Update(version)).await;
            }
        }
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        if let Held::Lease(lease) = &self.held {
            lease.renewal.abort();
        }
    }
}

fn lock_file(dir: &std::path::Path, at: &Location) -> Result<File> {
    let bad = |path: &std::path::Path, e: std::io::Error| StoreError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| bad(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| bad(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Busy {
            dir: at.to_string(),
            by: format!("lock {}", path.display()),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(bad(&path, e)),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Who this writer is, for the message another writer gets.
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown host".into());
    format!("{host} pid {}", std::process::id())
}

async fn put_lease(
    remote: &Remote,
    body: &LeaseBody,
    mode: PutMode,
) -> object_store::Result<UpdateVersion> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let put = remote
        .store()
        .put_opts(
            &remote.path_of(LEASE_FILE),
            PutPayload::from(bytes),
            PutOptions::from(mode),
        )
        .await?;
    Ok(UpdateVersion {
        e_tag: put.e_tag,
        version: put.version,
    })
}

async fn take_lease(
    remote: Arc<Remote>,
    term: Duration,
    valid: Arc<AtomicBool>,
    at: &Location,
) -> Result<Lease> {
    let holder = holder_name();
    let body = |holder: &str| LeaseBody {
        holder: holder.to_string(),
        expires_ms: now_ms() + term.as_millis() as u64,
    };
    let failed = |e: object_store::Error| {
        super::location::remote_error(at.label(LEASE_FILE), "cannot take the writer lease", &e)
    };
    let busy = |found: &LeaseBody| StoreError::Busy {
        dir: at.to_string(),
        by: format!(
            "lease held by {}, for {} s more unless renewed",
            found.holder,
            found.expires_ms.saturating_sub(now_ms()).div_ceil(1000)
        ),
    };
    let version = match put_lease(&remote, &body(&holder), PutMode::Create).await {
        Ok(v) => v,
        Err(object_store::Error::AlreadyExists { .. }) => {
            let path = remote.path_of(LEASE_FILE);
            let got = remote.store().get(&path).await.map_err(failed)?;
            let meta = got.meta.clone();
            let bytes = got.bytes().await.map_err(failed)?;
            // An unreadable lease object is treated as expired: a writer must not be blocked
            // forever by a damaged one.
            let found: LeaseBody = serde_json::from_slice(&bytes).unwrap_or(LeaseBody {
                holder: "an unreadable lease".into(),
                expires_ms: 0,
            });
            if found.expires_ms > now_ms() {
                return Err(busy(&found));
            }
            let expired = UpdateVersion {
                e_tag: meta.e_tag,
                version: meta.version,
            };
            match put_lease(&remote, &body(&holder), PutMode::Update(expired)).await {
                Ok(v) => v,
                // Another writer took it over first.
                Err(object_store::Error::Precondition { .. }) => {
                    return Err(StoreError::Busy {
                        dir: at.to_string(),
                        by: "a lease another writer has just taken over".into(),
                    })
                }
                Err(e) => return Err(failed(e)),
            }
        }
        Err(e) => return Err(failed(e)),
    };
    let version = Arc::new(Mutex::new(version));
    let renewal = tokio::spawn(renew(remote.clone(), holder, term, version.clone(), valid));
    Ok(Lease {
        remote,
        version,
        renewal,
    })
}

/// Renews the lease every third of its term; on a lost lease (someone else's ETag) or once
/// the term has passed without a renewal, marks the lock invalid and stops.
async fn renew(
    remote: Arc<Remote>,
    holder: String,
    term: Duration,
    version: Arc<Mutex<UpdateVersion>>,
    valid: Arc<AtomicBool>,
) {
    let mut renewed_ms = now_ms();
    loop {
        tokio::time::sleep(term / 3).await;
        let current = match version.lock() {
            Ok(v) => v.clone(),
            Err(_) => break,
        };
        let body = LeaseBody {
            holder: holder.clone(),
            expires_ms: now_ms() + term.as_millis() as u64,
        };
        match put_lease(&remote, &body, PutMode::Update(current)).await {
            Ok(next) => {
                renewed_ms = now_ms();
                if let Ok(mut v) = version.lock() {
                    *v = next;
                }
            }
            Err(object_store::Error::Precondition { .. }) => break,
            // A network error: try again next time, while the term lasts.
            Err(_) if now_ms() < renewed_ms + term.as_millis() as u64 => continue,
            Err(_) => break,
        }
    }
    valid.store(false, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_writer_is_refused_until_the_first_is_done() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = Location::from(dir.path());
        let first = WriterLock::acquire(&at, DEFAULT_LEASE)
            .await
            .expect("first");
        let second = WriterLock::acquire(&at, DEFAULT_LEASE).await;
        assert!(matches!(second, Err(StoreError::Busy { .. })));
        first.check(&at).expect("a file lock stays valid");
        drop(first);
        WriterLock::acquire(&at, DEFAULT_LEASE)
            .await
            .expect("free again");
    }
}
