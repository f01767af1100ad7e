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

pub mod budget;
pub mod engine;
pub mod eval;
pub mod hash;
pub mod index;
pub mod ingest;
pub mod mcp;
pub mod progress;
pub mod search;
pub mod store;
pub mod watch;

pub use sagasu_embed as embed;

/// Name of the index directory created inside an indexed tree.
pub const INDEX_DIR_NAME: &str = ".sagasu";
