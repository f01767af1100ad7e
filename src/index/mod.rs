//! An index run: ingest → store (→ embed), incremental, one writer at a time.
//!
//! A run takes the writer lock (a lease on object storage), records the root, reads the manifest (every indexed file's
//! size, mtime and hash), then [`pipeline`] walks and reads only new and changed files while
//! [`writer`] streams their sections into a few large appends; files gone from the tree are
//! deleted, the tables maintained, and [`vectors`] embeds the texts that lack a vector. A
//! killed run leaves whole files behind; the next run picks up where it ended.

pub mod options;
pub mod pipeline;
pub mod vectors;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::runtime::Handle;

pub use options::{IndexOptions, ModelChoice, Shard};
use pipeline::{read_tree, Outcome};
use vectors::{embed_missing, load_model, LoadedModel};
use writer::SectionWriter;

use crate::ingest::discover::{relative_display, WarningKind};
use crate::progress::Progress;
use crate::store::{
    read_meta, Access, FileState, Maintenance, Meta, Reads, RunSummary, SkippedFile, Store,
    StoreError, WriterLock,
};

/// Index runs that share one loaded model: `watch` and `serve` keep one and run it on every
/// change, instead of loading the model each time.
pub struct Indexer {
    opts: IndexOptions,
    /// `None`: keyword index only.
    model: Option<LoadedModel>,
}

impl Indexer {
    /// Loads the model first: a broken model directory fails here, before anything is written.
    pub fn new(opts: IndexOptions, runtime: &Handle, progress: &Progress) -> Result<Indexer> {
        let model = match &opts.model {
            Some(choice) => load_model(choice, runtime, progress)?,
            None => None,
        };
        Ok(Indexer { opts, model })
    }

    /// One incremental run: reads new and changed files, removes deleted ones, fills vectors.
    pub fn run(&self, runtime: &Handle, progress: &Progress) -> Result<RunSummary> {
        let started = Instant::now();
        let opts = &self.opts;
        let root = opts
            .root
            .canonicalize()
            .with_context(|| format!("cannot open root {}", opts.root.display()))?;
        let lock = runtime.block_on(WriterLock::acquire(&opts.db, opts.lease))?;
        let (mut store, mut meta, manifest) = open_for_run(opts, &root, runtime, progress)?;
        store.hold(lock);
        let manifest = Arc::new(manifest);
        let reported = store.repairs().len();
        let mut summary = RunSummary::default();
        let tree = write_tree(
            opts,
            &root,
            &manifest,
            &mut store,
            runtime,
            progress,
            &mut summary,
        )?;
        summary.files_removed = remove_missing(&manifest, &tree, &mut store, runtime)?;
        progress.set_message("optimizing");
        runtime.block_on(store.maintain(Maintenance::AfterRun))?;
        for r in store.repairs().iter().skip(reported) {
            progress.warn(&format!("repaired {}: {r}", opts.db));
        }
        // Keyword search is complete from here on; vectors follow.
        if let Some(model) = &self.model {
            summary.vectors_written = runtime.block_on(embed_missing(
                &mut store, &mut meta, model, opts.shard, true, progress,
            ))?;
        }
        summary.repairs = store.repairs().to_vec();
        finish(&mut summary, &store, progress, started);
        meta.skipped = tree.skipped;
        meta.last_run = Some(summary.clone());
        runtime.block_on(async {
            store.write_meta(&meta).await?;
            store.release().await;
            Ok::<_, StoreError>(())
        })?;
        Ok(summary)
    }

    /// `--shard I/N` without a tree: embeds share I of the texts that lack a vector into the
    /// index's vectors table, beside other shards on other hosts. Takes no writer lock (it
    /// writes no sections and no metadata); needs the model the index records.
    pub fn embed_share(&self, runtime: &Handle, progress: &Progress) -> Result<RunSummary> {
        let started = Instant::now();
        let opts = &self.opts;
        let model = self
            .model
            .as_ref()
            .context("a shard run embeds: give the index's model (--model), not --no-embed")?;
        let mut store_opts = opts.store;
        store_opts.reads = Reads::AsOpened;
        let mut store = runtime.block_on(Store::open(&opts.db, Access::Read, store_opts))?;
        let mut meta = runtime.block_on(read_meta(&opts.db))?;
        let mut summary = RunSummary {
            vectors_written: runtime.block_on(embed_missing(
                &mut store, &mut meta, model, opts.shard, false, progress,
            ))?,
            ..RunSummary::default()
        };
        finish(&mut summary, &store, progress, started);
        Ok(summary)
    }
}

/// What every run reports at its end: commits, the most threads seen, time.
fn finish(summary: &mut RunSummary, store: &Store, progress: &Progress, started: Instant) {
    summary.commits = store.commits();
    progress.sample();
    summary.max_threads = progress.max_threads();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.finished_at = now_rfc3339();
}

