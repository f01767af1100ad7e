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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tokio::runtime::Handle;

use options::{check_name, recorded_roots};
pub use options::{IndexOptions, ModelChoice, Root, Shard};
use pipeline::{read_tree, Outcome};
use vectors::{embed_missing, load_model, LoadedModel};
use writer::SectionWriter;

use crate::ingest::discover::{relative_display, WarningKind};
use crate::progress::Progress;
use crate::store::schema::FORMAT_VERSION;
use crate::store::{
    read_meta, Access, Collection, FileState, Filter, Maintenance, Meta, Reads, RunSummary,
    SkippedFile, Store, StoreError, WriterLock,
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

    /// One incremental run over the roots of the options (every recorded collection when
    /// none is given): reads new and changed files, removes deleted ones, fills vectors.
    /// Collections not named are left as they are.
    pub fn run(&self, runtime: &Handle, progress: &Progress) -> Result<RunSummary> {
        let started = Instant::now();
        let opts = &self.opts;
        // Before anything is created: a missing root must not leave an index behind.
        for r in &opts.roots {
            r.path
                .canonicalize()
                .with_context(|| format!("cannot open root {}", r.path.display()))?;
        }
        let lock = runtime.block_on(WriterLock::acquire(&opts.db, opts.lease))?;
        let (mut store, mut meta, roots) = open_for_run(opts, runtime, progress)?;
        store.hold(lock);
        let reported = store.repairs().len();
        let mut summary = RunSummary::default();
        for (root, path, manifest) in roots {
            let collection_started = Instant::now();
            let manifest = Arc::new(manifest);
            let mut done = RunSummary::default();
            let tree = write_tree(
                opts, &root, &path, &manifest, &mut store, runtime, progress, &mut done,
            )?;
            done.files_removed = remove_missing(&root.name, &manifest, &tree, &mut store, runtime)?;
            done.seconds = collection_started.elapsed().as_secs_f64();
            done.finished_at = now_rfc3339();
            summary.add(&done);
            if let Some(c) = meta.collections.iter_mut().find(|c| c.name == root.name) {
                c.last_run = Some(done);
                c.skipped = tree.skipped;
            }
        }
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
        meta.last_run = Some(summary.clone());
        runtime.block_on(async {
            store.write_meta(&meta).await?;
            store.release().await;
            Ok::<_, StoreError>(())
        })?;
        Ok(summary)
    }

    /// Drops collection `name` from the index: its rows and its record. The trees and the
    /// other collections are untouched.
    pub fn remove(&self, name: &str, runtime: &Handle) -> Result<RunSummary> {
        let opts = &self.opts;
        let lock = runtime.block_on(WriterLock::acquire(&opts.db, opts.lease))?;
        runtime.block_on(async {
            let mut store = Store::open(&opts.db, Access::Read, opts.store).await?;
            store.hold(lock);
            let mut meta = store.read_meta().await?;
            if meta.collection(name).is_none() {
                store.release().await;
                bail!(
                    "{} has no collection named {name:?}; it has: {}",
                    opts.db,
                    names_or_none(&meta)
                );
            }
            let files = store
                .count(&Filter::collection(name).and(Filter::FirstSections))
                .await?;
            store.delete_collection(name).await?;
            store.maintain(Maintenance::AfterRun).await?;
            meta.collections.retain(|k| k.name != name);
            store.write_meta(&meta).await?;
            store.release().await;
            Ok(RunSummary {
                files_removed: files,
                commits: store.commits(),
                finished_at: now_rfc3339(),
                ..RunSummary::default()
            })
        })
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
/// afresh), and records the collections and settings before the first commit, so a killed
/// first run still leaves a valid index. Returns the roots to read, each with its canonical
/// path: those of the options, or every recorded one when none is given or when the sections
/// had to be made again (nothing already indexed is left out of the new table).
fn open_for_run(
    opts: &IndexOptions,
    runtime: &Handle,
    progress: &Progress,
) -> Result<(Store, Meta, Vec<(Root, PathBuf, Manifest)>)> {
    let mut store = runtime.block_on(Store::open(&opts.db, Access::Write, opts.store))?;
    let mut meta = runtime.block_on(store.read_meta_or_repair())?;
    let mut roots = collections_to_run(&opts.roots, &meta, &opts.db)?;
    let mut manifests = Vec::with_capacity(roots.len());
    let mut rebuilt = store.outdated_table_dropped();
    // Same layout, older format: the sections' terms are made otherwise now (format 6 added
    // the path's), so they are made again; the vectors stay, keyed by what the model reads.
    let older = meta.format.filter(|f| *f < FORMAT_VERSION);
    if older.is_some() && !rebuilt {
        runtime.block_on(store.rebuild_sections(None))?;
        rebuilt = true;
    }
    if rebuilt {
        let which = older.map(|f| format!(" (format {f})")).unwrap_or_default();
        progress.warn(&format!(
            "note: {} was made by an older sagasu{which}; rebuilding its sections from the tree",
            opts.db
        ));
    }
    meta.format = Some(FORMAT_VERSION);
    for (root, _) in &roots {
        match runtime.block_on(store.manifest(&root.name)) {
            Ok(m) => manifests.push(m),
            Err(e) => {
                runtime.block_on(store.rebuild_sections(Some(&e)))?;
                rebuilt = true;
                break;
            }
        }
    }
    for r in store.repairs() {
        progress.warn(&format!("repaired {}: {r}", opts.db));
    }
    if rebuilt {
        // The sections were made again: every recorded tree is read again with them.
        for r in recorded_roots(&meta) {
            if !roots.iter().any(|(x, _)| x.name == r.name) {
                match r.path.canonicalize() {
                    Ok(p) => roots.push((r, p)),
                    Err(e) => progress.warn(&format!(
                        "collection {}: cannot open its root {} ({e}); `sagasu index` it again when it is back",
                        r.name,
                        r.path.display()
                    )),
                }
            }
        }
    }
    for (root, path) in &roots {
        match meta.collections.iter_mut().find(|c| c.name == root.name) {
            Some(c) => c.root = path.clone(),
            None => meta.collections.push(Collection {
                name: root.name.clone(),
                root: path.clone(),
                last_run: None,
                skipped: Vec::new(),
            }),
        }
    }
    meta.settings = Some(opts.settings());
    if let Some(reranker) = &opts.record_reranker {
        meta.reranker = reranker.clone();
    }
    runtime.block_on(store.write_meta(&meta))?;
    manifests.resize_with(roots.len(), Manifest::new);
    let roots = roots
        .into_iter()
        .zip(manifests)
        .map(|((r, p), m)| (r, p, if rebuilt { Manifest::new() } else { m }))
        .collect();
    Ok((store, meta, roots))
}

/// Every indexed file of a collection, by path.
type Manifest = HashMap<String, FileState>;

/// The roots a run reads, with their canonical paths: those given, checked against the
/// collections recorded (a name is one tree: two roots of one name, or a name recorded for
/// another tree, are errors that say what to do); every recorded one when none is given.
fn collections_to_run(
    given: &[Root],
    meta: &Meta,
    db: &crate::store::Location,
) -> Result<Vec<(Root, PathBuf)>> {
    let open = |r: &Root| {
        r.path
            .canonicalize()
            .with_context(|| format!("cannot open root {}", r.path.display()))
    };
    if given.is_empty() {
        if meta.collections.is_empty() {
            bail!("{db} records no collection yet: give the root(s) to index");
        }
        return recorded_roots(meta)
            .into_iter()
            .map(|r| {
                let path = open(&r).with_context(|| format!("collection {} of {db}", r.name))?;
                Ok((r, path))
            })
            .collect();
    }
    let mut out: Vec<(Root, PathBuf)> = Vec::new();
    for r in given {
        check_name(&r.name)?;
        let path = open(r)?;
        if let Some((other, other_path)) = out.iter().find(|(o, _)| o.name == r.name) {
            bail!(
                "two roots are named {:?}: {} and {} (give one another name with --name NAME=ROOT)",
                other.name,
                other_path.display(),
                path.display()
            );
        }
        out.push((r.clone(), path));
    }
    for (r, path) in &out {
        if let Some(c) = meta.collection(&r.name) {
            let recorded = c.root.canonicalize().unwrap_or_else(|_| c.root.clone());
            if &recorded != path {
                bail!(
                    "collection {:?} of {db} is {} already; name this root otherwise (--name NAME={}) or drop that one first (`sagasu remove {} --db {db}`)",
                    r.name,
                    c.root.display(),
                    r.path.display(),
                    r.name
                );
            }
        }
    }
    Ok(out)
}

/// The collections' names for a message, or "none".
fn names_or_none(meta: &Meta) -> String {
    match meta.collection_names() {
        names if names.is_empty() => "none".into(),
        names => names.join(", "),
    }
}

/// What the walk saw: the paths whose rows stay, the files left out, and the paths it could
/// not read (whose rows stay too: a walk error is not a deletion).
struct TreeRead {
    seen: HashSet<String>,
    skipped: Vec<SkippedFile>,
    unreadable: Vec<String>,
}

/// Reads the tree of collection `root` (at `path`) and writes the sections of new and changed
/// files.
#[allow(clippy::too_many_arguments)]
fn write_tree(
    opts: &IndexOptions,
    root: &Root,
    path: &Path,
    manifest: &Arc<Manifest>,
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
    let mut writer = SectionWriter::new(runtime, &root.name, opts.batch_rows, opts.batch_bytes);
    let warnings = read_tree(opts, path, manifest, progress, |outcome| {
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
                    collection: String::new(),
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
            .map(|p| relative_display(path, p))
            .unwrap_or_default();
        match w.kind {
            WarningKind::SkippedFile => {
                summary.files_skipped += 1;
                progress.warn(&format!("skipped {shown}: {}", w.message));
                tree.skipped.push(SkippedFile {
                    collection: String::new(),
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
    collection: &str,
    manifest: &Manifest,
    tree: &TreeRead,
    store: &mut Store,
    runtime: &Handle,
) -> Result<u64> {
    let removed = missing(manifest.keys(), tree);
    if !removed.is_empty() {
        runtime.block_on(store.delete_paths(collection, &removed))?;
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
