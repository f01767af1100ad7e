//! Finding the Markdown files of a tree, the way ripgrep does: `.gitignore`, `.ignore` and
//! hidden files honoured, by the `ignore` crate. Files are streamed to a callback so the walk
//! never holds the whole file list.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;

use super::format::Types;

#[derive(Debug, Clone)]
pub struct WalkOptions {
    pub root: PathBuf,
    /// The formats whose files are indexed (their extensions, case ignored).
    pub types: Types,
    /// Extra include (`*.mdx`, added to the types' extensions) or exclude (`!drafts/**`) globs.
    pub globs: Vec<String>,
    /// Directories never entered (the index itself when it lives inside the tree).
    pub exclude_dirs: Vec<PathBuf>,
    pub follow_links: bool,
}

/// A Markdown file found by the walk.
#[derive(Debug, Clone)]
pub struct FoundFile {
    /// Relative to the root, '/'-separated: the key of the file in the index.
    pub rel_path: String,
    pub abs_path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (0 when unknown).
    pub mtime_ns: i64,
}

/// A problem met while walking (unreadable directory, symlink loop…): reported, not fatal.
#[derive(Debug, Clone)]
pub struct WalkWarning {
    pub path: Option<PathBuf>,
    pub message: String,
    pub kind: WarningKind,
}

/// What a walk warning means for the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// A directory or file that could not be read: not a deletion, so what the index holds
    /// under it stays.
    Unreadable,
    /// A Markdown file left out (its name is not UTF-8), listed with the skipped files.
    SkippedFile,
    /// Anything else (a symlink loop…).
    Other,
}

/// Walks the tree and calls `on_file` for every matching file in a stable order. Returns the
/// warnings met on the way. `on_file` returning `false` stops the walk.
pub fn walk(
    opts: &WalkOptions,
    mut on_file: impl FnMut(FoundFile) -> bool,
) -> Result<Vec<WalkWarning>> {
    let root = opts
        .root
        .canonicalize()
        .with_context(|| format!("cannot open root {}", opts.root.display()))?;
    // Which files are Markdown: the defaults plus include globs. Checked on each file the
    // walk yields, never given to the walker as overrides: an override whitelist beats every
    // ignore rule (.gitignore, .ignore, hidden files), which would index ignored notes.
    let mut include = OverrideBuilder::new(&root);
    // What the user excludes (`!glob`): walker overrides, which may only take files away.
    let mut exclude = OverrideBuilder::new(&root);
    include
        .case_insensitive(true)
        .context("building glob set")?;
    for g in opts
        .types
        .globs()
        .into_iter()
        .chain(opts.globs.iter().cloned())
    {
        let target = if g.starts_with('!') {
            &mut exclude
        } else {
            &mut include
        };
        target.add(&g).with_context(|| format!("bad glob {g:?}"))?;
    }
    let include = include.build().context("building glob set")?;
    let exclude = exclude.build().context("building glob set")?;

    let excluded: Vec<PathBuf> = opts
        .exclude_dirs
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .collect();
    let mut builder = WalkBuilder::new(&root);
    builder
        .overrides(exclude)
        .follow_links(opts.follow_links)
        .require_git(false)
        .sort_by_file_path(|a, b| a.cmp(b));
    if !excluded.is_empty() {
        builder.filter_entry(move |entry| {
            !(entry.file_type().is_some_and(|t| t.is_dir())
                && excluded.iter().any(|x| entry.path() == x.as_path()))
        });
    }

    let mut warnings = Vec::new();
    for result in builder.build() {
        let entry = match result {
            Ok(entry) => entry,
            Err(err) => {
                let kind = if err.io_error().is_some() {
                    WarningKind::Unreadable
                } else {
                    WarningKind::Other
                };
                warnings.push(WalkWarning {
                    path: error_path(&err),
                    message: err.to_string(),
                    kind,
                });
                continue;
            }
        };
        if !entry
            .file_type()
            .is_some_and(|t| t.is_file() || (t.is_symlink() && opts.follow_links))
            || !include.matched(entry.path(), false).is_whitelist()
        {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => continue,
            Err(err) => {
                warnings.push(WalkWarning {
                    path: Some(entry.path().to_path_buf()),
                    message: err.to_string(),
                    kind: WarningKind::Unreadable,
                });
                continue;
            }
        };
        let Some(rel_path) = relative_key(&root, entry.path()) else {
            warnings.push(WalkWarning {
                path: Some(entry.path().to_path_buf()),
                message: "file name is not valid UTF-8".into(),
                kind: WarningKind::SkippedFile,
            });
            continue;
        };
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let file = FoundFile {
            rel_path,
            abs_path: entry.path().to_path_buf(),
            size: meta.len(),
            mtime_ns,
        };
        if !on_file(file) {
            break;
        }
    }
    Ok(warnings)
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}

