//! sagasu (探す): semantic + keyword search over large Markdown trees, Japanese first.
//!
//! The pipeline reads top to bottom: [`discover`] finds files, [`decode`] turns bytes into
//! text, [`markdown`] splits text into sections, [`embed`] turns text into vectors, [`store`]
//! writes both to LanceDB in large batches, [`index`] runs those stages as a bounded pipeline,
//! and [`search`] / [`eval`] read the index back. [`engine`] is the reader API the CLI
//! (`main.rs`) and the MCP server ([`mcp`]) share; [`watch`] keeps an index up to date.

pub mod decode;
pub mod discover;
pub mod embed;
pub mod engine;
pub mod eval;
pub mod index;
pub mod markdown;
pub mod mcp;
pub mod progress;
pub mod search;
pub mod store;
pub mod watch;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Name of the index directory created inside an indexed tree.
pub const INDEX_DIR_NAME: &str = ".sagasu";

/// The index for commands run without `--db`: the nearest `.sagasu` holding an index, from
/// `start` upwards, as git finds `.git`.
pub fn find_index_dir(start: &Path) -> Result<PathBuf> {
    let start = start
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", start.display()))?;
    for dir in start.ancestors() {
        let candidate = dir.join(INDEX_DIR_NAME);
        if candidate.join(store::META_FILE).is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no sagasu index found in {} or any parent directory; run `sagasu index ROOT` first, or pass --db DIR",
        start.display()
    )
}

/// How `--threads N` is shared out so that the process never runs more than N + 6 threads.
///
/// Fixed: the main thread (the writer), the walker, the async runtime's worker and LanceDB's
/// CPU runtime worker. Budgeted: `compute` rayon threads (file readers, then the encoder: never
/// both at once), `lance` threads in LanceDB's CPU pool (encoding, index builds, compaction),
/// and `blocking` threads for LanceDB's file I/O. compute + lance = N + 1 and blocking = 1:
/// 4 + (N + 1) + 1 = N + 6, whatever N is.
#[derive(Debug, Clone, Copy)]
pub struct ThreadBudget {
    pub threads: usize,
    pub compute: usize,
    pub lance: usize,
    pub blocking: usize,
}

impl ThreadBudget {
    pub fn new(threads: usize) -> ThreadBudget {
        let n = threads.max(1);
        let lance = (n / 2).max(1);
        ThreadBudget {
            threads: n,
            compute: n + 1 - lance,
            lance,
            blocking: 1,
        }
    }

    /// Caps the pools of LanceDB and rayon, which read their size from the environment.
    /// Must run before any of them starts, i.e. first thing in `main`.
    pub fn apply_to_env(&self) {
        for (var, n) in [
            ("LANCE_CPU_THREADS", self.lance),
            // At least 2: an open append holds one I/O slot while it waits for rows, and with
            // a single slot its commit never ran (seen at --threads 1). Slots, not threads:
            // local I/O runs on the runtime's blocking pool.
            ("LANCE_IO_THREADS", self.threads.max(2)),
            ("RAYON_NUM_THREADS", self.compute),
        ] {
            if std::env::var_os(var).is_none() {
                std::env::set_var(var, n.to_string());
            }
        }
    }
}

/// The async runtime every command uses: one worker thread (LanceDB's CPU work runs on its
/// own pool) and `blocking` threads for file I/O (tokio's default would grow to 512).
pub fn runtime(blocking: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(blocking.max(1))
        .thread_name("sagasu-rt")
        .enable_all()
        .build()
        .context("starting the async runtime")
}
