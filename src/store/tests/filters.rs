//! Collections and front-matter conditions, applied inside LanceDB: each filter form on real
//! tables, alone, combined, and under a full-text search.

use crate::ingest::document::SplitOptions;
use crate::ingest::markdown::split;
use crate::ingest::terms::{document_terms, query_terms};
use crate::search::conditions::parse_where;
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

fn store_with_pages(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Store {
    let mut store = rt
        .block_on(Store::open(
            &dir.into(),
            Access::Write,
            StoreOptions::default(),
        ))
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

/// The (collection, path) of each page passing `filter`, sorted.
fn pages(rt: &tokio::runtime::Runtime, store: &Store, filter: &Filter) -> Vec<String> {
    let hits = rt
        .block_on(store.search_text(query_terms("索引"), Match::EveryWord, Some(filter), 100))
        .expect("search");
    let mut out: Vec<String> = hits
        .iter()
        .map(|h| format!("{}/{}", h.collection, h.path))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn condition(w: &str) -> Filter {
    parse_where(w).expect("condition").filter
}

#[test]
fn every_filter_form_selects_its_pages_inside_the_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::budget::runtime(2).expect("runtime");
    let store = store_with_pages(&rt, dir.path());
    let cases: [(&str, Filter, &[&str]); 14] = [
        ("collection", Filter::collection("docs"), &["docs/a.md"]),
        (
            "collections",
            Filter::Collections(vec!["docs".into(), "notes".into()]),
            &["docs/a.md", "notes/a.md", "notes/b.md", "notes/c.md"],
        ),
        // A list contains it, whatever the case; body #tags count.
        (
            "tags=rust",
            condition("tags=rust"),
            &["docs/a.md", "notes/a.md", "notes/c.md"],
        ),
        ("tags=メモ", condition("tags=メモ"), &["notes/a.md"]),
        (
            "dotted key",
            condition("ms.topic=business-process"),
            &["notes/a.md"],
        ),
        ("draft=true", condition("draft=true"), &["notes/b.md"]),
        // Pages without the key pass `!=`.
        (
            "draft!=true",
            condition("draft!=true"),
            &["docs/a.md", "notes/a.md", "notes/c.md"],
        ),
        (
            "date>=",
            condition("date>=2024-03-01"),
            &["docs/a.md", "notes/a.md"],
        ),
        // A date alone is the whole day, for a date and for a time within it.
        (
            "date<= a day",
            condition("date<=2024-03-05"),
            &["notes/a.md", "notes/b.md"],
        ),
        ("date= a day", condition("date=2024-06-01"), &["docs/a.md"]),
        (
            "order<5",
            condition("order<5"),
            &["docs/a.md", "notes/a.md"],
        ),
        (
            "order=3 (3.0 too)",
            condition("order=3"),
            &["docs/a.md", "notes/a.md"],
        ),
        (
            "changed since",
            Filter::ChangedSince(250),
            &["docs/a.md", "notes/c.md"],
        ),
        (
            "all of them",
            Filter::all([
                Filter::collection("notes"),
                condition("tags=rust"),
                condition("order>=3"),
            ])
            .expect("some"),
            &["notes/a.md"],
        ),
    ];
    for (what, filter, expected) in cases {
        assert_eq!(pages(&rt, &store, &filter), expected, "{what}: {filter:?}");
    }
    // A key no page has: nothing passes, and the store can tell the key is absent.
    assert!(pages(&rt, &store, &condition("audience=dev")).is_empty());
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
