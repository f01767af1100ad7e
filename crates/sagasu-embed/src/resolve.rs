//! Finding a model's files: a local directory, else the Hugging Face cache (the layout
//! Python's `huggingface_hub` writes, so an existing download is reused), else a download.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::MODEL_FILES;

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "cl-nagoya/ruri-v3-30m";

/// How long the first (small) file of a download may take before the hub counts as unreachable.
const FIRST_FILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Optional files fetched with a model when present.
const OPTIONAL_FILES: [&str; 1] = ["config_sentence_transformers.json"];

/// The Hugging Face hub cache directory: `$HF_HUB_CACHE`, `$HF_HOME/hub`, or
/// `~/.cache/huggingface/hub`.
pub fn hf_cache_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return Some(PathBuf::from(p).join("hub"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// `org/name` → the cached snapshot directory holding every model file, if any.
pub fn find_in_cache(cache: &Path, id: &str, revision: &str) -> Option<PathBuf> {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let commit = std::fs::read_to_string(repo.join("refs").join(revision))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| revision.to_string());
    let snapshot = repo.join("snapshots").join(commit);
    MODEL_FILES
        .iter()
        .all(|f| snapshot.join(f).is_file())
        .then_some(snapshot)
}

/// The paragraph shown when no model can be had: what happened and how to get one.
pub fn how_to_get_model(id: &str, cause: &str) -> String {
    format!(
        "no embedding model available ({cause}).\n\
         Indexing goes on with keyword search only; vectors are added by the next `sagasu index` that finds the model.\n\
         To get the model, do one of:\n\
         - on a machine with network access, run `sagasu index` once (it downloads {id} into the Hugging Face cache), or\n\
         - copy a directory with config.json, tokenizer.json and model.safetensors here and pass `--model DIR`, or\n\
         - `huggingface-cli download {id}` (fills ~/.cache/huggingface/hub, which sagasu reads), or\n\
         - pass `--no-embed` to silence this."
    )
}

/// Resolves `model` (a directory or a hub id) to a directory with the model files.
/// `download`: whether the network may be tried.
/// Whether a model missing from the cache may be downloaded: not when `HF_HUB_OFFLINE` is set
/// (as the Hugging Face tools read it).
pub fn downloads_allowed() -> bool {
    std::env::var_os("HF_HUB_OFFLINE").is_none_or(|v| v.is_empty() || v == "0")
}

pub fn resolve(model: &str, download: bool, runtime: &tokio::runtime::Handle) -> Result<PathBuf> {
    let as_path = Path::new(model);
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    if model.starts_with('.') || model.starts_with('/') || model.split('/').count() != 2 {
        bail!("model {model:?} is neither a directory nor a hub id like org/name");
    }
    let cache =
        hf_cache_dir().ok_or_else(|| anyhow!("no home directory for the Hugging Face cache"))?;
    if let Some(dir) = find_in_cache(&cache, model, "main") {
        return Ok(dir);
    }
    if !download {
        bail!(
            "{model} is not in the Hugging Face cache at {}",
            cache.display()
        );
    }
    runtime.block_on(download_model(model, &cache))
}

async fn download_model(id: &str, cache: &Path) -> Result<PathBuf> {
    let (owner, name) = id
        .split_once('/')
        .ok_or_else(|| anyhow!("bad hub id {id}"))?;
    let client = hf_hub::HFClient::builder()
        .cache_dir(cache.to_path_buf())
        .retry_max_attempts(1)
        .build()
        .map_err(|e| anyhow!("cannot start the hub client: {e}"))?;
    let repo = client.model(owner, name);
    let mut dir: Option<PathBuf> = None;
    for (i, f) in MODEL_FILES.iter().enumerate() {
        let bar = download_bar(&format!("{id}/{f}"));
        let request = repo
            .download_file()
            .filename(*f)
            .progress(hf_hub::progress::Progress::new(DownloadBar(bar.clone())))
            .send();
        // The first file is small: if it does not come within the timeout the hub is out of
        // reach (a firewall that drops packets would otherwise hang the run).
        let result = if i == 0 {
            tokio::time::timeout(FIRST_FILE_TIMEOUT, request)
                .await
                .map_err(|_| anyhow!("no answer from the hub within {FIRST_FILE_TIMEOUT:?}"))?
        } else {
            request.await
        };
        bar.finish_and_clear();
        let path = result.map_err(|e| anyhow!("cannot download {id}/{f}: {e}"))?;
        eprintln!("downloaded {id}/{f}");
        dir = path.parent().map(Path::to_path_buf);
    }
    for f in OPTIONAL_FILES {
        let _ = repo.download_file().filename(f).send().await;
    }
    dir.context("download returned no path")
}

/// A byte progress bar on stderr (hidden when stderr is not a terminal).
fn download_bar(what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        None,
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    let style = indicatif::ProgressStyle::with_template(
        "downloading {msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// Feeds hf-hub's download events into a progress bar.
struct DownloadBar(indicatif::ProgressBar);

impl hf_hub::progress::ProgressHandler for DownloadBar {
    fn on_progress(&self, event: &hf_hub::progress::ProgressEvent) {
        use hf_hub::progress::{DownloadEvent, ProgressEvent};
        let (done, total) = match event {
            ProgressEvent::Download(DownloadEvent::Start { total_bytes, .. }) => (0, *total_bytes),
            ProgressEvent::Download(DownloadEvent::Progress { files }) => (
                files.iter().map(|f| f.bytes_completed).sum(),
                files.iter().map(|f| f.total_bytes).sum(),
            ),
            ProgressEvent::Download(DownloadEvent::AggregateProgress {
                bytes_completed,
                total_bytes,
                ..
            }) => (*bytes_completed, *total_bytes),
            _ => return,
        };
        if total > 0 {
            self.0.set_length(total);
        }
        self.0.set_position(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_snapshot_in_the_python_cache_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("models--org--m");
        let snap = repo.join("snapshots/abc123");
        std::fs::create_dir_all(&snap).expect("mkdir");
        std::fs::create_dir_all(repo.join("refs")).expect("mkdir");
        std::fs::write(repo.join("refs/main"), "abc123\n").expect("write");
        assert_eq!(
            find_in_cache(dir.path(), "org/m", "main"),
            None,
            "files missing"
        );
        for f in MODEL_FILES {
            std::fs::write(snap.join(f), "x").expect("write");
        }
        assert_eq!(find_in_cache(dir.path(), "org/m", "main"), Some(snap));
        assert_eq!(find_in_cache(dir.path(), "org/other", "main"), None);
    }

    #[test]
    fn download_events_move_the_bar() {
        use hf_hub::progress::{DownloadEvent, ProgressEvent, ProgressHandler};
        let bar = indicatif::ProgressBar::hidden();
        let handler = DownloadBar(bar.clone());
        handler.on_progress(&ProgressEvent::Download(DownloadEvent::Start {
            total_files: 1,
            total_bytes: 1000,
        }));
        assert_eq!(bar.length(), Some(1000));
        handler.on_progress(&ProgressEvent::Download(DownloadEvent::AggregateProgress {
            bytes_completed: 250,
            total_bytes: 1000,
            bytes_per_sec: None,
        }));
        assert_eq!(bar.position(), 250);
    }
}
