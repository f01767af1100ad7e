//! The on-disk index: one LanceDB database directory holding the `sections` and `vectors`
//! tables, plus `sagasu.json`. Everything that touches LanceDB lives here, so the write
//! pattern is decided in one place: rows stream into appends that commit every 250,000 rows
//! (never per file), deletions are batched too, and after a run the full-text index is
//! refreshed, old versions pruned and, when fragments pile up, the table compacted.
//!
//! - [`schema`]: the format (tables, columns, indexes, version) — its one home;
//! - [`codec`]: rows ⇄ Arrow; [`filter`]: which rows, as expressions;
//! - [`sections`], [`vectors`]: reads and writes of each table; [`maintain`]: compaction,
//!   index upkeep, pruning, stats;
//! - [`meta`]: `sagasu.json`; [`lock`]: one writer at a time; [`error`]: what failed, and
//!   whether a retry can help.

pub mod codec;
pub mod error;
pub mod filter;
pub mod lock;
pub mod maintain;
pub mod meta;
pub mod schema;
pub mod sections;
pub mod vectors;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lancedb::{Connection, Table};

pub use codec::{Explain, FileRows, SectionHit};
pub use error::{Result, StoreError};
pub use filter::Filter;
pub use lock::WriterLock;
pub use maintain::{IndexInfo, Maintenance, TableStats, TextIndexRefresh};
pub use meta::{read_meta, write_meta, Meta, RunSettings, RunSummary, SkippedFile, META_FILE};
pub use sections::{Append, FileState, Match};

use error::LanceContext;
use schema::{layout_difference, sections_schema, vectors_layout_difference};
use schema::{SECTIONS_TABLE, VECTORS_TABLE};

/// Below this many vectors, exact search is fast enough and exact; above it, IVF_SQ. IVF_SQ,
/// not IVF_PQ: on clustered 32-d vectors (tests/ann.rs) recall@10 was 1.000 against 0.952
/// with PQ at the default sub-vector count, for 1 byte per dimension.
pub const ANN_MIN_ROWS: usize = 50_000;

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
    /// Check for a newer version on every read: for long-lived readers (the MCP server) that
    /// must see what a concurrent writer committed.
    Latest,
}

/// How a store is opened and kept.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    pub budget: StoreBudget,
    pub reads: Reads,
    /// Build the vector index (IVF_SQ) once the vectors table has this many rows.
    pub ann_min_rows: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            budget: StoreBudget::default(),
            reads: Reads::default(),
            ann_min_rows: ANN_MIN_ROWS,
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
    dir: PathBuf,
    conn: Connection,
    sections: Option<Table>,
    vectors: Option<Table>,
    options: StoreOptions,
    /// Commits made through this handle (adds, deletes, maintenance).
    pub commits: u64,
    /// `open` found a sections table of an older layout and dropped it: every file is read
    /// again.
    pub outdated_table_dropped: bool,
    /// What a writer's `open` (or [`Store::rebuild_sections`]) repaired, one line each: a table
    /// that could not be opened is set aside and made again (sections from the tree, vectors
    /// by embedding again).
    pub repairs: Vec<String>,
}

impl Store {
    /// Opens the index at `dir` for `access`.
    pub async fn open(dir: &Path, access: Access, options: StoreOptions) -> Result<Store> {
        let file_error = |path: &Path, message: String| StoreError::File {
            path: path.to_path_buf(),
            message,
        };
        match access {
            Access::Write => {
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
            Access::Read if !dir.join(META_FILE).exists() => {
                return Err(StoreError::NotAnIndex {
                    dir: dir.to_path_buf(),
                })
            }
            Access::Read => {}
        }
        // Absolute: LanceDB takes any URI that starts with "db" (a relative `db/index`) for
        // its cloud service.
        let absolute = std::path::absolute(dir)
            .map_err(|e| file_error(dir, format!("cannot resolve the index path ({e})")))?;
        let uri = absolute
            .to_str()
            .ok_or_else(|| file_error(dir, "the index path is not UTF-8".into()))?;
        let budget = options.budget;
        let session = Arc::new(lance::session::Session::new(
            budget.cache_bytes,
            budget.cache_bytes,
            Default::default(),
        ));
        let mut connect = lancedb::connect(uri).session(session);
        if options.reads == Reads::Latest {
            connect = connect.read_consistency_interval(std::time::Duration::ZERO);
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
                    discard_table(dir, name)?;
                    repairs.push(format!("{e}: the {name} table was made again"));
                    Ok(None)
                }
            }
        };
        let sections = open(SECTIONS_TABLE).await?;
        let vectors = open(VECTORS_TABLE).await?;
        let mut store = Store {
            dir: dir.to_path_buf(),
            conn,
            sections,
            vectors,
            options,
            commits: 0,
            outdated_table_dropped: false,
            repairs,
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
                dir: self.dir.clone(),
                what: format!("{name} table: {what}"),
            });
        }
        self.conn
            .drop_table(name, &[])
            .await
            .doing(&format!("dropping the {name} table of an older layout"))?;
        Ok(true)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets a sections table that cannot be read aside and starts an empty one (a writer's
    /// repair: every file is read again). `why`: what failed, for [`Store::repairs`].
    pub async fn rebuild_sections(&mut self, why: &StoreError) -> Result<()> {
        self.sections = None;
        if self.conn.drop_table(SECTIONS_TABLE, &[]).await.is_err() {
            discard_table(&self.dir, SECTIONS_TABLE)?;
        }
        let t = self
            .conn
            .create_empty_table(SECTIONS_TABLE, sections_schema())
            .execute()
            .await
            .doing("creating the sections table")?;
        self.sections = Some(t);
        self.commits += 1;
        self.repairs.push(format!(
            "{why}: the sections table was made again from the tree"
        ));
        Ok(())
    }

    fn sections(&self) -> Result<&Table> {
        self.sections
            .as_ref()
            .ok_or_else(|| StoreError::NoSections {
                dir: self.dir.clone(),
            })
    }

    fn vectors(&self) -> Result<&Table> {
        self.vectors.as_ref().ok_or(StoreError::NoVectors)
    }

    pub fn has_vectors(&self) -> bool {
        self.vectors.is_some()
    }

    pub fn read_meta(&self) -> Result<Meta> {
        read_meta(&self.dir)
    }

    pub fn write_meta(&self, meta: &Meta) -> Result<()> {
        write_meta(&self.dir, meta)
    }
}

/// Removes a table's directory whatever state it is in (LanceDB cannot drop a table it
/// cannot open). Only for a writer's repair: the tables are derived data.
fn discard_table(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(format!("{name}.lance"));
    match std::fs::remove_dir_all(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::File {
            path,
            message: format!("cannot remove the damaged table ({e})"),
        }),
    }
}
