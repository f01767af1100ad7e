//! The on-disk index: one LanceDB database directory holding the `sections` table, plus a
//! small JSON file of run metadata (`sagasu.json`).
//!
//! Everything that touches LanceDB lives here, so the write pattern is decided in one place:
//! rows stream into appends that commit every 250,000 rows (never per file), deletions are
//! batched too, and after a run the full-text index is refreshed, old versions pruned and, when
//! fragments pile up, the table compacted. See ARCHITECTURE.md for the layout and why.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use arrow_array::builder::{
    Int64Builder, ListBuilder, StringBuilder, UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Int64Array, ListArray, RecordBatch,
    StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use lancedb::index::scalar::{
    FtsIndexBuilder, FtsQuery, FullTextSearchQuery, MatchQuery, Operator,
};
use lancedb::index::Index;
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::table::{CompactionOptions, OptimizeAction, OptimizeOptions};
use lancedb::{Connection, Table};
use serde::{Deserialize, Serialize};

use crate::markdown::{FrontMatter, Section};

pub const SECTIONS_TABLE: &str = "sections";
pub const VECTORS_TABLE: &str = "vectors";
pub const FTS_INDEX: &str = "text_idx";
pub const META_FILE: &str = "sagasu.json";
/// Below this many vectors, exact search is fast enough and exact; above it, IVF_SQ (the
/// default of [`StoreLimits::ann_min_rows`]). IVF_SQ, not IVF_PQ: on
/// clustered 32-d vectors (tests/ann.rs) recall@10 was 1.000 against 0.952 with PQ at the
/// default sub-vector count, for 1 byte per dimension.
pub const ANN_MIN_ROWS: usize = 50_000;
/// IVF partitions a vector search visits (of √rows). On cpp-docs-ja (89,279 vectors, 298
/// partitions, ruri-v3-30m shape) recall@10 against exact search was 0.970 at 64 without
/// re-ranking, against 0.950 at 32 with 4× re-ranking on full vectors, and 1.6 ms faster:
/// which partitions are visited matters more than the 8-bit codes' error.
pub const ANN_NPROBES: usize = 64;
pub const VECTOR_INDEX: &str = "vector_idx";
pub const HASH_INDEX: &str = "text_hash_idx";
/// Sections left outside the full-text index (searched flat) before a run folds them in.
pub const UNINDEXED_TEXT_MAX: usize = 20_000;
/// Vectors left outside the ANN index (searched exactly) before a run folds them in.
pub const UNINDEXED_VECTORS_MAX: usize = 5_000;
/// Full-text index segments (one per fold-in) before the next fold-in rebuilds it whole.
pub const TEXT_SEGMENTS_MAX: usize = 8;
/// Above this many fragments a run compacts; keeps the table at ≤ 16 fragments.
pub const COMPACT_ABOVE_FRAGMENTS: usize = 8;

/// The one Arrow schema of the `sections` table.
pub fn sections_schema() -> SchemaRef {
    let list = |name: &str| Field::new_list(name, Field::new("item", DataType::Utf8, true), false);
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("ordinal", DataType::UInt32, false),
        list("heading_path"),
        Field::new("level", DataType::UInt8, false),
        Field::new("start_line", DataType::UInt32, false),
        Field::new("end_line", DataType::UInt32, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
        list("tags"),
        Field::new("text", DataType::Utf8, false),
        // The text's search terms, space-separated: what the full-text index holds (terms.rs).
        Field::new("terms", DataType::Utf8, false),
        Field::new("text_hash", DataType::Utf8, false),
        Field::new("file_hash", DataType::Utf8, false),
        Field::new("file_size", DataType::UInt64, false),
        Field::new("mtime_ns", DataType::Int64, false),
    ]))
}

/// The `vectors` table: one row per distinct section text, keyed by its hash. Kept apart from
/// `sections` so that adding vectors never rewrites text rows and keyword search works before
/// any vector exists (ARCHITECTURE.md).
pub fn vectors_schema(dim: usize) -> SchemaRef {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    Arc::new(Schema::new(vec![
        Field::new("text_hash", DataType::Utf8, false),
        Field::new("vector", DataType::FixedSizeList(item, dim as i32), false),
    ]))
}

/// A file's sections, ready to be written.
#[derive(Debug, Clone)]
pub struct FileRows {
    pub path: String,
    pub file_hash: String,
    pub file_size: u64,
    pub mtime_ns: i64,
    pub front_matter: FrontMatter,
    pub sections: Vec<Section>,
    /// Each section's search terms ([`crate::terms::document_terms`]), in section order.
    pub terms: Vec<String>,
}

impl FileRows {
    /// A file's rows, with the search terms of every section (the costly part: run it on a
    /// reader thread, not the writer).
    pub fn new(
        path: String,
        file_hash: String,
        file_size: u64,
        mtime_ns: i64,
        doc: crate::markdown::Document,
    ) -> FileRows {
        let terms = doc
            .sections
            .iter()
            .map(|s| crate::terms::document_terms(&s.text))
            .collect();
        FileRows {
            path,
            file_hash,
            file_size,
            mtime_ns,
            front_matter: doc.front_matter,
            sections: doc.sections,
            terms,
        }
    }

