//! The indexing pipeline: walk → read/split → write, stages joined by bounded channels.
//!
//! ```text
//!  walker thread ──files──▶ N readers (rayon) ──parsed files──▶ writer (this thread)
//!   (sorted walk,            (read, decode, hash,               (batches of whole files,
//!    size+mtime check)        split into sections)               streamed into appends that
//!                                                                commit every 250k rows)
//! ```
//! Channels are bounded, so a slow writer slows the readers and the walk: memory holds at
//! most a channel's worth of files plus a few 4,096-row batches, whatever the size of the tree.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::bounded;
use tokio::runtime::Handle;

use futures::TryStreamExt;

use crate::decode::{decode, SkipReason};
use crate::discover::{walk, FoundFile, WalkOptions};
use crate::embed::resolve::{how_to_get_model, resolve};
use crate::embed::{EmbedOptions, Embedder};
use crate::markdown::{split, SplitOptions};
use crate::progress::Progress;
use crate::store::{
    content_hash, hash_hex, hash_key, sql_string, Append, FileRows, FileState, HashKey,
    IndexSettings, RunSummary, SkippedFile, Store, StoreLimits,
};

#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub root: PathBuf,
    pub db_dir: PathBuf,
    pub globs: Vec<String>,
    pub follow_links: bool,
    /// Files larger than this are skipped with a warning.
    pub max_file_bytes: u64,
    pub split: SplitOptions,
    /// Reader tasks (at most the rayon pool's threads).
    pub threads: usize,
    /// An append is committed when it holds this many sections…
    pub batch_rows: usize,
    /// …or this many bytes of text.
    pub batch_bytes: usize,
    pub store: StoreLimits,
    /// Which model embeds the sections; `None`: keyword index only (`--no-embed`).
    pub embed: Option<EmbedConfig>,
}

#[derive(Debug, Clone)]
pub struct EmbedConfig {
    /// A model directory or a hub id.
    pub model: String,
    /// The name recorded for the model (default: `model`).
    pub id: String,
    pub options: EmbedOptions,
    /// Whether a missing model may be downloaded.
    pub download: bool,
    /// Texts per embedding call and vectors per commit.
    pub texts_per_call: usize,
    pub vectors_per_commit: usize,
}

impl EmbedConfig {
    pub fn new(model: &str) -> Self {
        EmbedConfig {
            model: model.to_string(),
            id: model.to_string(),
            options: EmbedOptions {
                batch_tokens: 16 * 512,
                ..Default::default()
            },
            download: std::env::var_os("HF_HUB_OFFLINE").is_none_or(|v| v.is_empty() || v == "0"),
            texts_per_call: 256,
            vectors_per_commit: 8192,
        }
    }
}

impl IndexOptions {
    pub fn new(root: PathBuf, db_dir: PathBuf) -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        IndexOptions {
            root,
            db_dir,
            globs: Vec::new(),
            follow_links: false,
            max_file_bytes: 8 << 20,
            split: SplitOptions::default(),
            threads,
            batch_rows: 250_000,
            batch_bytes: 256 << 20,
            store: StoreLimits {
                threads,
                ..StoreLimits::default()
            },
            embed: None,
        }
    }
}

impl IndexOptions {
    /// The settings a later run (`serve`, `watch`) repeats.
    pub fn settings(&self) -> IndexSettings {
        IndexSettings {
            globs: self.globs.clone(),
            follow_links: self.follow_links,
            max_file_bytes: self.max_file_bytes,
            max_section_chars: self.split.max_section_chars,
            embed: self.embed.is_some(),
        }
    }

