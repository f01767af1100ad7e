//! The write stage of a run: parsed files streamed into appends of many files each.

use tokio::runtime::Handle;

use crate::store::{Append, FileRows, Result, Store};

/// Rows per batch sent to an open append (and at most this many pending in the indexing
/// thread): small enough to keep memory flat, large enough for Arrow.
const STREAM_ROWS: usize = 4096;
const STREAM_BYTES: usize = 4 << 20;

/// Streams parsed files into appends of `commit_rows` rows or `commit_bytes` bytes each: the
/// commit count grows with the data, never with the file count, and each commit is one
/// fragment, so a full index needs no compaction.
pub struct SectionWriter<'a> {
    runtime: &'a Handle,
    /// The collection whose files this writer writes.
    collection: &'a str,
    commit_rows: usize,
    commit_bytes: usize,
    /// Whole files not yet sent, and their size.
    pending: Vec<FileRows>,
    pending_rows: usize,
    pending_bytes: usize,
    /// Paths whose old rows go in the same commit as the open append.
    deletes: Vec<String>,
    append: Option<Append>,
    rows_committed: usize,
}

impl<'a> SectionWriter<'a> {
    pub fn new(
        runtime: &'a Handle,
        collection: &'a str,
        commit_rows: usize,
        commit_bytes: usize,
    ) -> Self {
        SectionWriter {
            runtime,
            collection,
            commit_rows: commit_rows.max(1),
            commit_bytes,
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            deletes: Vec::new(),
            append: None,
            rows_committed: 0,
        }
    }

    /// Queues a parsed file; `had_rows`: the index holds an older version to replace.
    pub fn push(&mut self, rows: FileRows, had_rows: bool, store: &mut Store) -> Result<()> {
        if had_rows {
            self.deletes.push(rows.path.clone());
        }
        self.pending_rows += rows.sections.len();
        self.pending_bytes += rows.approx_bytes();
        self.pending.push(rows);
        if self.pending_rows >= STREAM_ROWS.min(self.commit_rows)
            || self.pending_bytes >= STREAM_BYTES
        {
            self.send(store)?;
        }
        Ok(())
    }

    /// Sends the pending files as one batch, committing when the append is full.
    fn send(&mut self, store: &mut Store) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let append = match &mut self.append {
            Some(a) => a,
            None => self
                .append
                .insert(store.begin_append(self.runtime, self.collection)?),
        };
        append.send(&self.pending, self.pending_bytes)?;
        self.pending.clear();
        (self.pending_rows, self.pending_bytes) = (0, 0);
        if append.rows >= self.commit_rows || append.bytes >= self.commit_bytes {
            self.commit(store)?;
        }
        Ok(())
    }

    /// Commits the open append together with the deletion of the replaced files' old rows:
    /// one version, so a reader (and a run killed at any point) sees a changed file old or
    /// new, never absent and never twice.
    fn commit(&mut self, store: &mut Store) -> Result<()> {
        let replaced = std::mem::take(&mut self.deletes);
        match self.append.take() {
            Some(append) => {
                self.rows_committed += append.rows;
                self.runtime.block_on(append.commit(store, &replaced))
            }
            None if !replaced.is_empty() => self
                .runtime
                .block_on(store.delete_paths(self.collection, &replaced)),
            None => Ok(()),
        }
    }

    /// Sends and commits what is left; returns the rows written by this writer.
    pub fn finish(mut self, store: &mut Store) -> Result<usize> {
        self.send(store)?;
        self.commit(store)?;
        Ok(self.rows_committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::SplitOptions;
    use crate::ingest::markdown::split;
    use crate::store::{Access, StoreOptions};

    fn file(path: &str, sections: usize, word: &str) -> FileRows {
        let text: String = (0..sections)
            .map(|i| format!("# 節{i}\n\n{word} {i}\n\n"))
            .collect();
        let doc = split(&text, SplitOptions::default());
        let terms = doc.sections.iter().map(|s| s.text.to_lowercase()).collect();
        FileRows::new(path.into(), (word.into(), 1, 1), Vec::new(), doc, terms)
    }

    #[test]
    fn commits_follow_rows_not_files_and_replace_changed_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = crate::budget::runtime(2).expect("runtime");
        let mut store = rt
            .block_on(Store::open(
                &dir.path().into(),
                Access::Write,
                StoreOptions::default(),
            ))
            .expect("open");
        let created = store.commits();
        // 30 files of 4 sections, commits every 50 rows: whole files per commit, 3 commits.
        let mut writer = SectionWriter::new(rt.handle(), "docs", 50, usize::MAX);
        for i in 0..30 {
            writer
                .push(file(&format!("f{i:02}.md"), 4, "old"), false, &mut store)
                .expect("push");
        }
        assert_eq!(writer.finish(&mut store).expect("finish"), 120);
        assert!(
            store.commits() - created <= 3,
            "{} commits for 120 rows",
            store.commits() - created
        );
        let manifest = rt.block_on(store.manifest("docs")).expect("manifest");
        assert_eq!(manifest.len(), 30);
        assert!(manifest
            .values()
            .all(|s| s.file_hash == "old" && !s.inconsistent));

        // A changed file: its old rows go, its new rows come, in the same run.
        let mut writer = SectionWriter::new(rt.handle(), "docs", 50, usize::MAX);
        writer
            .push(file("f00.md", 2, "new"), true, &mut store)
            .expect("push");
        assert_eq!(writer.finish(&mut store).expect("finish"), 2);
        let manifest = rt.block_on(store.manifest("docs")).expect("manifest");
        assert_eq!(manifest["f00.md"].file_hash, "new");
        assert!(
            !manifest["f00.md"].inconsistent,
            "no rows of the old version left"
        );
        let stats = rt.block_on(store.table_stats()).expect("stats");
        assert_eq!((stats.documents, stats.sections), (30, 29 * 4 + 2));
    }
}
