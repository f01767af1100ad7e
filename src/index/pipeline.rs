//! The read stage of a run: a walker thread and N readers on the rayon pool, joined by
//! bounded channels to the caller, which consumes what they made of each file.
//!
//! ```text
//!  walker thread ──files──▶ N readers (rayon) ──outcomes──▶ consumer (the calling thread)
//!   (sorted walk,            (read, decode, hash,
//!    size+mtime check)        split, make terms)
//! ```
//! Channels are bounded, so a slow consumer slows the readers and the walk: memory holds at
//! most a channel's worth of files, whatever the size of the tree.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use crossbeam_channel::bounded;

use super::IndexOptions;
use crate::hash::content_hash;
use crate::ingest::decode::SkipReason;
use crate::ingest::discover::{walk, FoundFile, WalkOptions, WalkWarning};
use crate::ingest::document::SplitOptions;
use crate::ingest::format::Format;
use crate::ingest::terms::{document_terms, path_terms};
use crate::progress::Progress;
use crate::store::RAW_ZSTD_LEVEL;

thread_local! {
    /// One zstd context per reader thread: making one per file cost more than compressing
    /// a small file.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// `bytes`, zstd-compressed at [`RAW_ZSTD_LEVEL`], with this thread's context.
fn compress_raw(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(RAW_ZSTD_LEVEL)?);
        }
        match c.as_mut() {
            Some(c) => c.compress(bytes),
            None => unreachable!("set above"),
        }
    })
}
use crate::store::{FileRows, FileState};

/// What a reader made of one file.
#[derive(Debug)]
pub enum Outcome {
    /// Same content as indexed: nothing to write.
    Unchanged(String),
    /// New or changed: replace whatever the index holds for this path.
    Parsed { rows: FileRows, had_rows: bool },
    /// Not indexed. `keep_old`: a passing read error keeps the rows already indexed.
    Skipped {
        path: String,
        reason: SkipReason,
        keep_old: bool,
    },
}

