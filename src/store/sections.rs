//! Reads and writes of the `sections` table: the manifest of indexed files, streaming
//! appends, deletions, full-text search and lookups by text hash.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{Array, Float32Array, Int64Array, LargeBinaryArray, RecordBatch, UInt64Array};
use futures::{StreamExt, TryStreamExt};
use lance::dataset::transaction::{Operation, Transaction, UpdateMode};
use lance::dataset::{CommitBuilder, DeleteBuilder, InsertBuilder, WriteMode, WriteParams};
use lance::Dataset;
use lancedb::arrow::SendableRecordBatchStreamExt;
use lancedb::index::scalar::{FtsQuery, FullTextSearchQuery, MatchQuery, Operator};
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::Table;

use super::codec::{
    col, heading_paths, hit_columns, hits_from_batch, rows_to_batch, string_col, FileRows,
    FoundSection, CANDIDATE_COLUMNS, ROW_ID, SCORE,
};
use super::error::{LanceContext, Result, StoreError};
use super::filter::PageList;
use super::schema::{columns, sections_schema, SECTIONS_TABLE};
use super::{Filter, Store};
use crate::hash::{hash_key, HashKey};
use crate::ingest::document::embedding_input;

/// A page list is tested on a deeper full-text search only when that search need not be
/// deeper than this many times the candidates asked for (with [`POST_FILTER_SLACK`]: a list
/// letting through 3/16 of the pages or more); a shorter list costs LanceDB less.
const POST_FILTER_MAX_DEPTH: usize = 8;

/// How much deeper than the share of pages passing says the search goes, so that a page list
/// passing fewer of the best sections than of all pages still fills the candidates.
const POST_FILTER_SLACK: f64 = 1.5;

/// Most values one `IN (…)` filter lists: deletions and lookups go in chunks of this many.
pub const FILTER_CHUNK: usize = 1000;

/// What the index knows about a file, to decide whether to re-read it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileState {
    pub file_hash: String,
    pub file_size: u64,
    pub mtime_ns: i64,
    /// Rows of this path disagree (left by an older crash or a bug): re-index it from scratch.
    pub inconsistent: bool,
}

/// What the embed stage reads of a section: the model's input
/// ([`crate::ingest::document::embedding_input`]) and its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionText {
    pub hash: String,
    pub text: String,
}

/// Which query words a full-text match needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Every word (the caller falls back to [`Match::AnyWord`] for the rest).
    EveryWord,
    AnyWord,
}

/// An append in progress (see [`Store::begin_append`]): its data files are written as batches
/// arrive; nothing is visible until [`Append::commit`].
pub struct Append {
    /// The collection whose files this append writes.
    collection: String,
    tx: tokio::sync::mpsc::Sender<RecordBatch>,
    /// Writes the data files; yields the append that adds them, not yet committed.
    task: tokio::task::JoinHandle<Result<Transaction>>,
    runtime: tokio::runtime::Handle,
    /// Rows and text bytes sent so far.
    pub rows: usize,
    pub bytes: usize,
}

impl Append {
    /// Sends whole files (of `bytes` approximate size) as one batch; blocks while the writer
    /// is two batches behind. Call from outside the runtime (the indexing thread).
    pub fn send(&mut self, files: &[FileRows], bytes: usize) -> Result<()> {
        let batch = rows_to_batch(&self.collection, files)?;
        self.rows += batch.num_rows();
        self.bytes += bytes;
        if self.tx.blocking_send(batch).is_err() {
            // The write ended early: its error says why.
            return match self.runtime.block_on(&mut self.task) {
                Ok(Err(e)) => Err(e),
                _ => Err(stopped()),
            };
        }
        Ok(())
    }

    /// Ends the stream and commits the new rows together with the deletion of every older row
    /// of `replaced` (paths of the append's collection): one version, so a reader sees each
    /// of those files as it was or as it is now, never absent and never twice.
    pub async fn commit(self, store: &mut Store, replaced: &[String]) -> Result<()> {
        drop(self.tx);
        let written = self.task.await.map_err(|_| stopped())??;
        let replaced = (!replaced.is_empty()).then(|| Filter::Files {
            collection: self.collection.clone(),
            paths: replaced.to_vec(),
        });
        store.replace_rows(written, replaced).await?;
        store.commits += 1;
        Ok(())
    }
}

