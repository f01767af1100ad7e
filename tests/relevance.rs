//! Ranking, end to end through the index: the page a query names comes first, link lists and
//! boilerplate rank below it, one hit per page with the others attached, and `--explain`.

use std::path::Path;

mod common;
use common::*;

/// A page titled by the query, and many pages whose "See also" lists link to it (short
/// sections that BM25 alone ranks first) or that repeat a footer naming it.
fn tree(root: &Path) {
    write(
        root,
        "cpp/exceptions.md",
        "---\ntitle: 例外処理のベストプラクティス\n---\n# 例外処理のベストプラクティス\n\n\
         最新の C++ では、エラー コードよりも例外を使ってエラーを報告します。\
         例外は呼び出し元へ伝わり、途中のスタックは巻き戻されます。リソースは RAII で解放します。\n\n\
         ## 例外を使うべき場面\n\n回復できない前提条件の違反には assert を、\
         実行時に起こり得る失敗には例外を使います。処理を続けられない場合にだけ投げます。\n",
    );
    for i in 0..12 {
        write(
            root,
            &format!("cpp/topic{i:02}.md"),
            format!(
                "# 話題 {i}\n\nこのページはテンプレート {i} の使い方について詳しく説明します。\
                 型引数の推論と特殊化の規則を例とともに示します。\n\n\
                 ## 関連項目\n\n- [例外処理のベストプラクティス](exceptions.md)\n\
                 - [テンプレート {i}](t{i}.md)\n"
            ),
        );
    }
    // The H1 is the title when the front matter has none.
    write(
        root,
        "cpp/raii.md",
        "# RAII によるリソース管理\n\nコンストラクターで取得し、デストラクターで解放します。\n",
    );
}

fn indexed_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    tree(dir.path());
    ok(bin()
        .arg("index")
        .arg(dir.path())
        .arg("--no-embed")
        .arg("--quiet"));
    dir
}

#[test]
fn the_titled_page_beats_link_lists_and_results_are_pages() {
    let dir = indexed_tree();
    let root = dir.path();

    let hits = search_json(root, "例外処理のベストプラクティス", &["--mode", "text"]);
    assert_eq!(paths(&hits)[0], "cpp/exceptions.md", "{hits:#?}");
    // One result per page: the page's other matching section is attached, not listed.
    let listed = paths(&hits);
    let mut unique = listed.clone();
    unique.dedup();
    assert_eq!(
        listed.len(),
        unique.len(),
        "a page listed twice: {listed:?}"
    );
    assert!(
        hits[0]["other_sections"]
            .as_array()
            .is_some_and(|o| !o.is_empty()),
        "{}",
        hits[0]
    );
    // Demoted, not dropped: the link lists still come after it.
    assert!(listed.len() > 5, "{listed:?}");
    // --sections gives every matching section on its own.
    let flat = search_json(
        root,
        "例外処理のベストプラクティス",
        &["--mode", "text", "--sections", "-k", "50"],
    );
    assert!(flat.len() > listed.len());
    assert!(flat.iter().all(|h| h.get("other_sections").is_none()));

    let title = search_json(
        root,
        "RAII によるリソース管理",
        &["--mode", "text", "-k", "3"],
    );
    assert_eq!(paths(&title)[0], "cpp/raii.md");
}

#[test]
fn explain_shows_the_parts_of_each_score() {
    let dir = indexed_tree();
    let root = dir.path();

    let hits = search_json(
        root,
        "例外処理のベストプラクティス",
        &["--mode", "text", "--explain", "-k", "3"],
    );
    let best = &hits[0]["explain"];
    assert_eq!(best["keyword_rank"], 1, "{best}");
    assert_eq!(best["tier"], 1);
    assert!(best["title_match"].as_f64().unwrap_or(0.0) > 0.9, "{best}");
    assert!(best["bm25"].as_f64().unwrap_or(0.0) > 0.0);
    let flat = search_json(
        root,
        "例外処理のベストプラクティス",
        &["--mode", "text", "--explain", "--sections", "-k", "50"],
    );
    let see_also = flat
        .iter()
        .find(|h| h["heading_path"].as_array().and_then(|p| p.last()) == Some(&"関連項目".into()))
        .expect("a See also section");
    assert!(
        see_also["explain"]["link_share"].as_f64().unwrap_or(0.0) > 0.9,
        "{see_also}"
    );
    // Without --explain, no explanation.
    let plain = search_json(root, "例外処理のベストプラクティス", &["--mode", "text"]);
    assert!(plain[0].get("explain").is_none());
    // The human output has a "why" line per result.
    let out = ok(bin().current_dir(root).args([
        "search",
        "例外処理のベストプラクティス",
        "--mode",
        "text",
        "--explain",
        "-k",
        "1",
    ]));
    assert!(out.contains("why  bm25"), "{out}");
}

/// `--reranker` on a cross-encoder (a tiny random one: the order it gives is arbitrary, so
/// what is checked is that the reranked list is its order over the first stage's candidates),
/// the recorded setting, `--no-rerank`, and an embedding model refused as a reranker.
#[test]
fn a_reranker_reorders_the_candidates_by_its_score() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    tree(root);
    let reranker = manifest_dir()
        .join("crates/sagasu-embed/tests/fixtures/tiny-modernbert-reranker-cls")
        .display()
        .to_string();
    // Not a cross-encoder: refused before anything is written.
    let out = run(bin().arg("index").arg(root).args([
        "--no-embed",
        "--reranker",
        &tiny_model("tiny-modernbert"),
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a cross-encoder"), "{err}");
    assert!(!root.join(".sagasu").exists(), "nothing written");

    index_json(root, &["--no-embed", "--reranker", &reranker]);
    let query = "テンプレート 型引数";
    // Every candidate with its rerank score (k ≥ the candidate count).
    let all = search_json(root, query, &["--explain", "-k", "30"]);
    assert!(all.len() > 3, "{all:?}");
    let score = |r: &serde_json::Value| r["explain"]["rerank"].as_f64().expect("rerank score");
    for pair in all.windows(2) {
        assert!(
            score(&pair[0]) >= score(&pair[1]),
            "ordered by the rerank score"
        );
        assert_eq!(pair[0]["score"], pair[0]["explain"]["rerank"]);
    }
    // k = 3: the three best of the same candidates.
    let top = search_json(root, query, &["--explain", "-k", "3"]);
    assert_eq!(paths(&top), paths(&all[..3]));
    // Off: the first stage's order, no rerank score.
    let plain = search_json(root, query, &["--explain", "-k", "30", "--no-rerank"]);
    assert!(plain.iter().all(|r| r["explain"]["rerank"].is_null()));
    let mut a = paths(&plain);
    let mut b = paths(&all);
    a.sort();
    b.sort();
    assert_eq!(a, b, "the reranker reorders the same candidates");
    // The recorded reranker is dropped with "none": --rerank then says so.
    index_json(root, &["--no-embed", "--reranker", "none"]);
    let out = run(bin().current_dir(root).args(["search", query, "--rerank"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("records no reranker"));
    // …and one given for a single search works.
    let given = search_json(
        root,
        query,
        &["--explain", "--reranker", &reranker, "-k", "30"],
    );
    assert_eq!(paths(&given), paths(&all));
}
