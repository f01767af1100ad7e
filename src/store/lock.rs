//! One writer of sections per index, held for the life of a run; readers never take it.
//!
//! - On disk: an advisory lock on `writer.lock`, released by the OS when the process dies.
//! - On object storage a file lock means nothing across hosts, so the writer holds a lease:
//!   `writer.lease`, created with a conditional put (`If-None-Match: *`), renewed every third
//!   of its term with a conditional put on its own ETag (`If-Match`), taken over the same way
//!   once it has expired. A crashed writer blocks others for one term at most; a writer
//!   that could not renew (paused, cut off) learns it before its next commit and stops
//!   (see [`WriterLock::check`]): the check reads the deadline the last renewal wrote, by
//!   the clock, so a writer whose renewals stopped (a stopped process) still stops. The
//!   renewals run on a thread of their own, with their own runtime and client: on the index
//!   run's runtime (one worker, which LanceDB keeps busy for seconds at a time) a renewal
//!   task did not run once in a 6 s term under the object-storage tests' load.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
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
    /// Until when (ms since the Unix epoch) this writer may commit: the expiry its last
    /// successful lease write set (`u64::MAX` for a file lock, 0 once the lease was lost).
    deadline_ms: Arc<AtomicU64>,
    /// A commit starts only while more than this is left of the term: a commit takes time,
    /// and the clocks of two hosts differ a little.
    margin_ms: u64,
}

/// The part of a lease's term a writer keeps in reserve: it commits only while more than
/// this share is left. Renewals every third of the term keep two thirds left normally.
const MARGIN_DIVISOR: u32 = 4;

enum Held {
    File(#[allow(dead_code)] File),
    Lease(Lease),
}

struct Lease {
    remote: Arc<Remote>,
    version: Arc<Mutex<UpdateVersion>>,
    /// Dropped (or sent) to stop the renewal thread.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
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
        let deadline_ms = Arc::new(AtomicU64::new(u64::MAX));
        let held = match at {
            Location::Dir(dir) => Held::File(lock_file(dir, at)?),
            Location::Remote(remote) => {
                Held::Lease(take_lease(remote.clone(), term, deadline_ms.clone(), at).await?)
            }
        };
        Ok(WriterLock {
            held,
            deadline_ms,
            margin_ms: (term / MARGIN_DIVISOR).as_millis() as u64,
        })
    }

    /// Returns once this writer may commit: more than the margin is left of the term its last
    /// renewal wrote. When less is left but the term still runs, it waits for the renewal
    /// under way (a slow request, a busy runtime); once the term has passed without one, or
    /// the lease was taken, it fails: another writer may hold it. Called before every commit
    /// of sections.
    pub async fn check(&self, at: &Location) -> Result<()> {
        loop {
            let deadline = self.deadline_ms.load(Ordering::Acquire);
            let now = now_ms();
            if now.saturating_add(self.margin_ms) < deadline {
                return Ok(());
            }
            if now >= deadline {
                return Err(StoreError::LeaseLost {
                    dir: at.to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Gives a lease back at once (marks it expired, if it is still this writer's); a file
    /// lock is released by dropping it.
    pub async fn release(mut self) {
        if let Held::Lease(lease) = &mut self.held {
            lease.stop.take();
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
        if let Held::Lease(lease) = &mut self.held {
            lease.stop.take();
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
    put_lease_with(
        remote.store().as_ref(),
        &remote.path_of(LEASE_FILE),
        body,
        mode,
    )
    .await
}

async fn put_lease_with(
    store: &dyn ObjectStore,
    path: &ObjectPath,
    body: &LeaseBody,
    mode: PutMode,
) -> object_store::Result<UpdateVersion> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let put = store
        .put_opts(path, PutPayload::from(bytes), PutOptions::from(mode))
        .await?;
    Ok(UpdateVersion {
        e_tag: put.e_tag,
        version: put.version,
    })
}

async fn take_lease(
    remote: Arc<Remote>,
    term: Duration,
    deadline_ms: Arc<AtomicU64>,
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
    let first = body(&holder);
    let version = match put_lease(&remote, &first, PutMode::Create).await {
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
            match put_lease(&remote, &first, PutMode::Update(expired)).await {
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
    deadline_ms.store(first.expires_ms, Ordering::Release);
    let version = Arc::new(Mutex::new(version));
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let renewal = Renewal {
        store: remote.new_client()?,
        path: remote.path_of(LEASE_FILE),
        holder,
        term,
        version: version.clone(),
        deadline_ms,
    };
    std::thread::Builder::new()
        .name("sagasu-lease".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(renewal.run(stopped)),
                // No renewals: the deadline passes and the run stops before a commit.
                Err(_) => renewal.deadline_ms.store(0, Ordering::Release),
            }
        })
        .map_err(|e| StoreError::File {
            path: at.label(LEASE_FILE),
            message: format!("cannot start the lease renewal thread ({e})"),
        })?;
    Ok(Lease {
        remote,
        version,
        stop: Some(stop),
    })
}

/// The renewals of one lease, on their own thread.
struct Renewal {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    holder: String,
    term: Duration,
    version: Arc<Mutex<UpdateVersion>>,
    deadline_ms: Arc<AtomicU64>,
}

impl Renewal {
    /// Renews the lease every third of its term until `stop` fires (or its sender is
    /// dropped), moving the writer's deadline to the expiry each renewal wrote (taken before
    /// the request left, so the deadline is never later than what other writers read). On a
    /// lost lease (someone else's ETag) or once the term has passed without a renewal, sets
    /// the deadline to 0 and stops.
    async fn run(self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.term / 3) => {}
                _ = &mut stop => return,
            }
            let current = match self.version.lock() {
                Ok(v) => v.clone(),
                Err(_) => break,
            };
            let body = LeaseBody {
                holder: self.holder.clone(),
                expires_ms: now_ms() + self.term.as_millis() as u64,
            };
            let put = put_lease_with(
                self.store.as_ref(),
                &self.path,
                &body,
                PutMode::Update(current),
            );
            let put = tokio::select! {
                put = put => put,
                _ = &mut stop => return,
            };
            match put {
                Ok(next) => {
                    if let Ok(mut v) = self.version.lock() {
                        *v = next;
                    }
                    self.deadline_ms.store(body.expires_ms, Ordering::Release);
                }
                Err(object_store::Error::Precondition { .. }) => break,
                // A network error: try again next time, while the term lasts.
                Err(_) if now_ms() < self.deadline_ms.load(Ordering::Acquire) => continue,
                Err(_) => break,
            }
        }
        self.deadline_ms.store(0, Ordering::Release);
    }
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
        first.check(&at).await.expect("a file lock stays valid");
        // Within the margin, a commit waits for a renewal; with none, it is refused once the
        // term has passed, whatever the renewal task last did.
        assert!(first.margin_ms > 100);
        first.deadline_ms.store(now_ms() + 100, Ordering::Release);
        assert!(matches!(
            first.check(&at).await,
            Err(StoreError::LeaseLost { .. })
        ));
        // A renewal that lands while it waits lets the commit go on.
        first.deadline_ms.store(now_ms() + 100, Ordering::Release);
        let renewed = async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            first.deadline_ms.store(u64::MAX, Ordering::Release);
        };
        let (checked, ()) = tokio::join!(first.check(&at), renewed);
        checked.expect("renewed in time");
        drop(first);
        WriterLock::acquire(&at, DEFAULT_LEASE)
            .await
            .expect("free again");
    }
}