/// A file as the index holds it.
pub struct StoredFile {
    /// The hash of the bytes ([`crate::hash::content_hash`]).
    pub file_hash: String,
    /// The bytes, when asked for.
    pub bytes: Option<Vec<u8>>,
}

fn stopped() -> StoreError {
    StoreError::Internal {
        doing: "writing sections".into(),
        message: "the section writer stopped".into(),
    }
}

/// The Lance dataset under a LanceDB table, as the table has it open (every table sagasu
/// opens is a local or object store one, never a remote LanceDB server).
/// Filters whose pages [`Store::pages`] keeps per version: a search names a few, an agent
/// repeats them.
const SELECTIONS_KEPT: usize = 64;

/// Pages selected by filters at one version of the sections table.
#[derive(Default)]
pub(super) struct Selections {
    version: u64,
    pages: HashMap<String, Arc<Vec<u64>>>,
}

impl Selections {
    fn get(&self, version: u64, key: &str) -> Option<Arc<Vec<u64>>> {
        (self.version == version)
            .then(|| self.pages.get(key).cloned())
            .flatten()
    }

    fn put(&mut self, version: u64, key: String, pages: Arc<Vec<u64>>) {
        if self.version != version || self.pages.len() >= SELECTIONS_KEPT {
            self.pages.clear();
            self.version = version;
        }
        self.pages.insert(key, pages);
    }
}

pub(super) async fn dataset_of(table: &Table, doing: &str) -> Result<Arc<Dataset>> {
    let Some(wrapper) = table.dataset() else {
        return Err(StoreError::Internal {
            doing: doing.into(),
            message: format!("table {} is not a Lance table", table.name()),
        });
    };
    wrapper.get().await.doing(doing)
}

/// `columns` of the given rows of `table`, in the order asked. Lance's take by row id reads
/// just those rows (LanceDB's `take_row_ids` filters a scan).
pub(super) async fn take_rows(
    table: &Table,
    row_ids: &[u64],
    columns: &[&str],
    doing: &str,
) -> Result<RecordBatch> {
    let dataset = dataset_of(table, doing).await?;
    let projection = dataset.schema().project(columns).doing(doing)?;
    // A long-lived handle may have moved to a newer version since the rows were found
    // (a compaction since then removed their fragments): such rows vanished, and a
    // fresh search finds them anew. Checked on the snapshot the take then reads; row
    // ids are addresses (fragment << 32 | offset) in a table without stable row ids,
    // which is how sagasu makes its tables.
    let live: HashSet<u64> = dataset.fragments().iter().map(|f| f.id).collect();
    let addresses = !dataset.manifest.uses_stable_row_ids();
    if let Some(gone) = row_ids
        .iter()
        .find(|r| addresses && !live.contains(&(*r >> 32)))
    {
        return Err(StoreError::Vanished {
            doing: doing.to_string(),
            message: format!(
                "fragment {} of a found row is gone (the index changed since the search)",
                gone >> 32
            ),
        });
    }
    let batch = dataset.take_rows(row_ids, projection).await.doing(doing)?;
    if batch.num_rows() != row_ids.len() {
        // Rows compacted away since they were found: a fresh search finds them anew.
        return Err(StoreError::Vanished {
            doing: doing.to_string(),
            message: format!(
                "{} of {} rows are gone",
                row_ids.len() - batch.num_rows(),
                row_ids.len()
            ),
        });
    }
    Ok(batch)
}