    /// Options that re-run the last index of `db_dir` as it was run: same root, settings and
    /// model (loaded from where it was found, never downloaded).
    pub fn from_index(db_dir: &Path, threads: usize, store: StoreLimits) -> Result<IndexOptions> {
        let meta = crate::store::read_meta(db_dir)?;
        let root = meta.root.clone().ok_or_else(|| {
            anyhow!(
                "{} records no indexed root; run `sagasu index ROOT` first",
                db_dir.display()
            )
        })?;
        let mut opts = IndexOptions::new(root, db_dir.to_path_buf());
        opts.threads = threads;
        opts.store = store;
        let settings = meta.settings.clone().unwrap_or_else(|| opts.settings());
        opts.globs = settings.globs;
        opts.follow_links = settings.follow_links;
        opts.max_file_bytes = settings.max_file_bytes;
        opts.split.max_section_chars = settings.max_section_chars;
        if let (true, Some(info), Some(dir)) = (settings.embed, &meta.model, &meta.model_dir) {
            let mut cfg = EmbedConfig::new(&dir.to_string_lossy());
            cfg.download = false;
            cfg.id = info.id.clone();
            cfg.options.query_prefix = Some(info.query_prefix.clone());
            cfg.options.doc_prefix = Some(info.doc_prefix.clone());
            cfg.options.max_tokens = Some(info.max_tokens);
            opts.embed = Some(cfg);
        }
        Ok(opts)
    }
}

/// What a reader made of one file.
enum Outcome {
    /// Same content as indexed: nothing to write.
    Unchanged(String),
    /// New or changed: replace whatever the index holds for this path.
    Parsed { rows: FileRows, had_rows: bool },
    /// Not indexed. `keep_old`: a passing read error keeps the rows already indexed.
    Skipped {
        path: String,
        reason: SkipReason,
        keep_old: bool,
    },
}

/// Holds the index's writer lock for the life of a run: one writer per index at a time.
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    pub fn acquire(db_dir: &std::path::Path) -> Result<WriterLock> {
        std::fs::create_dir_all(db_dir)
            .with_context(|| format!("cannot create {}", db_dir.display()))?;
        let path = db_dir.join("writer.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(anyhow!(
                "another sagasu process is writing to {} (lock {}); wait for it to finish",
                db_dir.display(),
                path.display()
            )),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

/// Runs one incremental index of `opts.root` into `opts.db_dir`.
pub fn run_index(opts: &IndexOptions, runtime: &Handle, progress: &Progress) -> Result<RunSummary> {
    Indexer::new(opts.clone(), runtime, progress)?.run(runtime, progress)
}

/// Index runs that share one loaded model: `watch` and `serve` keep one and run it on every
/// change, instead of loading the model each time.
pub struct Indexer {
    opts: IndexOptions,
    /// The model and the directory it was loaded from; `None`: keyword index only.
    model: Option<(Embedder, PathBuf)>,
}

impl Indexer {
    /// Loads the model first: a broken model directory fails here, before anything is written.
    pub fn new(opts: IndexOptions, runtime: &Handle, progress: &Progress) -> Result<Indexer> {
        let model = match &opts.embed {
            Some(cfg) => load_embedder(cfg, runtime, progress)?,
            None => None,
        };
        Ok(Indexer { opts, model })
    }

    pub fn options(&self) -> &IndexOptions {
        &self.opts
    }

    /// One incremental run: reads new and changed files, removes deleted ones, fills vectors.
    pub fn run(&self, runtime: &Handle, progress: &Progress) -> Result<RunSummary> {
        run_once(&self.opts, self.model.as_ref(), runtime, progress)
    }
}

