//! An open index for readers: the one API the CLI and the MCP server call to search, read
//! documents and report stats.
//!
//! A long-lived engine (the MCP server) calls [`Engine::refresh`] before each request: when
//! an index run has rewritten `sagasu.json` since the engine opened, the store is reopened
//! (new tables, a new model), so answers follow the index without a restart. On object
//! storage that look is a request, so it is made at most once per refresh interval.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use sagasu_embed::resolve::{downloads_allowed, resolve};
use sagasu_embed::{Embedder, LoadOptions, ModelInfo, RerankOptions, Reranker};

use crate::hash::content_hash;
use crate::ingest::decode::decode;
use crate::search::{search, Mode, Models, SearchOptions, SearchResult};
use crate::store::maintain::{MAX_FRAGMENTS, MAX_VERSIONS};
use crate::store::{
    read_meta, Access, IndexInfo, Location, Meta, Reads, RerankerSetting, RunSummary, SkippedFile,
    Store, StoreError, StoreOptions, META_FILE,
};

pub struct Engine {
    db: Location,
    options: StoreOptions,
    store: Store,
    meta: Meta,
    /// `sagasu.json`'s stamp when it was read, and when that was last checked.
    meta_stamp: Option<String>,
    checked: Instant,
    embedder: Option<Arc<Embedder>>,
    reranker: Option<Arc<Reranker>>,
    /// Why the query model could not be loaded, when the index has vectors but no usable model.
    embedder_error: Option<String>,
}

/// Which cross-encoder a reader reranks with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RerankChoice {
    /// The one the index records (`sagasu index --rerank`), if any.
    #[default]
    Recorded,
    /// A hub id or a directory.
    Model(String),
    Off,
}

/// Everything `stats` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub db: String,
    pub root: Option<PathBuf>,
    pub documents: u64,
    pub sections: u64,
    pub fragments: u64,
    pub versions: u64,
    pub bytes_on_disk: u64,
    pub indexes: Vec<IndexInfo>,
    /// Distinct section texts with a vector…
    pub vectors: u64,
    /// …of this many distinct section texts (0 when the index has no vectors table).
    pub texts: u64,
    pub model: Option<ModelInfo>,
    /// The reranker the index records (`index --reranker`).
    pub reranker: Option<RerankerSetting>,
    pub skipped: Vec<SkippedFile>,
    pub last_run: Option<RunSummary>,
    pub warnings: Vec<String>,
}

/// A file's text, whole or a line range of it.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub path: String,
    pub start_line: usize,
    pub end_line: usize,
    pub total_lines: usize,
    pub text: String,
}

impl Engine {
    /// Opens the index at `db`. `mode`: the mode the caller will ask for, if known; text mode
    /// never loads the model.
    pub async fn open(db: &Location, options: StoreOptions, mode: Option<Mode>) -> Result<Engine> {
        let meta_stamp = db.stamp(META_FILE).await;
        let opened = async {
            Ok::<_, StoreError>((
                Store::open(db, Access::Read, options).await?,
                read_meta(db).await?,
            ))
        };
        let (store, meta) = opened.await.map_err(|e| damaged(db, e.into()))?;
        let mut engine = Engine {
            db: db.clone(),
            options,
            store,
            meta,
            meta_stamp,
            checked: Instant::now(),
            embedder: None,
            reranker: None,
            embedder_error: None,
        };
        if mode != Some(Mode::Text) {
            engine.load_embedder();
        }
        Ok(engine)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }

    pub fn reranker(&self) -> Option<&Arc<Reranker>> {
        self.reranker.as_ref()
    }