impl Store {
    /// Every indexed file of `collection` with its size, mtime and hash, read from the first
    /// row of each file.
    pub async fn manifest(&self, collection: &str) -> Result<HashMap<String, FileState>> {
        let mut out: HashMap<String, FileState> = HashMap::new();
        let Some(table) = &self.sections else {
            return Ok(out);
        };
        let doing = "reading the file manifest";
        let mut stream = table
            .query()
            .only_if_expr(
                Filter::collection(collection)
                    .and(Filter::FirstSections)
                    .expr(),
            )
            .select(Select::columns(&[
                columns::PATH,
                columns::FILE_HASH,
                columns::FILE_SIZE,
                columns::MTIME_NS,
            ]))
            .execute()
            .await
            .doing(doing)?;
        while let Some(batch) = stream.try_next().await.doing(doing)? {
            let path = string_col(&batch, columns::PATH)?;
            let hash = string_col(&batch, columns::FILE_HASH)?;
            let size = col::<UInt64Array>(&batch, columns::FILE_SIZE)?;
            let mtime = col::<Int64Array>(&batch, columns::MTIME_NS)?;
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
    /// a couple of batches in memory at a time. The data files are written through Lance
    /// directly (LanceDB's `add` commits on its own), so that the commit can also carry
    /// deletions.
    pub fn begin_append(
        &self,
        runtime: &tokio::runtime::Handle,
        collection: &str,
    ) -> Result<Append> {
        let (tx, rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|batch| (Ok(batch), rx))
        });
        let stream: lancedb::arrow::SendableRecordBatchStream =
            Box::pin(lancedb::arrow::SimpleRecordBatchStream {
                schema: sections_schema(),
                stream,
            });
        let table = self.sections()?.clone();
        let doing = format!("writing sections to {}", self.at);
        let task = runtime.spawn(async move {
            let dataset = dataset_of(&table, &doing).await?;
            let params = WriteParams {
                mode: WriteMode::Append,
                ..Default::default()
            };
            InsertBuilder::new(dataset)
                .with_params(&params)
                .execute_uncommitted_stream(stream.into_df_stream())
                .await
                .doing(&doing)
        });
        Ok(Append {
            collection: collection.to_string(),
            tx,
            task,
            runtime: runtime.clone(),
            rows: 0,
            bytes: 0,
        })
    }

    /// Commits `written` (an uncommitted append) and the deletion of every row of `replaced`
    /// as one version of the sections table.
    async fn replace_rows(&mut self, written: Transaction, replaced: Option<Filter>) -> Result<()> {
        let doing = "committing sections";
        let Operation::Append { fragments } = written.operation else {
            return Err(StoreError::Internal {
                doing: doing.into(),
                message: "the write did not produce an append".into(),
            });
        };
        let table = self.sections()?;
        let dataset = dataset_of(table, doing).await?;
        let mut commit = CommitBuilder::new(dataset.clone());
        let (updated_fragments, removed_fragment_ids) = if let Some(replaced) = replaced {
            let filter = replaced.expr();
            let delete = DeleteBuilder::from_expr(dataset.clone(), filter)
                .execute_uncommitted()
                .await
                .doing("finding the rows of changed files")?;
            if let Some(rows) = delete.affected_rows {
                commit = commit.with_affected_rows(rows);
            }
            match delete.transaction.operation {
                Operation::Delete {
                    updated_fragments,
                    deleted_fragment_ids,
                    ..
                } => (updated_fragments, deleted_fragment_ids),
                // Committing without the deletion would keep the old rows beside the new.
                other => {
                    return Err(StoreError::Internal {
                        doing: "finding the rows of changed files".into(),
                        message: format!("the delete produced a {} operation", other.name()),
                    })
                }
            }
        } else {
            (Vec::new(), Vec::new())
        };
        // Lance's own update (rows rewritten) has this shape: fragments that lose rows, whole
        // fragments removed, and new fragments, in one transaction.
        let operation = Operation::Update {
            removed_fragment_ids,
            updated_fragments,
            new_fragments: fragments,
            fields_modified: Vec::new(),
            compacted_sstables: Vec::new(),
            fields_for_preserving_frag_bitmap: Vec::new(),
            update_mode: Some(UpdateMode::RewriteRows),
            inserted_rows_filter: None,
            updated_fragment_offsets: None,
        };
        let transaction = Transaction::new(dataset.version().version, operation, None);
        // The lease is checked last, right before the commit: the window in which a writer
        // that is stopped can still commit after its term is this call alone.
        self.check_writer().await?;
        let committed = commit.execute(transaction).await.doing(doing)?;
        if let Some(wrapper) = table.dataset() {
            wrapper.update(committed);
        }
        Ok(())
    }

    /// The version of the sections table this handle reads, and when it was committed.
    pub async fn version(&self) -> Result<(u64, chrono::DateTime<chrono::Utc>)> {
        let dataset = dataset_of(self.sections()?, "reading the index version").await?;
        let v = dataset.version();
        Ok((v.version, v.timestamp))
    }

