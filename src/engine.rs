//! An open index for readers: the one API the CLI and the MCP server call to search, read
//! documents and report stats.
//!
//! Every call takes `&self`: what a call reads is a [`View`] (the store, `sagasu.json` and the
//! models) held in an `Arc`, so calls run side by side (a reranked search does not hold up a
//! `get_document`). A long-lived engine (the MCP server) calls [`Engine::refresh`] before
//! each request: when an index run has rewritten `sagasu.json` since the view was opened, a
//! new view is opened (new tables, a new model if it changed) and swapped in; calls already
//! running finish on the old one. On object storage that look is a request, so it is made at
//! most once per refresh interval. Models load on tokio's blocking pool, never on a worker
//! that serves requests.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use sagasu_embed::resolve::{downloads_allowed, resolve};
use sagasu_embed::{Embedder, LoadOptions, ModelInfo, RerankOptions, Reranker};

use crate::hash::content_hash;
use crate::index::options::recorded_model;
use crate::index::ModelChoice;
use crate::ingest::format::Format;
use crate::search::{search, Mode, Models, SearchOptions, SearchResult, Where};
use crate::store::maintain::{MAX_FRAGMENTS, MAX_VERSIONS};
use crate::store::{
    read_meta, Access, Condition, Filter, IndexInfo, Location, Meta, Reads, RerankerSetting,
    RunSummary, SkippedFile, Store, StoreError, StoreOptions, Test, META_FILE,
};

/// How many times a search is tried on a freshly opened view when what it read vanished (a
/// concurrent run pruned the version it had open): a second race in a row is rare, a third
/// means the files are missing from the latest version too.
const VANISHED_TRIES: usize = 3;

/// The reader API: one opened index with its models, shared by the CLI and the MCP server.
/// Every call takes `&self` (an `Arc<Engine>` serves calls side by side); a refresh swaps the
/// opened version whole.
pub struct Engine {
    db: Location,
    options: StoreOptions,
    /// What calls read; swapped whole by a refresh.
    view: RwLock<Arc<View>>,
    /// When `sagasu.json`'s stamp was last compared; held while a new view opens, so one
    /// refresh opens it and the calls behind it find it done.
    checked: tokio::sync::Mutex<Instant>,
}

/// One opened version of the index, with the models that read it.
pub struct View {
    store: Arc<Store>,
    meta: Meta,
    /// `sagasu.json`'s stamp when it was read.
    stamp: Option<String>,
    embedder: Option<Arc<Embedder>>,
    /// Why the query model could not be loaded, when the index has vectors but no usable model.
    embedder_error: Option<String>,
    reranker: Option<Arc<Reranker>>,
}

impl View {
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }

    /// Why vector search is unavailable although the index has vectors (model missing, moved
    /// or changed): shown once by the CLI, returned by the MCP server.
    pub fn embedder_error(&self) -> Option<&str> {
        self.embedder_error.as_deref()
    }

    /// The models a search may use.
    pub fn models(&self) -> Models<'_> {
        Models {
            embedder: self.embedder.as_ref(),
            vector_mean: self.meta.vector_mean.as_ref().map(|m| &m.values[..]),
            reranker: self.reranker.as_ref(),
        }
    }
}

/// Which cross-encoder a reader reranks with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RerankChoice {
    /// The one the index records (`sagasu index --rerank`), if any.
    #[default]
    Recorded,
    /// A hub id or a directory.
    Model(String),
    /// None: the first stage's order stands.
    Off,
}

/// One collection, as `stats` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionStats {
    /// Its name (`search -c NAME`).
    pub name: String,
    /// The tree it indexes.
    pub root: PathBuf,
    /// Its indexed files.
    pub documents: u64,
    /// Their sections.
    pub sections: u64,
    /// The last run over it.
    pub last_run: Option<RunSummary>,
}