    /// Rough in-memory size, for batch and memory budgets.
    pub fn approx_bytes(&self) -> usize {
        self.sections
            .iter()
            .zip(&self.terms)
            .map(|(s, t)| s.text.len() + t.len() + 64 + self.path.len())
            .sum::<usize>()
            + 128
    }
}

/// Hex of a 128-bit BLAKE3 digest: content hashes for files and section texts.
pub fn content_hash(bytes: &[u8]) -> String {
    let hash = blake3::hash(bytes);
    hash.as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A section text hash as a number: the sets of hashes the indexer keeps in memory (one
/// entry per distinct text: a million at 100k files) take 16 bytes per entry instead of a
/// heap string.
pub type HashKey = u128;

/// The [`HashKey`] of a hash written by [`content_hash`].
pub fn hash_key(hex: &str) -> HashKey {
    u128::from_str_radix(hex, 16).unwrap_or_else(|_| {
        // Not ours (written by hand?): still a stable key.
        u128::from_le_bytes(
            blake3::hash(hex.as_bytes()).as_bytes()[..16]
                .try_into()
                .unwrap_or([0; 16]),
        )
    })
}

/// The hex form of a [`HashKey`], as stored in the tables.
pub fn hash_hex(key: HashKey) -> String {
    format!("{key:032x}")
}

/// Builds one RecordBatch from whole files (a file is never split across batches, so a
/// committed batch always holds complete files: the basis of crash safety).
pub fn rows_to_batch(files: &[FileRows]) -> Result<RecordBatch> {
    let n: usize = files.iter().map(|f| f.sections.len()).sum();
    let mut id = StringBuilder::with_capacity(n, n * 32);
    let mut path = StringBuilder::with_capacity(n, n * 32);
    let mut ordinal = UInt32Builder::with_capacity(n);
    let mut heading_path = ListBuilder::new(StringBuilder::new());
    let mut level = UInt8Builder::with_capacity(n);
    let mut start_line = UInt32Builder::with_capacity(n);
    let mut end_line = UInt32Builder::with_capacity(n);
    let mut title = StringBuilder::new();
    let mut description = StringBuilder::new();
    let mut tags = ListBuilder::new(StringBuilder::new());
    let mut text = StringBuilder::new();
    let mut terms = StringBuilder::new();
    let mut text_hash = StringBuilder::new();
    let mut file_hash = StringBuilder::new();
    let mut file_size = UInt64Builder::with_capacity(n);
    let mut mtime_ns = Int64Builder::with_capacity(n);
    for file in files {
        if file.terms.len() != file.sections.len() {
            bail!(
                "{}: {} sections but {} term lists",
                file.path,
                file.sections.len(),
                file.terms.len()
            );
        }
        for (i, (s, t)) in file.sections.iter().zip(&file.terms).enumerate() {
            let i = u32::try_from(i).context("too many sections in one file")?;
            id.append_value(format!("{}#{i}", file.path));
            path.append_value(&file.path);
            ordinal.append_value(i);
            for h in &s.heading_path {
                heading_path.values().append_value(h);
            }
            heading_path.append(true);
            level.append_value(s.level);
            start_line.append_value(s.start_line);
            end_line.append_value(s.end_line);
            title.append_option(file.front_matter.title.as_deref());
            description.append_option(file.front_matter.description.as_deref());
            for t in &file.front_matter.tags {
                tags.values().append_value(t);
            }
            tags.append(true);
            text.append_value(&s.text);
            terms.append_value(t);
            text_hash.append_value(content_hash(s.text.as_bytes()));
            file_hash.append_value(&file.file_hash);
            file_size.append_value(file.file_size);
            mtime_ns.append_value(file.mtime_ns);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(path.finish()),
        Arc::new(ordinal.finish()),
        Arc::new(heading_path.finish()),
        Arc::new(level.finish()),
        Arc::new(start_line.finish()),
        Arc::new(end_line.finish()),
        Arc::new(title.finish()),
        Arc::new(description.finish()),
        Arc::new(tags.finish()),
        Arc::new(text.finish()),
        Arc::new(terms.finish()),
        Arc::new(text_hash.finish()),
        Arc::new(file_hash.finish()),
        Arc::new(file_size.finish()),
        Arc::new(mtime_ns.finish()),
    ];
    RecordBatch::try_new(sections_schema(), columns).context("building a batch of sections")
}

/// What the index knows about a file, to decide whether to re-read it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileState {
    pub file_hash: String,
    pub file_size: u64,
    pub mtime_ns: i64,
    /// Rows of this path disagree (left by an older crash or a bug): re-index it from scratch.
    pub inconsistent: bool,
}

/// Resource limits for the store, passed in rather than global.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Threads for index builds (FTS workers, compaction).
    pub threads: usize,
    /// LanceDB's index and metadata caches, bytes each.
    pub cache_bytes: usize,
    /// Memory the full-text index build may use before it spills to disk.
    pub index_memory_mb: u64,
    /// Check for newer versions on every read. For long-lived readers (the MCP server) that
    /// must see what a concurrent writer committed; a one-shot command reads the latest anyway.
    pub fresh_reads: bool,
    /// Build the vector index (IVF_SQ) once the vectors table has this many rows.
    pub ann_min_rows: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            threads: 2,
            cache_bytes: 64 << 20,
            index_memory_mb: 64,
            fresh_reads: false,
            ann_min_rows: ANN_MIN_ROWS,
        }
    }
}

