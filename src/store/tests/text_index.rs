//! The full-text index grows by segments: each fold-in tokenizes only the rows it lacks, so its
//! memory follows the run, not the corpus. Search must see every segment; the fold-in after
//! `TEXT_SEGMENTS_MAX` segments and a rebuild (what `sagasu optimize` does) leave one.

use crate::hash::content_hash;
use crate::ingest::document::{Document, FrontMatter, Section};
use crate::ingest::terms::{document_terms, query_terms};
use crate::store::maintain::TextIndexRefresh;
use crate::store::maintain::TEXT_SEGMENTS_MAX;
use crate::store::schema::FTS_INDEX;
use crate::store::{Access, FileRows, Match, Store, StoreOptions};

/// A file's rows with its sections' terms, as a reader makes them.
fn rows(path: String, hash: String, size: u64, doc: Document) -> FileRows {
    let terms = doc
        .sections
        .iter()
        .map(|s| document_terms(&s.text))
        .collect();
    FileRows::new(path, (hash, size, 0), Vec::new(), doc, terms)
}

/// File `doc{n}.md`, one section under `heading` holding `text`.
fn one_section(n: usize, heading: &str, text: String) -> FileRows {
    let doc = Document {
        front_matter: FrontMatter::default(),
        title: None,
        sections: vec![Section {
            heading_path: vec![heading.to_string()],
            level: 1,
            start_line: 1,
            end_line: 3,
            text: text.clone(),
            link_share: 0.0,
        }],
    };
    rows(
        format!("doc{n}.md"),
        content_hash(text.as_bytes()),
        text.len() as u64,
        doc,
    )
}

/// A file whose only section holds `word` (a made-up term found nowhere else) and filler.
fn file(n: usize, word: &str) -> FileRows {
    let text = format!("# 見出し{n}\n\n{word} は検索の確認に使う語です。本文 {n}。");
    one_section(n, &format!("見出し{n}"), text)
}

fn segments(rt: &tokio::runtime::Runtime, store: &Store) -> u64 {
    let stats = rt.block_on(store.table_stats()).expect("stats");
    let fts = stats
        .indexes
        .iter()
        .find(|i| i.name == FTS_INDEX)
        .expect("full-text index");
    assert_eq!(fts.unindexed_rows, Some(0), "every row is indexed");
    fts.segments.expect("segment count")
}

/// Appends 20 files holding `word` in one commit and folds them into the index.
fn add_and_fold(rt: &tokio::runtime::Runtime, store: &mut Store, round: usize, word: &str) {
    let files: Vec<FileRows> = (0..20).map(|i| file(round * 100 + i, word)).collect();
    let bytes = files.iter().map(FileRows::approx_bytes).sum();
    let mut append = store.begin_append(rt.handle(), "docs").expect("append");
    append.send(&files, bytes).expect("send");
    rt.block_on(append.commit(store, &[])).expect("commit");
    let committed = rt
        .block_on(store.refresh_text_index(TextIndexRefresh::FoldInAbove(0)))
        .expect("fold in");
    assert!(committed, "round {round}: the new rows were folded in");
}

#[test]
fn fold_ins_add_segments_that_search_sees_up_to_a_bound_and_a_rebuild_merges_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::budget::runtime(2).expect("runtime");
    let mut store = super::writer(&rt, dir.path(), StoreOptions::default());
    let words: Vec<String> = (0..TEXT_SEGMENTS_MAX + 2)
        .map(|i| format!("probe{}word", char::from(b'a' + i as u8)))
        .collect();
    let found = |store: &Store, word: &str| {
        rt.block_on(store.search_text(query_terms(word), Match::EveryWord, None, 50))
            .expect("search")
            .len()
    };
    for (round, word) in words.iter().enumerate().take(TEXT_SEGMENTS_MAX) {
        add_and_fold(&rt, &mut store, round, word);
        assert_eq!(segments(&rt, &store), round as u64 + 1, "round {round}");
    }
    for word in &words[..TEXT_SEGMENTS_MAX] {
        assert_eq!(found(&store, word), 20, "{word} across the segments");
    }
    assert!(
        !rt.block_on(store.refresh_text_index(TextIndexRefresh::FoldInAbove(0)))
            .expect("no-op"),
        "nothing to fold in: no commit"
    );
    // At the bound, the next fold-in rebuilds the index whole.
    add_and_fold(
        &rt,
        &mut store,
        TEXT_SEGMENTS_MAX,
        &words[TEXT_SEGMENTS_MAX],
    );
    assert_eq!(segments(&rt, &store), 1);
    add_and_fold(
        &rt,
        &mut store,
        TEXT_SEGMENTS_MAX + 1,
        &words[TEXT_SEGMENTS_MAX + 1],
    );
    assert_eq!(segments(&rt, &store), 2);
    rt.block_on(store.refresh_text_index(TextIndexRefresh::Rebuild))
        .expect("rebuild");
    assert_eq!(segments(&rt, &store), 1);
    for word in &words {
        assert_eq!(found(&store, word), 20, "{word} after the rebuild");
    }
}