/// Everything `stats` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// The index location.
    pub db: String,
    /// The trees it indexes, each with its counts and last run.
    pub collections: Vec<CollectionStats>,
    /// Indexed files.
    pub documents: u64,
    /// Their sections (rows of the sections table).
    pub sections: u64,
    /// Lance fragments of the sections table (compaction merges them).
    pub fragments: u64,
    /// Versions of the sections table on disk.
    pub versions: u64,
    /// Versions superseded longer ago than `--keep-superseded`: the next run prunes them.
    pub prunable_versions: u64,
    /// Bytes of the index's tables on disk (or in the bucket).
    pub bytes_on_disk: u64,
    /// The tables' indexes and the rows each covers.
    pub indexes: Vec<IndexInfo>,
    /// Distinct section texts with a vector…
    pub vectors: u64,
    /// …of this many distinct section texts (0 when the index has no vectors table).
    pub texts: u64,
    /// The model that made the vectors.
    pub model: Option<ModelInfo>,
    /// The reranker the index records (`index --reranker`).
    pub reranker: Option<RerankerSetting>,
    /// Files the last run over each collection left out, each with the reason.
    pub skipped: Vec<SkippedFile>,
    /// What the last run did (over the collections it indexed).
    pub last_run: Option<RunSummary>,
    /// What needs attention (versions to prune, fragments to compact, a model gone …).
    pub warnings: Vec<String>,
}

/// How fresh an answer is: the version of the index it was read from, and when that version
/// was committed (an agent can tell an index of seconds from one of weeks).
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// The sections table's version the answer was read from.
    pub version: u64,
    /// When that version was committed: RFC 3339, UTC.
    pub committed_at: String,
    /// Seconds from then to the answer.
    pub age_seconds: f64,
}

/// A file's text, whole or a line range of it.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// The collection the file belongs to.
    pub collection: String,
    /// The file's path relative to its collection's root.
    pub path: String,
    /// First line returned (1-based).
    pub start_line: usize,
    /// Last line returned (1-based, inclusive).
    pub end_line: usize,
    /// Lines in the whole file.
    pub total_lines: usize,
    /// The lines' text, as indexed.
    pub text: String,
}

