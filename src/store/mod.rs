//! The index: one LanceDB database (a local directory or an object-storage prefix, see
//! [`location`]) holding the `sections` and `vectors` tables, plus `sagasu.json`. Everything that touches LanceDB lives here, so the write
//! pattern is decided in one place: rows stream into appends that commit every 250,000 rows
//! (never per file), deletions are batched too, and after a run the full-text index is
//! refreshed, old versions pruned and, when fragments pile up, the table compacted.
//!
//! - [`schema`]: the format (tables, columns, indexes, version) — its one home;
//! - [`codec`]: rows ⇄ Arrow; [`filter`]: which rows, as expressions;
//! - [`sections`], [`vectors`]: reads and writes of each table; [`maintain`]: compaction,
//!   index upkeep, pruning, stats;
//! - [`meta`]: `sagasu.json`; [`lock`]: one writer at a time (a file lock, or a lease on
//!   object storage); [`location`]: where it lives; [`error`]: what failed, and whether a
//!   retry can help.

pub mod codec;
pub mod error;
pub mod filter;
pub mod location;
pub mod lock;
pub mod maintain;
pub mod meta;
pub mod schema;
pub mod sections;
pub mod vectors;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use lancedb::{Connection, Table};

pub use codec::{FileRows, FoundSection, RAW_ZSTD_LEVEL};
pub use error::{Result, StoreError};
pub use filter::{Cmp, Condition, Filter, Test};
pub use location::Location;
pub use lock::{WriterLock, DEFAULT_LEASE};
pub use maintain::{IndexInfo, Maintenance, SUPERSEDED_GRACE};
pub use meta::{
    default_collection_name, read_meta, write_meta, Collection, Meta, RerankerSetting, RunSettings,
    RunSummary, SkippedFile, VectorMean, META_FILE,
};
pub use sections::{Append, FileState, Match, SectionText};

use error::LanceContext;
use schema::{layout_difference, sections_schema, vectors_layout_difference};
use schema::{SECTIONS_TABLE, VECTORS_TABLE};

/// Below this many vectors, exact search is fast enough and exact; above it, IVF_SQ. IVF_SQ,
/// not IVF_PQ: on clustered 32-d vectors (tests/ann.rs) recall@10 was 1.000 against 0.952
/// with PQ at the default sub-vector count, for 1 byte per dimension.
pub const ANN_MIN_ROWS: usize = 50_000;

/// Below this many sections, filters scan (a scan of 20,000 rows' columns takes about a
/// millisecond, and every index is one more commit per run); above it, the filter indexes
/// (maintain.rs) are built.
pub const FILTER_INDEX_MIN_ROWS: usize = 20_000;

/// What the store may use, passed in rather than global.
#[derive(Debug, Clone, Copy)]
pub struct StoreBudget {
    /// Threads for index builds (FTS workers, compaction).
    pub threads: usize,
    /// LanceDB's index and metadata caches, bytes each.
    pub cache_bytes: usize,
    /// Memory the full-text index build may use before it spills to disk, MiB.
    pub index_memory_mib: u64,
}

impl Default for StoreBudget {
    fn default() -> Self {
        StoreBudget {
            threads: 2,
            cache_bytes: 64 << 20,
            index_memory_mib: 64,
        }
    }
}

/// Which versions a long-lived handle reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reads {
    /// The version current when each table was opened (a one-shot command).
    #[default]
    AsOpened,
    /// Check for a newer version when the last check is older than this (zero: on every
    /// read): for long-lived readers (the MCP server) that must see what a writer committed.
    Within(Duration),
}

/// How stale a long-lived reader may be, by default: on disk a check costs a `stat`, so every
/// read checks; on object storage a check is a request, so at most one a second.
pub fn default_refresh(at: &Location) -> Duration {
    if at.is_remote() {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    }
}

/// How a store is opened and kept.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Threads and memory LanceDB may use.
    pub budget: StoreBudget,
    /// Whether a reader sees new versions as they are committed.
    pub reads: Reads,
    /// Build the vector index (IVF_SQ) once the vectors table has this many rows.
    pub ann_min_rows: usize,
    /// Build the filter indexes once the sections table has this many rows.
    pub filter_index_min_rows: usize,
    /// How long a superseded version stays readable before a writer prunes it.
    pub keep_superseded: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            budget: StoreBudget::default(),
            reads: Reads::default(),
            ann_min_rows: ANN_MIN_ROWS,
            filter_index_min_rows: FILTER_INDEX_MIN_ROWS,
            keep_superseded: SUPERSEDED_GRACE,
        }
    }
}

