//! Errors at the store boundary: what went wrong, in words a user (or an MCP client) can act
//! on, and whether trying again on a freshly opened store can help.

use std::path::PathBuf;

use super::meta::META_FILE;
use super::schema::FORMAT_VERSION;

/// Why an index could not be opened, read or written. Variants name the index (`dir`: its
/// location as given) or the file, and say what to do; [`StoreError::is_retryable`] and
/// [`StoreError::may_be_damage`] decide what a caller does next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The location holds no index.
    #[error("{dir} is not a sagasu index (no {META_FILE}); run `sagasu index` on a tree first")]
    NotAnIndex {
        /// The index location.
        dir: String,
    },
    /// The index was written in a layout this binary no longer reads.
    #[error("the index at {dir} was made by an older sagasu ({what}); run `sagasu index` on its tree to rebuild it")]
    OlderLayout {
        /// The index location.
        dir: String,
        /// What is older (the table or the format).
        what: String,
    },
    /// The index was written by a newer sagasu.
    #[error("the index at {dir} has format {found}, newer than this sagasu reads ({FORMAT_VERSION}); upgrade sagasu")]
    NewerFormat {
        /// The index location.
        dir: String,
        /// The format version it records.
        found: u32,
    },
    /// The index exists but no run has committed sections yet.
    #[error("the index at {dir} has no sections yet")]
    NoSections {
        /// The index location.
        dir: String,
    },
    /// A vector operation on an index made without a model.
    #[error("this index has no vectors")]
    NoVectors,
    /// A file of the index (`sagasu.json`, the lock, the directory) cannot be used.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Object storage refused or failed a request (credentials, network, bucket): not damage.
    #[error("{path}: {message}")]
    ObjectStore {
        /// The object's location.
        path: String,
        /// What the object store said.
        message: String,
    },
    /// Another process holds the writer lock (or lease).
    #[error("another sagasu process is writing to {dir} ({by}); wait for it to finish")]
    Busy {
        /// The index location.
        dir: String,
        /// Who holds it: the lock file, or the lease's holder and term.
        by: String,
    },
    /// The writer lease on object storage was not renewed in time: another writer may hold it.
    #[error("this run lost the writer lease of {dir} (not renewed in time) and stopped before its next commit; run it again")]
    LeaseLost {
        /// The index location.
        dir: String,
    },
    /// A LanceDB call failed while `doing` something; the cause is kept (its message
    /// without source locations is what the chain shows).
    #[error("{doing}")]
    Lance {
        /// What sagasu was doing.
        doing: String,
        /// LanceDB's error.
        #[source]
        source: LanceFailure,
    },
    /// What a reader was reading is gone: rows compacted away since a search found them, or
    /// a file of the version it opened pruned by a concurrent run. Not damage: the latest
    /// version has it all, and a freshly opened store succeeds.
    #[error("{doing}: {message}")]
    Vanished {
        /// What sagasu was reading.
        doing: String,
        /// What is gone.
        message: String,
    },
    /// Arrow data of a shape sagasu did not write or cannot build (a batch that does not
    /// assemble, a result column of another type): a bug, not damage a re-index repairs.
    #[error("{doing}: {message} (an internal error of sagasu, not damage to the index)")]
    Codec {
        /// What sagasu was building or decoding.
        doing: String,
        /// What did not fit.
        message: String,
    },
    /// An invariant of sagasu's own code failed (a writer thread gone, an operation of an
    /// unexpected kind): a bug, not damage.
    #[error("{doing}: {message} (an internal error of sagasu, not damage to the index)")]
    Internal {
        /// What sagasu was doing.
        doing: String,
        /// The invariant that failed.
        message: String,
    },
}

/// The cause of [`StoreError::Lance`]: LanceDB's error, kept whole for callers that look at
/// its kind, shown as its message without the source locations LanceDB appends (paths into
/// the Rust toolchain and dependencies, which mean nothing to a user).
#[derive(Debug)]
pub struct LanceFailure {
    error: lancedb::Error,
    message: String,
    vanished: bool,
}

impl LanceFailure {
    /// LanceDB's error.
    pub fn error(&self) -> &lancedb::Error {
        &self.error
    }

    /// Whether it says a file or version is not there (see [`vanished`]).
    pub fn is_vanished(&self) -> bool {
        self.vanished
    }
}

impl std::fmt::Display for LanceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

// No `source()`: LanceDB's own chain repeats the message with source locations; the error
// itself is reachable through `LanceFailure::error`.
impl std::error::Error for LanceFailure {}

