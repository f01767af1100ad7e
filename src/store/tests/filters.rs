//! Collections and front-matter conditions, applied inside LanceDB: each filter form on real
//! tables, alone, combined, and under a full-text search.

use crate::ingest::document::SplitOptions;
use crate::ingest::markdown::split;
use crate::ingest::terms::{document_terms, query_terms};
use crate::search::conditions::parse_where;
use crate::search::scope::{scope, Scope};
use crate::search::SearchOptions;
use crate::store::schema::{COLLECTION_INDEX, PAGE_INDEX, PAIRS_INDEX};
use crate::store::{Access, FileRows, Filter, Maintenance, Match, Store, StoreOptions};

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

/// The pages below in two collections; `indexed`: with the filter indexes (which a table this
/// small would not get: filters scan), else without.
fn store_with_pages(rt: &tokio::runtime::Runtime, dir: &std::path::Path, indexed: bool) -> Store {
    let options = StoreOptions {
        filter_index_min_rows: if indexed { 1 } else { usize::MAX },
        ..StoreOptions::default()
    };
    let mut store = rt
        .block_on(Store::open(&dir.into(), Access::Write, options))
        .expect("open");
    let notes = [
        page(
            "a.md",
            100,
            "---\ntags: [Rust, 検索]\ndraft: false\ndate: 2024-03-05\norder: 3\nms.topic: business-process\n---\n# 索引の作り方\n\n索引を作る。 #メモ\n\n## 詳細\n\n索引の詳細。\n",
        ),
        page(
            "b.md",
            200,
            "---\ntags: [python]\ndraft: true\ndate: 2023-12-31\norder: 10\n---\n# 索引の読み方\n\n索引を読む。\n",
        ),
        page("c.md", 300, "# 索引のメモ\n\n索引について #rust の話。\n"),
    ];
    let docs = [page(
        "a.md",
        400,
        "+++\ntags = [\"rust\"]\ndate = 2024-06-01T10:00:00Z\norder = 3.0\n+++\n# 索引の設計\n\n索引を設計する。\n",
    )];
    for (collection, files) in [("notes", &notes[..]), ("docs", &docs[..])] {
        let mut append = store.begin_append(rt.handle(), collection).expect("append");
        append.send(files, 1).expect("send");
        rt.block_on(append.commit(&mut store, &[])).expect("commit");
    }
    rt.block_on(store.maintain(Maintenance::AfterRun))
        .expect("index");
    store
}

/// The (collection, path) of each page a search for 索引 under `opts`'s restrictions finds,
/// sorted: the scope search computes, then the full-text search under it.
fn pages(rt: &tokio::runtime::Runtime, store: &Store, opts: &SearchOptions) -> Vec<String> {
    let filter = match rt.block_on(scope(store, opts)).expect("scope") {
        Scope::Nothing => return Vec::new(),
        Scope::Rows(f) => f,
    };
    let hits = rt
        .block_on(store.search_text(query_terms("索引"), Match::EveryWord, filter.as_ref(), 100))
        .expect("search");
    let mut out: Vec<String> = hits
        .iter()
        .map(|h| format!("{}/{}", h.collection, h.path))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Options restricted to `collections` and to pages passing every condition of `conditions`.
fn only(collections: &[&str], conditions: &[&str]) -> SearchOptions {
    SearchOptions {
        collections: collections.iter().map(|c| c.to_string()).collect(),
        conditions: conditions
            .iter()
            .map(|w| parse_where(w).expect("condition"))
            .collect(),
        ..SearchOptions::default()
    }
}

#[test]
fn every_filter_form_selects_its_pages_with_the_indexes_and_without() {
    let rt = crate::budget::runtime(2).expect("runtime");
    for indexed in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_pages(&rt, dir.path(), indexed);
        let names: Vec<String> = rt
            .block_on(store.table_stats())
            .expect("stats")
            .indexes
            .iter()
            .map(|i| i.name.clone())
            .collect();
        for index in [PAIRS_INDEX, PAGE_INDEX, COLLECTION_INDEX] {
            assert_eq!(names.iter().any(|n| n == index), indexed, "{names:?}");
        }
        every_filter_form(&rt, &store);
    }
}