/// Search terms come from sagasu's analyzer, so the index holds what the query is turned into:
/// Japanese words inside running text, and English words by their stem.
#[test]
fn terms_made_while_reading_match_queries_in_both_languages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::budget::runtime(2).expect("runtime");
    let mut store = super::writer(&rt, dir.path(), StoreOptions::default());
    let text =
        "# 設定\n\n設定ファイルを読み込んでから接続します。Retries are counted per connection.";
    let doc = Document {
        front_matter: FrontMatter::default(),
        title: None,
        sections: vec![Section {
            heading_path: vec!["設定".into()],
            level: 1,
            start_line: 1,
            end_line: 3,
            text: text.into(),
            link_share: 0.0,
        }],
    };
    let files = vec![rows("a.md".into(), content_hash(text.as_bytes()), 1, doc)];
    let mut append = store.begin_append(rt.handle(), "docs").expect("append");
    append.send(&files, files[0].approx_bytes()).expect("send");
    rt.block_on(append.commit(&mut store, &[])).expect("commit");
    let found = |store: &Store, q: &str| {
        rt.block_on(store.search_text(query_terms(q), Match::EveryWord, None, 10))
            .expect("search")
            .len()
    };
    // Flat search (no index yet), then through the index: the same answers.
    for indexed in [false, true] {
        if indexed {
            assert!(rt
                .block_on(store.refresh_text_index(TextIndexRefresh::FoldInAbove(0)))
                .expect("build"));
        }
        assert_eq!(found(&store, "設定ファイル"), 1, "indexed: {indexed}");
        assert_eq!(
            found(&store, "retry connections"),
            1,
            "stemmed, indexed: {indexed}"
        );
        assert_eq!(
            found(&store, "設定 存在しない語"),
            0,
            "AND of words, indexed: {indexed}"
        );
        assert_eq!(
            found(&store, "。、"),
            0,
            "no words, no results, indexed: {indexed}"
        );
    }
}

/// An index whose sections table predates the `terms` column: readers get a clear error,
/// an index run drops the table and rebuilds it from the tree.
#[test]
fn an_older_table_layout_is_rebuilt_by_index_and_refused_by_readers() {
    use arrow_schema::Schema;
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::budget::runtime(2).expect("runtime");
    let current = crate::store::schema::sections_schema();
    let older: Vec<_> = current
        .fields()
        .iter()
        .filter(|f| f.name() != "terms")
        .cloned()
        .collect();
    rt.block_on(async {
        let db = lancedb::connect(dir.path().to_str().expect("utf-8"))
            .execute()
            .await
            .expect("connect");
        db.create_empty_table("sections", std::sync::Arc::new(Schema::new(older)))
            .execute()
            .await
            .expect("older table");
    });
    std::fs::write(dir.path().join(crate::store::META_FILE), "{}").expect("meta");

    let err = rt
        .block_on(Store::open(
            &dir.path().into(),
            Access::Read,
            StoreOptions::default(),
        ))
        .err()
        .expect("a reader refuses the older layout");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("older sagasu") && msg.contains("sagasu index"),
        "{msg}"
    );

    let store = rt
        .block_on(Store::open(
            &dir.path().into(),
            Access::Write,
            StoreOptions::default(),
        ))
        .expect("an index run opens it");
    assert!(store.outdated_table_dropped);
    drop(store);
    let again = rt
        .block_on(Store::open(
            &dir.path().into(),
            Access::Write,
            StoreOptions::default(),
        ))
        .expect("reopen");
    assert!(
        !again.outdated_table_dropped,
        "the new table has the current layout"
    );
}

/// A search's ranked rows are read by one take, in their order: each candidate is the row it
/// was ranked as (its terms hold the query's word, its score is the search's), best first,
/// with the terms only when asked for.
#[test]
fn ranked_rows_are_read_in_their_order_with_their_terms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::budget::runtime(2).expect("runtime");
    let mut store = super::writer(&rt, dir.path(), StoreOptions::default());
    // File n holds the word n + 1 times, so BM25 orders them by n, best last written.
    let files: Vec<FileRows> = (0..6)
        .map(|n| {
            let text = format!("# 見出し{n}\n\n{} 本文 {n}。", "rankword ".repeat(n + 1));
            one_section(n, &format!("見出し{n}"), text)
        })
        .collect();
    let bytes = files.iter().map(FileRows::approx_bytes).sum();
    let mut append = store.begin_append(rt.handle(), "docs").expect("append");
    append.send(&files, bytes).expect("send");
    rt.block_on(append.commit(&mut store, &[])).expect("commit");
    assert!(rt
        .block_on(store.refresh_text_index(TextIndexRefresh::FoldInAbove(0)))
        .expect("build"));
    let ranked = rt
        .block_on(store.search_text_rows(query_terms("rankword"), Match::AnyWord, None, 10))
        .expect("rows");
    assert_eq!(ranked.len(), 6);
    assert!(ranked.windows(2).all(|w| w[0].0 >= w[1].0), "best first");
    // Read in another order than found: the take follows the order asked.
    let mut asked = ranked.clone();
    asked.reverse();
    let (hits, terms) = rt
        .block_on(store.candidates_at(&asked, true))
        .expect("take");
    assert_eq!(hits.len(), 6);
    assert_eq!(terms.len(), 6);
    for ((hit, terms), (score, row)) in hits.iter().zip(&terms).zip(&asked) {
        assert_eq!(hit.row_id, Some(*row));
        assert_eq!(hit.score, *score);
        let n: usize = hit.path["doc".len()..hit.path.len() - ".md".len()]
            .parse()
            .expect("file number");
        assert_eq!(terms.matches("rankword").count(), n + 1, "{}", hit.path);
    }
    assert_eq!(hits[5].path, "doc5.md", "the best, asked last, read last");
    let (hits, terms) = rt
        .block_on(store.candidates_at(&ranked[..2], false))
        .expect("take");
    assert_eq!(hits.len(), 2);
    assert!(terms.is_empty(), "no terms unless asked");
}
