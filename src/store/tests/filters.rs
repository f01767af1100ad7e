//! Collections and front-matter conditions, applied inside LanceDB: each filter form on real
//! tables, alone, combined, and under a full-text search.

use super::page;
use crate::ingest::terms::query_terms;
use crate::search::conditions::parse_where;
use crate::search::scope::{scope, Scope};
use crate::search::SearchOptions;
use crate::store::schema::{COLLECTION_INDEX, PAGE_INDEX, PAIRS_INDEX};
use crate::store::{FileRows, Filter, Maintenance, Match, Store, StoreError, StoreOptions};

/// Writes `files` into `collection` in one commit.
fn add(rt: &tokio::runtime::Runtime, store: &mut Store, collection: &str, files: &[FileRows]) {
    let mut append = store.begin_append(rt.handle(), collection).expect("append");
    append.send(files, 1).expect("send");
    rt.block_on(append.commit(store, &[])).expect("commit");
}

/// The names of the sections table's indexes.
fn index_names(rt: &tokio::runtime::Runtime, store: &Store) -> Vec<String> {
    rt.block_on(store.table_stats())
        .expect("stats")
        .indexes
        .iter()
        .map(|i| i.name.clone())
        .collect()
}

/// A writer whose tables get the filter indexes when `indexed` (which a table this small
/// would not get: filters scan), else never.
fn writer(rt: &tokio::runtime::Runtime, dir: &std::path::Path, indexed: bool) -> Store {
    let options = StoreOptions {
        filter_index_min_rows: if indexed { 1 } else { usize::MAX },
        ..StoreOptions::default()
    };
    super::writer(rt, dir, options)
}

/// The pages below in two collections; `indexed`: with the filter indexes, else without.
fn store_with_pages(rt: &tokio::runtime::Runtime, dir: &std::path::Path, indexed: bool) -> Store {
    let mut store = writer(rt, dir, indexed);
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
        add(rt, &mut store, collection, files);
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
        let names = index_names(&rt, &store);
        for index in [PAGE_INDEX, COLLECTION_INDEX] {
            assert_eq!(names.iter().any(|n| n == index), indexed, "{names:?}");
        }
        assert!(!names.iter().any(|n| n == PAIRS_INDEX), "{names:?}");
        every_filter_form(&rt, &store);
    }
}

