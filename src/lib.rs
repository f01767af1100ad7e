//! sagasu (探す): semantic + keyword search over large Markdown trees, Japanese first.
//!
//! The pipeline reads top to bottom: [`discover`] finds files, [`decode`] turns bytes into
//! text, [`markdown`] splits text into sections, [`embed`] turns text into vectors, [`store`]
//! writes both to LanceDB in large batches, [`index`] runs those stages as a bounded pipeline,
//! and [`search`] / [`eval`] read the index back. The CLI (`main.rs`) is a thin shell over these.

pub mod decode;
pub mod discover;
pub mod embed;
pub mod eval;
pub mod index;
pub mod markdown;
pub mod progress;
pub mod search;
pub mod store;

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

/// The async runtime every command uses: one worker thread (LanceDB's CPU work runs on its
/// own pool) and a blocking pool capped by the thread budget (lance runs file I/O there; by
/// default tokio would grow it to 512 threads).
pub fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(threads.max(2))
        .thread_name("sagasu-rt")
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Caps the thread pools of LanceDB and rayon that read their size from the environment.
/// Must run before any of them starts, i.e. first thing in `main`.
pub fn limit_thread_pools(threads: usize) {
    for var in ["LANCE_CPU_THREADS", "LANCE_IO_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, threads.max(1).to_string());
        }
    }
}