impl Engine {
    /// Opens the index at `db`. `mode`: the mode the caller will ask for, if known; text mode
    /// never loads the model.
    pub async fn open(db: &Location, options: StoreOptions, mode: Option<Mode>) -> Result<Engine> {
        let stamp = db.stamp(META_FILE).await;
        let opened = async {
            Ok::<_, StoreError>((
                Store::open(db, Access::Read, options).await?,
                read_meta(db).await?,
            ))
        };
        let (store, meta) = opened.await.map_err(|e| damaged(db, e.into()))?;
        let (embedder, embedder_error) = if mode == Some(Mode::Text) {
            (None, None)
        } else {
            load_embedder(&store, &meta).await
        };
        let view = View {
            store: Arc::new(store),
            meta,
            stamp,
            embedder,
            embedder_error,
            reranker: None,
        };
        Ok(Engine {
            db: db.clone(),
            options,
            view: RwLock::new(Arc::new(view)),
            checked: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    /// The view calls read now; a refresh swaps it, this one stays valid while held.
    pub fn view(&self) -> Arc<View> {
        match self.view.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn swap(&self, view: View) {
        let view = Arc::new(view);
        match self.view.write() {
            Ok(mut v) => *v = view,
            Err(poisoned) => *poisoned.into_inner() = view,
        }
    }

    /// Whether searches have a cross-encoder to rerank with.
    pub fn has_reranker(&self) -> bool {
        self.view().reranker.is_some()
    }

    /// Loads the cross-encoder `choice` names: the one the index records (none when none is),
    /// a model given by name or directory, or none. Loaded on the blocking pool (a download
    /// or a large file read blocks).
    pub async fn load_reranker(&self, choice: &RerankChoice) -> Result<()> {
        let current = self.view();
        let (model, download) = match choice {
            RerankChoice::Off => {
                self.swap(current.with_reranker(None));
                return Ok(());
            }
            RerankChoice::Recorded => match &current.meta.reranker {
                None => return Ok(()),
                Some(r) => (recorded_model(&r.id, Some(&r.dir)), false),
            },
            RerankChoice::Model(m) => (m.clone(), downloads_allowed()),
        };
        let rt = tokio::runtime::Handle::current();
        let (_, loaded) = tokio::task::spawn_blocking(move || load_reranker(&model, download, &rt))
            .await
            .context("loading the reranker")??;
        self.swap(self.view().with_reranker(Some(Arc::new(loaded))));
        Ok(())
    }

    /// Opens a new view when an index run has rewritten the metadata since the last look.
    /// Keeps the loaded models when the index still uses the same one.
    /// Looks at most once per refresh interval ([`Reads::Within`]).
    pub async fn refresh(&self) -> Result<()> {
        let interval = match self.options.reads {
            Reads::Within(d) => d,
            Reads::AsOpened => Duration::ZERO,
        };
        let mut checked = self.checked.lock().await;
        if checked.elapsed() < interval {
            return Ok(());
        }
        *checked = Instant::now();
        let stamp = self.db.stamp(META_FILE).await;
        if stamp == self.view().stamp {
            return Ok(());
        }
        self.reopen(stamp).await
    }

    /// Opens the latest version as a new view and swaps it in.
    async fn reopen(&self, stamp: Option<String>) -> Result<()> {
        let old = self.view();
        let store = Store::open(&self.db, Access::Read, self.options).await?;
        let meta = read_meta(&self.db).await?;
        let same_model = match (&old.embedder, &meta.model) {
            (Some(e), Some(m)) => e.info().key() == m.key(),
            _ => false,
        };
        let (embedder, embedder_error) = if same_model {
            (old.embedder.clone(), None)
        } else {
            load_embedder(&store, &meta).await
        };
        self.swap(View {
            store: Arc::new(store),
            meta,
            stamp,
            embedder,
            embedder_error,
            reranker: old.reranker.clone(),
        });
        Ok(())
    }

    /// Searches the index. A query that failed because what it read was gone (a concurrent
    /// run pruned the version it had open, see [`StoreError::is_retryable`]) is tried again on
    /// a freshly opened view; any other error (a bad query, a missing model, a damaged
    /// table) is returned as it is.
    pub async fn search(&self, query: &str, opts: &SearchOptions) -> Result<Vec<SearchResult>> {
        let mut tries = 0;
        loop {
            let view = self.view();
            let opts = view.narrowed(opts)?;
            let opts = opts.as_ref();
            if opts.mode.is_some_and(|m| m != Mode::Text) && view.embedder.is_none() {
                if let Some(e) = &view.embedder_error {
                    bail!("{e}");
                }
            }
            tries += 1;
            // The first try reads the shared view; a retry reads a snapshot opened for it
            // alone, which stays at one version for the whole search (a long-lived view
            // follows new commits between the search's reads, and under a writer that
            // commits and compacts fast it can move past what the search found each time).
            let pinned = if tries == 1 {
                None
            } else {
                let options = StoreOptions {
                    reads: Reads::AsOpened,
                    ..self.options
                };
                match Store::open(&self.db, Access::Read, options).await {
                    Ok(store) => Some(store),
                    Err(e) => return Err(damaged(&self.db, e.into())),
                }
            };
            let store = pinned.as_ref().unwrap_or(&view.store);
            match search(store, view.models(), query, opts).await {
                Ok(results) => return Ok(results),
                Err(e) if retryable(&e) && tries < VANISHED_TRIES => {
                    let stamp = self.db.stamp(META_FILE).await;
                    if self.reopen(stamp).await.is_err() {
                        return Err(damaged(&self.db, e));
                    }
                }
                Err(e) if retryable(&e) => {
                    return Err(e.context(format!(
                        "the index at {} changed {tries} times while this search read it (a run pruned the version it had open); search again. If this repeats with no index run going on, `sagasu index` on its tree repairs it",
                        self.db
                    )))
                }
                Err(e) => return Err(damaged(&self.db, e)),
            }
        }
    }

    /// The version the next call reads, and its commit time.
    pub async fn freshness(&self) -> Result<Freshness> {
        let (version, at) = self
            .view()
            .store
            .version()
            .await
            .map_err(|e| damaged(&self.db, e.into()))?;
        let age = chrono::Utc::now() - at;
        Ok(Freshness {
            version,
            committed_at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            age_seconds: age.num_milliseconds().max(0) as f64 / 1000.0,
        })
    }

    /// What the index holds and what needs attention ([`Stats`]).
    pub async fn stats(&self) -> Result<Stats> {
        self.view()
            .read_stats(&self.db)
            .await
            .map_err(|e| damaged(&self.db, e))
    }

    /// The keys of `conditions` that no page of the index has: why a filtered search found
    /// nothing, when it is the reason.
    pub async fn keys_no_page_has(&self, conditions: &[Where]) -> Result<Vec<String>> {
        let view = self.view();
        let mut absent: Vec<String> = Vec::new();
        for w in conditions {
            if absent.contains(&w.key) {
                continue;
            }
            let has = Filter::Property(Condition {
                key: w.key.clone(),
                test: Test::Present,
            });
            if !view.store.any(&has).await? {
                absent.push(w.key.clone());
            }
        }
        Ok(absent)
    }

    /// The collections' names, in the order they were added.
    pub fn collections(&self) -> Vec<String> {
        self.view().meta.collection_names()
    }

    /// The text of an indexed document, or of its lines `start..=end` (1-based, inclusive).
    /// `collection` may be left out when only one collection holds `path`.
    ///
    /// Only files the index holds can be read, and only as they were indexed: the copy in the
    /// tree is read when it is there, inside the root, not a link (unless the run followed
    /// links) and still has the indexed hash; otherwise the bytes stored in the index are
    /// (an index on object storage serves documents without the tree). `..` and absolute
    /// paths are refused: an agent can read what search can find, never a secret that
    /// `.gitignore` kept out of the index, nor a file swapped in after indexing.
    pub async fn get_document(
        &self,
        collection: Option<&str>,
        path: &str,
        start_line: Option<usize>,
        end_line: Option<usize>,
    ) -> Result<Document> {
        let view = self.view();
        let rel = confined_path(path)?;
        let rel_str = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let not_indexed = || {
            anyhow!("{path:?} is not an indexed document (paths are relative to their collection's root, as search returns them)")
        };
        let candidates = match collection {
            Some(c) => {
                view.check_collections(&[c.to_string()])?;
                vec![c.to_string()]
            }
            None => view.meta.collection_names(),
        };
        let mut found = Vec::new();
        for c in candidates {
            if let Some(f) = view.store.stored_file(&c, &rel_str, false).await? {
                found.push((c, f));
            }
        }
        let (collection, indexed) = match found.len() {
            0 => return Err(not_indexed()),
            1 => found.remove(0),
            _ => bail!(
                "{path:?} is in several collections ({}): say which one",
                found
                    .iter()
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let bytes = match view.tree_copy(&collection, &rel, &indexed.file_hash) {
            Some(bytes) => bytes,
            None => view
                .store
                .stored_file(&collection, &rel_str, true)
                .await?
                .and_then(|f| f.bytes)
                .ok_or_else(not_indexed)?,
        };
        let text = Format::of_path(path)
            .decode(&bytes)
            .map_err(|reason| anyhow!("cannot read {path}: {reason}"))?;
        let lines: Vec<&str> = text.lines().collect();
        let total = lines.len();
        let start = start_line.unwrap_or(1);
        let end = end_line.unwrap_or(total).min(total);
        if start == 0 || (total > 0 && start > total) || end < start.min(total) {
            bail!("line range {start}-{end} is outside {path} (1-{total})");
        }
        let text = if total == 0 {
            String::new()
        } else {
            lines[start - 1..end].join("\n")
        };
        Ok(Document {
            collection,
            path: rel_str,
            start_line: start,
            end_line: end,
            total_lines: total,
            text,
        })
    }
}

impl View {
    fn with_reranker(&self, reranker: Option<Arc<Reranker>>) -> View {
        View {
            store: self.store.clone(),
            meta: self.meta.clone(),
            stamp: self.stamp.clone(),
            embedder: self.embedder.clone(),
            embedder_error: self.embedder_error.clone(),
            reranker,
        }
    }

    /// `opts` with what restricts nothing taken off: `-c` naming every collection (with
    /// one collection no index answers it, as `maintain` builds none, and a scan per query
    /// would cost ~5 ms). Fails when `-c` names a collection this index lacks.
    fn narrowed<'a>(&self, opts: &'a SearchOptions) -> Result<Cow<'a, SearchOptions>> {
        self.check_collections(&opts.collections)?;
        let every = self
            .meta
            .collections
            .iter()
            .all(|c| opts.collections.contains(&c.name));
        Ok(if every && !opts.collections.is_empty() {
            Cow::Owned(SearchOptions {
                collections: Vec::new(),
                ..opts.clone()
            })
        } else {
            Cow::Borrowed(opts)
        })
    }

    /// Fails, naming the collections there are, when one of `names` is not one of them.
    fn check_collections(&self, names: &[String]) -> Result<()> {
        if let Some(unknown) = names.iter().find(|n| self.meta.collection(n).is_none()) {
            bail!(
                "no collection is named {unknown:?}; this index has: {}",
                self.meta.collection_names().join(", ")
            );
        }
        Ok(())
    }

    async fn read_stats(&self, db: &Location) -> Result<Stats> {
        let table = self.store.table_stats().await?;
        let vectors = self.store.vector_count().await?;
        // Counting distinct texts scans a column: only worth it when there are vectors.
        let texts = if self.store.has_vectors() {
            self.store.section_hashes(None).await?.len() as u64
        } else {
            0
        };
        let mut warnings = Vec::new();
        if table.fragments > MAX_FRAGMENTS {
            warnings.push(format!(
                "{} fragments (bound {MAX_FRAGMENTS}): run `sagasu optimize`",
                table.fragments
            ));
        }
        if table.prunable_versions > MAX_VERSIONS {
            warnings.push(format!(
                "{} versions superseded longer ago than --keep-superseded (bound {MAX_VERSIONS}): run `sagasu optimize`",
                table.prunable_versions
            ));
        }
        if let Some(e) = &self.embedder_error {
            warnings.push(format!("keyword search only: {e}"));
        }
        let mut collections = Vec::new();
        for c in &self.meta.collections {
            let rows = Filter::collection(&c.name);
            collections.push(CollectionStats {
                name: c.name.clone(),
                root: c.root.clone(),
                documents: self
                    .store
                    .count(&rows.clone().and(Filter::FirstSections))
                    .await?,
                sections: self.store.count(&rows).await?,
                last_run: c.last_run.clone(),
            });
        }
        let skipped = self
            .meta
            .collections
            .iter()
            .flat_map(|c| {
                c.skipped.iter().map(|s| SkippedFile {
                    collection: c.name.clone(),
                    ..s.clone()
                })
            })
            .collect();
        Ok(Stats {
            db: db.to_string(),
            collections,
            documents: table.documents,
            sections: table.sections,
            fragments: table.fragments,
            versions: table.versions,
            prunable_versions: table.prunable_versions,
            bytes_on_disk: db.bytes().await,
            indexes: table.indexes,
            vectors,
            texts,
            model: self.meta.model.clone(),
            reranker: self.meta.reranker.clone(),
            skipped,
            last_run: self.meta.last_run.clone(),
            warnings,
        })
    }

    /// The tree's copy of `rel` when it is still the indexed file: inside the collection's
    /// root, reached as an index run reads it, with hash `file_hash`. `None` sends the reader
    /// to the bytes in the index.
    fn tree_copy(&self, collection: &str, rel: &Path, file_hash: &str) -> Option<Vec<u8>> {
        let root = self.meta.collection(collection)?.root.canonicalize().ok()?;
        let full = root.join(rel).canonicalize().ok()?;
        if !full.starts_with(&root) {
            return None;
        }
        let follows_links = self.meta.settings.as_ref().is_some_and(|s| s.follow_links);
        if !follows_links && regular_file_without_links(&root, rel).is_err() {
            return None;
        }
        let bytes = std::fs::read(&full).ok()?;
        (content_hash(&bytes) == file_hash).then_some(bytes)
    }
}

/// The cross-encoder `model` names (a directory or a hub id), found (downloaded only if
/// `download`) and loaded: where it was found, and the model. Blocks on `rt` to download:
/// call it off the async workers.
pub fn load_reranker(
    model: &str,
    download: bool,
    rt: &tokio::runtime::Handle,
) -> Result<(PathBuf, Reranker)> {
    let dir = resolve(model, download, rt)?;
    let loaded = Reranker::load(&dir, &RerankOptions::default())?;
    Ok((dir, loaded))
}

/// Loads the model that made the index's vectors, if there are vectors, on the blocking pool:
/// the model, or why it could not be loaded.
async fn load_embedder(store: &Store, meta: &Meta) -> (Option<Arc<Embedder>>, Option<String>) {
    if !store.has_vectors() {
        return (None, None);
    }
    let (Some(info), Some(choice)) = (meta.model.clone(), ModelChoice::recorded(meta)) else {
        return (None, None);
    };
    let rt = tokio::runtime::Handle::current();
    let loaded = tokio::task::spawn_blocking(move || {
        let dir = resolve(&choice.model, false, &rt)?;
        load_query_model(&info, &dir)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    match loaded {
        Ok(e) => (Some(Arc::new(e)), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    }
}

/// Loads the model recorded in the metadata and checks it is the one that made the vectors.
fn load_query_model(info: &ModelInfo, dir: &Path) -> Result<Embedder> {
    let opts = LoadOptions {
        query_prefix: Some(info.query_prefix.clone()),
        doc_prefix: Some(info.doc_prefix.clone()),
        max_tokens: info.max_tokens,
        ..LoadOptions::default()
    };
    let e = Embedder::load(dir, &info.id, &opts)?;
    if e.info().key() != info.key() {
        bail!(
            "the model at {} is not the one that made this index's vectors ({} dims, fingerprint {}); run `sagasu index` again to re-embed",
            dir.display(),
            info.dim,
            info.fingerprint
        );
    }
    Ok(e)
}

/// Whether `root/rel` is still what an index run without `--follow` reads: a regular file
/// reached through no symbolic link. A file swapped for a link after indexing (`ln -sf .env
/// notes.md`) is refused, wherever the link points.
fn regular_file_without_links(root: &Path, rel: &Path) -> std::result::Result<(), String> {
    let mut at = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let meta = std::fs::symlink_metadata(&at).map_err(|e| format!("cannot read it ({e})"))?;
        if meta.file_type().is_symlink() {
            return Err("it is a symbolic link now, not the file that was indexed".into());
        }
        if i + 1 == parts.len() && !meta.is_file() {
            return Err("it is not a regular file".into());
        }
    }
    Ok(())
}

/// A relative path with no `..`, root or prefix component.
fn confined_path(path: &str) -> Result<PathBuf> {
    let p = Path::new(path.trim());
    if path.trim().is_empty() {
        bail!("the path is empty");
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                bail!("{path:?} contains '..': paths must stay inside the indexed root")
            }
            Component::RootDir | Component::Prefix(_) => {
                bail!("{path:?} is absolute: give a path relative to the indexed root")
            }
        }
    }
    if out.as_os_str().is_empty() {
        bail!("{path:?} names no file");
    }
    Ok(out)
}

/// Says which command fixes an index that cannot be read: the tables or `sagasu.json` are
/// damaged (not a bad query, a missing model, or an index that is not there).
fn damaged(db: &Location, e: anyhow::Error) -> anyhow::Error {
    let is_damage = e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(StoreError::may_be_damage)
    });
    if is_damage {
        e.context(format!(
            "the index at {db} cannot be read; `sagasu index` on its tree repairs it"
        ))
    } else {
        e
    }
}

/// Whether an error came from the store and a freshly opened store may not have it.
fn retryable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_retryable)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_of_vanished_data_are_retried() {
        let vanished = anyhow::Error::from(StoreError::Vanished {
            doing: "reading the results' text".into(),
            message: "2 of 10 rows are gone".into(),
        });
        assert!(retryable(&vanished));
        assert!(retryable(&vanished.context("searching")));
        assert!(!retryable(&anyhow!("the query is empty")));
        assert!(!retryable(&anyhow::Error::from(StoreError::NoVectors)));
        let at = Location::from(Path::new("/x"));
        let bug = anyhow::Error::from(StoreError::Codec {
            doing: "reading results".into(),
            message: "column id has an unexpected type".into(),
        });
        let shown = format!("{:#}", damaged(&at, bug));
        assert!(!shown.contains("repairs"), "a bug is not damage: {shown}");
        let gone = anyhow::Error::from(StoreError::Vanished {
            doing: "reading".into(),
            message: "gone".into(),
        });
        let shown = format!("{:#}", damaged(&at, gone));
        assert!(!shown.contains("repairs"), "{shown}");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_swapped_for_a_link_is_not_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("swap.md"), "# x\n").expect("write");
        std::fs::write(root.join(".env"), "SECRET=1\n").expect("write");
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/a.md"), "# a\n").expect("write");
        assert!(regular_file_without_links(root, Path::new("swap.md")).is_ok());
        assert!(regular_file_without_links(root, Path::new("sub/a.md")).is_ok());
        std::fs::remove_file(root.join("swap.md")).expect("rm");
        std::os::unix::fs::symlink(root.join(".env"), root.join("swap.md")).expect("link");
        let why = regular_file_without_links(root, Path::new("swap.md")).expect_err("a link");
        assert!(why.contains("symbolic link"), "{why}");
        std::os::unix::fs::symlink(root.join("sub"), root.join("linked")).expect("link");
        assert!(regular_file_without_links(root, Path::new("linked/a.md")).is_err());
        assert!(
            regular_file_without_links(root, Path::new("sub")).is_err(),
            "a directory"
        );
    }

    #[test]
    fn paths_stay_inside() {
        assert_eq!(
            confined_path("docs/a.md").unwrap(),
            PathBuf::from("docs/a.md")
        );
        assert_eq!(
            confined_path("./docs/a.md").unwrap(),
            PathBuf::from("docs/a.md")
        );
        assert!(confined_path("../secret.md").is_err());
        assert!(confined_path("docs/../../x.md").is_err());
        assert!(confined_path("/etc/passwd").is_err());
        assert!(confined_path("").is_err());
        assert!(confined_path(".").is_err());
    }
}