impl StoreError {
    /// Whether reopening the store and trying again can succeed: what was read vanished
    /// under the reader (decided by the error's kind, never by its text).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Vanished { .. } => true,
            StoreError::Lance { source, .. } => source.vanished,
            _ => false,
        }
    }

    /// Whether the index itself may be damaged: a table or `sagasu.json` failed to read in a
    /// way that a re-index repairs (not a vanished old version, a bug, object storage being
    /// unreachable, or an index that is not there).
    pub fn may_be_damage(&self) -> bool {
        match self {
            StoreError::Lance { source, .. } => !source.vanished,
            StoreError::File { .. } => true,
            _ => false,
        }
    }

    /// A LanceDB error while `doing` something.
    pub fn lance(doing: impl Into<String>, e: lancedb::Error) -> StoreError {
        StoreError::Lance {
            doing: doing.into(),
            source: LanceFailure {
                message: without_source_locations(&e.to_string()),
                vanished: vanished(&e),
                error: e,
            },
        }
    }

    /// The error and its causes on one line, as `anyhow` shows them with `{:#}`.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
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

/// Whether a LanceDB error says that a file or version is not there: what a reader meets
/// when a concurrent run pruned the version it had open. Decided by the kinds along the
/// error's chain (Lance's `NotFound`, object storage's `NotFound`, an I/O `NotFound`). One
/// exception reads text: Lance passes the error of a background task (the deletion-file
/// prerequisite of a scan, a cloned error) on as a string only, so for those kinds the
/// message is the only record of what failed.
fn vanished(e: &lancedb::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(l) = err.downcast_ref::<lance::Error>() {
            match l {
                lance::Error::NotFound { .. } | lance::Error::VersionNotFound { .. } => {
                    return true
                }
                lance::Error::PrerequisiteFailed { message, .. }
                | lance::Error::Cloned { message, .. }
                    if says_not_found(message) =>
                {
                    return true
                }
                _ => {}
            }
        }
        if let Some(object_store::Error::NotFound { .. }) =
            err.downcast_ref::<object_store::Error>()
        {
            return true;
        }
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// A stringified Lance `NotFound` ("Not found: …") or object-store `NotFound`.
fn says_not_found(message: &str) -> bool {
    message.starts_with("Not found: ") || message.contains(" not found: ")
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

    fn lance_error(e: lance::Error) -> StoreError {
        StoreError::lance("running the full-text query", e.into())
    }

    #[test]
    fn vanished_files_are_retried_by_kind_and_are_not_damage() {
        let missing = "/db/sections.lance/_deletions/0-178-1.arrow";
        // Lance's own NotFound; the stringified one a scan's deletion prerequisite passes on
        // (the error of issue 24); an object store's NotFound; an I/O NotFound.
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        for e in [
            lance::Error::not_found(missing),
            lance::Error::prerequisite_failed(format!("Not found: {missing}, src/x.rs:1:2")),
            lance::Error::from(object_store::Error::NotFound {
                path: missing.into(),
                source: "gone".into(),
            }),
            lance::Error::from(io),
        ] {
            let shown = e.to_string();
            let e = lance_error(e);
            assert!(e.is_retryable(), "{shown}");
            assert!(!e.may_be_damage(), "{shown}");
        }
        // Anything else is neither retried nor taken for a vanished file.
        for e in [
            lance::Error::corrupt_file(missing.into(), "bad magic"),
            lance::Error::prerequisite_failed("LanceError(IO): connection reset"),
            lance::Error::internal("not found in the map"),
        ] {
            let shown = e.to_string();
            let e = lance_error(e);
            assert!(!e.is_retryable(), "{shown}");
            assert!(e.may_be_damage(), "{shown}");
        }
    }

    #[test]
    fn the_cause_is_kept_and_shown_once_without_source_locations() {
        let e = lance_error(lance::Error::corrupt_file(
            "/db/sections.lance/data/x.lance".into(),
            "bad magic",
        ));
        let StoreError::Lance { source, .. } = &e else {
            panic!("a LanceDB error: {e:?}")
        };
        assert!(matches!(source.error(), lancedb::Error::Lance { .. }));
        let chain = e.chain();
        assert!(
            chain.starts_with("running the full-text query: "),
            "{chain}"
        );
        assert_eq!(chain.matches("bad magic").count(), 1, "{chain}");
        assert!(!chain.contains(".rs:"), "{chain}");
        let bug = StoreError::Codec {
            doing: "reading results".into(),
            message: "column id has an unexpected type".into(),
        };
        assert!(!bug.may_be_damage() && !bug.is_retryable());
        assert!(bug.to_string().contains("internal error"), "{bug}");
    }

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
