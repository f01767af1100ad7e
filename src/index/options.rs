//! How an index run is set up: the tree, the index, the walk and split settings, the budget,
//! the model. Every default is defined here once (the CLI's defaults are these constants).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use sagasu_embed::LoadOptions;

use crate::budget::default_threads;
use crate::hash::HashKey;
use crate::ingest::document::SplitOptions;
use crate::ingest::format::Types;
use crate::store::{
    default_collection_name, read_meta, Location, RerankerSetting, RunSettings, StoreOptions,
    DEFAULT_LEASE,
};

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

/// A tree to index, and the collection it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Root {
    /// The collection's name.
    pub name: String,
    /// The tree.
    pub path: PathBuf,
}

impl Root {
    /// `path`, named after its directory.
    pub fn new(path: PathBuf) -> Root {
        let named = path.canonicalize().unwrap_or_else(|_| path.clone());
        Root {
            name: default_collection_name(&named),
            path,
        }
    }

    /// `NAME=PATH` (`--name`).
    pub fn parse_named(s: &str) -> Result<Root> {
        match s.split_once('=') {
            Some((name, path)) if !path.trim().is_empty() => {
                let name = name.trim();
                check_name(name)?;
                Ok(Root {
                    name: name.to_string(),
                    path: PathBuf::from(path.trim()),
                })
            }
            _ => bail!("--name {s:?}: give NAME=ROOT, e.g. notes=~/notes"),
        }
    }
}

/// Whether `name` can name a collection: not empty, no `/`, `\`, `:` or control character.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | ':'))
    {
        bail!("{name:?} cannot name a collection: give a name without '/', '\\', ':' or control characters");
    }
    Ok(())
}

/// Everything an index run needs to know, decided once ([`crate::Indexer::new`]).
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// The trees to index, one collection each; empty: every collection the index records.
    pub roots: Vec<Root>,
    /// Where the index is (default: `ROOT/.sagasu` of a single root).
    pub db: Location,
    /// The formats indexed (`--types`).
    pub types: Types,
    /// Extra include (`*.mdx`) or exclude (`!drafts/**`) globs.
    pub globs: Vec<String>,
    /// Follow symbolic links while walking the tree.
    pub follow_links: bool,
    /// Files larger than this are skipped with a reason.
    pub max_file_bytes: u64,
    /// How files are split into sections.
    pub split: SplitOptions,
    /// Reader tasks (at most the rayon pool's threads).
    pub threads: usize,
    /// An append is committed when it holds this many sections…
    pub batch_rows: usize,
    /// …or this many bytes of text.
    pub batch_bytes: usize,
    /// How the index is opened (thread and memory budgets, grace of old versions).
    pub store: StoreOptions,
    /// Which model embeds the sections; `None`: keyword index only (`--no-embed`).
    pub model: Option<ModelChoice>,
    /// Embed only this share of the texts that lack a vector (`--shard I/N`).
    pub shard: Option<Shard>,
    /// The writer lease's term on object storage.
    pub lease: Duration,
    /// Record this reranker in the index (`Some(None)`: remove it; `None`: keep what is
    /// recorded).
    pub record_reranker: Option<Option<RerankerSetting>>,
}

/// Share `index` (1-based) of `count`: the texts whose hash falls in it. Shares are disjoint
/// and together cover every text, whatever the hosts and the order they run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which share, 1-based.
    pub index: u32,
    /// Of how many.
    pub count: u32,
}

impl Shard {
    /// `I/N`, 1 ≤ I ≤ N.
    pub fn parse(s: &str) -> Result<Shard> {
        let parsed = s.split_once('/').and_then(|(i, n)| {
            Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?))
        });
        match parsed {
            Some((index, count)) if index >= 1 && index <= count => Ok(Shard { index, count }),
            _ => bail!("--shard {s:?}: give I/N with 1 <= I <= N, e.g. 2/4"),
        }
    }

    /// Whether the text with hash `key` is this share's.
    pub fn owns(&self, key: HashKey) -> bool {
        (key % u128::from(self.count)) as u32 == self.index - 1
    }
}

/// The model an index run embeds with, and how.
#[derive(Debug, Clone)]
pub struct ModelChoice {
    /// A model directory or a hub id.
    pub model: String,
    /// The name recorded for the model (default: `model`).
    pub id: String,
    /// How the model is loaded (threads, maximum tokens).
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
            download: sagasu_embed::resolve::downloads_allowed(),
        }
    }

    /// The model an index records, never downloaded: from the directory it was loaded from,
    /// or where that is not on this host (an index on object storage), by its id from the
    /// local Hugging Face cache.
    pub fn recorded(meta: &crate::store::Meta) -> Option<ModelChoice> {
        let info = meta.model.as_ref()?;
        let mut choice = ModelChoice::new(&recorded_model(&info.id, meta.model_dir.as_deref()));
        choice.download = false;
        choice.id = info.id.clone();
        choice.load.query_prefix = Some(info.query_prefix.clone());
        choice.load.doc_prefix = Some(info.doc_prefix.clone());
        choice.load.max_tokens = info.max_tokens;
        Some(choice)
    }
}