/// `root/a/b.md` → `a/b.md`, '/'-separated on every platform.
pub fn relative_key(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// [`relative_key`] with invalid UTF-8 replaced (U+FFFD): how a path that has no key is shown.
pub fn relative_display(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn collect(opts: &WalkOptions) -> Vec<String> {
        let mut out = Vec::new();
        walk(opts, |f| {
            out.push(f.rel_path);
            true
        })
        .expect("walk");
        out
    }

    fn opts(root: &Path) -> WalkOptions {
        WalkOptions {
            root: root.to_path_buf(),
            types: Types::default(),
            globs: vec![],
            exclude_dirs: vec![],
            follow_links: false,
        }
    }

    #[test]
    fn honours_gitignore_hidden_globs_and_excluded_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for p in [
            "a.md",
            "b.markdown",
            "c.txt",
            "sub/d.md",
            "ignored/e.md",
            ".hidden/f.md",
            "db/g.md",
        ] {
            let path = root.join(p);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, "# x\n").expect("write");
        }
        fs::write(root.join(".gitignore"), "ignored/\n").expect("write");
        let mut o = opts(root);
        o.exclude_dirs = vec![root.join("db")];
        assert_eq!(collect(&o), vec!["a.md", "b.markdown", "sub/d.md"]);

        o.globs = vec!["!sub/**".into()];
        assert_eq!(collect(&o), vec!["a.md", "b.markdown"]);
        o.globs = vec!["*.txt".into()];
        assert_eq!(collect(&o), vec!["a.md", "b.markdown", "c.txt", "sub/d.md"]);
    }

    /// Ignore rules hold for Markdown files too (ripgrep skips every one of these): a `.md`
    /// file named in `.gitignore` (top-level or nested) or `.ignore`, a hidden `.x.md`, and
    /// files inside an ignored directory whose own name ends in `.md`.
    #[test]
    fn ignore_rules_hold_for_markdown_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for p in [
            "keep.md",
            "ign.md",
            "sub/keep.md",
            "sub/secret.md",
            "priv.md",
            ".x.md",
            "old.md/inside.md",
            "docs/page.mdx",
            "docs/draft.mdx",
        ] {
            let path = root.join(p);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, "# x\n").expect("write");
        }
        fs::write(root.join(".gitignore"), "ign.md\nold.md/\ndraft.mdx\n").expect("write");
        fs::write(root.join("sub/.gitignore"), "secret.md\n").expect("write");
        fs::write(root.join(".ignore"), "priv.md\n").expect("write");
        let mut o = opts(root);
        assert_eq!(collect(&o), vec!["keep.md", "sub/keep.md"]);
        // An include glob adds files, and ignore rules still hold for them.
        o.globs = vec!["*.mdx".into()];
        assert_eq!(collect(&o), vec!["docs/page.mdx", "keep.md", "sub/keep.md"]);
        o.globs = vec!["*.mdx".into(), "!docs/**".into()];
        assert_eq!(collect(&o), vec!["keep.md", "sub/keep.md"]);
    }

    #[cfg(unix)]
    #[test]
    fn survives_symlink_loops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("a")).expect("mkdir");
        fs::write(root.join("a/x.md"), "# x\n").expect("write");
        std::os::unix::fs::symlink(root, root.join("a/loop")).expect("symlink");
        let mut o = opts(root);
        assert_eq!(collect(&o), vec!["a/x.md"]);
        o.follow_links = true;
        let mut warnings = Vec::new();
        let mut files = Vec::new();
        warnings.extend(
            walk(&o, |f| {
                files.push(f.rel_path);
                true
            })
            .expect("walk"),
        );
        assert_eq!(files, vec!["a/x.md"]);
        assert!(
            warnings.iter().any(|w| w.message.contains("loop")),
            "{warnings:?}"
        );
    }
}