    /// Deletes every row of the given paths of `collection`, in commits of at most
    /// [`FILTER_CHUNK`] paths.
    pub async fn delete_paths(&mut self, collection: &str, paths: &[String]) -> Result<()> {
        for chunk in paths.chunks(FILTER_CHUNK) {
            self.delete_rows(&Filter::Files {
                collection: collection.to_string(),
                paths: chunk.to_vec(),
            })
            .await?;
        }
        Ok(())
    }

    /// Deletes every row of a collection, in one commit.
    pub async fn delete_collection(&mut self, collection: &str) -> Result<()> {
        self.delete_rows(&Filter::collection(collection)).await
    }

    async fn delete_rows(&mut self, filter: &Filter) -> Result<()> {
        self.check_writer().await?;
        self.sections()?
            .delete(&filter.expr())
            .await
            .doing("deleting stale sections")?;
        self.commits += 1;
        Ok(())
    }

    /// Rows matching `filter`, counted (one row per file with [`Filter::FirstSections`]).
    pub async fn count(&self, filter: &Filter) -> Result<u64> {
        let Some(table) = &self.sections else {
            return Ok(0);
        };
        let sql = filter.sql().doing("counting rows")?;
        Ok(table.count_rows(Some(sql)).await.doing("counting rows")? as u64)
    }

    /// The pages ([`crate::hash::page_key`]) with a row passing `filter`, each once, sorted.
    /// For front-matter conditions that must hold, only first sections pass (nothing else
    /// has front matter), so no test of `ordinal` is needed: with one, LanceDB took every
    /// first section to test list columns on it, 5× slower than a scan for a date range.
    ///
    /// A selection is kept for the version it was read at (at most [`SELECTIONS_KEPT`]):
    /// a comparison is a scan of the first sections (13 ms for a date range on cpp-docs-ja),
    /// which a long-lived reader (`serve`, `eval`) then pays once per version and filter, not
    /// once per search — what a search engine's filter cache does.
    pub async fn pages(&self, filter: &Filter) -> Result<Arc<Vec<u64>>> {
        let Some(table) = &self.sections else {
            return Ok(Arc::default());
        };
        let doing = "selecting pages";
        let version = dataset_of(table, doing).await?.version().version;
        let key = format!("{filter:?}");
        if let Some(pages) = self.selections.lock().unwrap().get(version, &key) {
            return Ok(pages);
        }
        let q = table
            .query()
            .only_if_expr(filter.expr())
            .select(Select::columns(&[columns::PAGE]));
        let mut out = Vec::new();
        for b in collect(q, doing).await? {
            let pages = col::<UInt64Array>(&b, columns::PAGE)?;
            out.extend(pages.values().iter().copied());
        }
        out.sort_unstable();
        out.dedup();
        let out = Arc::new(out);
        self.selections
            .lock()
            .unwrap()
            .put(version, key, out.clone());
        Ok(out)
    }

    /// Whether any row passes `filter` (a front-matter key no page has: none does).
    pub async fn any(&self, filter: &Filter) -> Result<bool> {
        let q = self
            .sections()?
            .query()
            .only_if_expr(filter.expr())
            .select(Select::columns(&[columns::ID]))
            .limit(1);
        let batches = collect(q, "looking for a row").await?;
        Ok(batches.iter().any(|b| b.num_rows() > 0))
    }

    /// Full-text search over the `terms` column, the candidates read: [`Self::search_text_rows`]
    /// then [`Self::candidates_at`].
    pub async fn search_text(
        &self,
        terms: String,
        words: Match,
        filter: Option<&Filter>,
        limit: usize,
    ) -> Result<Vec<FoundSection>> {
        let ranked = self.search_text_rows(terms, words, filter, limit).await?;
        Ok(self.candidates_at(&ranked, false).await?.0)
    }