/// Opens the store for writing, repairing what cannot be read (a table that does not open or
/// whose manifest does not read is made again, an unreadable `sagasu.json` is started
/// afresh), and records the root and settings before the first commit, so a killed first run
/// still leaves a valid index. Returns the manifest of indexed files too.
fn open_for_run(
    opts: &IndexOptions,
    root: &Path,
    runtime: &Handle,
    progress: &Progress,
) -> Result<(Store, Meta, HashMap<String, FileState>)> {
    let mut store = runtime.block_on(Store::open(&opts.db, Access::Write, opts.store))?;
    if store.outdated_table_dropped() {
        progress.warn(&format!(
            "note: {} was made by an older sagasu; rebuilding its sections from the tree",
            opts.db
        ));
    }
    let mut meta = runtime.block_on(store.read_meta_or_repair())?;
    let manifest = match runtime.block_on(store.manifest()) {
        Ok(manifest) => manifest,
        Err(e) => {
            runtime.block_on(store.rebuild_sections(&e))?;
            HashMap::new()
        }
    };
    for r in store.repairs() {
        progress.warn(&format!("repaired {}: {r}", opts.db));
    }
    if let Some(old_root) = meta.root.as_ref().filter(|r| r.as_path() != root) {
        progress.warn(&format!(
            "note: {} indexed {} before; it now indexes {}",
            opts.db,
            old_root.display(),
            root.display()
        ));
    }
    meta.root = Some(root.to_path_buf());
    meta.settings = Some(opts.settings());
    if let Some(reranker) = &opts.record_reranker {
        meta.reranker = reranker.clone();
    }
    runtime.block_on(store.write_meta(&meta))?;
    Ok((store, meta, manifest))
}

/// What the walk saw: the paths whose rows stay, the files left out, and the paths it could
/// not read (whose rows stay too: a walk error is not a deletion).
struct TreeRead {
    seen: HashSet<String>,
    skipped: Vec<SkippedFile>,
    unreadable: Vec<String>,
}

/// Reads the tree and writes the sections of new and changed files.
fn write_tree(
    opts: &IndexOptions,
    root: &Path,
    manifest: &Arc<HashMap<String, FileState>>,
    store: &mut Store,
    runtime: &Handle,
    progress: &Progress,
    summary: &mut RunSummary,
) -> Result<TreeRead> {
    let mut tree = TreeRead {
        seen: HashSet::with_capacity(manifest.len()),
        skipped: Vec::new(),
        unreadable: Vec::new(),
    };
    let mut writer = SectionWriter::new(runtime, opts.batch_rows, opts.batch_bytes);
    let warnings = read_tree(opts, root, manifest, progress, |outcome| {
        summary.files_seen += 1;
        match outcome {
            Outcome::Unchanged(path) => {
                summary.files_unchanged += 1;
                tree.seen.insert(path);
                progress.file_done(0);
            }
            Outcome::Skipped {
                path,
                reason,
                keep_old,
            } => {
                summary.files_skipped += 1;
                progress.warn(&format!("skipped {path}: {reason}"));
                if keep_old {
                    tree.seen.insert(path.clone());
                }
                tree.skipped.push(SkippedFile {
                    path,
                    reason: reason.to_string(),
                });
                progress.file_done(0);
            }
            Outcome::Parsed { rows, had_rows } => {
                summary.files_indexed += 1;
                tree.seen.insert(rows.path.clone());
                progress.file_done(rows.sections.len() as u64);
                writer.push(rows, had_rows, store)?;
            }
        }
        Ok(())
    })?;
    for w in &warnings {
        let shown = w
            .path
            .as_ref()
            .map(|p| relative_display(root, p))
            .unwrap_or_default();
        match w.kind {
            WarningKind::SkippedFile => {
                summary.files_skipped += 1;
                progress.warn(&format!("skipped {shown}: {}", w.message));
                tree.skipped.push(SkippedFile {
                    path: shown,
                    reason: w.message.clone(),
                });
            }
            WarningKind::Unreadable if w.path.is_some() => {
                progress.warn(&format!(
                    "walk: {shown}: {} (what the index holds under it is kept)",
                    w.message
                ));
                tree.unreadable.push(shown);
            }
            _ => progress.warn(&format!("walk: {shown}: {}", w.message)),
        }
    }
    summary.sections_written += writer.finish(store)? as u64;
    tree.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(tree)
}

/// Deletes the rows of indexed files the walk did not see (and that are not under a path it
/// could not read); returns how many files.
fn remove_missing(
    manifest: &HashMap<String, FileState>,
    tree: &TreeRead,
    store: &mut Store,
    runtime: &Handle,
) -> Result<u64> {
    let removed = missing(manifest.keys(), tree);
    if !removed.is_empty() {
        runtime.block_on(store.delete_paths(&removed))?;
    }
    Ok(removed.len() as u64)
}

/// The indexed paths gone from the tree, sorted.
fn missing<'a>(indexed: impl Iterator<Item = &'a String>, tree: &TreeRead) -> Vec<String> {
    let under_unreadable = |p: &str| {
        tree.unreadable.iter().any(|u| {
            u.is_empty() || p == u || (p.starts_with(u.as_str()) && p[u.len()..].starts_with('/'))
        })
    };
    let mut removed: Vec<String> = indexed
        .filter(|p| !tree.seen.contains(*p) && !under_unreadable(p))
        .cloned()
        .collect();
    removed.sort();
    removed
}

/// Current UTC time as RFC 3339.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The index of a tree when none is given: the directory `ROOT/.sagasu`.
pub fn default_db(root: &Path) -> crate::store::Location {
    crate::store::Location::Dir(root.join(crate::INDEX_DIR_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_error_is_not_a_deletion() {
        let indexed: Vec<String> = [
            "a.md",
            "gone.md",
            "locked/x.md",
            "locked/deep/y.md",
            "lockedness.md",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let tree = TreeRead {
            seen: ["a.md".to_string()].into_iter().collect(),
            skipped: Vec::new(),
            unreadable: vec!["locked".into()],
        };
        assert_eq!(missing(indexed.iter(), &tree), ["gone.md", "lockedness.md"]);
        let root_unreadable = TreeRead {
            unreadable: vec![String::new()],
            ..tree
        };
        assert!(missing(indexed.iter(), &root_unreadable).is_empty());
    }
}