fn every_filter_form(rt: &tokio::runtime::Runtime, store: &Store) {
    let all = ["docs/a.md", "notes/a.md", "notes/b.md", "notes/c.md"];
    let cases: [(SearchOptions, &[&str]); 20] = [
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
        // Every page changed since: no page list at all.
        (
            SearchOptions {
                changed_since: Some(0),
                ..only(&["notes"], &[])
            },
            &["notes/a.md", "notes/b.md", "notes/c.md"],
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
    let mut store = writer(&rt, dir.path(), true);
    let files = [page("a.md", 1, "---\ntags: [x]\n---\n# 索引\n\n本文。\n")];
    add(&rt, &mut store, "notes", &files);
    rt.block_on(store.maintain(Maintenance::AfterRun))
        .expect("index");
    let names = index_names(&rt, &store);
    assert!(
        names.iter().any(|n| n == PAGE_INDEX) && !names.iter().any(|n| n == COLLECTION_INDEX),
        "{names:?}"
    );
}

/// The vector side under a filter finds exactly the nearest texts that have a section under
/// it, whether over-fetching finds enough of them (most pages pass) or the texts under the
/// filter are looked up (few pass) and then compared directly or, with too many to compare,
/// found by a deeper over-fetch.
#[test]
fn the_vector_search_under_a_filter_finds_the_nearest_texts_that_pass() {
    use crate::hash::{hash_hex, hash_key};
    use crate::search::vector::{nearest_texts, nearest_texts_with};
    use crate::store::vectors::Existing;
    const DIM: usize = 8;
    let rt = crate::budget::runtime(2).expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = super::writer(&rt, dir.path(), StoreOptions::default());
    for (collection, n) in [("big", 57), ("quarter", 20), ("small", 3)] {
        let files: Vec<FileRows> = (0..n)
            .map(|i| {
                page(
                    &format!("{i}.md"),
                    1,
                    &format!("# {collection} {i}\n\n{collection} の {i} 番目の段落。\n"),
                )
            })
            .collect();
        add(&rt, &mut store, collection, &files);
    }
    // A pseudo-random unit vector per text.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let mut unit = || {
        let v: Vec<f32> = (0..DIM).map(|_| next()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let keys: Vec<_> = rt
        .block_on(store.section_hashes(None))
        .expect("hashes")
        .into_iter()
        .collect();
    let hashes: Vec<String> = keys.iter().map(|k| hash_hex(*k)).collect();
    let vectors: Vec<Vec<f32>> = keys.iter().map(|_| unit()).collect();
    rt.block_on(async {
        store
            .prepare_vectors(DIM, Existing::Keep)
            .await
            .expect("vectors table");
        store.add_vectors(&hashes, &vectors).await.expect("add");
        store.maintain_vectors().await.expect("maintain");
    });
    let k = 4;
    for collection in ["big", "quarter", "small"] {
        let filter = Filter::collection(collection);
        let passing = rt
            .block_on(store.section_hashes(Some(&filter)))
            .expect("passing");
        for _ in 0..10 {
            let q = unit();
            let mut truth: Vec<(&String, f32)> = hashes
                .iter()
                .zip(&vectors)
                .filter(|(h, _)| passing.contains(&hash_key(h)))
                .map(|(h, v)| (h, 1.0 - v.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>()))
                .collect();
            truth.sort_by(|a, b| a.1.total_cmp(&b.1));
            truth.truncate(k);
            let truth: Vec<&String> = truth.iter().map(|(h, _)| *h).collect();
            let found = rt
                .block_on(nearest_texts(&store, &q, Some(&filter), k))
                .expect("nearest");
            assert_eq!(
                found.iter().map(|t| &t.hash).collect::<Vec<_>>(),
                truth,
                "{collection}"
            );
            // Each found text's row holds its vector.
            let rows: Vec<u64> = found.iter().map(|t| t.row).collect();
            let read = rt.block_on(store.vectors_at(&rows)).expect("vectors");
            let stored: Vec<&Vec<f32>> = found
                .iter()
                .map(|t| &vectors[hashes.iter().position(|h| *h == t.hash).expect("a hash")])
                .collect();
            assert_eq!(read.iter().collect::<Vec<_>>(), stored, "{collection}");
            // A row of a fragment that is gone (compacted since the search) is reported so,
            // for the engine to search again.
            let gone = rt.block_on(store.vectors_at(&[rows[0], 999 << 32]));
            assert!(matches!(gone, Err(StoreError::Vanished { .. })), "{gone:?}");
            // With no direct comparison, the deeper over-fetch (20 × 4 here: every text).
            let found = rt
                .block_on(nearest_texts_with(&store, &q, Some(&filter), k, 0))
                .expect("nearest");
            assert_eq!(
                found.iter().map(|t| &t.hash).collect::<Vec<_>>(),
                truth,
                "{collection}, over-fetched"
            );
        }
    }
}

#[test]
fn a_reader_selects_pages_again_once_a_writer_commits() {
    let rt = crate::budget::runtime(2).expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = store_with_pages(&rt, dir.path(), true);
    // A reader opens only a directory an index run has recorded.
    std::fs::write(dir.path().join(crate::store::meta::META_FILE), "{}").expect("meta");
    let options = StoreOptions {
        reads: crate::store::Reads::Within(std::time::Duration::ZERO),
        ..StoreOptions::default()
    };
    let reader = rt
        .block_on(Store::open(
            &dir.path().into(),
            crate::store::Access::Read,
            options,
        ))
        .expect("open for reading");
    let rust = only(&[], &["tags=rust"]);
    let before = ["docs/a.md", "notes/a.md", "notes/c.md"];
    // The second time the selection is the one kept for this version.
    for _ in 0..2 {
        assert_eq!(pages(&rt, &reader, &rust), before);
    }
    add(
        &rt,
        &mut writer,
        "notes",
        &[page(
            "d.md",
            500,
            "---\ntags: [rust]\n---\n# 索引の追加\n\n索引を足す。\n",
        )],
    );
    assert_eq!(
        pages(&rt, &reader, &rust),
        ["docs/a.md", "notes/a.md", "notes/c.md", "notes/d.md"],
        "a selection kept for an older version was used"
    );
}

#[test]
fn a_page_list_finds_the_same_sections_tested_on_candidates_or_by_lancedb() {
    // 40 pages, page i holding 索引 i + 1 times: BM25 orders them, and a list decides whether
    // the search tests it on deeper candidates (a share of the pages ≥ 3/16) or LanceDB does
    // (a short list; or when too few of the deeper candidates pass).
    let rt = crate::budget::runtime(2).expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = writer(&rt, dir.path(), true);
    let files: Vec<FileRows> = (0..40)
        .map(|i| {
            let body = format!("{}その他の話。", "索引の話。".repeat(i + 1));
            page(
                &format!("p{i:02}.md"),
                100,
                &format!("# 題 {i}\n\n{body}\n"),
            )
        })
        .collect();
    add(&rt, &mut store, "notes", &files);
    rt.block_on(store.maintain(Maintenance::AfterRun))
        .expect("index");
    let key = |i: usize| crate::hash::page_key("notes", &format!("p{i:02}.md"));
    let search = |filter: Option<&Filter>, limit: usize| -> Vec<String> {
        rt.block_on(store.search_text(query_terms("索引"), Match::AnyWord, filter, limit))
            .expect("search")
            .iter()
            .map(|h| h.path.clone())
            .collect()
    };
    let all = search(None, 100);
    assert_eq!(all.len(), 40, "{all:?}");
    let low: Vec<String> = (0..10).map(|i| format!("p{i:02}.md")).collect();
    assert!(
        all[..30].iter().all(|p| !low.contains(p)),
        "pages 0–9 should match least: {all:?}"
    );
    let every: Vec<usize> = (0..40).collect();
    let cases: Vec<(Vec<usize>, bool, usize)> = vec![
        // Half of the pages, the best ten of them: tested on 15 candidates, 10 of them pass.
        (
            every.iter().copied().filter(|i| i % 2 == 0).collect(),
            true,
            5,
        ),
        // All but five: tested on candidates.
        (vec![3, 17, 20, 38, 39], false, 10),
        // One page: a short list, LanceDB's.
        (vec![7], true, 10),
        // The ten least matching pages, a quarter: the 30 candidates read hold none of them,
        // so LanceDB searches the list.
        ((0..10).collect(), true, 5),
    ];
    for (listed, keep, limit) in cases {
        let list = Filter::Pages(listed.iter().map(|&i| key(i)).collect());
        let filter = if keep {
            list
        } else {
            Filter::Not(Box::new(list))
        };
        let passes = |path: &String| {
            let i: usize = path[1..3].parse().expect("page number");
            listed.contains(&i) == keep
        };
        let truth: Vec<String> = all
            .iter()
            .filter(|p| passes(p))
            .take(limit)
            .cloned()
            .collect();
        let found = search(Some(&filter), limit);
        assert_eq!(found, truth, "{listed:?} keep {keep} limit {limit}");
        // Under another condition too (the list is taken out of an And).
        let both = Filter::collection("notes").and(filter);
        assert_eq!(
            search(Some(&both), limit),
            truth,
            "{listed:?} under a collection"
        );
    }
}