/// What a handle is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Search and stats: the index must exist and have this sagasu's layout.
    Read,
    /// An index run: the directory and tables are created, and a sections table of another
    /// layout is dropped to be rebuilt from the tree (vectors are kept).
    Write,
}

pub struct Store {
    at: Location,
    conn: Connection,
    sections: Option<Table>,
    vectors: Option<Table>,
    options: StoreOptions,
    /// Commits made through this handle (adds, deletes, maintenance).
    commits: u64,
    /// `open` found a sections table of an older layout and dropped it: every file is read
    /// again.
    outdated_table_dropped: bool,
    /// What a writer's `open` (or [`Store::rebuild_sections`]) repaired, one line each: a table
    /// that could not be opened is set aside and made again (sections from the tree, vectors
    /// by embedding again).
    repairs: Vec<String>,
    /// The writer lock a run holds ([`Store::hold`]): checked before each commit of sections.
    lock: Option<WriterLock>,
    /// Pages selected by filters at one version ([`Store::pages`]).
    selections: std::sync::Mutex<sections::Selections>,
}

impl Store {
    /// Opens the index at `at` for `access`.
    pub async fn open(at: &Location, access: Access, options: StoreOptions) -> Result<Store> {
        match (access, at) {
            (Access::Write, Location::Dir(dir)) => {
                let file_error = |path: &std::path::Path, message: String| StoreError::File {
                    path: path.to_path_buf(),
                    message,
                };
                std::fs::create_dir_all(dir).map_err(|e| {
                    file_error(dir, format!("cannot create the index directory ({e})"))
                })?;
                // The index never shows in `git status` of the tree it lives in.
                let gitignore = dir.join(".gitignore");
                if !gitignore.exists() {
                    std::fs::write(&gitignore, "*\n")
                        .map_err(|e| file_error(&gitignore, e.to_string()))?;
                }
            }
            (Access::Write, Location::Remote(_)) => {}
            (Access::Read, _) => {
                if at.read(META_FILE).await?.is_none() {
                    return Err(StoreError::NotAnIndex {
                        dir: at.to_string(),
                    });
                }
            }
        }
        let uri = at.lancedb_uri()?;
        let budget = options.budget;
        let session = Arc::new(lance::session::Session::new(
            budget.cache_bytes,
            budget.cache_bytes,
            Default::default(),
        ));
        let mut connect = lancedb::connect(&uri)
            .session(session)
            .storage_options(at.storage_options().iter().cloned());
        if let Reads::Within(interval) = options.reads {
            connect = connect.read_consistency_interval(interval);
        }
        let conn = connect.execute().await.doing("opening the index")?;
        let names = conn.table_names().execute().await.doing("listing tables")?;
        let mut repairs = Vec::new();
        let mut open = async |name: &'static str| -> Result<Option<Table>> {
            if !names.iter().any(|n| n == name) {
                return Ok(None);
            }
            let opened = conn
                .open_table(name)
                .execute()
                .await
                .doing(&format!("opening the {name} table"));
            match (opened, access) {
                (Ok(t), _) => Ok(Some(t)),
                (Err(e), Access::Read) => Err(e),
                // The tables are derived from the tree: a writer sets a damaged one aside and
                // makes it again rather than stop at it.
                (Err(e), Access::Write) => {
                    at.remove_all(&format!("{name}.lance")).await?;
                    repairs.push(format!("{}: the {name} table was made again", e.chain()));
                    Ok(None)
                }
            }
        };
        let sections = open(SECTIONS_TABLE).await?;
        let vectors = open(VECTORS_TABLE).await?;
        let mut store = Store {
            at: at.clone(),
            conn,
            sections,
            vectors,
            options,
            commits: 0,
            outdated_table_dropped: false,
            repairs,
            lock: None,
            selections: Default::default(),
        };
        store.check_layouts(access).await?;
        if access == Access::Write && store.sections.is_none() {
            let t = store
                .conn
                .create_empty_table(SECTIONS_TABLE, sections_schema())
                .execute()
                .await
                .doing("creating the sections table")?;
            store.sections = Some(t);
            store.commits += 1;
        }
        Ok(store)
    }

    /// Refuses (reading) or drops (writing) tables whose layout is not this sagasu's.
    /// Sections are cheap to rebuild from the tree; vectors of an older layout are made again.
    async fn check_layouts(&mut self, access: Access) -> Result<()> {
        if self
            .outdated(SECTIONS_TABLE, access, |s| {
                layout_difference(s, &sections_schema())
            })
            .await?
        {
            self.sections = None;
            self.outdated_table_dropped = true;
        }
        if self
            .outdated(VECTORS_TABLE, access, vectors_layout_difference)
            .await?
        {
            self.vectors = None;
        }
        Ok(())
    }

    /// Whether table `name` has another layout than `difference` accepts; a writer drops it,
    /// a reader gets [`StoreError::OlderLayout`].
    async fn outdated(
        &self,
        name: &str,
        access: Access,
        difference: impl Fn(&arrow_schema::Schema) -> Option<String>,
    ) -> Result<bool> {
        let table = if name == SECTIONS_TABLE {
            &self.sections
        } else {
            &self.vectors
        };
        let Some(t) = table else {
            return Ok(false);
        };
        let found = t
            .schema()
            .await
            .doing(&format!("reading the {name} layout"))?;
        let Some(what) = difference(&found) else {
            return Ok(false);
        };
        if access == Access::Read {
            return Err(StoreError::OlderLayout {
                dir: self.at.to_string(),
                what: format!("{name} table: {what}"),
            });
        }
        self.conn
            .drop_table(name, &[])
            .await
            .doing(&format!("dropping the {name} table of an older layout"))?;
        Ok(true)
    }

    /// Commits made through this handle (adds, deletes, maintenance).
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// Whether `open` found a sections table of an older layout and dropped it (every file
    /// is read again).
    pub fn outdated_table_dropped(&self) -> bool {
        self.outdated_table_dropped
    }

    /// What this handle repaired so far, one line each (see the field).
    pub fn repairs(&self) -> &[String] {
        &self.repairs
    }

    pub fn location(&self) -> &Location {
        &self.at
    }

    /// Keeps the run's writer lock with the store: every commit of sections first checks it
    /// is still held (a lease on object storage can be lost).
    pub fn hold(&mut self, lock: WriterLock) {
        self.lock = Some(lock);
    }

    /// Gives the writer lock back (a lease at once, rather than when it expires).
    pub async fn release(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
    }

    /// Returns once this handle's writer lock allows a commit; fails when it has been lost.
    pub(crate) async fn check_writer(&self) -> Result<()> {
        match &self.lock {
            Some(lock) => lock.check(&self.at).await,
            None => Ok(()),
        }
    }

    /// Sets the sections table aside and starts an empty one: every file is read again. `why`:
    /// what failed, for [`Store::repairs`], or `None` for an index of an older format, which
    /// is no repair.
    pub async fn rebuild_sections(&mut self, why: Option<&StoreError>) -> Result<()> {
        self.sections = None;
        if self.conn.drop_table(SECTIONS_TABLE, &[]).await.is_err() {
            self.at
                .remove_all(&format!("{SECTIONS_TABLE}.lance"))
                .await?;
        }
        let t = self
            .conn
            .create_empty_table(SECTIONS_TABLE, sections_schema())
            .execute()
            .await
            .doing("creating the sections table")?;
        self.sections = Some(t);
        self.commits += 1;
        if let Some(why) = why {
            self.repairs.push(format!(
                "{}: the sections table was made again from the tree",
                why.chain()
            ));
        }
        Ok(())
    }

    fn sections(&self) -> Result<&Table> {
        self.sections
            .as_ref()
            .ok_or_else(|| StoreError::NoSections {
                dir: self.at.to_string(),
            })
    }

    fn vectors(&self) -> Result<&Table> {
        self.vectors.as_ref().ok_or(StoreError::NoVectors)
    }

    pub fn has_vectors(&self) -> bool {
        self.vectors.is_some()
    }

    pub async fn read_meta(&self) -> Result<Meta> {
        read_meta(&self.at).await
    }

    /// A writer's [`Store::read_meta`]: metadata that cannot be read is started afresh, and
    /// the vectors with it (without it their model is unknown), as a repair.
    pub async fn read_meta_or_repair(&mut self) -> Result<Meta> {
        match self.read_meta().await {
            Err(e @ StoreError::File { .. }) => {
                self.drop_vectors().await?;
                self.repairs
                    .push(format!("{e}: started afresh, vectors made again"));
                Ok(Meta::default())
            }
            other => other,
        }
    }

    pub async fn write_meta(&self, meta: &Meta) -> Result<()> {
        write_meta(&self.at, meta).await
    }
}