/// Run metadata kept next to the table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    /// Absolute path of the indexed tree.
    pub root: Option<PathBuf>,
    pub last_run: Option<RunSummary>,
    /// Files left out by the last run, with the reason.
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
    /// The model that made the vectors in the `vectors` table, and where it was loaded from.
    #[serde(default)]
    pub model: Option<crate::embed::ModelInfo>,
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    /// How the tree was indexed, so that `serve` and `watch --db` re-run it the same way.
    #[serde(default)]
    pub settings: Option<IndexSettings>,
}

/// The walk and split settings of the last run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexSettings {
    pub globs: Vec<String>,
    pub follow_links: bool,
    pub max_file_bytes: u64,
    pub max_section_chars: usize,
    /// Whether the run embedded (false: `--no-embed`).
    pub embed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunSummary {
    /// RFC 3339 time the run finished.
    pub finished_at: String,
    pub seconds: f64,
    pub files_seen: u64,
    pub files_indexed: u64,
    pub files_unchanged: u64,
    pub files_removed: u64,
    pub files_skipped: u64,
    pub sections_written: u64,
    #[serde(default)]
    pub vectors_written: u64,
    pub commits: u64,
    /// Most threads the process had at the run's sample points (every 256 files, each
    /// phase, each commit): the thread budget, as measured.
    #[serde(default)]
    pub max_threads: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// One search hit as read from the table.
#[derive(Debug, Clone, Serialize)]
pub struct SectionHit {
    pub id: String,
    pub path: String,
    pub heading_path: Vec<String>,
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
    pub text_hash: String,
    pub score: f32,
}

/// An append in progress (see [`Store::begin_append`]).
pub struct Append {
    tx: tokio::sync::mpsc::Sender<RecordBatch>,
    task: tokio::task::JoinHandle<Result<()>>,
    runtime: tokio::runtime::Handle,
    /// Rows and text bytes sent so far.
    pub rows: usize,
    pub bytes: usize,
}

impl Append {
    /// Sends whole files (of `bytes` approximate size) as one batch; blocks while the writer
    /// is two batches behind. Call from outside the runtime (the indexing thread).
    pub fn send(&mut self, files: &[FileRows], bytes: usize) -> Result<()> {
        let batch = rows_to_batch(files)?;
        self.rows += batch.num_rows();
        self.bytes += bytes;
        if self.tx.blocking_send(batch).is_err() {
            // The write ended early: its error says why.
            return match self.runtime.block_on(&mut self.task) {
                Ok(Err(e)) => Err(e),
                _ => Err(anyhow!("the section writer stopped")),
            };
        }
        Ok(())
    }

    /// Ends the stream and waits for the commit.
    pub async fn commit(self, store: &mut Store) -> Result<()> {
        drop(self.tx);
        self.task.await.context("the section writer panicked")??;
        store.commits += 1;
        Ok(())
    }
}

pub struct Store {
    dir: PathBuf,
    conn: Connection,
    table: Option<Table>,
    vectors: Option<Table>,
    limits: StoreLimits,
    /// Commits made through this handle (adds, deletes, maintenance).
    pub commits: u64,
    /// `open` found a sections table of an older layout and dropped it: every file is read
    /// again.
    pub outdated_table_dropped: bool,
}

impl Store {
    /// Opens the index at `dir`; with `create`, makes the directory and an empty table.
    pub async fn open(dir: &Path, create: bool, limits: StoreLimits) -> Result<Store> {
        if create {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create index directory {}", dir.display()))?;
            // The index never shows in `git status` of the tree it lives in.
            let gitignore = dir.join(".gitignore");
            if !gitignore.exists() {
                std::fs::write(&gitignore, "*\n")
                    .with_context(|| format!("cannot write {}", gitignore.display()))?;
            }
        } else if !dir.join(META_FILE).exists() {
            bail!(
                "{} is not a sagasu index (no {META_FILE}); run `sagasu index ROOT` first",
                dir.display()
            );
        }
        let uri = dir
            .to_str()
            .ok_or_else(|| anyhow!("index path {} is not UTF-8", dir.display()))?;
        let session = Arc::new(lance::session::Session::new(
            limits.cache_bytes,
            limits.cache_bytes,
            Default::default(),
        ));
        let mut connect = lancedb::connect(uri).session(session);
        if limits.fresh_reads {
            connect = connect.read_consistency_interval(std::time::Duration::ZERO);
        }
        let conn = connect
            .execute()
            .await
            .with_context(|| format!("cannot open LanceDB at {}", dir.display()))?;
        let names = conn
            .table_names()
            .execute()
            .await
            .context("listing tables")?;
        let table = if names.iter().any(|n| n == SECTIONS_TABLE) {
            Some(
                conn.open_table(SECTIONS_TABLE)
                    .execute()
                    .await
                    .context("opening the sections table")?,
            )
        } else {
            None
        };
        let vectors = if names.iter().any(|n| n == VECTORS_TABLE) {
            Some(
                conn.open_table(VECTORS_TABLE)
                    .execute()
                    .await
                    .context("opening the vectors table")?,
            )
        } else {
            None
        };
        let mut store = Store {
            dir: dir.to_path_buf(),
            conn,
            table,
            vectors,
            limits,
            commits: 0,
            outdated_table_dropped: false,
        };
        if let Some(t) = &store.table {
            let schema = t.schema().await.context("reading the sections schema")?;
            let names = |s: &Schema| {
                s.fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
            };
            if names(&schema) != names(&sections_schema()) {
                if !create {
                    bail!(
                        "the index at {} was made by an older sagasu (its sections table has \
                         another layout); run `sagasu index` on its tree again to rebuild it",
                        dir.display()
                    );
                }
                // Sections are cheap to rebuild from the tree; vectors (keyed by text hash)
                // stay and are reused.
                store
                    .conn
                    .drop_table(SECTIONS_TABLE, &[])
                    .await
                    .context("dropping the sections table of an older layout")?;
                store.table = None;
                store.outdated_table_dropped = true;
            }
        }
        if create && store.table.is_none() {
            let t = store
                .conn
                .create_empty_table(SECTIONS_TABLE, sections_schema())
                .execute()
                .await
                .context("creating the sections table")?;
            store.table = Some(t);
            store.commits += 1;
        }
        Ok(store)
    }

    fn table(&self) -> Result<&Table> {
        self.table.as_ref().ok_or_else(|| {
            anyhow!(
                "the index at {} has no sections table yet",
                self.dir.display()
            )
        })
    }

    pub fn read_meta(&self) -> Result<Meta> {
        read_meta(&self.dir)
    }

    /// Writes the metadata atomically (temp file + rename), so a kill never leaves half a file.
    pub fn write_meta(&self, meta: &Meta) -> Result<()> {
        let path = self.dir.join(META_FILE);
        let tmp = self.dir.join(format!("{META_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(meta)?;
        std::fs::write(&tmp, json).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    }

    /// Every indexed file with its size, mtime and hash, read from the first row of each file.
    pub async fn manifest(&self) -> Result<HashMap<String, FileState>> {
        let mut out: HashMap<String, FileState> = HashMap::new();
        let Some(table) = &self.table else {
            return Ok(out);
        };
        let mut stream = table
            .query()
            .only_if("ordinal = 0")
            .select(Select::columns(&[
                "path",
                "file_hash",
                "file_size",
                "mtime_ns",
            ]))
            .execute()
            .await
            .context("reading the file manifest")?;
        while let Some(batch) = stream
            .try_next()
            .await
            .context("reading the file manifest")?
        {
            let path = string_col(&batch, "path")?;
            let hash = string_col(&batch, "file_hash")?;
            let size = col::<UInt64Array>(&batch, "file_size")?;
            let mtime = col::<Int64Array>(&batch, "mtime_ns")?;
            for i in 0..batch.num_rows() {
                let state = FileState {
                    file_hash: hash.value(i).to_string(),
                    file_size: size.value(i),
                    mtime_ns: mtime.value(i),
                    inconsistent: false,
                };
                out.entry(path.value(i).to_string())
                    .and_modify(|s| s.inconsistent = true)
                    .or_insert(state);
            }
        }
        Ok(out)
    }

    /// Opens an append that stays open while batches stream in and commits once, when
    /// [`Append::commit`] is called: one commit (and one fragment) per many batches, with only
    /// a couple of batches in memory at a time. Deletions may commit while it is open; the
    /// append lands on top of them.
    pub fn begin_append(&self, runtime: &tokio::runtime::Handle) -> Result<Append> {
        let (tx, rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|batch| (Ok(batch), rx))
        });
        let stream: lancedb::arrow::SendableRecordBatchStream =
            Box::pin(lancedb::arrow::SimpleRecordBatchStream {
                schema: sections_schema(),
                stream,
            });
        let table = self.table()?.clone();
        let task = runtime.spawn(async move {
            table
                .add(stream)
                .write_parallelism(1)
                .execute()
                .await
                .context("writing sections")
                .map(|_| ())
        });
        Ok(Append {
            tx,
            task,
            runtime: runtime.clone(),
            rows: 0,
            bytes: 0,
        })
    }

    /// Deletes every row of the given paths, in commits of at most 1,000 paths.
    pub async fn delete_paths(&mut self, paths: &[String]) -> Result<()> {
        for chunk in paths.chunks(1000) {
            let list: Vec<String> = chunk.iter().map(|p| sql_string(p)).collect();
            let predicate = format!("path IN ({})", list.join(", "));
            self.table()?
                .delete(predicate.as_str())
                .await
                .context("deleting stale sections")?;
            self.commits += 1;
        }
        Ok(())
    }

    /// After a run: compact when there are too many fragments, make the full-text index cover
    /// every row, drop old versions. Cheap when nothing needs doing, so a no-op run commits nothing.
    /// `full` (`sagasu optimize`) compacts and rebuilds the full-text index whatever the state.
    pub async fn maintain(&mut self, full: bool) -> Result<()> {
        let table = self.table()?.clone();
        let fragments = table
            .stats()
            .await
            .context("reading table stats")?
            .fragment_stats
            .num_fragments;
        let mut changed = false;
        if full || fragments > COMPACT_ABOVE_FRAGMENTS {
            let options = CompactionOptions {
                num_threads: Some(self.limits.threads),
                ..Default::default()
            };
            table
                .optimize(OptimizeAction::Compact {
                    options,
                    remap_options: None,
                })
                .await
                .context("compacting the table")?;
            changed = true;
        }
        changed |= self.refresh_text_index(UNINDEXED_TEXT_MAX, full).await?;
        if changed || self.commits > 0 {
            self.prune().await?;
        }
        Ok(())
    }

    /// Builds the full-text index, or folds the rows it lacks into it as a new segment once
    /// there are more than `unindexed_max` of them. Rows outside the index are still found
    /// (LanceDB searches them flat), so a run that changed a few files leaves them until there
    /// are enough. A fold-in tokenizes only the new rows; LanceDB's default merges them with
    /// every old segment, loaded into memory, so its memory would follow the corpus. With
    /// [`TEXT_SEGMENTS_MAX`] segments, or when `rebuild`, the index is built again whole.
    /// Returns whether it committed.
    pub async fn refresh_text_index(
        &mut self,
        unindexed_max: usize,
        rebuild: bool,
    ) -> Result<bool> {
        let table = self.table()?.clone();
        if table.count_rows(None).await.context("counting rows")? == 0 {
            return Ok(false);
        }
        let stats = table
            .index_stats(FTS_INDEX)
            .await
            .context("reading index stats")?;
        let fold_in = match stats {
            _ if rebuild => false,
            None => false,
            Some(s) if s.num_unindexed_rows <= unindexed_max => return Ok(false),
            Some(s) => (s.num_indices.unwrap_or(1) as usize) < TEXT_SEGMENTS_MAX,
        };
        if fold_in {
            let mut options = OptimizeOptions::append();
            options.index_names = Some(vec![FTS_INDEX.to_string()]);
            table
                .optimize(OptimizeAction::Index(options))
                .await
                .context("updating the full-text index")?;
        } else {
            self.build_text_index().await?;
        }
        self.commits += 1;
        Ok(true)
    }

    async fn build_text_index(&self) -> Result<()> {
        // The terms are analysed already (terms.rs): the index only splits them.
        let params = FtsIndexBuilder::default()
            .base_tokenizer(crate::terms::INDEX_TOKENIZER.to_string())
            .max_token_length(None)
            .lower_case(false)
            .stem(false)
            .remove_stop_words(false)
            .ascii_folding(false)
            .num_workers(self.limits.threads.max(1))
            .memory_limit_mb(self.limits.index_memory_mb);
        self.table()?
            .create_index(&["terms"], Index::FTS(params))
            .name(FTS_INDEX.to_string())
            .replace(true)
            .execute()
            .await
            .context("building the full-text index")?;
        Ok(())
    }

    /// Removes every version but the latest, and the files only they used.
    pub async fn prune(&mut self) -> Result<()> {
        self.table()?
            .optimize(OptimizeAction::Prune {
                older_than: Some(chrono_zero()),
                delete_unverified: Some(true),
                error_if_tagged_old_versions: Some(false),
            })
            .await
            .context("pruning old versions")?;
        Ok(())
    }

    /// Full-text search. `and` requires every query word; the caller falls back to OR.
    pub async fn search_text(
        &self,
        query: &str,
        and: bool,
        filter: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SectionHit>> {
        let table = self.table()?;
        let terms = crate::terms::query_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let operator = if and { Operator::And } else { Operator::Or };
        let fts = FullTextSearchQuery::new_query(FtsQuery::Match(
            MatchQuery::new(terms)
                .with_operator(operator)
                .with_column(Some("terms".into())),
        ));
        let mut q = table
            .query()
            .full_text_search(fts)
            .select(Select::columns(&HIT_COLUMNS))
            .limit(limit);
        if let Some(f) = filter {
            q = q.only_if(f);
        }
        let batches: Vec<RecordBatch> = q
            .execute()
            .await
            .context("running the full-text query")?
            .try_collect()
            .await
            .context("reading full-text results")?;
        let mut hits = Vec::new();
        for batch in &batches {
            hits.extend(hits_from_batch(batch)?);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(hits)
    }

    /// Whether the index holds rows of `path`.
    pub async fn has_document(&self, path: &str) -> Result<bool> {
        let Some(table) = &self.table else {
            return Ok(false);
        };
        let n = table
            .count_rows(Some(format!("path = {}", sql_string(path))))
            .await
            .context("looking up a document")?;
        Ok(n > 0)
    }

    pub fn has_vectors(&self) -> bool {
        self.vectors.is_some()
    }

    /// Makes the vectors table hold vectors of `dim` dimensions, dropping one made for another
    /// model (`reset`): vectors of two models are never mixed.
    pub async fn prepare_vectors(&mut self, dim: usize, reset: bool) -> Result<()> {
        if reset && self.vectors.is_some() {
            self.conn
                .drop_table(VECTORS_TABLE, &[])
                .await
                .context("dropping vectors of the previous model")?;
            self.vectors = None;
        }
        if self.vectors.is_none() {
            let t = self
                .conn
                .create_empty_table(VECTORS_TABLE, vectors_schema(dim))
                .execute()
                .await
                .context("creating the vectors table")?;
            self.vectors = Some(t);
            self.commits += 1;
        }
        Ok(())
    }

    /// Hashes of every text that has a vector.
    pub async fn vector_hashes(&self) -> Result<HashSet<HashKey>> {
        match &self.vectors {
            Some(t) => text_hashes(t, None).await.context("reading vector keys"),
            None => Ok(HashSet::new()),
        }
    }

    /// Streams (text_hash, text) of the sections (under a filter), for the embedder.
    pub async fn section_texts(
        &self,
        filter: Option<&str>,
    ) -> Result<lancedb::arrow::SendableRecordBatchStream> {
        let mut q = self
            .table()?
            .query()
            .select(Select::columns(&["text_hash", "text"]));
        if let Some(f) = filter {
            q = q.only_if(f);
        }
        q.execute().await.context("reading section texts")
    }

    /// Appends vectors in one commit.
    pub async fn add_vectors(&mut self, hashes: &[String], vectors: &[Vec<f32>]) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        let dim = vectors.first().map(Vec::len).unwrap_or(0);
        let table = self
            .vectors
            .as_ref()
            .ok_or_else(|| anyhow!("no vectors table"))?;
        let flat: Vec<f32> = vectors.iter().flat_map(|v| v.iter().copied()).collect();
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let list =
            FixedSizeListArray::try_new(item, dim as i32, Arc::new(Float32Array::from(flat)), None)
                .context("building the vector column")?;
        let batch = RecordBatch::try_new(
            vectors_schema(dim),
            vec![
                Arc::new(StringArray::from_iter_values(hashes)),
                Arc::new(list),
            ],
        )
        .context("building a batch of vectors")?;
        table
            .add(batch)
            .execute()
            .await
            .context("writing vectors")?;
        self.commits += 1;
        Ok(())
    }

    /// Deletes vectors whose text no longer appears in any section.
    /// Deletes the vectors of texts no section has any more, in commits of 1,000.
    pub async fn delete_vectors(&mut self, keys: &[HashKey]) -> Result<()> {
        let Some(t) = &self.vectors else {
            return Ok(());
        };
        for chunk in keys.chunks(1000) {
            let list: Vec<String> = chunk.iter().map(|h| sql_string(&hash_hex(*h))).collect();
            t.delete(format!("text_hash IN ({})", list.join(", ")).as_str())
                .await
                .context("deleting stale vectors")?;
            self.commits += 1;
        }
        Ok(())
    }

    /// Distinct text hashes of the sections (optionally under a filter).
    pub async fn section_hashes(&self, filter: Option<&str>) -> Result<HashSet<HashKey>> {
        match &self.table {
            Some(t) => text_hashes(t, filter)
                .await
                .context("reading section hashes"),
            None => Ok(HashSet::new()),
        }
    }

    /// Nearest texts to `query` by cosine distance: (text_hash, distance), best first.
    pub async fn search_vectors(
        &self,
        query: &[f32],
        limit: usize,
        filter: Option<&str>,
    ) -> Result<Vec<(String, f32)>> {
        self.nearest(query, limit, filter, false).await
    }

    /// [`Store::search_vectors`] without the vector index: what the index is measured against.
    pub async fn search_vectors_exact(
        &self,
        query: &[f32],
        limit: usize,
    ) -> Result<Vec<(String, f32)>> {
        self.nearest(query, limit, None, true).await
    }

    async fn nearest(
        &self,
        query: &[f32],
        limit: usize,
        filter: Option<&str>,
        exact: bool,
    ) -> Result<Vec<(String, f32)>> {
        let t = self
            .vectors
            .as_ref()
            .ok_or_else(|| anyhow!("this index has no vectors"))?;
        let mut q = t
            .query()
            .nearest_to(query)
            .context("vector query")?
            .distance_type(lancedb::DistanceType::Cosine)
            .nprobes(ANN_NPROBES)
            .context("vector query")?
            .select(Select::columns(&["text_hash"]))
            .limit(limit);
        if exact {
            q = q.bypass_vector_index();
        }
        if let Some(f) = filter {
            q = q.only_if(f);
        }
        let batches: Vec<RecordBatch> = q
            .execute()
            .await
            .context("running the vector query")?
            .try_collect()
            .await
            .context("reading vector results")?;
        let mut out = Vec::new();
        for b in &batches {
            let h = string_col(b, "text_hash")?;
            let d = col::<Float32Array>(b, "_distance")?;
            out.extend((0..b.num_rows()).map(|i| (h.value(i).to_string(), d.value(i))));
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        Ok(out)
    }

    /// Sections whose text has one of these hashes (optionally under a filter).
    pub async fn sections_by_hash(
        &self,
        hashes: &[String],
        filter: Option<&str>,
    ) -> Result<Vec<SectionHit>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = hashes.iter().map(|h| sql_string(h)).collect();
        let mut predicate = format!("text_hash IN ({})", list.join(", "));
        if let Some(f) = filter {
            predicate = format!("({predicate}) AND ({f})");
        }
        let batches: Vec<RecordBatch> = self
            .table()?
            .query()
            .only_if(predicate)
            .select(Select::columns(&HIT_COLUMNS))
            .execute()
            .await
            .context("reading sections by hash")?
            .try_collect()
            .await
            .context("reading sections by hash")?;
        let mut hits = Vec::new();
        for b in &batches {
            hits.extend(hits_from_batch(b)?);
        }
        Ok(hits)
    }

    /// Vectors stored, for `stats`.
    /// Rows the vector index covers; `None` when there is no vector index.
    pub async fn vector_index_rows(&self) -> Result<Option<u64>> {
        let Some(t) = &self.vectors else {
            return Ok(None);
        };
        let stats = t
            .index_stats(VECTOR_INDEX)
            .await
            .context("reading vector index stats")?;
        Ok(stats.map(|s| s.num_indexed_rows as u64))
    }

    pub async fn vector_count(&self) -> Result<u64> {
        match &self.vectors {
            Some(t) => Ok(t.count_rows(None).await.context("counting vectors")? as u64),
            None => Ok(0),
        }
    }

    /// Builds an ANN index on the vectors once there are enough of them for it to pay off
    /// (exact search below that), or folds new vectors into an existing one.
    pub async fn maintain_vectors(&mut self) -> Result<()> {
        let Some(t) = self.vectors.clone() else {
            return Ok(());
        };
        // Vector hits are joined back to sections by text hash: a B-tree makes that a lookup
        // instead of a scan (newer rows are scanned until the next full-text fold-in).
        let sections = self.table()?.clone();
        if sections
            .index_stats(HASH_INDEX)
            .await
            .context("reading index stats")?
            .is_none()
            && sections.count_rows(None).await.context("counting rows")? > 0
        {
            sections
                .create_index(&["text_hash"], Index::BTree(Default::default()))
                .name(HASH_INDEX.to_string())
                .replace(true)
                .execute()
                .await
                .context("building the text hash index")?;
            self.commits += 1;
        }
        let rows = t.count_rows(None).await.context("counting vectors")?;
        let fragments = t
            .stats()
            .await
            .context("reading vector stats")?
            .fragment_stats
            .num_fragments;
        if fragments > COMPACT_ABOVE_FRAGMENTS {
            let options = CompactionOptions {
                num_threads: Some(self.limits.threads),
                ..Default::default()
            };
            t.optimize(OptimizeAction::Compact {
                options,
                remap_options: None,
            })
            .await
            .context("compacting vectors")?;
        }
        if rows >= self.limits.ann_min_rows {
            match t
                .index_stats(VECTOR_INDEX)
                .await
                .context("reading vector index stats")?
            {
                None => {
                    let partitions = ((rows as f64).sqrt() as u32).clamp(16, 1024);
                    let builder = lancedb::index::vector::IvfSqIndexBuilder::default()
                        .distance_type(lancedb::DistanceType::Cosine)
                        .num_partitions(partitions);
                    t.create_index(&["vector"], Index::IvfSq(builder))
                        .name(VECTOR_INDEX.to_string())
                        .replace(true)
                        .execute()
                        .await
                        .context("building the vector index")?;
                }
                // New vectors are searched exactly until there are enough of them to be worth
                // folding into the index: a watch run that adds one vector stays cheap.
                Some(s) if s.num_unindexed_rows > UNINDEXED_VECTORS_MAX => {
                    t.optimize(OptimizeAction::Index(OptimizeOptions::default()))
                        .await
                        .context("updating the vector index")?;
                }
                Some(_) => {}
            }
        }
        t.optimize(OptimizeAction::Prune {
            older_than: Some(chrono_zero()),
            delete_unverified: Some(true),
            error_if_tagged_old_versions: Some(false),
        })
        .await
        .context("pruning old vector versions")?;
        Ok(())
    }

    /// Numbers for `stats`.
    pub async fn table_stats(&self) -> Result<TableStats> {
        let Some(table) = &self.table else {
            return Ok(TableStats::default());
        };
        let stats = table.stats().await.context("reading table stats")?;
        let sections = table.count_rows(None).await.context("counting rows")? as u64;
        let documents = table
            .count_rows(Some("ordinal = 0".into()))
            .await
            .context("counting documents")? as u64;
        // Versions are few (every run prunes), so listing them is cheap here; never on a hot path.
        let versions = table
            .list_versions()
            .await
            .context("listing versions")?
            .len() as u64;
        let mut indexes = Vec::new();
        for index in table.list_indices().await.context("listing indexes")? {
            let s = table
                .index_stats(&index.name)
                .await
                .context("reading index stats")?;
            indexes.push(IndexInfo {
                name: index.name.clone(),
                columns: index.columns.clone(),
                index_type: format!("{:?}", index.index_type),
                indexed_rows: s.as_ref().map(|s| s.num_indexed_rows as u64),
                unindexed_rows: s.as_ref().map(|s| s.num_unindexed_rows as u64),
                segments: s.as_ref().and_then(|s| s.num_indices).map(u64::from),
            });
        }
        Ok(TableStats {
            documents,
            sections,
            fragments: stats.fragment_stats.num_fragments as u64,
            versions,
            indexes,
        })
    }

    /// All rows of the table as (path, ordinal, start, end, text hash): for tests and checks.
    pub async fn dump_rows(&self) -> Result<Vec<(String, u32, u32, u32, String)>> {
        let Some(table) = &self.table else {
            return Ok(Vec::new());
        };
        let batches: Vec<RecordBatch> = table
            .query()
            .select(Select::columns(&[
                "path",
                "ordinal",
                "start_line",
                "end_line",
                "text_hash",
            ]))
            .execute()
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let path = string_col(b, "path")?;
            let ord = col::<UInt32Array>(b, "ordinal")?;
            let start = col::<UInt32Array>(b, "start_line")?;
            let end = col::<UInt32Array>(b, "end_line")?;
            let hash = string_col(b, "text_hash")?;
            for i in 0..b.num_rows() {
                out.push((
                    path.value(i).into(),
                    ord.value(i),
                    start.value(i),
                    end.value(i),
                    hash.value(i).into(),
                ));
            }
        }
        out.sort();
        Ok(out)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableStats {
    pub documents: u64,
    pub sections: u64,
    pub fragments: u64,
    pub versions: u64,
    pub indexes: Vec<IndexInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexInfo {
    pub name: String,
    pub columns: Vec<String>,
    pub index_type: String,
    pub indexed_rows: Option<u64>,
    pub unindexed_rows: Option<u64>,
    /// Parts the index is stored in (a full-text fold-in adds one).
    pub segments: Option<u64>,
}

pub fn read_meta(dir: &Path) -> Result<Meta> {
    let path = dir.join(META_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not valid JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Meta::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The distinct `text_hash` values of a table's rows (optionally under a filter), streamed.
async fn text_hashes(table: &Table, filter: Option<&str>) -> Result<HashSet<HashKey>> {
    let mut q = table.query().select(Select::columns(&["text_hash"]));
    if let Some(f) = filter {
        q = q.only_if(f);
    }
    let mut out = HashSet::new();
    let mut stream = q.execute().await?;
    while let Some(batch) = stream.try_next().await? {
        let h = string_col(&batch, "text_hash")?;
        out.extend((0..batch.num_rows()).map(|i| hash_key(h.value(i))));
    }
    Ok(out)
}

/// The columns a search hit is read from.
const HIT_COLUMNS: [&str; 7] = [
    "id",
    "path",
    "heading_path",
    "start_line",
    "end_line",
    "text",
    "text_hash",
];

/// A SQL string literal.
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn chrono_zero() -> lancedb::table::Duration {
    lancedb::table::Duration::zero()
}

fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .ok_or_else(|| anyhow!("column {name} missing from result"))?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| anyhow!("column {name} has an unexpected type"))
}

fn string_col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    col::<StringArray>(batch, name)
}

fn hits_from_batch(batch: &RecordBatch) -> Result<Vec<SectionHit>> {
    let id = string_col(batch, "id")?;
    let path = string_col(batch, "path")?;
    let headings = col::<ListArray>(batch, "heading_path")?;
    let start = col::<UInt32Array>(batch, "start_line")?;
    let end = col::<UInt32Array>(batch, "end_line")?;
    let text = string_col(batch, "text")?;
    let text_hash = batch
        .column_by_name("text_hash")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>());
    let score = batch
        .column_by_name("_score")
        .and_then(|c| c.as_any().downcast_ref::<Float32Array>());
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let list = headings.value(i);
        let list = list
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| anyhow!("heading_path has an unexpected type"))?;
        out.push(SectionHit {
            id: id.value(i).to_string(),
            path: path.value(i).to_string(),
            heading_path: (0..list.len()).map(|j| list.value(j).to_string()).collect(),
            start_line: start.value(i),
            end_line: end.value(i),
            text: text.value(i).to_string(),
            text_hash: text_hash
                .map(|h| h.value(i).to_string())
                .unwrap_or_default(),
            score: score.map(|s| s.value(i)).unwrap_or(0.0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_keys_round_trip() {
        for text in ["", "本文", "another text"] {
            let hex = content_hash(text.as_bytes());
            assert_eq!(hex.len(), 32);
            assert_eq!(hash_hex(hash_key(&hex)), hex);
        }
        assert_ne!(hash_key("not hex"), hash_key("also not hex"));
    }

    #[test]
    fn sql_strings_escape_quotes() {
        assert_eq!(sql_string("it's"), "'it''s'");
    }
}
