//! Where an index lives: a directory on local disk, or a prefix on object storage
//! (`s3://bucket/prefix`, `gs://…`, `az://…`) that LanceDB reads and writes itself. The few
//! objects sagasu keeps beside the tables (`sagasu.json`, the writer lease) go through an
//! object store configured from the same environment as LanceDB's, so one set of
//! credentials serves both.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::error::{Result, StoreError};

/// The object stores an index can live on, by URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `s3://`: Amazon S3 and S3-compatible servers (cargo feature `cloud`, on by default).
    S3,
    /// `gs://`: Google Cloud Storage (cargo feature `gcs`).
    Gcs,
    /// `az://`: Azure Blob Storage (cargo feature `azure`).
    Azure,
}

impl Scheme {
    pub const ALL: [Scheme; 3] = [Scheme::S3, Scheme::Gcs, Scheme::Azure];

    /// The scheme a URL names, if it is an object store's.
    pub fn of(scheme: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == scheme)
    }

    pub fn name(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
        }
    }

    /// The prefix of its settings in the environment, lower-cased (`AWS_REGION` → `aws_`).
    fn env_prefix(self) -> &'static str {
        match self {
            Scheme::S3 => "aws_",
            Scheme::Gcs => "google_",
            Scheme::Azure => "azure_",
        }
    }

    /// The cargo feature that builds it in, and whether this build has it.
    fn feature(self) -> (&'static str, bool) {
        match self {
            Scheme::S3 => ("cloud", cfg!(feature = "cloud")),
            Scheme::Gcs => ("gcs", cfg!(feature = "gcs")),
            Scheme::Azure => ("azure", cfg!(feature = "azure")),
        }
    }
}

/// An index's place.
#[derive(Clone)]
pub enum Location {
    /// A directory on local disk.
    Dir(PathBuf),
    /// A prefix on object storage (`s3://bucket/prefix`).
    Remote(Arc<Remote>),
}

/// An index on object storage.
pub struct Remote {
    /// `scheme://bucket/prefix`, without a trailing `/`.
    uri: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The configuration read from the environment, handed to LanceDB as storage options.
    options: Vec<(String, String)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Dir(d) => write!(f, "{}", d.display()),
            Location::Remote(r) => f.write_str(&r.uri),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Location::Dir(a), Location::Dir(b)) => a == b,
            (Location::Remote(a), Location::Remote(b)) => a.uri == b.uri,
            _ => false,
        }
    }
}

impl From<PathBuf> for Location {
    fn from(dir: PathBuf) -> Self {
        Location::Dir(dir)
    }
}

impl From<&Path> for Location {
    fn from(dir: &Path) -> Self {
        Location::Dir(dir.to_path_buf())
    }
}

/// Whether `--db ARG` names object storage (decided before anything is opened: the process
/// sizes its I/O for it).
pub fn names_object_storage(arg: &str) -> bool {
    arg.split_once("://")
        .is_some_and(|(scheme, _)| Scheme::of(scheme).is_some())
}

