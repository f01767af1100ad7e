//! sagasu (探す): semantic + keyword search over large Markdown trees, Japanese first.
//!
//! The pipeline reads top to bottom: [`discover`] finds files, [`decode`] turns bytes into
//! text, [`markdown`] splits text into sections, [`terms`] makes their search terms, [`embed`] turns text into vectors, [`store`]
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
pub mod terms;
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

/// How `--memory-limit` is shared out. It sizes the buffers that grow with what is read or
/// indexed at once: LanceDB's scan read-ahead, the full-text index build before it spills to
/// disk, and LanceDB's cache. The rest (the program, ICU data, the parse pipeline's bounded
/// queues, a model) is fixed, so the limit is a budget, not a cap the allocator enforces.
#[derive(Debug, Clone, Copy)]
pub struct MemoryBudget {
    pub mib: u64,
}

impl MemoryBudget {
    pub const DEFAULT_MIB: u64 = 256;

    /// LanceDB queues up to 2 GiB of reads per scan by default (sized for object storage).
    /// On local disk 16 MiB reads as fast, and the queued reads were what set the peak of a
    /// 102,893-file index: 333–511 MiB with the default, 256–302 MiB with 16 MiB.
    pub fn read_ahead_bytes(&self) -> u64 {
        (self.mib << 20) / 16
    }

    /// Memory for the full-text index build's postings before they spill to disk, each spill
    /// being one more partition that every query reads. Not lower: at 102,893 files, 1/8
    /// (5 partitions) peaked 15–26 MiB lower than 1/4 (3 partitions), but keyword queries
    /// took p50 17–22 ms against 11–13 ms.
    pub fn index_build_mib(&self) -> u64 {
        (self.mib / 4).max(16)
    }

    /// LanceDB's session cache (index and metadata pages).
    pub fn cache_bytes(&self) -> usize {
        ((self.mib << 20) / 4) as usize
    }

    /// LanceDB reads its read-ahead size from the environment: must run first thing in
    /// `main`, before any scan. A value already in the environment wins.
    pub fn apply_to_env(&self) {
        if std::env::var_os("LANCE_DEFAULT_IO_BUFFER_SIZE").is_none() {
            std::env::set_var(
                "LANCE_DEFAULT_IO_BUFFER_SIZE",
                self.read_ahead_bytes().to_string(),
            );
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