fn run_once(
    opts: &IndexOptions,
    embedder: Option<&(Embedder, PathBuf)>,
    runtime: &Handle,
    progress: &Progress,
) -> Result<RunSummary> {
    let started = Instant::now();
    let root = opts
        .root
        .canonicalize()
        .with_context(|| format!("cannot open root {}", opts.root.display()))?;
    let _lock = WriterLock::acquire(&opts.db_dir)?;
    let mut store = runtime.block_on(Store::open(&opts.db_dir, true, opts.store))?;
    if store.outdated_table_dropped {
        progress.warn(&format!(
            "note: {} was made by an older sagasu; rebuilding its sections from the tree",
            opts.db_dir.display()
        ));
    }
    let mut meta = store.read_meta()?;
    if let Some(old_root) = &meta.root {
        if old_root != &root {
            progress.warn(&format!(
                "note: {} indexed {} before; it now indexes {}",
                opts.db_dir.display(),
                old_root.display(),
                root.display()
            ));
        }
    }
    meta.root = Some(root.clone());
    meta.settings = Some(opts.settings());
    // Record the root before the first commit, so a killed first run is still a valid index.
    store.write_meta(&meta)?;
    let manifest = Arc::new(runtime.block_on(store.manifest())?);

    let (file_tx, file_rx) = bounded::<(FoundFile, Option<FileState>)>(256);
    let (out_tx, out_rx) = bounded::<Outcome>(64);

    let walk_opts = WalkOptions {
        root: root.clone(),
        globs: opts.globs.clone(),
        exclude_dirs: vec![opts.db_dir.clone()],
        follow_links: opts.follow_links,
    };
    let mut summary = RunSummary::default();
    let mut skipped: Vec<SkippedFile> = Vec::new();
    let mut seen: HashSet<String> = HashSet::with_capacity(manifest.len());
    let mut writer = SectionWriter::new(runtime, opts.batch_rows, opts.batch_bytes);

    let result: Result<Vec<crate::discover::WalkWarning>> = std::thread::scope(|scope| {
        let walker = {
            let manifest = Arc::clone(&manifest);
            let out_tx = out_tx.clone();
            let walk_opts = &walk_opts;
            std::thread::Builder::new()
                .name("sagasu-walk".into())
                .spawn_scoped(scope, move || {
                    walk(walk_opts, |file| {
                        progress.found_file();
                        let old = manifest.get(&file.rel_path);
                        if let Some(state) = old {
                            if !state.inconsistent
                                && state.file_size == file.size
                                && state.mtime_ns == file.mtime_ns
                            {
                                return out_tx.send(Outcome::Unchanged(file.rel_path)).is_ok();
                            }
                        }
                        file_tx.send((file, old.cloned())).is_ok()
                    })
                })
                .context("starting the walker thread")?
        };
        // Readers run on the rayon pool, which later runs the encoder: one pool for the CPU
        // stages, never two alive at once (see `ThreadBudget`).
        let readers = opts.threads.clamp(1, rayon::current_num_threads());
        let consumed: Result<()> = rayon::in_place_scope(|pool| {
            // Owned here, so an early error return drops it and unblocks the readers.
            let out_rx = out_rx;
            for _ in 0..readers {
                let file_rx = file_rx.clone();
                let out_tx = out_tx.clone();
                let split_opts = opts.split;
                let max = opts.max_file_bytes;
                pool.spawn(move |_| {
                    for (file, old) in file_rx {
                        if out_tx.send(read_file(file, old, max, split_opts)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(out_tx);
            drop(file_rx);
            for outcome in out_rx.iter() {
                summary.files_seen += 1;
                match outcome {
                    Outcome::Unchanged(path) => {
                        summary.files_unchanged += 1;
                        seen.insert(path);
                        progress.file_done(0);
                    }
                    Outcome::Skipped {
                        path,
                        reason,
                        keep_old,
                    } => {
                        summary.files_skipped += 1;
                        progress.warn(&format!("skipped {path}: {reason}"));
                        if keep_old {
                            seen.insert(path.clone());
                        }
                        skipped.push(SkippedFile {
                            path,
                            reason: reason.to_string(),
                        });
                        progress.file_done(0);
                    }
                    Outcome::Parsed { rows, had_rows } => {
                        summary.files_indexed += 1;
                        seen.insert(rows.path.clone());
                        progress.file_done(rows.sections.len() as u64);
                        writer.push(rows, had_rows, &mut store)?;
                    }
                }
            }
            Ok(())
        });
        consumed?;
        walker
            .join()
            .map_err(|_| anyhow!("the walker thread panicked"))?
    });
    let warnings = result?;
    for w in &warnings {
        let path = w
            .path
            .as_ref()
            .map(|p| format!("{}: ", p.display()))
            .unwrap_or_default();
        progress.warn(&format!("walk: {path}{}", w.message));
    }
    summary.sections_written += writer.finish(&mut store)? as u64;

    let mut removed: Vec<String> = manifest
        .keys()
        .filter(|p| !seen.contains(*p))
        .cloned()
        .collect();
    removed.sort();
    summary.files_removed = removed.len() as u64;
    if !removed.is_empty() {
        runtime.block_on(store.delete_paths(&removed))?;
    }
    progress.set_message("optimizing");
    runtime.block_on(store.maintain(false))?;
    // Keyword search is complete from here on; vectors follow.
    if let Some((embedder, dir)) = embedder {
        let info = embedder.info().clone();
        let reset = meta.model.as_ref().is_some_and(|m| m.key() != info.key());
        if reset {
            progress.warn(&format!(
                "the model changed ({}): re-embedding every section",
                info.id
            ));
        }
        runtime.block_on(store.prepare_vectors(info.dim, reset))?;
        meta.model = Some(info);
        meta.model_dir = Some(dir.clone());
        store.write_meta(&meta)?;
        let cfg = opts
            .embed
            .as_ref()
            .ok_or_else(|| anyhow!("embedding without a config"))?;
        // Keys only (16 bytes each): which texts exist, which have a vector.
        let sections = runtime.block_on(store.section_hashes(None))?;
        let have = runtime.block_on(store.vector_hashes())?;
        let orphans: Vec<HashKey> = have.difference(&sections).copied().collect();
        summary.vectors_written = runtime.block_on(fill_vectors(
            &mut store, embedder, cfg, progress, &sections, have,
        ))?;
        drop(sections);
        runtime.block_on(store.delete_vectors(&orphans))?;
        if store.commits > 0 {
            runtime.block_on(store.maintain_vectors())?;
        }
    }

    summary.commits = store.commits;
    progress.sample();
    summary.max_threads = progress.max_threads();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.finished_at = now_rfc3339();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    meta.skipped = skipped;
    meta.last_run = Some(summary.clone());
    store.write_meta(&meta)?;
    Ok(summary)
}

/// Resolves and loads the model. `Ok(None)`: no model to be had (not broken, just absent):
/// the run goes on keyword-only after saying how to get one.
fn load_embedder(
    cfg: &EmbedConfig,
    runtime: &Handle,
    progress: &Progress,
) -> Result<Option<(Embedder, PathBuf)>> {
    let dir = match resolve(&cfg.model, cfg.download, runtime) {
        Ok(dir) => dir,
        Err(e) if !std::path::Path::new(&cfg.model).exists() => {
            progress.warn(&how_to_get_model(&cfg.model, &format!("{e:#}")));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let embedder = Embedder::load(&dir, &cfg.id, &cfg.options)?;
    // Recorded in sagasu.json for `search`, which may run from any directory.
    let dir = dir.canonicalize().unwrap_or(dir);
    Ok(Some((embedder, dir)))
}

/// Up to this many texts without a vector are read by hash; more, by one scan of every
/// section (a watch run that changed one file reads one text, not the whole table).
const READ_MISSING_BY_HASH: usize = 4096;

/// Embeds every section text that has no vector yet, once per distinct text, committing
/// every `vectors_per_commit` vectors: a killed run resumes where its last commit ended.
/// `sections`: the distinct text hashes of the sections; `have`: those with a vector.
async fn fill_vectors(
    store: &mut Store,
    embedder: &Embedder,
    cfg: &EmbedConfig,
    progress: &Progress,
    sections: &HashSet<HashKey>,
    mut have: HashSet<HashKey>,
) -> Result<u64> {
    let mut missing: Vec<HashKey> = Vec::new();
    for k in sections {
        if !have.contains(k) {
            missing.push(*k);
            if missing.len() > READ_MISSING_BY_HASH {
                break;
            }
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    let filters: Vec<Option<String>> = if missing.len() <= READ_MISSING_BY_HASH {
        missing
            .chunks(1000)
            .map(|chunk| {
                let list: Vec<String> = chunk.iter().map(|k| sql_string(&hash_hex(*k))).collect();
                Some(format!("text_hash IN ({})", list.join(", ")))
            })
            .collect()
    } else {
        vec![None]
    };
    drop(missing);
    let mut out = VectorBatch {
        store,
        embedder,
        cfg,
        progress,
        todo: Vec::new(),
        hashes: Vec::new(),
        vectors: Vec::new(),
        written: 0,
        started: Instant::now(),
    };
    for filter in &filters {
        let mut stream = out.store.section_texts(filter.as_deref()).await?;
        while let Some(batch) = stream.try_next().await.context("reading section texts")? {
            let hashes = text_col(&batch, "text_hash")?;
            let texts = text_col(&batch, "text")?;
            for i in 0..batch.num_rows() {
                if have.insert(hash_key(hashes.value(i))) {
                    out.todo
                        .push((hashes.value(i).to_string(), texts.value(i).to_string()));
                }
            }
            out.embed(false).await?;
        }
    }
    out.embed(true).await?;
    out.commit().await?;
    Ok(out.written)
}

/// Texts waiting to be embedded and vectors waiting to be committed.
struct VectorBatch<'a> {
    store: &'a mut Store,
    embedder: &'a Embedder,
    cfg: &'a EmbedConfig,
    progress: &'a Progress,
    todo: Vec<(String, String)>,
    hashes: Vec<String>,
    vectors: Vec<Vec<f32>>,
    written: u64,
    started: Instant,
}

impl VectorBatch<'_> {
    /// Embeds `todo` in calls of `texts_per_call` (all of it when `all`), committing every
    /// `vectors_per_commit` vectors.
    async fn embed(&mut self, all: bool) -> Result<()> {
        while self.todo.len() >= self.cfg.texts_per_call || (all && !self.todo.is_empty()) {
            let n = self.todo.len().min(self.cfg.texts_per_call);
            let chunk: Vec<(String, String)> = self.todo.drain(..n).collect();
            let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
            let vectors = self.embedder.embed_documents(&texts)?;
            self.hashes.extend(chunk.into_iter().map(|(h, _)| h));
            self.vectors.extend(vectors);
            let total = self.written as usize + self.hashes.len();
            let rate = total as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            self.progress
                .set_message(&format!("embedding: {total} vectors ({rate:.0}/s)"));
            if self.hashes.len() >= self.cfg.vectors_per_commit {
                self.commit().await?;
            }
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        self.store.add_vectors(&self.hashes, &self.vectors).await?;
        self.written += self.hashes.len() as u64;
        self.hashes.clear();
        self.vectors.clear();
        Ok(())
    }
}

fn text_col<'a>(
    batch: &'a arrow_array::RecordBatch,
    name: &str,
) -> Result<&'a arrow_array::StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<arrow_array::StringArray>())
        .ok_or_else(|| anyhow!("column {name} missing or not text"))
}

/// Rows per batch sent to an open append (and at most this many pending in the indexing
/// thread): small enough to keep memory flat, large enough for Arrow.
const STREAM_ROWS: usize = 4096;
const STREAM_BYTES: usize = 4 << 20;

/// Streams parsed files into appends of `commit_rows` rows or `commit_bytes` bytes each: the
/// commit count grows with the data, never with the file count, and each commit is one
/// fragment, so a full index needs no compaction.
struct SectionWriter<'a> {
    runtime: &'a Handle,
    commit_rows: usize,
    commit_bytes: usize,
    /// Whole files not yet sent, and their size.
    pending: Vec<FileRows>,
    pending_rows: usize,
    pending_bytes: usize,
    /// Paths whose old rows go just before the open append commits.
    deletes: Vec<String>,
    append: Option<Append>,
    rows_committed: usize,
}

impl<'a> SectionWriter<'a> {
    fn new(runtime: &'a Handle, commit_rows: usize, commit_bytes: usize) -> Self {
        SectionWriter {
            runtime,
            commit_rows,
            commit_bytes,
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            deletes: Vec::new(),
            append: None,
            rows_committed: 0,
        }
    }

    /// Queues a parsed file; `had_rows`: the index holds an older version to replace.
    fn push(&mut self, rows: FileRows, had_rows: bool, store: &mut Store) -> Result<()> {
        if had_rows {
            self.deletes.push(rows.path.clone());
        }
        self.pending_rows += rows.sections.len();
        self.pending_bytes += rows.approx_bytes();
        self.pending.push(rows);
        if self.pending_rows >= STREAM_ROWS.min(self.commit_rows)
            || self.pending_bytes >= STREAM_BYTES
        {
            self.send(store)?;
        }
        Ok(())
    }

    /// Sends the pending files as one batch, committing when the append is full.
    fn send(&mut self, store: &mut Store) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let append = match &mut self.append {
            Some(a) => a,
            None => self.append.insert(store.begin_append(self.runtime)?),
        };
        append.send(&self.pending, self.pending_bytes)?;
        self.pending.clear();
        (self.pending_rows, self.pending_bytes) = (0, 0);
        if append.rows >= self.commit_rows || append.bytes >= self.commit_bytes {
            self.commit(store)?;
        }
        Ok(())
    }

    /// Commits the stale rows' deletion, then the open append: a reader sees a changed file
    /// old, new, or (between those two commits) not at all, never half. A kill between them
    /// leaves those files absent, and the next run adds them back.
    fn commit(&mut self, store: &mut Store) -> Result<()> {
        if !self.deletes.is_empty() {
            self.runtime.block_on(store.delete_paths(&self.deletes))?;
            self.deletes.clear();
        }
        if let Some(append) = self.append.take() {
            self.rows_committed += append.rows;
            self.runtime.block_on(append.commit(store))?;
        }
        Ok(())
    }

    /// Sends and commits what is left; returns the rows written by this writer.
    fn finish(mut self, store: &mut Store) -> Result<usize> {
        self.send(store)?;
        self.commit(store)?;
        Ok(self.rows_committed)
    }
}

fn read_file(
    file: FoundFile,
    old: Option<FileState>,
    max_bytes: u64,
    split_opts: SplitOptions,
) -> Outcome {
    let had_rows = old.is_some();
    let path = file.rel_path;
    if file.size > max_bytes {
        return Outcome::Skipped {
            path,
            reason: SkipReason::TooLarge {
                size: file.size,
                limit: max_bytes,
            },
            keep_old: false,
        };
    }
    let bytes = match std::fs::read(&file.abs_path) {
        Ok(b) => b,
        Err(e) => {
            return Outcome::Skipped {
                path,
                reason: SkipReason::Unreadable(e.to_string()),
                keep_old: true,
            }
        }
    };
    let file_hash = content_hash(&bytes);
    if let Some(old) = &old {
        if !old.inconsistent && old.file_hash == file_hash {
            return Outcome::Unchanged(path);
        }
    }
    let text = match decode(&bytes) {
        Ok(d) => d.text,
        Err(reason) => {
            return Outcome::Skipped {
                path,
                reason,
                keep_old: false,
            }
        }
    };
    drop(bytes);
    let doc = split(&text, split_opts);
    Outcome::Parsed {
        rows: FileRows::new(path, file_hash, file.size, file.mtime_ns, doc),
        had_rows,
    }
}

/// Current UTC time as RFC 3339.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