impl Location {
    /// `--db`: a URL of a remote scheme, else a directory. A URL of any other scheme is
    /// refused rather than taken for a relative directory named `http:`.
    pub fn parse(arg: &str) -> Result<Location> {
        let Some((scheme, rest)) = arg.split_once("://") else {
            return Ok(Location::Dir(PathBuf::from(arg)));
        };
        let refused = |message: String| StoreError::File {
            path: arg.into(),
            message,
        };
        let Some(known) = Scheme::of(scheme) else {
            if scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(refused(format!(
                    "{scheme}:// is not an index location sagasu knows; use a directory or {}",
                    Scheme::ALL.map(|s| format!("{}://", s.name())).join(", ")
                )));
            }
            return Ok(Location::Dir(PathBuf::from(arg)));
        };
        if let (feature, false) = known.feature() {
            return Err(refused(format!(
                "this sagasu was built without {scheme}:// support; build it with `cargo build --release --features {feature}`"
            )));
        }
        if rest.trim_matches('/').is_empty() {
            return Err(refused(format!("give a bucket: {scheme}://BUCKET/PREFIX")));
        }
        let uri = arg.trim_end_matches('/').to_string();
        let options = env_options(known);
        check_http(known, &options).map_err(refused)?;
        let url = url::Url::parse(&uri).map_err(|e| refused(format!("not a valid URL ({e})")))?;
        let (store, prefix) = object_store::parse_url_opts(&url, options.clone())
            .map_err(|e| refused(format!("cannot use this object store ({e})")))?;
        Ok(Location::Remote(Arc::new(Remote {
            uri,
            store: Arc::from(store),
            prefix,
            options,
        })))
    }

    /// The directory, when the index is on local disk.
    pub fn local(&self) -> Option<&Path> {
        match self {
            Location::Dir(d) => Some(d),
            Location::Remote(_) => None,
        }
    }

    /// Whether the index is on object storage.
    pub fn is_remote(&self) -> bool {
        matches!(self, Location::Remote(_))
    }

    /// What errors name for the object `name` of this index.
    pub fn label(&self, name: &str) -> PathBuf {
        match self {
            Location::Dir(d) => d.join(name),
            Location::Remote(r) => PathBuf::from(format!("{}/{name}", r.uri)),
        }
    }

    /// The URI LanceDB connects to. A directory is made absolute: LanceDB takes any URI that
    /// starts with "db" (a relative `db/index`) for its cloud service.
    pub(crate) fn lancedb_uri(&self) -> Result<String> {
        match self {
            Location::Remote(r) => Ok(r.uri.clone()),
            Location::Dir(dir) => {
                let bad = |message: String| StoreError::File {
                    path: dir.clone(),
                    message,
                };
                let absolute = std::path::absolute(dir)
                    .map_err(|e| bad(format!("cannot resolve the index path ({e})")))?;
                absolute
                    .to_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("the index path is not UTF-8".into()))
            }
        }
    }

    /// Storage options for LanceDB (none for a directory).
    pub(crate) fn storage_options(&self) -> &[(String, String)] {
        match self {
            Location::Dir(_) => &[],
            Location::Remote(r) => &r.options,
        }
    }

    /// Reads object `name` beside the tables; `None` when there is none.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let bad = |message: String| StoreError::File {
            path: self.label(name),
            message: format!("cannot read it ({message})"),
        };
        match self {
            Location::Dir(d) => match std::fs::read(d.join(name)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(bad(e.to_string())),
            },
            Location::Remote(r) => {
                let failed =
                    |e: &object_store::Error| remote_error(self.label(name), "cannot read it", e);
                match r.store.get(&r.object(name)).await {
                    Ok(got) => Ok(Some(got.bytes().await.map_err(|e| failed(&e))?.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(failed(&e)),
                }
            }
        }
    }

    /// Replaces object `name` whole: a reader sees the old bytes or the new, never half
    /// (a temporary file and a rename on disk; one PUT on object storage).
    pub async fn write(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let bad = |message: String| StoreError::File {
            path: self.label(name),
            message: format!("cannot write it ({message})"),
        };
        match self {
            Location::Dir(d) => {
                let tmp = d.join(format!("{name}.tmp"));
                std::fs::write(&tmp, bytes).map_err(|e| bad(e.to_string()))?;
                std::fs::rename(&tmp, d.join(name)).map_err(|e| bad(e.to_string()))
            }
            Location::Remote(r) => r
                .store
                .put(&r.object(name), PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| remote_error(self.label(name), "cannot write it", &e)),
        }
    }

    /// Something that changes whenever object `name` is written (its mtime on disk, its ETag
    /// or modification time on object storage); `None` when it cannot be read.
    pub async fn stamp(&self, name: &str) -> Option<String> {
        match self {
            Location::Dir(d) => std::fs::metadata(d.join(name))
                .and_then(|m| m.modified())
                .ok()
                .map(|t| format!("{t:?}")),
            Location::Remote(r) => r
                .store
                .head(&r.object(name))
                .await
                .ok()
                .map(|m| format!("{:?} {} {}", m.e_tag, m.last_modified, m.size)),
        }
    }

    /// Removes everything under `name` (a table's directory), whatever state it is in:
    /// LanceDB cannot drop a table it cannot open.
    pub async fn remove_all(&self, name: &str) -> Result<()> {
        let bad = |message: String| StoreError::File {
            path: self.label(name),
            message: format!("cannot remove the damaged table ({message})"),
        };
        match self {
            Location::Dir(d) => match std::fs::remove_dir_all(d.join(name)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(bad(e.to_string())),
            },
            Location::Remote(r) => {
                let under = r.object(name);
                let failed =
                    |e: object_store::Error| remote_error(self.label(name), "cannot remove it", &e);
                let found: Vec<_> = r
                    .store
                    .list(Some(&under))
                    .map_ok(|m| m.location)
                    .try_collect()
                    .await
                    .map_err(failed)?;
                for path in found {
                    r.store.delete(&path).await.map_err(failed)?;
                }
                Ok(())
            }
        }
    }

    /// Bytes of everything the index holds.
    pub async fn bytes(&self) -> u64 {
        match self {
            Location::Dir(d) => dir_size(d),
            Location::Remote(r) => r
                .store
                .list(Some(&r.prefix))
                .try_fold(0u64, |n, m| async move { Ok(n + m.size) })
                .await
                .unwrap_or(0),
        }
    }
}