/// Walks `root` and reads every new or changed file on the rayon pool, handing each outcome
/// to `consume` on the calling thread. Returns the walk's warnings; the first error of
/// `consume` stops the walk and is returned.
pub fn read_tree(
    opts: &IndexOptions,
    root: &Path,
    manifest: &Arc<HashMap<String, FileState>>,
    progress: &Progress,
    mut consume: impl FnMut(Outcome) -> Result<()>,
) -> Result<Vec<WalkWarning>> {
    let (file_tx, file_rx) = bounded::<(FoundFile, Option<FileState>)>(256);
    let (out_tx, out_rx) = bounded::<Outcome>(64);
    let walk_opts = WalkOptions {
        root: root.to_path_buf(),
        types: opts.types,
        globs: opts.globs.clone(),
        exclude_dirs: opts.db.local().map(Path::to_path_buf).into_iter().collect(),
        follow_links: opts.follow_links,
    };
    std::thread::scope(|scope| {
        let walker = {
            let manifest = Arc::clone(manifest);
            let out_tx = out_tx.clone();
            let walk_opts = &walk_opts;
            std::thread::Builder::new()
                .name("sagasu-walk".into())
                .spawn_scoped(scope, move || {
                    walk(walk_opts, |file| {
                        progress.found_file();
                        let old = manifest.get(&file.rel_path);
                        if let Some(state) = old {
                            if !state.inconsistent
                                && state.file_size == file.size
                                && state.mtime_ns == file.mtime_ns
                            {
                                return out_tx.send(Outcome::Unchanged(file.rel_path)).is_ok();
                            }
                        }
                        file_tx.send((file, old.cloned())).is_ok()
                    })
                })
                .context("starting the walker thread")?
        };
        // Readers run on the rayon pool, which later runs the encoder: one pool for the CPU
        // stages, never two alive at once (see `ThreadBudget`).
        let readers = opts.threads.clamp(1, rayon::current_num_threads());
        let consumed: Result<()> = rayon::in_place_scope(|pool| {
            // Owned here, so an early error return drops it and unblocks the readers.
            let out_rx = out_rx;
            for _ in 0..readers {
                let file_rx = file_rx.clone();
                let out_tx = out_tx.clone();
                let split_opts = opts.split;
                let max = opts.max_file_bytes;
                pool.spawn(move |_| {
                    for (file, old) in file_rx {
                        if out_tx.send(read_file(file, old, max, split_opts)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(out_tx);
            drop(file_rx);
            out_rx.iter().try_for_each(&mut consume)
        });
        consumed?;
        walker
            .join()
            .map_err(|_| anyhow!("the walker thread panicked"))?
    })
}

/// Reads one file: unchanged (by content hash), skipped with a reason, or parsed into rows
/// with their search terms (the costly part, done here on a reader thread).
pub fn read_file(
    file: FoundFile,
    old: Option<FileState>,
    max_bytes: u64,
    split_opts: SplitOptions,
) -> Outcome {
    let had_rows = old.is_some();
    let path = file.rel_path;
    if file.size > max_bytes {
        return Outcome::Skipped {
            path,
            reason: SkipReason::TooLarge {
                size: file.size,
                limit: max_bytes,
            },
            keep_old: false,
        };
    }
    let bytes = match std::fs::read(&file.abs_path) {
        Ok(b) => b,
        Err(e) => {
            return Outcome::Skipped {
                path,
                reason: SkipReason::Unreadable(e.to_string()),
                keep_old: true,
            }
        }
    };
    let file_hash = content_hash(&bytes);
    if let Some(old) = &old {
        if !old.inconsistent && old.file_hash == file_hash {
            return Outcome::Unchanged(path);
        }
    }
    let format = Format::of_path(&path);
    let text = match format.decode(&bytes) {
        Ok(text) => text,
        Err(reason) => {
            return Outcome::Skipped {
                path,
                reason,
                keep_old: false,
            }
        }
    };
    // The file as read, kept in the index: a reader without the tree (an index on object
    // storage) still serves it whole.
    let raw = match compress_raw(&bytes) {
        Ok(raw) => raw,
        Err(e) => {
            return Outcome::Skipped {
                path,
                reason: SkipReason::Unreadable(format!("cannot compress it ({e})")),
                keep_old: true,
            }
        }
    };
    drop(bytes);
    let doc = format.parse(&text, split_opts);
    if doc.sections.is_empty() {
        return Outcome::Skipped {
            path,
            reason: SkipReason::NoText,
            keep_old: false,
        };
    }
    let mut terms: Vec<String> = doc
        .sections
        .iter()
        .map(|s| document_terms(&s.text))
        .collect();
    // The first section holds the page's name: its title (folded into its text) and its path.
    let named = path_terms(&path);
    if !named.is_empty() {
        terms[0] = format!("{named} {}", terms[0]).trim_end().to_string();
    }
    Outcome::Parsed {
        rows: FileRows::new(path, (file_hash, file.size, file.mtime_ns), raw, doc, terms),
        had_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(dir: &Path, name: &str, bytes: &[u8]) -> FoundFile {
        let abs_path = dir.join(name);
        std::fs::write(&abs_path, bytes).expect("write");
        FoundFile {
            rel_path: name.into(),
            abs_path,
            size: bytes.len() as u64,
            mtime_ns: 7,
        }
    }

    #[test]
    fn a_file_is_parsed_skipped_or_recognised_as_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "# 見出し\n\n設定ファイルを読む。\n";
        let opts = SplitOptions::default();
        let Outcome::Parsed { rows, had_rows } = read_file(
            found(dir.path(), "a.md", text.as_bytes()),
            None,
            1 << 20,
            opts,
        ) else {
            panic!("a new file is parsed");
        };
        assert!(!had_rows);
        assert_eq!(rows.terms.len(), rows.sections.len());
        assert!(rows.terms[0].contains("設定"), "{:?}", rows.terms);

        // Same bytes, new mtime: recognised by its hash, not read again into rows.
        let old = FileState {
            file_hash: rows.file_hash.clone(),
            file_size: 0,
            mtime_ns: 0,
            inconsistent: false,
        };
        let again = read_file(
            found(dir.path(), "a.md", text.as_bytes()),
            Some(old.clone()),
            1 << 20,
            opts,
        );
        assert!(matches!(again, Outcome::Unchanged(p) if p == "a.md"));
        // ...unless its rows disagree: then it is parsed and replaces them.
        let inconsistent = FileState {
            inconsistent: true,
            ..old
        };
        let redo = read_file(
            found(dir.path(), "a.md", text.as_bytes()),
            Some(inconsistent),
            1 << 20,
            opts,
        );
        assert!(matches!(redo, Outcome::Parsed { had_rows: true, .. }));

        let big = read_file(found(dir.path(), "big.md", &[b'x'; 100]), None, 10, opts);
        assert!(matches!(
            big,
            Outcome::Skipped {
                reason: SkipReason::TooLarge { .. },
                keep_old: false,
                ..
            }
        ));
        let empty = read_file(found(dir.path(), "empty.md", b"\n\n"), None, 1 << 20, opts);
        assert!(matches!(
            empty,
            Outcome::Skipped {
                reason: SkipReason::NoText,
                ..
            }
        ));
        let binary = read_file(
            found(dir.path(), "bin.md", b"\x89PNG\0\0"),
            None,
            1 << 20,
            opts,
        );
        assert!(matches!(
            binary,
            Outcome::Skipped {
                reason: SkipReason::Binary,
                ..
            }
        ));
        let mut gone = found(dir.path(), "gone.md", b"# x\n");
        std::fs::remove_file(&gone.abs_path).expect("rm");
        gone.size = 3;
        let unreadable = read_file(gone, None, 1 << 20, opts);
        assert!(
            matches!(unreadable, Outcome::Skipped { keep_old: true, .. }),
            "a read error keeps old rows"
        );
    }
}
