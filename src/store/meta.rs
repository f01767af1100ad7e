//! `sagasu.json`: what the tables do not say — the collections (each root, its last run and
//! what it skipped), the settings and model of the last run, and the format version. Written whole by the writer (temp
//! file + rename on disk, one PUT on object storage); read by everyone.

use std::path::PathBuf;

use sagasu_embed::ModelInfo;
use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};
use super::location::Location;
use super::schema::FORMAT_VERSION;

pub const META_FILE: &str = "sagasu.json";

/// Run metadata kept next to the tables.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    /// The [`FORMAT_VERSION`] of the sagasu that wrote it (absent before versions were kept).
    #[serde(default)]
    pub format: Option<u32>,
    /// The indexed trees, by name.
    #[serde(default)]
    pub collections: Vec<Collection>,
    /// What the last run did, over every collection it indexed.
    pub last_run: Option<RunSummary>,
    /// The one tree of an index made before collections (format 3 and older): read into
    /// `collections` ([`read_meta`]), never written.
    #[serde(default, skip_serializing)]
    pub(crate) root: Option<PathBuf>,
    /// What that index skipped: read into its collection, never written.
    #[serde(default, skip_serializing)]
    pub(crate) skipped: Vec<SkippedFile>,
    /// The model that made the vectors in the `vectors` table, and where it was loaded from.
    #[serde(default)]
    pub model: Option<ModelInfo>,
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    /// The mean of those vectors, which vector search corrects queries by (absent in an
    /// index made before there was one: searched uncorrected until the next index run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_mean: Option<VectorMean>,
    /// How the tree was indexed, so that `serve` and `watch --db` re-run it the same way.
    #[serde(default)]
    pub settings: Option<RunSettings>,
    /// The cross-encoder `search` and `serve` rerank with by default (`index --rerank`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reranker: Option<RerankerSetting>,
}

/// One indexed tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// What searches and results call it (`-c NAME`): the root's directory name unless one
    /// was given.
    pub name: String,
    /// Absolute path of the tree.
    pub root: PathBuf,
    /// The last run over this tree (`None` until one finishes).
    pub last_run: Option<RunSummary>,
    /// Files that run left out, with the reason.
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
}

impl Meta {
    /// The collection called `name`.
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.name == name)
    }

    /// The collections' names, in the order they were added.
    pub fn collection_names(&self) -> Vec<String> {
        self.collections.iter().map(|c| c.name.clone()).collect()
    }
}

/// The name a root gets when none is given: its directory's name.
pub fn default_collection_name(root: &std::path::Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "root".to_string())
}

/// The mean of the index's vectors, as last taken, and how stale it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorMean {
    /// One value per dimension.
    pub values: Vec<f32>,
    /// Vectors it was taken over.
    pub rows: u64,
    /// Vectors written or deleted since.
    #[serde(default)]
    pub changed: u64,
}

/// A reranker, as recorded: its name (a hub id or a directory) and where it was loaded from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerankerSetting {
    pub id: String,
    pub dir: PathBuf,
}

/// The walk and split settings of the last run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The formats indexed (`--types`); empty in an index made before there was a choice:
    /// Markdown.
    #[serde(default)]
    pub types: Vec<String>,
    pub globs: Vec<String>,
    pub follow_links: bool,
    pub max_file_bytes: u64,
    pub max_section_chars: usize,
    /// Whether the run embedded (false: `--no-embed`).
    pub embed: bool,
}

/// What one index run did (kept in `sagasu.json`, shown by `stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// RFC 3339 time the run finished.
    pub finished_at: String,
    /// Wall time of the run.
    pub seconds: f64,
    /// Files the walk found.
    pub files_seen: u64,
    /// Files read and written anew (new or changed).
    pub files_indexed: u64,
    /// Files whose size, time and hash were unchanged (not read again).
    pub files_unchanged: u64,
    /// Files gone from the tree, and their rows with them.
    pub files_removed: u64,
    /// Files that could not be indexed (each with its reason in `stats`).
    pub files_skipped: u64,
    /// Sections appended.
    pub sections_written: u64,
    /// Vectors embedded and appended.
    #[serde(default)]
    pub vectors_written: u64,
    /// Commits to the tables.
    pub commits: u64,
    /// Most threads the process had at the run's sample points (every 256 files, each
    /// phase, each commit): the thread budget, as measured.
    #[serde(default)]
    pub max_threads: u64,
    /// What the run found damaged and repaired, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repairs: Vec<String>,
}

