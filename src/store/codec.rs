//! Rows ⇄ Arrow: a file's sections into a `sections` batch, result batches into hits. The
//! column names here are those of [`super::schema`].

use std::sync::Arc;

use arrow_array::builder::{
    Float32Builder, Float64Builder, Int64Builder, LargeBinaryBuilder, ListBuilder, StringBuilder,
    UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow_array::{
    Array, ArrayRef, Float32Array, ListArray, RecordBatch, StringArray, UInt32Array, UInt64Array,
};

use super::error::{Result, StoreError};
use super::filter::pair;
use super::schema::{columns, sections_schema};
use crate::hash::{content_hash, page_key};
use crate::ingest::document::{embedding_input, Document, FrontMatter, Section};
use crate::ingest::front_matter::Value;

/// zstd level of the raw bytes kept in the index. File by file (no shared dictionary), level
/// 3 gave no smaller an index than level 1 on cpp-docs-ja (85 against 86 MiB, from 59 MiB
/// of Markdown) and indexed slower (3.45 against 3.22 s, alternating, 3 runs each).
pub const RAW_ZSTD_LEVEL: i32 = 1;

/// A file's sections and their search terms, ready to be written.
#[derive(Debug, Clone)]
pub struct FileRows {
    pub path: String,
    pub file_hash: String,
    pub file_size: u64,
    pub mtime_ns: i64,
    /// The file's bytes as read, zstd-compressed: stored with its first section.
    pub raw: Vec<u8>,
    pub front_matter: FrontMatter,
    /// The page's title (see [`Document::title`]).
    pub title: Option<String>,
    pub sections: Vec<Section>,
    /// Each section's search terms, in section order.
    pub terms: Vec<String>,
}

impl FileRows {
    /// A file's rows; `terms` are its sections' search terms, one per section.
    pub fn new(
        path: String,
        (file_hash, file_size, mtime_ns): (String, u64, i64),
        raw: Vec<u8>,
        doc: Document,
        terms: Vec<String>,
    ) -> FileRows {
        FileRows {
            path,
            file_hash,
            file_size,
            mtime_ns,
            raw,
            front_matter: doc.front_matter,
            title: doc.title,
            sections: doc.sections,
            terms,
        }
    }

    /// Rough in-memory size, for batch and memory budgets. The raw bytes are left out: about
    /// a third of the text, and counting them cut the writer's batches smaller for nothing
    /// (a full index of cpp-docs-ja +7% slower than without the raw column, against +4%).
    pub fn approx_bytes(&self) -> usize {
        self.sections
            .iter()
            .zip(&self.terms)
            .map(|(s, t)| s.text.len() + t.len() + 64 + self.path.len())
            .sum::<usize>()
            + 128
    }
}

/// The `fm_*` columns' values of one page: pairs (and keys); then each key that has numbers
/// or times, once, with the least and greatest of them (`[min, max]` per key, null where the
/// key has none of that kind).
struct Properties {
    pairs: Vec<String>,
    keys: Vec<String>,
    numbers: Vec<Option<f64>>,
    times: Vec<Option<i64>>,
}

impl Properties {
    fn of(front_matter: &FrontMatter) -> Properties {
        let all = front_matter.filterable();
        let mut p = Properties {
            pairs: Vec::with_capacity(all.len() * 2),
            keys: Vec::new(),
            numbers: Vec::new(),
            times: Vec::new(),
        };
        // `filterable` is sorted by key: a key's values are one run.
        for run in all.chunk_by(|a, b| a.0 == b.0) {
            let key = &run[0].0;
            p.pairs.push(key.clone());
            let (mut numbers, mut times) = (Vec::new(), Vec::new());
            for (_, value) in run {
                p.pairs.push(pair(key, &value.canonical()));
                match value {
                    Value::Number(n) => numbers.push(*n),
                    Value::Time(t) => times.push(*t),
                    _ => {}
                }
            }
            if numbers.is_empty() && times.is_empty() {
                continue;
            }
            p.keys.push(key.clone());
            let least = numbers.iter().copied().reduce(f64::min);
            let most = numbers.iter().copied().reduce(f64::max);
            p.numbers.extend([least, most]);
            p.times
                .extend([times.iter().min().copied(), times.iter().max().copied()]);
        }
        p
    }
}

/// Builds one RecordBatch from whole files of `collection` (a file is never split across
/// batches, so a committed batch always holds complete files: the basis of crash safety).
pub fn rows_to_batch(collection: &str, files: &[FileRows]) -> Result<RecordBatch> {
    let codec = |message: String| StoreError::Codec {
        doing: "building a batch of sections".into(),
        message,
    };
    let n: usize = files.iter().map(|f| f.sections.len()).sum();
    let mut id = StringBuilder::with_capacity(n, n * 32);
    let mut collection_col = StringBuilder::with_capacity(n, n * collection.len());
    let mut path = StringBuilder::with_capacity(n, n * 32);
    let mut page = UInt64Builder::with_capacity(n);
    let mut ordinal = UInt32Builder::with_capacity(n);
    let mut heading_path = ListBuilder::new(StringBuilder::new());
    let mut level = UInt8Builder::with_capacity(n);
    let mut start_line = UInt32Builder::with_capacity(n);
    let mut end_line = UInt32Builder::with_capacity(n);
    let mut link_share = Float32Builder::with_capacity(n);
    let mut title = StringBuilder::new();
    let mut description = StringBuilder::new();
    let mut tags = ListBuilder::new(StringBuilder::new());
    let mut fm_keys = ListBuilder::new(StringBuilder::new());
    let mut fm_pairs = ListBuilder::new(StringBuilder::new());
    let mut fm_numbers = ListBuilder::new(Float64Builder::new());
    let mut fm_times = ListBuilder::new(Int64Builder::new());
    let mut text = StringBuilder::new();
    let mut terms = StringBuilder::new();
    let mut text_hash = StringBuilder::new();
    let mut body_hash = StringBuilder::new();
    let mut file_hash = StringBuilder::new();
    let mut file_size = UInt64Builder::with_capacity(n);
    let mut mtime_ns = Int64Builder::with_capacity(n);
    let mut raw = LargeBinaryBuilder::with_capacity(n, files.iter().map(|f| f.raw.len()).sum());
    for file in files {
        if file.terms.len() != file.sections.len() {
            return Err(codec(format!(
                "{}: {} sections but {} term lists",
                file.path,
                file.sections.len(),
                file.terms.len()
            )));
        }
        let props = Properties::of(&file.front_matter);
        let page_number = page_key(collection, &file.path);
        for (i, (s, t)) in file.sections.iter().zip(&file.terms).enumerate() {
            let i = u32::try_from(i)
                .map_err(|_| codec(format!("{}: too many sections in one file", file.path)))?;
            id.append_value(format!("{collection}:{}#{i}", file.path));
            collection_col.append_value(collection);
            path.append_value(&file.path);
            page.append_value(page_number);
            ordinal.append_value(i);
            for h in &s.heading_path {
                heading_path.values().append_value(h);
            }
            heading_path.append(true);
            level.append_value(s.level);
            start_line.append_value(s.start_line);
            end_line.append_value(s.end_line);
            link_share.append_value(s.link_share);
            title.append_option(file.title.as_deref());
            description.append_option(file.front_matter.description.as_deref());
            for t in &file.front_matter.tags {
                tags.values().append_value(t);
            }
            tags.append(true);
            // The front matter is the page's: on its first section only (conditions select
            // pages, then their sections: search/scope.rs), so a page's keys are stored once.
            if i == 0 {
                fm_keys.append_value(props.keys.iter().map(Some));
                fm_pairs.append_value(props.pairs.iter().map(Some));
                fm_numbers.append_value(props.numbers.iter().copied());
                fm_times.append_value(props.times.iter().copied());
            } else {
                fm_keys.append(true);
                fm_pairs.append(true);
                fm_numbers.append(true);
                fm_times.append(true);
            }
            text.append_value(&s.text);
            terms.append_value(t);
            // Keyed by what the model embeds: the same text under another page's title is
            // another vector.
            let input = embedding_input(file.title.as_deref(), &s.heading_path, &s.text);
            text_hash.append_value(content_hash(input.as_bytes()));
            body_hash.append_value(content_hash(s.text.as_bytes()));
            file_hash.append_value(&file.file_hash);
            file_size.append_value(file.file_size);
            mtime_ns.append_value(file.mtime_ns);
            if i == 0 {
                raw.append_value(&file.raw);
            } else {
                raw.append_null();
            }
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(collection_col.finish()),
        Arc::new(path.finish()),
        Arc::new(page.finish()),
        Arc::new(ordinal.finish()),
        Arc::new(heading_path.finish()),
        Arc::new(level.finish()),
        Arc::new(start_line.finish()),
        Arc::new(end_line.finish()),
        Arc::new(link_share.finish()),
        Arc::new(title.finish()),
        Arc::new(description.finish()),
        Arc::new(tags.finish()),
        Arc::new(fm_keys.finish()),
        Arc::new(fm_pairs.finish()),
        Arc::new(fm_numbers.finish()),
        Arc::new(fm_times.finish()),
        Arc::new(text.finish()),
        Arc::new(terms.finish()),
        Arc::new(text_hash.finish()),
        Arc::new(body_hash.finish()),
        Arc::new(file_hash.finish()),
        Arc::new(file_size.finish()),
        Arc::new(mtime_ns.finish()),
        Arc::new(raw.finish()),
    ];
    RecordBatch::try_new(sections_schema(), columns).map_err(|e| codec(e.to_string()))
}

/// The row id column a query adds when asked (`with_row_id`).
pub const ROW_ID: &str = "_rowid";

/// The score column of a full-text query's results.
pub const SCORE: &str = "_score";

/// A section as a query found it: its row's columns, and the query's score.
#[derive(Debug, Clone)]
pub struct FoundSection {
    pub id: String,
    /// The collection (root) the file belongs to.
    pub collection: String,
    pub path: String,
    pub heading_path: Vec<String>,
    pub start_line: u32,
    pub end_line: u32,
    /// The page's title, if it has one.
    pub title: Option<String>,
    pub link_share: f32,
    /// Empty in full-text candidates until [`crate::store::Store::fill_texts`] reads it.
    pub text: String,
    /// The row in the version the hit was read from (full-text candidates only).
    pub row_id: Option<u64>,
    /// The key of its text's vector ([`columns::TEXT_HASH`]).
    pub text_hash: String,
    /// One for the same text wherever it is ([`columns::BODY_HASH`]).
    pub body_hash: String,
    /// BM25 for full-text candidates; 0 until search scores it otherwise.
    pub score: f32,
}

/// The columns a full-text candidate is read with: a hit's, but its text, which only the
/// results shown need (reading it for every candidate doubled the search's time).
pub const CANDIDATE_COLUMNS: [&str; 10] = [
    columns::ID,
    columns::COLLECTION,
    columns::PATH,
    columns::HEADING_PATH,
    columns::START_LINE,
    columns::END_LINE,
    columns::TITLE,
    columns::LINK_SHARE,
    columns::TEXT_HASH,
    columns::BODY_HASH,
];

/// The columns a search hit is read from: a candidate's and its text.
pub fn hit_columns() -> Vec<&'static str> {
    let mut columns = CANDIDATE_COLUMNS.to_vec();
    columns.push(columns::TEXT);
    columns
}

/// A column of a result batch, of the type the schema says: anything else is an error that
/// names the column, never a silent default.
pub fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    let bad = |message: String| StoreError::Codec {
        doing: "reading results".into(),
        message,
    };
    batch
        .column_by_name(name)
        .ok_or_else(|| bad(format!("column {name} missing from the result")))?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| bad(format!("column {name} has an unexpected type")))
}