/// The roots an index records, as [`Root`]s.
pub fn recorded_roots(meta: &crate::store::Meta) -> Vec<Root> {
    meta.collections
        .iter()
        .map(|c| Root {
            name: c.name.clone(),
            path: c.root.clone(),
        })
        .collect()
}

/// Where a model an index records (its id, and the directory it was loaded from) is found on
/// this host: that directory when it is here, else its id, looked up in the local Hugging
/// Face cache and never downloaded (an index on object storage is read on other hosts).
pub fn recorded_model(id: &str, dir: Option<&std::path::Path>) -> String {
    match dir {
        Some(dir) if dir.is_dir() => dir.to_string_lossy().into_owned(),
        _ => id.to_string(),
    }
}

/// The error of a run that needs the model an index records when it records none yet.
pub fn no_model_recorded(db: &Location) -> anyhow::Error {
    anyhow::anyhow!(
        "{db} records no model yet: run `sagasu index ROOT --db {db} --shard 1/N` (which writes the sections and records the model) first"
    )
}

impl IndexOptions {
    /// Every setting at its default, threads = the cores.
    pub fn new(roots: Vec<Root>, db: Location) -> Self {
        IndexOptions {
            roots,
            db,
            types: Types::default(),
            globs: Vec::new(),
            follow_links: false,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            split: SplitOptions::default(),
            threads: default_threads(),
            batch_rows: DEFAULT_BATCH_ROWS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            store: StoreOptions::default(),
            model: None,
            shard: None,
            lease: DEFAULT_LEASE,
            record_reranker: None,
        }
    }

    /// The settings a later run (`serve`, `watch`) repeats.
    pub fn settings(&self) -> RunSettings {
        RunSettings {
            types: self.types.names(),
            globs: self.globs.clone(),
            follow_links: self.follow_links,
            max_file_bytes: self.max_file_bytes,
            max_section_chars: self.split.max_section_chars,
            embed: self.model.is_some(),
        }
    }

    /// Options that re-run the last index of `db` as it was run: every collection, with the
    /// same settings and model (loaded from where it was found, never downloaded).
    pub async fn from_index(
        db: &Location,
        threads: usize,
        store: StoreOptions,
    ) -> Result<IndexOptions> {
        let meta = read_meta(db).await?;
        if meta.collections.is_empty() {
            bail!("{db} records no indexed root; index a tree into it first");
        }
        let mut opts = IndexOptions::new(recorded_roots(&meta), db.clone());
        opts.threads = threads;
        opts.store = store;
        let settings = meta.settings.clone().unwrap_or_else(|| opts.settings());
        opts.types = Types::from_names(&settings.types)?;
        opts.globs = settings.globs;
        opts.follow_links = settings.follow_links;
        opts.max_file_bytes = settings.max_file_bytes;
        opts.split.max_section_chars = settings.max_section_chars;
        if settings.embed {
            opts.model = ModelChoice::recorded(&meta);
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_split_every_hash_once() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["0/4", "5/4", "1/0", "x/2", "2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, count: 3 }).collect();
        for key in [0u128, 1, 2, 3, u128::MAX, 0xdead_beef_u128 << 64] {
            assert_eq!(shards.iter().filter(|s| s.owns(key)).count(), 1, "{key}");
        }
    }

    #[test]
    fn the_recorded_model_is_its_directory_here_else_its_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut meta = crate::store::Meta {
            model: Some(sagasu_embed::ModelInfo {
                id: "org/model".into(),
                fingerprint: "f".into(),
                model_type: "bert".into(),
                dim: 4,
                query_prefix: "q: ".into(),
                doc_prefix: "d: ".into(),
                max_tokens: 128,
            }),
            model_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let here = ModelChoice::recorded(&meta).expect("recorded");
        assert_eq!(here.model, dir.path().to_string_lossy());
        assert!(!here.download);
        assert_eq!(here.load.query_prefix.as_deref(), Some("q: "));
        meta.model_dir = Some("/nonexistent/model/dir".into());
        let elsewhere = ModelChoice::recorded(&meta).expect("recorded");
        assert_eq!(
            (elsewhere.model.as_str(), elsewhere.download),
            ("org/model", false)
        );
        meta.model = None;
        assert!(ModelChoice::recorded(&meta).is_none());
    }
}