    /// Full-text search over the `terms` column: (BM25, row id) of each section found, best
    /// first. `terms`: the query's analysed terms (space-separated, as
    /// [`crate::ingest::terms::query_terms`] makes them).
    ///
    /// The fields are read by [`Self::candidates_at`], so that a caller that runs two queries
    /// (every word, then any word) reads the rows of both in one take, and the second's copies
    /// of the first's rows not at all: full-text queries asked for 200 took 3.7 ms p50 with
    /// their rows' fields and 1.0 without (cpp-docs-ja, 102,999 sections, a hybrid query's
    /// every-word and any-word queries, 200 description queries).
    ///
    /// A page list in `filter` that lets through enough of the pages (the search it needs is
    /// at most [`POST_FILTER_MAX_DEPTH`] times as deep) is tested here, on a deeper search
    /// without it, rather than by LanceDB: LanceDB plans and searches a list of thousands of
    /// pages for each query (+4.9 ms p50 for 2,463 pages, cpp-docs-ja in three collections),
    /// while 350 candidates' pages cost less than 50 candidates' fields (1.6 against 3.6 ms;
    /// ARCHITECTURE.md, "Collections and filters"). BM25 does not depend on the filter, so the
    /// result is the same, ties at the cut aside.
    pub async fn search_text_rows(
        &self,
        terms: String,
        words: Match,
        filter: Option<&Filter>,
        limit: usize,
    ) -> Result<Vec<(f32, u64)>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        if let Some((rest, list)) = filter.and_then(Filter::split_pages) {
            let total = self.pages(&Filter::FirstSections).await?.len();
            let depth = (limit as f64 * POST_FILTER_SLACK / list.share(total)).ceil();
            if depth <= (limit * POST_FILTER_MAX_DEPTH) as f64 {
                let depth = depth as usize;
                if let Some(ranked) = self
                    .search_text_then_pages(&terms, words, rest.as_ref(), &list, limit, depth)
                    .await?
                {
                    return Ok(ranked);
                }
                // Too few passed: LanceDB searches the list.
            }
        }
        let q = self.text_query(terms, words, filter, limit, &[])?;
        let mut ranked = Vec::new();
        for batch in collect(q, "running the full-text query").await? {
            let score = col::<Float32Array>(&batch, SCORE)?;
            let row = col::<UInt64Array>(&batch, ROW_ID)?;
            ranked.extend((0..batch.num_rows()).map(|i| (score.value(i), row.value(i))));
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(ranked)
    }

    /// The candidates at these ranked rows (BM25, row id; rows of the version the search
    /// read), in that order, by one take; with each one's stored terms when `with_terms`
    /// (empty otherwise).
    pub async fn candidates_at(
        &self,
        ranked: &[(f32, u64)],
        with_terms: bool,
    ) -> Result<(Vec<FoundSection>, Vec<String>)> {
        if ranked.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let rows: Vec<u64> = ranked.iter().map(|(_, r)| *r).collect();
        let mut wanted = CANDIDATE_COLUMNS.to_vec();
        if with_terms {
            wanted.push(columns::TERMS);
        }
        let batch = take_rows(self.sections()?, &rows, &wanted, "reading the candidates").await?;
        let mut hits = hits_from_batch(&batch)?;
        for (hit, (score, row)) in hits.iter_mut().zip(ranked) {
            hit.score = *score;
            hit.row_id = Some(*row);
        }
        let terms = if with_terms {
            let values = string_col(&batch, columns::TERMS)?;
            (0..batch.num_rows())
                .map(|i| values.value(i).to_string())
                .collect()
        } else {
            Vec::new()
        };
        Ok((hits, terms))
    }

    /// The full-text query for `terms`, its rows with `columns`, their row ids and scores.
    fn text_query(
        &self,
        terms: String,
        words: Match,
        filter: Option<&Filter>,
        limit: usize,
        columns: &[&str],
    ) -> Result<lancedb::query::Query> {
        let operator = match words {
            Match::EveryWord => Operator::And,
            Match::AnyWord => Operator::Or,
        };
        let fts = FullTextSearchQuery::new_query(FtsQuery::Match(
            MatchQuery::new(terms)
                .with_operator(operator)
                .with_column(Some(columns::TERMS.into())),
        ));
        let mut q = self
            .sections()?
            .query()
            .full_text_search(fts)
            .select(Select::columns(columns))
            .with_row_id()
            .limit(limit);
        if let Some(f) = filter {
            q = q.only_if_expr(f.expr());
        }
        Ok(q)
    }

