//! Tests of the store through its own API, on real LanceDB tables in temporary directories.

mod ann;
mod embed_input;
mod filters;
mod text_index;

use crate::ingest::document::SplitOptions;
use crate::ingest::markdown::split;
use crate::ingest::terms::document_terms;
use crate::store::{Access, FileRows, Store, StoreOptions};

/// A Markdown file's rows, as a reader makes them (its path stands in for its hash).
fn page(path: &str, mtime_ns: i64, source: &str) -> FileRows {
    let doc = split(source, SplitOptions::default());
    let terms = doc
        .sections
        .iter()
        .map(|s| document_terms(&s.text))
        .collect();
    FileRows::new(
        path.into(),
        (path.into(), source.len() as u64, mtime_ns),
        Vec::new(),
        doc,
        terms,
    )
}

/// A writer's store on the index in `dir`.
fn writer(rt: &tokio::runtime::Runtime, dir: &std::path::Path, options: StoreOptions) -> Store {
    rt.block_on(Store::open(&dir.into(), Access::Write, options))
        .expect("open for writing")
}
