//! Errors at the store boundary: what went wrong, in words a user (or an MCP client) can act
//! on, and whether trying again on a freshly opened store can help.

use std::path::PathBuf;

use super::meta::META_FILE;
use super::schema::FORMAT_VERSION;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{dir} is not a sagasu index (no {META_FILE}); run `sagasu index` on a tree first")]
    NotAnIndex { dir: String },
    #[error("the index at {dir} was made by an older sagasu ({what}); run `sagasu index` on its tree to rebuild it")]
    OlderLayout { dir: String, what: String },
    #[error("the index at {dir} has format {found}, newer than this sagasu reads ({FORMAT_VERSION}); upgrade sagasu")]
    NewerFormat { dir: String, found: u32 },
    #[error("the index at {dir} has no sections yet")]
    NoSections { dir: String },
    #[error("this index has no vectors")]
    NoVectors,
    /// A file of the index (`sagasu.json`, the lock, the directory) cannot be used.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// Object storage refused or failed a request (credentials, network, bucket): not damage.
    #[error("{path}: {message}")]
    ObjectStore { path: String, message: String },
    #[error("another sagasu process is writing to {dir} ({by}); wait for it to finish")]
    Busy { dir: String, by: String },
    /// The writer lease on object storage was not renewed in time: another writer may hold it.
    #[error("this run lost the writer lease of {dir} (not renewed in time) and stopped before its next commit; run it again")]
    LeaseLost { dir: String },
    /// A LanceDB call failed. `changed`: what it read was gone (a concurrent run pruned the
    /// version this handle had open): a freshly opened store can succeed.
    #[error("{doing}: {message}")]
    Lance {
        doing: String,
        message: String,
        changed: bool,
    },
}

impl StoreError {
    /// Whether reopening the store and trying again can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Lance { changed: true, .. })
    }

    /// A LanceDB error while `doing` something, with the source locations LanceDB appends to
    /// its messages (paths into the Rust toolchain and dependencies) taken out.
    pub fn lance(doing: impl Into<String>, e: lancedb::Error) -> StoreError {
        let changed = was_changed(&e);
        StoreError::Lance {
            doing: doing.into(),
            message: without_source_locations(&e.to_string()),
            changed,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Adds what was being done to a LanceDB result.
pub trait LanceContext<T> {
    fn doing(self, what: &str) -> Result<T>;
}

impl<T> LanceContext<T> for lancedb::Result<T> {
    fn doing(self, what: &str) -> Result<T> {
        self.map_err(|e| StoreError::lance(what, e))
    }
}

impl<T> LanceContext<T> for lance::Result<T> {
    fn doing(self, what: &str) -> Result<T> {
        self.map_err(|e| StoreError::lance(what, e.into()))
    }
}

/// A file or version that vanished under a reader: what a concurrent prune does.
fn was_changed(e: &lancedb::Error) -> bool {
    let lance = match e {
        lancedb::Error::Lance { source } => source,
        lancedb::Error::ObjectStore { source } => {
            return source.to_string().to_lowercase().contains("not found")
        }
        _ => return false,
    };
    match lance {
        lance::Error::NotFound { .. } | lance::Error::VersionNotFound { .. } => true,
        lance::Error::IO { .. } | lance::Error::DatasetNotFound { .. } => {
            let text = lance.to_string().to_lowercase();
            text.contains("not found") || text.contains("no such file")
        }
        _ => false,
    }
}

/// Removes `, /path/to/file.rs:12:34` style locations (and bare ones) from a message.
pub fn without_source_locations(message: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for word in message.split(' ') {
        let bare = word.trim_end_matches([',', ')', ';']);
        let is_location = bare.contains(".rs:")
            && bare
                .rsplit(':')
                .take(2)
                .all(|n| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty());
        let is_toolchain = bare.starts_with("/rustc/") || bare.contains("/.cargo/registry/");
        if is_location || is_toolchain {
            continue;
        }
        out.push(word);
    }
    out.join(" ")
        .replace(" ,", ",")
        .trim_end_matches([',', ' '])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_locations_are_removed() {
        let m = "LanceError(IO): Not found: /db/sections.lance/_versions/3.manifest, /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lance-table-14.0.2/src/io/commit.rs:321:21";
        let clean = without_source_locations(m);
        assert_eq!(
            clean,
            "LanceError(IO): Not found: /db/sections.lance/_versions/3.manifest"
        );
        let m = "Query Execution error: Execution error: bad thing, /rustc/0123abcd/library/core/src/ops/function.rs:250:5";
        assert_eq!(
            without_source_locations(m),
            "Query Execution error: Execution error: bad thing"
        );
        assert_eq!(without_source_locations("plain words"), "plain words");
    }
}