pub fn string_col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    col::<StringArray>(batch, name)
}

/// Each row's heading path; `doing` names the read in errors.
pub fn heading_paths(batch: &RecordBatch, doing: &str) -> Result<Vec<Vec<String>>> {
    let headings = col::<ListArray>(batch, columns::HEADING_PATH)?;
    (0..batch.num_rows())
        .map(|i| {
            let list = headings.value(i);
            let list =
                list.as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| StoreError::Codec {
                        doing: doing.into(),
                        message: "heading_path has an unexpected type".into(),
                    })?;
            Ok((0..list.len()).map(|j| list.value(j).to_string()).collect())
        })
        .collect()
}

/// The hits of a result batch holding [`hit_columns`] or [`CANDIDATE_COLUMNS`] (text left
/// empty), score 0 (a full-text search's rows are ranked first, read after:
/// `Store::candidates_at`); `_rowid` is read when there.
pub fn hits_from_batch(batch: &RecordBatch) -> Result<Vec<FoundSection>> {
    let id = string_col(batch, columns::ID)?;
    let collection = string_col(batch, columns::COLLECTION)?;
    let path = string_col(batch, columns::PATH)?;
    let headings = heading_paths(batch, "reading results")?;
    let start = col::<UInt32Array>(batch, columns::START_LINE)?;
    let end = col::<UInt32Array>(batch, columns::END_LINE)?;
    let title = string_col(batch, columns::TITLE)?;
    let link_share = col::<Float32Array>(batch, columns::LINK_SHARE)?;
    let text = match batch.column_by_name(columns::TEXT) {
        Some(_) => Some(string_col(batch, columns::TEXT)?),
        None => None,
    };
    let row_id = match batch.column_by_name(ROW_ID) {
        Some(_) => Some(col::<UInt64Array>(batch, ROW_ID)?),
        None => None,
    };
    let text_hash = string_col(batch, columns::TEXT_HASH)?;
    let body_hash = string_col(batch, columns::BODY_HASH)?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for (i, heading_path) in headings.into_iter().enumerate() {
        out.push(FoundSection {
            id: id.value(i).to_string(),
            collection: collection.value(i).to_string(),
            path: path.value(i).to_string(),
            heading_path,
            start_line: start.value(i),
            end_line: end.value(i),
            title: (!title.is_null(i)).then(|| title.value(i).to_string()),
            link_share: link_share.value(i),
            text: text.map_or_else(String::new, |t| t.value(i).to_string()),
            row_id: row_id.map(|r| r.value(i)),
            text_hash: text_hash.value(i).to_string(),
            body_hash: body_hash.value(i).to_string(),
            score: 0.0,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::SplitOptions;
    use crate::ingest::markdown::split;

    fn rows(path: &str, text: &str) -> FileRows {
        let doc = split(text, SplitOptions::default());
        let terms = doc.sections.iter().map(|s| s.text.clone()).collect();
        FileRows::new(path.into(), ("h".into(), 1, 2), Vec::new(), doc, terms)
    }

    #[test]
    fn batches_hold_whole_files_and_hits_need_their_columns() {
        let files = [
            rows("a.md", "# A\n\none\n\n## B\n\ntwo\n"),
            rows("b.md", "# C\n\nthree\n"),
        ];
        let batch = rows_to_batch("docs", &files).expect("batch");
        assert_eq!(batch.num_rows(), 3);
        let ids = string_col(&batch, columns::ID).expect(columns::ID);
        assert_eq!(ids.value(1), "docs:a.md#1");
        let hits = hits_from_batch(&batch).expect("hits");
        assert_eq!(hits[2].path, "b.md");
        // The hash is of what the model embeds: the second section's place, then its text.
        assert_eq!(hits[0].text_hash, content_hash(hits[0].text.as_bytes()));
        assert!(hits[1].text.starts_with('B'), "{:?}", hits[1].text);
        let placed = format!("A\n{}", hits[1].text);
        assert_eq!(hits[1].text_hash, content_hash(placed.as_bytes()));
        assert_eq!(hits[1].body_hash, content_hash(hits[1].text.as_bytes()));
        let without_hash = batch
            .project(&[0, 1, 2, 5, 7, 8, 9, 10, 17])
            .expect("project");
        let err = hits_from_batch(&without_hash)
            .expect_err("no hash")
            .to_string();
        assert!(err.contains(columns::TEXT_HASH), "{err}");
        let mut bad = files[0].clone();
        bad.terms.pop();
        assert!(rows_to_batch("docs", &[bad]).is_err());
    }
}
