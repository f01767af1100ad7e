//! Keeping the index up to date: a background worker runs incremental index runs when asked,
//! and a file watcher asks it whenever files under the root change.
//!
//! A request is a signal, not a list of paths: each run walks the tree and compares it with
//! the index (9,571 unchanged files take ~0.2 s), so `.gitignore`, globs and renames follow the
//! same rules as `sagasu index`. The signal channel holds one message: a `git checkout` that
//! touches 10,000 files queues one run, not 10,000, and memory does not grow with the burst.
//! The worker waits until events have been quiet for [`WorkerOptions::quiet`] (at most
//! [`WorkerOptions::max_delay`] after the first) before it starts, so a burst becomes one run
//! that commits in large batches.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use tokio::runtime::Handle;

use crate::index::{IndexOptions, Indexer};
use crate::progress::{Progress, Snapshot};
use crate::store::{Location, RunSummary};

#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    /// Start a run once no request came for this long…
    pub quiet: Duration,
    /// …or this long after the first request, whichever comes first.
    pub max_delay: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            quiet: Duration::from_millis(150),
            max_delay: Duration::from_millis(1000),
        }
    }
}

/// What the worker is doing, for `stats` in the MCP server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerStatus {
    pub running: bool,
    /// A request waits: changes seen (or a `reindex` asked for) that no run has taken yet.
    pub pending: bool,
    /// The counters of the run in progress.
    pub progress: Option<Snapshot>,
    /// Runs finished since the worker started.
    pub runs: u64,
    pub last_run: Option<RunSummary>,
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Shared {
    current: Option<Arc<Progress>>,
    /// A request was taken and the worker waits for events to go quiet before its run.
    settling: bool,
    runs: u64,
    last_run: Option<RunSummary>,
    last_error: Option<String>,
}

/// A background thread that owns an [`Indexer`] and runs it on request.
pub struct IndexWorker {
    signal: Sender<()>,
    shared: Arc<Mutex<Shared>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Called after every run with its outcome.
pub type OnRun = Box<dyn Fn(&Result<RunSummary>) + Send>;

impl IndexWorker {
    /// Starts the worker. The model loads in the worker thread on the first request, so a
    /// server that is never asked to re-index never loads it.
    pub fn spawn(
        opts: IndexOptions,
        runtime: Handle,
        worker: WorkerOptions,
        on_run: OnRun,
    ) -> Result<IndexWorker> {
        let (signal, requests) = bounded::<()>(1);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("sagasu-index".into())
                .spawn(move || worker_loop(opts, runtime, worker, requests, shared, on_run))
                .context("starting the index worker")?
        };
        Ok(IndexWorker {
            signal,
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for a run. Never blocks: a request already waiting covers this one.
    pub fn request(&self) {
        let _ = self.signal.try_send(());
    }

    /// Where a file watcher sends its requests.
    pub fn requests(&self) -> Sender<()> {
        self.signal.clone()
    }

    pub fn status(&self) -> WorkerStatus {
        let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        WorkerStatus {
            running: s.current.is_some(),
            pending: s.settling || !self.signal.is_empty(),
            progress: s.current.as_ref().map(|p| p.snapshot()),
            runs: s.runs,
            last_run: s.last_run.clone(),
            last_error: s.last_error.clone(),
        }
    }

    /// Blocks until the worker ends (it ends when every request sender is gone).
    pub fn join(mut self) {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn worker_loop(
    opts: IndexOptions,
    runtime: Handle,
    worker: WorkerOptions,
    requests: Receiver<()>,
    shared: Arc<Mutex<Shared>>,
    on_run: OnRun,
) {
    let mut indexer: Option<Indexer> = None;
    while requests.recv().is_ok() {
        shared.lock().unwrap_or_else(|e| e.into_inner()).settling = true;
        let first = Instant::now();
        loop {
            match requests.recv_timeout(worker.quiet) {
                Ok(()) if first.elapsed() < worker.max_delay => continue,
                Ok(()) | Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let progress = Arc::new(Progress::new(false, true));
        {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            s.current = Some(Arc::clone(&progress));
            s.settling = false;
        }
        let result = match &indexer {
            Some(ix) => ix.run(&runtime, &progress),
            None => Indexer::new(opts.clone(), &runtime, &progress).and_then(|ix| {
                let r = ix.run(&runtime, &progress);
                indexer = Some(ix);
                r
            }),
        };
        on_run(&result);
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        s.current = None;
        s.runs += 1;
        match result {
            Ok(summary) => {
                s.last_run = Some(summary);
                s.last_error = None;
            }
            Err(e) => s.last_error = Some(format!("{e:#}")),
        }
    }
}

/// Watches every root of a run (one watcher each): a change under any of them requests one
/// run, which reads them all (unchanged files cost a `stat` each).
pub fn watch_roots(opts: &IndexOptions, signal: Sender<()>) -> Result<Vec<impl Watcher>> {
    opts.roots
        .iter()
        .map(|r| watch_tree(&r.path, &opts.db, signal.clone()))
        .collect()
}

/// Watches `root` recursively and sends a request on `signal` for every change that may
/// matter: events inside the index directory or `.git` are ignored. Keep the returned
/// watcher alive for as long as events should flow.
pub fn watch_tree(root: &Path, db: &Location, signal: Sender<()>) -> Result<impl Watcher> {
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot open {}", root.display()))?;
    // The index directory may not exist yet; compare against its absolute form. An index on
    // object storage is outside the tree.
    let db_dir: Option<PathBuf> = db.local().map(|d| {
        d.canonicalize()
            .unwrap_or_else(|_| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()))
    });
    let git_dir = root.join(".git");
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(e) => {
                e.kind.is_create() || e.kind.is_modify() || e.kind.is_remove() || e.kind.is_other()
            }
            Err(_) => true,
        } && event.as_ref().map_or(true, |e| {
            e.paths.is_empty()
                || e.paths.iter().any(|p| {
                    !db_dir.as_ref().is_some_and(|d| p.starts_with(d)) && !p.starts_with(&git_dir)
                })
        });
        if relevant {
            // Full: a run is already requested. Disconnected: the worker is gone.
            let _: Result<(), TrySendError<()>> = signal.try_send(());
        }
    })
    .context("starting the file watcher")?;
    watcher.watch(&root, RecursiveMode::Recursive).with_context(|| {
        format!(
            "cannot watch {} (on Linux, raise fs.inotify.max_user_watches if the tree has many directories)",
            root.display()
        )
    })?;
    Ok(watcher)
}
