//! sagasu (探す): semantic + keyword search over large Markdown trees, Japanese first.
//!
//! Dependencies point one way:
//!
//! ```text
//! ingest ─┐                      ┌─ search ─┐
//!         ├─▶ store ─▶ index ────┤          ├─▶ engine ─▶ (cli, mcp)
//! embed ──┘   (hash)             └─ eval ◀──┘   watch ─▶ mcp
//! ```
//!
//! [`ingest`] turns files into sections and terms; [`embed`] (the `sagasu-embed` crate) turns
//! text into vectors; [`store`] is the on-disk format and every LanceDB call; [`index`] runs
//! ingest → store (→ embed) as a bounded pipeline; [`search`] ranks; [`engine`] is the
//! reader API the CLI (`main.rs`, `cli/`) and the MCP server ([`mcp`]) share; [`watch`]
//! keeps an index up to date; [`eval`] measures search. [`budget`] shares out threads and
//! memory; [`progress`] reports.

#![deny(unsafe_code)]
#![deny(missing_docs)]

mod budget;
pub mod cli;
mod engine;
mod eval;
mod hash;
mod index;
mod ingest;
mod mcp;
mod progress;
mod search;
mod store;
mod watch;

pub use sagasu_embed as embed;

// The public front: what a program that embeds sagasu needs to index a tree and search it.
// Everything else is crate-private, so the compiler sees what is unused.
pub use budget::{runtime, MemoryBudget, ThreadBudget};
pub use engine::{Document, Engine, Freshness, RerankChoice, Stats};
pub use index::{default_db, IndexOptions, Indexer, ModelChoice, Shard};
pub use progress::Progress;
pub use search::{Explain, Fusion, Method, Mode, SearchOptions, SearchResult, SectionRef, Unit};
pub use store::{Location, RunSummary, StoreBudget, StoreError, StoreOptions};

/// Name of the index directory created inside an indexed tree.
pub const INDEX_DIR_NAME: &str = ".sagasu";
