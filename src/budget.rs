//! Resource budgets: how `--threads` and `--memory-limit` are shared out among sagasu's pools
//! and LanceDB's. Budgets are values passed in; the few settings LanceDB and candle read only
//! from the environment are returned as (variable, value) pairs that `main` sets before any
//! thread starts (setting the environment once threads run is unsound).

use anyhow::{Context, Result};

/// The thread budget when none is given: the cores.
/// Reads in flight against object storage (LanceDB's I/O slots): see
/// [`ThreadBudget::for_object_storage`].
pub const OBJECT_STORE_IO_SLOTS: usize = 32;

pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
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
    /// N: the threads asked for (`--threads`, default the cores).
    pub threads: usize,
    /// Rayon threads: file readers, then the encoder.
    pub compute: usize,
    /// Threads of LanceDB's CPU pool.
    pub lance: usize,
    /// The async runtime's blocking pool (LanceDB's local file I/O).
    pub blocking: usize,
    /// LanceDB's I/O slots (reads in flight): local reads run on the blocking pool.
    pub io_slots: usize,
}

impl ThreadBudget {
    /// The shares of `threads` (at least 1).
    pub fn new(threads: usize) -> ThreadBudget {
        let n = threads.max(1);
        let lance = (n / 2).max(1);
        ThreadBudget {
            threads: n,
            compute: n + 1 - lance,
            lance,
            blocking: 1,
            io_slots: n.max(2),
        }
    }

    /// For an index on object storage: reads in flight are requests waiting on the network,
    /// not threads, and with 2 of them a search is a chain of round trips. cpp-docs-ja, 20
    /// keyword queries over a link of 20 ms round trip (bench/delay_proxy.py), p50/p95: 793/1130
    /// ms with 2 slots, 273/375 with 8, 171/200 with 32, 170/197 with 64.
    pub fn for_object_storage(self) -> ThreadBudget {
        ThreadBudget {
            io_slots: OBJECT_STORE_IO_SLOTS,
            ..self
        }
    }

    /// The pool sizes LanceDB and candle read from the environment. A value already in the
    /// environment wins (the caller checks).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LANCE_CPU_THREADS", self.lance.to_string()),
            // At least 2: an open append holds one I/O slot while it waits for rows, and with
            // a single slot its commit never ran (seen at --threads 1). Slots, not threads:
            // local I/O runs on the runtime's blocking pool.
            ("LANCE_IO_THREADS", self.io_slots.to_string()),
            // candle sizes its CPU work by rayon's variable.
            ("RAYON_NUM_THREADS", self.compute.to_string()),
        ]
    }

    /// Sizes rayon's global pool (the readers and the encoder) explicitly. Call once, before
    /// anything uses rayon.
    pub fn start_compute_pool(&self) -> Result<()> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.compute)
            .thread_name(|i| format!("sagasu-compute-{i}"))
            .build_global()
            .context("starting the compute thread pool")
    }
}

/// How `--memory-limit` is shared out. It sizes the buffers that grow with what is read or
/// indexed at once: LanceDB's scan read-ahead, the full-text index build before it spills to
/// disk, and LanceDB's cache. The rest (the program, ICU data, the parse pipeline's bounded
/// queues, a model) is fixed, so the limit is a budget, not a cap the allocator enforces.
#[derive(Debug, Clone, Copy)]
pub struct MemoryBudget {
    /// The budget in MiB (`--memory-limit`).
    pub mib: u64,
}

impl MemoryBudget {
    /// `--memory-limit`'s default: cpp-docs-ja (9,571 files) indexes within it.
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

    /// LanceDB reads its read-ahead size from the environment only.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![(
            "LANCE_DEFAULT_IO_BUFFER_SIZE",
            self.read_ahead_bytes().to_string(),
        )]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_budget_adds_up_to_n_plus_one_budgeted() {
        for n in 1..=16 {
            let b = ThreadBudget::new(n);
            assert_eq!(b.compute + b.lance, n + 1, "{n}");
            assert!(b.compute >= 1 && b.lance >= 1);
        }
    }
}
