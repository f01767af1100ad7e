//! `sagasu.json`: what the tables do not say — the indexed root, the settings and model of
//! the last run, what it skipped, and the format version. Written whole by the writer (temp
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
    /// Absolute path of the indexed tree.
    pub root: Option<PathBuf>,
    pub last_run: Option<RunSummary>,
    /// Files left out by the last run, with the reason.
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
    /// The model that made the vectors in the `vectors` table, and where it was loaded from.
    #[serde(default)]
    pub model: Option<ModelInfo>,
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    /// How the tree was indexed, so that `serve` and `watch --db` re-run it the same way.
    #[serde(default)]
    pub settings: Option<RunSettings>,
    /// The cross-encoder `search` and `serve` rerank with by default (`index --rerank`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reranker: Option<RerankerSetting>,
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// Reads `sagasu.json`; an absent one is an empty [`Meta`].
pub async fn read_meta(at: &Location) -> Result<Meta> {
    let bad = |message: String| StoreError::File {
        path: at.label(META_FILE),
        message,
    };
    let meta: Meta = match at.read(META_FILE).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not valid index metadata ({e})")))?,
        None => Meta::default(),
    };
    match meta.format {
        Some(found) if found > FORMAT_VERSION => Err(StoreError::NewerFormat {
            dir: at.to_string(),
            found,
        }),
        _ => Ok(meta),
    }
}

/// Writes `sagasu.json` whole (a kill never leaves half of it), stamped with this sagasu's
/// [`FORMAT_VERSION`].
pub async fn write_meta(at: &Location, meta: &Meta) -> Result<()> {
    let stamped = Meta {
        format: Some(FORMAT_VERSION),
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
            .root
            .is_none());
        let meta = Meta {
            root: Some("/tree".into()),
            ..Meta::default()
        };
        write_meta(&at, &meta).await.expect("write");
        let back = read_meta(&at).await.expect("read");
        assert_eq!(back.format, Some(FORMAT_VERSION));
        assert_eq!(back.root, meta.root);
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
        std::fs::write(dir.path().join(META_FILE), b"{garbage").unwrap();
        let err = read_meta(&at).await.expect_err("garbage").to_string();
        assert!(
            err.contains(META_FILE) && err.contains("not valid"),
            "{err}"
        );
    }
}