impl Remote {
    fn object(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub(crate) fn path_of(&self, name: &str) -> ObjectPath {
        self.object(name)
    }

    /// A second client of the same store, with its own connections: what a thread with its
    /// own runtime uses (connections belong to the runtime that opened them).
    pub(crate) fn new_client(&self) -> Result<Arc<dyn ObjectStore>> {
        let url = url::Url::parse(&self.uri).map_err(|e| StoreError::File {
            path: self.uri.clone().into(),
            message: format!("not a valid URL ({e})"),
        })?;
        let (store, _) = object_store::parse_url_opts(&url, self.options.clone()).map_err(|e| {
            StoreError::File {
                path: self.uri.clone().into(),
                message: format!("cannot use this object store ({e})"),
            }
        })?;
        Ok(Arc::from(store))
    }
}

/// The object store settings in the environment, as `object_store` and LanceDB name them
/// (`AWS_ENDPOINT_URL` → `aws_endpoint_url`): the variables of the scheme's cloud.
fn env_options(scheme: Scheme) -> Vec<(String, String)> {
    let prefix = scheme.env_prefix();
    let mut options: Vec<(String, String)> = std::env::vars()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .filter(|(k, v)| k.starts_with(prefix) && !v.is_empty())
        .collect();
    options.sort();
    options
}

/// A plain-HTTP endpoint is used only when asked for (`AWS_ALLOW_HTTP=true`), and the error
/// says so instead of object_store's "URL scheme is not permitted".
fn check_http(scheme: Scheme, options: &[(String, String)]) -> std::result::Result<(), String> {
    if scheme != Scheme::S3 {
        return Ok(());
    }
    let get = |key: &str| {
        options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let endpoint = get("aws_endpoint_url_s3")
        .or_else(|| get("aws_endpoint_url"))
        .or_else(|| get("aws_endpoint"));
    let allowed = get("aws_allow_http").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match endpoint {
        Some(e) if e.starts_with("http://") && !allowed => Err(format!(
            "the endpoint {e} is plain HTTP; set AWS_ALLOW_HTTP=true to use it"
        )),
        _ => Ok(()),
    }
}

/// An object store's error on `path`, in words: what was being done, what failed, and when no
/// credentials were found (object_store then asks the EC2 metadata service), what to set.
pub(crate) fn remote_error(path: PathBuf, doing: &str, e: &object_store::Error) -> StoreError {
    let text = e.to_string();
    let hint = if text.contains("169.254.169.254") {
        "; no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_SKIP_SIGNATURE=true for a public bucket)"
    } else {
        ""
    };
    StoreError::ObjectStore {
        path: path.display().to_string(),
        message: format!("{doing} ({text}){hint}"),
    }
}

/// Bytes of all files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_urls_and_refusals() {
        assert_eq!(
            Location::parse("idx/.sagasu").unwrap().local(),
            Some(Path::new("idx/.sagasu"))
        );
        assert!(Location::parse("C:/x").unwrap().local().is_some());
        let err = Location::parse("http://host/x").unwrap_err().to_string();
        assert!(err.contains("http://") && err.contains("s3://"), "{err}");
        let err = Location::parse("s3://").unwrap_err().to_string();
        assert!(err.contains("bucket"), "{err}");
        assert_eq!(Scheme::of("gs"), Some(Scheme::Gcs));
        assert_eq!(Scheme::of("azure"), None, "no scheme is taken for another");
        if !cfg!(feature = "gcs") {
            let err = Location::parse("gs://bucket/x").unwrap_err().to_string();
            assert!(err.contains("--features gcs"), "{err}");
        }
    }

    #[test]
    fn each_scheme_reads_its_own_cloud_settings() {
        assert_eq!(Scheme::S3.env_prefix(), "aws_");
        assert_eq!(Scheme::Gcs.env_prefix(), "google_");
        assert_eq!(Scheme::Azure.env_prefix(), "azure_");
    }

    #[test]
    fn missing_credentials_are_named_not_taken_for_damage() {
        let imds = object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://169.254.169.254/latest/api/token".into(),
        };
        let e = remote_error("s3://b/x/sagasu.json".into(), "cannot read it", &imds);
        assert!(matches!(e, StoreError::ObjectStore { .. }));
        let text = e.to_string();
        assert!(
            text.contains("AWS_ACCESS_KEY_ID") && text.contains("s3://b/x/sagasu.json"),
            "{text}"
        );
        let other = object_store::Error::Generic {
            store: "S3",
            source: "connection refused".into(),
        };
        let text = remote_error("s3://b/x".into(), "cannot read it", &other).to_string();
        assert!(!text.contains("AWS_ACCESS_KEY_ID"), "{text}");
    }

    #[test]
    fn plain_http_endpoints_need_to_be_allowed() {
        let opts = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let why = check_http(
            Scheme::S3,
            &opts(&[("aws_endpoint_url", "http://127.0.0.1:1")]),
        )
        .expect_err("plain http");
        assert!(why.contains("AWS_ALLOW_HTTP"), "{why}");
        assert!(check_http(
            Scheme::S3,
            &opts(&[
                ("aws_endpoint_url", "http://127.0.0.1:1"),
                ("aws_allow_http", "true")
            ])
        )
        .is_ok());
        assert!(check_http(Scheme::S3, &opts(&[("aws_endpoint_url", "https://s3.x")])).is_ok());
    }
}