    /// The best `limit` sections that `list` admits among the `depth` best under `rest`
    /// (BM25, row id; their pages read, not their fields); `None` when fewer than `limit` of
    /// them pass and there were more to search.
    async fn search_text_then_pages(
        &self,
        terms: &str,
        words: Match,
        rest: Option<&Filter>,
        list: &PageList,
        limit: usize,
        depth: usize,
    ) -> Result<Option<Vec<(f32, u64)>>> {
        let q = self.text_query(terms.to_string(), words, rest, depth, &[columns::PAGE])?;
        let mut kept: Vec<(f32, u64)> = Vec::new();
        let mut read = 0;
        for batch in collect(q, "running the full-text query").await? {
            let page = col::<UInt64Array>(&batch, columns::PAGE)?;
            let score = col::<Float32Array>(&batch, SCORE)?;
            let row = col::<UInt64Array>(&batch, ROW_ID)?;
            read += batch.num_rows();
            kept.extend(
                (0..batch.num_rows())
                    .filter(|&i| list.admits(page.value(i)))
                    .map(|i| (score.value(i), row.value(i))),
            );
        }
        if kept.len() < limit && read >= depth {
            return Ok(None);
        }
        kept.sort_by(|a, b| b.0.total_cmp(&a.0));
        kept.truncate(limit);
        Ok(Some(kept))
    }

    /// Reads the text of hits that lack it (full-text candidates), by row id in the version
    /// they were read from.
    pub async fn fill_texts(&self, mut hits: Vec<&mut FoundSection>) -> Result<()> {
        let ids: Vec<u64> = hits
            .iter()
            .filter(|h| h.text.is_empty())
            .filter_map(|h| h.row_id)
            .collect();
        let mut texts: HashMap<u64, String> = ids
            .iter()
            .copied()
            .zip(self.take_strings(&ids, columns::TEXT).await?)
            .collect();
        for h in hits.iter_mut().filter(|h| h.text.is_empty()) {
            if let Some(t) = h.row_id.and_then(|r| texts.remove(&r)) {
                h.text = t;
            }
        }
        Ok(())
    }

    /// The search terms of these rows (by row id, in the version they were read from), in
    /// the order asked.
    pub async fn terms_of(&self, row_ids: &[u64]) -> Result<Vec<String>> {
        self.take_strings(row_ids, columns::TERMS).await
    }

    /// One string column of the given rows, in the order asked.
    async fn take_strings(&self, row_ids: &[u64], column: &str) -> Result<Vec<String>> {
        if row_ids.is_empty() {
            return Ok(Vec::new());
        }
        let doing = format!("reading the results' {column}");
        let batch = take_rows(self.sections()?, row_ids, &[column], &doing).await?;
        let values = string_col(&batch, column)?;
        Ok((0..batch.num_rows())
            .map(|i| values.value(i).to_string())
            .collect())
    }

