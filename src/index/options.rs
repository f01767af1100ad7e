//! How an index run is set up: the tree, the index, the walk and split settings, the budget,
//! the model. Every default is defined here once (the CLI's defaults are these constants).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use sagasu_embed::LoadOptions;

use crate::budget::default_threads;
use crate::ingest::markdown::SplitOptions;
use crate::store::{read_meta, RunSettings, StoreOptions};

/// Files larger than this are skipped (with a reason) by default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 << 20;
/// An append commits when it holds this many sections by default: commits grow with the
/// data, never with the file count.
pub const DEFAULT_BATCH_ROWS: usize = 250_000;
/// …or this many bytes of text.
pub const DEFAULT_BATCH_BYTES: usize = 256 << 20;
/// Texts per embedding call.
pub const TEXTS_PER_CALL: usize = 256;
/// Vectors per commit of the vectors table: a killed run resumes from the last one.
pub const VECTORS_PER_COMMIT: usize = 8192;

#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub root: PathBuf,
    pub db_dir: PathBuf,
    /// Extra include (`*.mdx`) or exclude (`!drafts/**`) globs.
    pub globs: Vec<String>,
    pub follow_links: bool,
    /// Files larger than this are skipped with a reason.
    pub max_file_bytes: u64,
    pub split: SplitOptions,
    /// Reader tasks (at most the rayon pool's threads).
    pub threads: usize,
    /// An append is committed when it holds this many sections…
    pub batch_rows: usize,
    /// …or this many bytes of text.
    pub batch_bytes: usize,
    pub store: StoreOptions,
    /// Which model embeds the sections; `None`: keyword index only (`--no-embed`).
    pub model: Option<ModelChoice>,
}

/// The model an index run embeds with, and how.
#[derive(Debug, Clone)]
pub struct ModelChoice {
    /// A model directory or a hub id.
    pub model: String,
    /// The name recorded for the model (default: `model`).
    pub id: String,
    pub load: LoadOptions,
    /// Whether a missing model may be downloaded.
    pub download: bool,
}

impl ModelChoice {
    /// `model` with the default load options; downloads allowed unless `HF_HUB_OFFLINE` is set.
    pub fn new(model: &str) -> Self {
        ModelChoice {
            model: model.to_string(),
            id: model.to_string(),
            load: LoadOptions::default(),
            download: std::env::var_os("HF_HUB_OFFLINE").is_none_or(|v| v.is_empty() || v == "0"),
        }
    }
}

impl IndexOptions {
    /// Every setting at its default, threads = the cores.
    pub fn new(root: PathBuf, db_dir: PathBuf) -> Self {
        IndexOptions {
            root,
            db_dir,
            globs: Vec::new(),
            follow_links: false,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            split: SplitOptions::default(),
            threads: default_threads(),
            batch_rows: DEFAULT_BATCH_ROWS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            store: StoreOptions::default(),
            model: None,
        }
    }

    /// The settings a later run (`serve`, `watch`) repeats.
    pub fn settings(&self) -> RunSettings {
        RunSettings {
            globs: self.globs.clone(),
            follow_links: self.follow_links,
            max_file_bytes: self.max_file_bytes,
            max_section_chars: self.split.max_section_chars,
            embed: self.model.is_some(),
        }
    }

    /// Options that re-run the last index of `db_dir` as it was run: same root, settings and
    /// model (loaded from where it was found, never downloaded).
    pub fn from_index(db_dir: &Path, threads: usize, store: StoreOptions) -> Result<IndexOptions> {
        let meta = read_meta(db_dir)?;
        let root = meta.root.clone().ok_or_else(|| {
            anyhow!(
                "{} records no indexed root; index a tree into it first",
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
            let mut choice = ModelChoice::new(&dir.to_string_lossy());
            choice.download = false;
            choice.id = info.id.clone();
            choice.load.query_prefix = Some(info.query_prefix.clone());
            choice.load.doc_prefix = Some(info.doc_prefix.clone());
            choice.load.max_tokens = info.max_tokens;
            opts.model = Some(choice);
        }
        Ok(opts)
    }
}