impl RunSummary {
    /// Adds the counts of a run over one collection to this run's.
    pub fn add(&mut self, other: &RunSummary) {
        self.files_seen += other.files_seen;
        self.files_indexed += other.files_indexed;
        self.files_unchanged += other.files_unchanged;
        self.files_removed += other.files_removed;
        self.files_skipped += other.files_skipped;
        self.sections_written += other.sections_written;
        self.vectors_written += other.vectors_written;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The collection (set where files of several are listed together: `stats`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub collection: String,
    pub path: String,
    pub reason: String,
}

/// Reads `sagasu.json`; an absent one is an empty [`Meta`].
pub async fn read_meta(at: &Location) -> Result<Meta> {
    let bad = |message: String| StoreError::File {
        path: at.label(META_FILE),
        message,
    };
    let mut meta: Meta = match at.read(META_FILE).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not valid index metadata ({e})")))?,
        None => Meta::default(),
    };
    if let Some(found) = meta.format.filter(|f| *f > FORMAT_VERSION) {
        return Err(StoreError::NewerFormat {
            dir: at.to_string(),
            found,
        });
    }
    // An index of one tree, made before collections: that tree is its one collection.
    if let Some(root) = meta.root.take() {
        if meta.collections.is_empty() {
            meta.collections.push(Collection {
                name: default_collection_name(&root),
                root,
                last_run: meta.last_run.clone(),
                skipped: std::mem::take(&mut meta.skipped),
            });
        }
    }
    Ok(meta)
}

/// Writes `sagasu.json` whole (a kill never leaves half of it). Its format stays the one it
/// records (the sections' format: `optimize` on an older index leaves it older, and the next
/// `index` makes them again); a new one is stamped with this sagasu's [`FORMAT_VERSION`].
pub async fn write_meta(at: &Location, meta: &Meta) -> Result<()> {
    let stamped = Meta {
        format: meta.format.or(Some(FORMAT_VERSION)),
        ..meta.clone()
    };
    let json = serde_json::to_vec_pretty(&stamped).map_err(|e| StoreError::File {
        path: at.label(META_FILE),
        message: e.to_string(),
    })?;
    at.write(META_FILE, json).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_stamps_the_format_and_refuses_a_newer_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = Location::from(dir.path());
        assert!(read_meta(&at)
            .await
            .expect("absent is empty")
            .collections
            .is_empty());
        let meta = Meta {
            collections: vec![Collection {
                name: "tree".into(),
                root: "/tree".into(),
                last_run: None,
                skipped: Vec::new(),
            }],
            ..Meta::default()
        };
        write_meta(&at, &meta).await.expect("write");
        let back = read_meta(&at).await.expect("read");
        assert_eq!(back.format, Some(FORMAT_VERSION));
        assert_eq!(back.collections, meta.collections);
        let newer = Meta {
            format: Some(FORMAT_VERSION + 1),
            ..meta
        };
        std::fs::write(
            dir.path().join(META_FILE),
            serde_json::to_vec(&newer).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            read_meta(&at).await,
            Err(StoreError::NewerFormat { .. })
        ));
        // An index of one tree (format 3): its root is its one collection, named after it.
        std::fs::write(
            dir.path().join(META_FILE),
            br#"{"format":3,"root":"/home/a/notes","last_run":null,"skipped":[{"path":"x.md","reason":"binary"}]}"#,
        )
        .unwrap();
        let old = read_meta(&at).await.expect("format 3");
        assert_eq!(old.collection_names(), ["notes"]);
        assert_eq!(old.collections[0].root, PathBuf::from("/home/a/notes"));
        assert_eq!(old.collections[0].skipped.len(), 1);
        std::fs::write(dir.path().join(META_FILE), b"{garbage").unwrap();
        let err = read_meta(&at).await.expect_err("garbage").to_string();
        assert!(
            err.contains(META_FILE) && err.contains("not valid"),
            "{err}"
        );
    }
}