    /// Sections whose text has one of these hashes (optionally under a filter).
    pub async fn sections_by_hash(
        &self,
        hashes: &[String],
        filter: Option<&Filter>,
    ) -> Result<Vec<FoundSection>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let mut predicate = Filter::TextHashes(hashes.iter().map(|h| hash_key(h)).collect());
        if let Some(f) = filter {
            predicate = predicate.and(f.clone());
        }
        let q = self
            .sections()?
            .query()
            .only_if_expr(predicate.expr())
            .select(Select::columns(&hit_columns()));
        let batches = collect(q, "reading sections by hash").await?;
        let mut hits = Vec::new();
        for b in &batches {
            hits.extend(hits_from_batch(b)?);
        }
        Ok(hits)
    }

    /// The file `path` of `collection` as the index holds it: its hash, and with `bytes` its
    /// bytes as read (decompressed); `None` when the index has no rows of it.
    pub async fn stored_file(
        &self,
        collection: &str,
        path: &str,
        bytes: bool,
    ) -> Result<Option<StoredFile>> {
        let Some(table) = &self.sections else {
            return Ok(None);
        };
        let doing = "reading a document from the index";
        let q = table
            .query()
            .only_if_expr(
                Filter::file(collection, path)
                    .and(Filter::FirstSections)
                    .expr(),
            )
            .select(Select::columns(if bytes {
                &[columns::FILE_HASH, columns::RAW][..]
            } else {
                &[columns::FILE_HASH][..]
            }))
            .limit(1);
        let batches = collect(q, doing).await?;
        let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(None);
        };
        let bad = |message: String| StoreError::Codec {
            doing: doing.into(),
            message,
        };
        let file_hash = string_col(b, columns::FILE_HASH)?.value(0).to_string();
        if !bytes {
            return Ok(Some(StoredFile {
                file_hash,
                bytes: None,
            }));
        }
        let raw = col::<LargeBinaryArray>(b, columns::RAW)?;
        if raw.is_null(0) {
            return Err(bad(format!("{path}: the index holds no bytes of it")));
        }
        // Bytes that do not decompress are damage (a re-index writes them again).
        let bytes = zstd::stream::decode_all(raw.value(0)).map_err(|e| StoreError::File {
            path: self.at.label(&format!("{SECTIONS_TABLE}.lance")),
            message: format!("{path}: the stored bytes do not decompress ({e})"),
        })?;
        Ok(Some(StoredFile {
            file_hash,
            bytes: Some(bytes),
        }))
    }

    /// Distinct text hashes of the sections (optionally under a filter).
    pub async fn section_hashes(&self, filter: Option<&Filter>) -> Result<HashSet<HashKey>> {
        match &self.sections {
            Some(t) => text_hashes(t, filter).await,
            None => Ok(HashSet::new()),
        }
    }

    /// The `terms` of one section (the first the table yields), or "" when there is none.
    pub(super) async fn first_terms(&self) -> Result<String> {
        let q = self
            .sections()?
            .query()
            .select(Select::columns(&[columns::TERMS]))
            .limit(1);
        let batches = collect(q, "reading a section's terms").await?;
        match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) => Ok(string_col(b, columns::TERMS)?.value(0).to_string()),
            None => Ok(String::new()),
        }
    }

    /// Streams (text_hash, text) of the sections (under a filter), for the embedder.
    pub async fn section_texts(
        &self,
        filter: Option<&Filter>,
    ) -> Result<impl futures::Stream<Item = Result<Vec<SectionText>>> + Send + Unpin + use<>> {
        const DOING: &str = "reading section texts";
        let mut q = self.sections()?.query().select(Select::columns(&[
            columns::TEXT_HASH,
            columns::TEXT,
            columns::TITLE,
            columns::HEADING_PATH,
        ]));
        if let Some(f) = filter {
            q = q.only_if_expr(f.expr());
        }
        let batches = q.execute().await.doing(DOING)?;
        Ok(batches.map(|batch| {
            let batch = batch.doing(DOING)?;
            let hashes = string_col(&batch, columns::TEXT_HASH)?;
            let texts = string_col(&batch, columns::TEXT)?;
            let titles = string_col(&batch, columns::TITLE)?;
            let headings = heading_paths(&batch, DOING)?;
            Ok((0..batch.num_rows())
                .map(|i| SectionText {
                    hash: hashes.value(i).to_string(),
                    text: embedding_input(
                        (!titles.is_null(i)).then(|| titles.value(i)),
                        &headings[i],
                        texts.value(i),
                    ),
                })
                .collect())
        }))
    }
}

/// Runs a query and collects its batches; `doing` names it in errors.
pub(super) async fn collect(q: impl ExecutableQuery, doing: &str) -> Result<Vec<RecordBatch>> {
    q.execute()
        .await
        .doing(doing)?
        .try_collect()
        .await
        .doing(doing)
}

/// The distinct `text_hash` values of a table's rows (optionally under a filter), streamed.
pub(super) async fn text_hashes(
    table: &Table,
    filter: Option<&Filter>,
) -> Result<HashSet<HashKey>> {
    let doing = "reading text hashes";
    let mut q = table.query().select(Select::columns(&[columns::TEXT_HASH]));
    if let Some(f) = filter {
        q = q.only_if_expr(f.expr());
    }
    let mut out = HashSet::new();
    let mut stream = q.execute().await.doing(doing)?;
    while let Some(batch) = stream.try_next().await.doing(doing)? {
        let h = string_col(&batch, columns::TEXT_HASH)?;
        out.extend((0..batch.num_rows()).map(|i| hash_key(h.value(i))));
    }
    Ok(out)
}