fn every_filter_form(rt: &tokio::runtime::Runtime, store: &Store) {
    let all = ["docs/a.md", "notes/a.md", "notes/b.md", "notes/c.md"];
    let cases: [(SearchOptions, &[&str]); 19] = [
        (only(&[], &[]), &all),
        (only(&["docs"], &[]), &["docs/a.md"]),
        (only(&["docs", "notes"], &[]), &all),
        // A list contains it, whatever the case; body #tags count.
        (
            only(&[], &["tags=rust"]),
            &["docs/a.md", "notes/a.md", "notes/c.md"],
        ),
        (only(&[], &["tags=メモ"]), &["notes/a.md"]),
        (only(&[], &["ms.topic=business-process"]), &["notes/a.md"]),
        (only(&[], &["draft=true"]), &["notes/b.md"]),
        // Pages without the key pass `!=`.
        (
            only(&[], &["draft!=true"]),
            &["docs/a.md", "notes/a.md", "notes/c.md"],
        ),
        (
            only(&[], &["date>=2024-03-01"]),
            &["docs/a.md", "notes/a.md"],
        ),
        // A date alone is the whole day, for a date and for a time within it.
        (
            only(&[], &["date<=2024-03-05"]),
            &["notes/a.md", "notes/b.md"],
        ),
        (only(&[], &["date=2024-06-01"]), &["docs/a.md"]),
        (only(&[], &["order<5"]), &["docs/a.md", "notes/a.md"]),
        (only(&[], &["order=3"]), &["docs/a.md", "notes/a.md"]),
        (
            SearchOptions {
                changed_since: Some(250),
                ..SearchOptions::default()
            },
            &["docs/a.md", "notes/c.md"],
        ),
        (
            only(&["notes"], &["tags=rust", "order>=3"]),
            &["notes/a.md"],
        ),
        // `!=` beside a condition that must hold takes its failing pages off that one's.
        (
            only(&[], &["date>=2023-01-01", "draft!=false"]),
            &["docs/a.md", "notes/b.md"],
        ),
        // Several `!=` alone: every page failing one of them is left out.
        (
            only(&[], &["draft!=false", "tags!=python"]),
            &["docs/a.md", "notes/c.md"],
        ),
        (
            only(&["notes"], &["draft!=true"]),
            &["notes/a.md", "notes/c.md"],
        ),
        // A label lookup and a comparison together (each selects its pages alone).
        (
            only(&[], &["tags=rust", "date<2024-04-01"]),
            &["notes/a.md"],
        ),
    ];
    for (opts, expected) in cases {
        assert_eq!(
            pages(rt, store, &opts),
            expected,
            "{:?} {:?} {:?}",
            opts.collections,
            opts.conditions
                .iter()
                .map(|w| &w.written)
                .collect::<Vec<_>>(),
            opts.changed_since
        );
    }
    // A key no page has: nothing to rank, and the store can tell the key is absent.
    assert_eq!(
        rt.block_on(scope(store, &only(&[], &["audience=dev"])))
            .expect("scope"),
        Scope::Nothing
    );
    let present = |key: &str| {
        rt.block_on(store.any(&Filter::Property(crate::store::Condition {
            key: key.into(),
            test: crate::store::Test::Present,
        })))
        .expect("any")
    };
    assert!(present("ms.topic") && present("tags") && !present("audience"));
    // Counting by collection: one row per file with the first sections.
    let count = |f: Filter| rt.block_on(store.count(&f)).expect("count");
    assert_eq!(
        count(Filter::collection("notes").and(Filter::FirstSections)),
        3
    );
    assert_eq!(count(Filter::collection("docs")), 1);
}

#[test]
fn one_collection_gets_no_collection_index() {
    let rt = crate::budget::runtime(2).expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        filter_index_min_rows: 1,
        ..StoreOptions::default()
    };
    let mut store = rt
        .block_on(Store::open(&dir.path().into(), Access::Write, options))
        .expect("open");
    let files = [page("a.md", 1, "---\ntags: [x]\n---\n# 索引\n\n本文。\n")];
    let mut append = store.begin_append(rt.handle(), "notes").expect("append");
    append.send(&files, 1).expect("send");
    rt.block_on(append.commit(&mut store, &[])).expect("commit");
    rt.block_on(store.maintain(Maintenance::AfterRun))
        .expect("index");
    let names: Vec<String> = rt
        .block_on(store.table_stats())
        .expect("stats")
        .indexes
        .iter()
        .map(|i| i.name.clone())
        .collect();
    assert!(
        names.iter().any(|n| n == PAIRS_INDEX) && !names.iter().any(|n| n == COLLECTION_INDEX),
        "{names:?}"
    );
}