    /// The models a search may use.
    pub fn models(&self) -> Models<'_> {
        Models {
            embedder: self.embedder.as_ref(),
            reranker: self.reranker.as_ref(),
        }
    }

    /// Loads the cross-encoder `choice` names: the one the index records (none when none is),
    /// a model given by name or directory, or none.
    pub async fn load_reranker(&mut self, choice: &RerankChoice) -> Result<()> {
        let (id, dir, download) = match choice {
            RerankChoice::Off => {
                self.reranker = None;
                return Ok(());
            }
            RerankChoice::Recorded => match &self.meta.reranker {
                None => return Ok(()),
                Some(r) if r.dir.is_dir() => (r.id.clone(), Some(r.dir.clone()), false),
                // Another host: look the model up by its name.
                Some(r) => (r.id.clone(), None, false),
            },
            RerankChoice::Model(m) => (m.clone(), None, downloads_allowed()),
        };
        // Off the async workers: a download blocks on the runtime.
        let rt = tokio::runtime::Handle::current();
        let loaded = tokio::task::spawn_blocking(move || {
            let dir = match dir {
                Some(d) => d,
                None => resolve(&id, download, &rt)?,
            };
            Reranker::load(&dir, &id, &RerankOptions::default())
        })
        .await
        .context("loading the reranker")??;
        self.reranker = Some(Arc::new(loaded));
        Ok(())
    }

    /// Why vector search is unavailable although the index has vectors (model missing, moved
    /// or changed): shown once by the CLI, returned by the MCP server.
    pub fn embedder_error(&self) -> Option<&str> {
        self.embedder_error.as_deref()
    }

    /// Reopens the store when an index run has rewritten the metadata since the last look.
    /// Keeps the loaded model when the index still uses the same one.
    /// Looks at most once per refresh interval ([`Reads::Within`]).
    pub async fn refresh(&mut self) -> Result<()> {
        let interval = match self.options.reads {
            Reads::Within(d) => d,
            Reads::AsOpened => Duration::ZERO,
        };
        if self.checked.elapsed() < interval {
            return Ok(());
        }
        self.checked = Instant::now();
        let stamp = self.db.stamp(META_FILE).await;
        if stamp == self.meta_stamp {
            return Ok(());
        }
        self.reopen(stamp).await
    }

    async fn reopen(&mut self, stamp: Option<String>) -> Result<()> {
        self.store = Store::open(&self.db, Access::Read, self.options).await?;
        self.meta = read_meta(&self.db).await?;
        self.meta_stamp = stamp;
        let same_model = match (&self.embedder, &self.meta.model) {
            (Some(e), Some(m)) => e.info().key() == m.key(),
            _ => false,
        };
        if !same_model {
            self.embedder = None;
            self.load_embedder();
        }
        Ok(())
    }

    /// Loads the model that made the index's vectors, if there are vectors.
    fn load_embedder(&mut self) {
        self.embedder_error = None;
        if !self.store.has_vectors() {
            return;
        }
        let (Some(info), Some(recorded)) = (&self.meta.model, &self.meta.model_dir) else {
            return;
        };
        // On another host (an index on object storage) the writer's model directory is not
        // there: the model is looked up by its id in the local Hugging Face cache instead.
        let dir = if recorded.is_dir() {
            recorded.clone()
        } else {
            match tokio::runtime::Handle::try_current()
                .map_err(anyhow::Error::from)
                .and_then(|rt| resolve(&info.id, false, &rt))
            {
                Ok(dir) => dir,
                Err(_) => recorded.clone(),
            }
        };
        match load_query_model(info, &dir) {
            Ok(e) => self.embedder = Some(Arc::new(e)),
            Err(e) => self.embedder_error = Some(format!("{e:#}")),
        }
    }

    /// Searches the index. A query that failed because what it read was gone (a concurrent
    /// run pruned the version this handle had open) is retried once on a freshly opened
    /// store; any other error (a bad query, a missing model, a damaged table) is returned
    /// as it is.
    pub async fn search(&mut self, query: &str, opts: &SearchOptions) -> Result<Vec<SearchResult>> {
        if opts.mode.is_some_and(|m| m != Mode::Text) && self.embedder.is_none() {
            if let Some(e) = &self.embedder_error {
                bail!("{e}");
            }
        }
        let result = match search(&self.store, self.models(), query, opts).await {
            Err(first) if retryable(&first) => {
                let stamp = self.db.stamp(META_FILE).await;
                if self.reopen(stamp).await.is_err() {
                    return Err(first);
                }
                search(&self.store, self.models(), query, opts).await
            }
            other => other,
        };
        result.map_err(|e| damaged(&self.db, e))
    }

    pub async fn stats(&self) -> Result<Stats> {
        self.read_stats().await.map_err(|e| damaged(&self.db, e))
    }

    async fn read_stats(&self) -> Result<Stats> {
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
        if table.versions > MAX_VERSIONS {
            warnings.push(format!(
                "{} versions (bound {MAX_VERSIONS}): run `sagasu optimize`",
                table.versions
            ));
        }
        if let Some(e) = &self.embedder_error {
            warnings.push(format!("keyword search only: {e}"));
        }
        Ok(Stats {
            db: self.db.to_string(),
            root: self.meta.root.clone(),
            documents: table.documents,
            sections: table.sections,
            fragments: table.fragments,
            versions: table.versions,
            bytes_on_disk: self.db.bytes().await,
            indexes: table.indexes,
            vectors,
            texts,
            model: self.meta.model.clone(),
            reranker: self.meta.reranker.clone(),
            skipped: self.meta.skipped.clone(),
            last_run: self.meta.last_run.clone(),
            warnings,
        })
    }

    /// The text of an indexed document, or of its lines `start..=end` (1-based, inclusive).
    ///
    /// Only files the index holds can be read, and only as they were indexed: the copy in the
    /// tree is read when it is there, inside the root, not a link (unless the run followed
    /// links) and still has the indexed hash; otherwise the bytes stored in the index are
    /// (an index on object storage serves documents without the tree). `..` and absolute
    /// paths are refused: an agent can read what search can find, never a secret that
    /// `.gitignore` kept out of the index, nor a file swapped in after indexing.
    pub async fn get_document(
        &self,
        path: &str,
        start_line: Option<usize>,
        end_line: Option<usize>,
    ) -> Result<Document> {
        let rel = confined_path(path)?;
        let rel_str = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let not_indexed = || {
            anyhow!("{path:?} is not an indexed document (paths are relative to the indexed root, as search returns them)")
        };
        let indexed = self
            .store
            .stored_file(&rel_str, false)
            .await?
            .ok_or_else(not_indexed)?;
        let bytes = match self.tree_copy(&rel, &indexed.file_hash) {
            Some(bytes) => bytes,
            None => self
                .store
                .stored_file(&rel_str, true)
                .await?
                .and_then(|f| f.bytes)
                .ok_or_else(not_indexed)?,
        };
        let text = decode(&bytes).map_err(|reason| anyhow!("cannot read {path}: {reason}"))?;
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
            path: rel_str,
            start_line: start,
            end_line: end,
            total_lines: total,
            text,
        })
    }

    /// The tree's copy of `rel` when it is still the indexed file: inside the root, reached
    /// as an index run reads it, with hash `file_hash`. `None` sends the reader to the bytes
    /// in the index.
    fn tree_copy(&self, rel: &Path, file_hash: &str) -> Option<Vec<u8>> {
        let root = self.meta.root.as_ref()?.canonicalize().ok()?;
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
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(StoreError::Lance { .. } | StoreError::File { .. })
        )
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
        let vanished = anyhow::Error::from(StoreError::Lance {
            doing: "running the full-text query".into(),
            message: "Not found: x.lance".into(),
            changed: true,
        });
        assert!(retryable(&vanished));
        assert!(retryable(&vanished.context("searching")));
        assert!(!retryable(&anyhow!("the query is empty")));
        assert!(!retryable(&anyhow::Error::from(StoreError::NoVectors)));
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
