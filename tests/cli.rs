//! End-to-end tests: real directories in temp dirs, the real binary, the real LanceDB.

use std::fs;
use std::path::{Path, PathBuf};

mod common;
use common::*;

#[test]
fn index_search_edit_delete_reindex() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "guide/setup.md",
        "---\ntitle: セットアップ\ndescription: 開発環境の準備について説明します。\n---\n# セットアップ\n\n最初に必要なものを確認します。\n\n## 前提条件\n\nRust と protobuf-compiler が必要です。\n\n## インストール\n\nリポジトリを複製してビルドします。\n",
    );
    write(
        root,
        "guide/retry.md",
        "# 再試行\n\nリトライの上限回数は設定ファイルで決めます。既定では三回です。\n",
    );
    write(
        root,
        "notes/other.md",
        "# 雑記\n\n関係のない文章です。天気の話をします。\n",
    );
    write(root, "README.txt", "not markdown: 上限回数\n");

    let first = index_json(root, &[]);
    assert_eq!(first["files_indexed"], 3);
    assert!(root.join(".sagasu/.gitignore").is_file());

    // Search from a subdirectory finds the index upwards.
    let sub = root.join("guide");
    let hits = search_json(&sub, "リトライの上限回数", &[]);
    assert_eq!(paths(&hits)[0], "guide/retry.md");
    let top = &hits[0];
    assert_eq!(top["heading_path"], serde_json::json!(["再試行"]));
    assert_eq!(top["start_line"], 1);
    assert_eq!(top["end_line"], 3);
    assert!(top["snippet"]
        .as_str()
        .expect("snippet")
        .contains("上限回数"));
    assert!(top["score"].as_f64().expect("score") > 0.0);

    let hits = search_json(root, "protobuf-compiler", &[]);
    assert_eq!(paths(&hits)[0], "guide/setup.md");
    assert_eq!(
        hits[0]["heading_path"],
        serde_json::json!(["セットアップ", "前提条件"])
    );
    assert_eq!(
        (hits[0]["start_line"].as_u64(), hits[0]["end_line"].as_u64()),
        (Some(9), Some(11))
    );

    // Front-matter description is searchable.
    assert_eq!(
        paths(&search_json(root, "開発環境の準備", &[]))[0],
        "guide/setup.md"
    );

    let s = stats(root);
    assert_eq!(s["documents"], 3);
    assert_eq!(s["sections"], 5);
    assert!(s["fragments"].as_u64().expect("fragments") <= 16);
    assert_eq!(
        s["prunable_versions"], 0,
        "every run prunes what is past the grace"
    );

    // A no-op re-run reads nothing and commits nothing.
    let again = index_json(root, &[]);
    assert_eq!(again["files_unchanged"], 3);
    assert_eq!(again["files_indexed"], 0);
    assert_eq!(again["commits"], 0);

    // Edit one file, delete another, add a third.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(
        root,
        "guide/retry.md",
        "# 再試行\n\nバックオフは指数関数的に伸ばします。\n",
    );
    fs::remove_file(root.join("notes/other.md")).expect("rm");
    write(root, "notes/new.md", "# 新規\n\n追加された文書です。\n");
    let third = index_json(root, &[]);
    assert_eq!(third["files_indexed"], 2);
    assert_eq!(third["files_removed"], 1);
    assert_eq!(third["files_unchanged"], 1);

    assert!(search_json(root, "リトライの上限回数", &[])
        .iter()
        .all(|r| r["path"] != "guide/retry.md"
            || !r["snippet"].as_str().unwrap_or("").contains("上限")));
    assert_eq!(
        paths(&search_json(root, "バックオフ", &[]))[0],
        "guide/retry.md"
    );
    assert!(
        search_json(root, "天気", &[]).is_empty(),
        "deleted file is gone"
    );
    assert_eq!(
        paths(&search_json(root, "追加された文書", &[]))[0],
        "notes/new.md"
    );
    let s = stats(root);
    assert_eq!(s["documents"], 3);
    assert_eq!(s["sections"], 5);
    assert_eq!(
        s["prunable_versions"], 0,
        "every run prunes what is past the grace"
    );
}

#[test]
fn path_prefix_filters_before_ranking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // Many strong matches outside the prefix, few weak ones inside it.
    for i in 0..30 {
        write(
            root,
            &format!("a/doc{i:02}.md"),
            format!("# 検索\n\n検索 検索 検索 索引の話 {i}。\n"),
        );
    }
    for i in 0..4 {
        write(
            root,
            &format!("b/doc{i}.md"),
            format!("# 別\n\n長い文章の中に一度だけ検索という語が出る文書 {i} です。\n"),
        );
    }
    index_json(root, &[]);
    let hits = search_json(root, "検索", &["--path-prefix", "b/", "-k", "3"]);
    assert_eq!(
        hits.len(),
        3,
        "k results whenever k matching sections exist"
    );
    assert!(paths(&hits).iter().all(|p| p.starts_with("b/")));
    let hits = search_json(root, "検索", &["--path-prefix", "b/", "-k", "10"]);
    assert_eq!(hits.len(), 4);

    // A reader that goes away (`sagasu search … | head -1`) ends the search quietly.
    let mut child = bin()
        .current_dir(root)
        .args(["search", "検索", "-k", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn bad_files_are_reported_and_the_rest_is_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "good.md", "# 良い\n\n普通の文書です。\n");
    write(root, "binary.md", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0");
    write(
        root,
        "big.md",
        "# 大きい\n\n".to_string() + &"あ".repeat(4000),
    );
    let (sjis, _, _) =
        encoding_rs::SHIFT_JIS.encode("# 古い文書\n\nシフトJISで書かれた設定の説明です。\n");
    write(root, "legacy.md", &*sjis);

    let out = run(bin()
        .arg("index")
        .arg(root)
        .arg("--max-file-size")
        .arg("5000"));
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("binary.md") && stderr.contains("binary"),
        "{stderr}"
    );
    assert!(
        stderr.contains("big.md") && stderr.contains("limit"),
        "{stderr}"
    );

    let s = stats(root);
    assert_eq!(s["documents"], 2);
    let skipped: Vec<&str> = s["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|x| x["path"].as_str().expect("p"))
        .collect();
    assert_eq!(skipped, vec!["big.md", "binary.md"]);
    assert_eq!(paths(&search_json(root, "シフトJIS", &[]))[0], "legacy.md");
    assert_eq!(paths(&search_json(root, "普通の文書", &[]))[0], "good.md");
}

#[test]
fn errors_are_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(bin().current_dir(dir.path()).arg("search").arg("x"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sagasu index found"));

    let out = run(bin().arg("index").arg(dir.path().join("missing")));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));

    write(dir.path(), "a.md", "# a\n\nx\n");
    index_json(dir.path(), &[]);
    let out = run(bin()
        .current_dir(dir.path())
        .arg("search")
        .arg("x")
        .arg("-k")
        .arg("0"));
    assert_eq!(out.status.code(), Some(2));
    let out = run(bin()
        .current_dir(dir.path())
        .arg("search")
        .arg("存在しない語彙"));
    assert_eq!(out.status.code(), Some(1), "no results: exit 1");

    // A second writer is refused with a clear message while another process holds the
    // lock (an advisory lock on the index's writer.lock, as a running `sagasu index` holds).
    let lock = std::fs::File::open(dir.path().join(".sagasu/writer.lock")).expect("lock file");
    lock.try_lock().expect("the lock is free between runs");
    let out = run(bin().arg("index").arg(dir.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another sagasu process"));
    drop(lock);
    ok(bin().arg("index").arg(dir.path()));
}

/// A tree big enough that indexing it with small batches takes many commits.
fn make_tree(root: &Path, files: usize) {
    for i in 0..files {
        let mut text = format!("---\ntitle: 文書{i}\n---\n# 文書 {i}\n\n導入の段落 {i} です。\n");
        for j in 0..6 {
            text.push_str(&format!(
                "\n## 節 {j}\n\n文書{i}の節{j}の本文。検索語 語{i}x{j} を含みます。\n"
            ));
        }
        write(root, &format!("d{}/f{i:04}.md", i % 7), text);
    }
}

/// Commits made to a table so far: each adds a manifest under `_versions` (pruned only when a
/// run ends, so a killed run's commits stay countable).
fn versions(db: &Path) -> usize {
    std::fs::read_dir(db.join("sections.lance/_versions"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn sigkill_at_any_moment_then_rerun_gives_the_same_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    make_tree(&root, 600);
    let reference_db: PathBuf = dir.path().join("reference");
    ok(bin()
        .arg("index")
        .arg(&root)
        .arg("--db")
        .arg(&reference_db)
        .arg("-q"));
    let expected = dump(&reference_db);
    assert_eq!(expected.len(), 600 * 7);

    // Each run is killed on an observed event, not after a fixed delay, so what is covered
    // does not depend on the machine's speed: before its first commit, then after its 1st,
    // 3rd, 8th and 20th commit (of ~60: 4,200 rows in commits of 70).
    let db = dir.path().join("killed");
    let mut kills = 0;
    let mut partial = false;
    for (round, commits) in [0usize, 1, 3, 8, 20].into_iter().enumerate() {
        let before = versions(&db);
        let mut child = bin()
            .arg("index")
            .arg(&root)
            .arg("--db")
            .arg(&db)
            .arg("-q")
            .arg("--batch-rows")
            .arg("70")
            .spawn()
            .expect("spawn");
        let started = std::time::Instant::now();
        loop {
            let reached = if commits == 0 {
                db.join("sagasu.json").exists()
            } else {
                versions(&db) >= before + commits
            };
            if reached || child.try_wait().expect("wait").is_some() {
                break;
            }
            assert!(
                started.elapsed().as_secs() < 120,
                "round {round}: no progress"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
            child.wait().expect("reap");
            if versions(&db) > 0 {
                let rows = dump(&db).len();
                partial |= rows > 0 && rows < expected.len();
            }
        }
        child.wait().expect("reap");
        // Edit the tree between kills so a resumed run also has changed files to replace.
        if round == 2 {
            write(&root, "d0/f0000.md", "# 変更\n\n書き換えた本文。\n");
            write(&root, "d1/f0001.md", "# 変更\n\n二つ目の書き換え。\n");
            ok(bin()
                .arg("index")
                .arg(&root)
                .arg("--db")
                .arg(&reference_db)
                .arg("-q"));
        }
    }
    assert!(kills >= 4, "the runs were killed mid-way ({kills} kills)");
    assert!(
        partial,
        "at least one kill left a partly written index behind"
    );
    ok(bin().arg("index").arg(&root).arg("--db").arg(&db).arg("-q"));
    let expected = dump(&reference_db);
    let got = dump(&db);
    assert_eq!(
        got.len(),
        expected.len(),
        "no duplicated or missing sections"
    );
    assert_eq!(got, expected);
}

#[test]
fn no_model_means_keyword_search_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.md", "# 見出し\n\n本文です。\n");
    let out = run(bin().arg("index").arg(dir.path()));
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no embedding model available"), "{stderr}");
    assert!(
        stderr.contains("--model DIR"),
        "says how to get one: {stderr}"
    );
    assert_eq!(paths(&search_json(dir.path(), "本文", &[]))[0], "a.md");
    let out = run(bin()
        .current_dir(dir.path())
        .arg("search")
        .arg("本文")
        .arg("--mode")
        .arg("vector"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs embeddings"));
}

#[test]
fn vectors_are_made_once_and_hybrid_search_uses_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // Relative to the package root (the tests' working directory), as a user would type it.
    let model = "crates/sagasu-embed/tests/fixtures/tiny-modernbert".to_string();
    write(
        root,
        "a.md",
        "# メモ\n\nリトライの上限回数は三回です。\n\n## 同じ\n\n共通の段落です。\n",
    );
    write(
        root,
        "b.md",
        "# メモ\n\n東京は日本の首都です。\n\n## 同じ\n\n共通の段落です。\n",
    );
    let first = index_json(root, &["--model", &model]);
    // "共通の段落です" appears twice, under the same heading of pages of the same title: 4
    // sections, 3 distinct inputs of the model (a section is embedded with its place, so the
    // same text under another title would be another vector).
    assert_eq!(first["sections_written"], 4);
    assert_eq!(
        first["vectors_written"], 3,
        "identical sections are embedded once"
    );
    let s = stats(root);
    assert_eq!(s["vectors"], 3);
    assert_eq!(s["texts"], 3, "stats shows embedded of total");
    assert_eq!(s["model"]["model_type"], "modernbert");
    // The run takes the vectors' mean, which queries are corrected by.
    let mean = vector_mean(root);
    assert_eq!(mean["rows"], 3, "{mean}");
    assert_eq!(
        mean["values"].as_array().map(Vec::len),
        s["model"]["dim"].as_u64().map(|d| d as usize)
    );

    let hits = search_json(root, "東京", &["--mode", "vector", "-k", "4", "--sections"]);
    // The model directory is recorded absolute: a search from elsewhere still finds it.
    let sub = root.join("sub");
    fs::create_dir_all(&sub).expect("mkdir");
    let from_sub = search_json(&sub, "東京", &["--mode", "vector", "-k", "4", "--sections"]);
    assert_eq!(paths(&from_sub), paths(&hits));
    assert_eq!(hits.len(), 4);
    assert!(hits
        .windows(2)
        .all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64()));
    let hybrid = search_json(root, "東京は日本の首都", &[]);
    assert_eq!(
        paths(&hybrid)[0],
        "b.md",
        "hybrid (the default with vectors) keeps the keyword match on top"
    );
    // Texts only the vector side found are read back as sections after fusion: every
    // section comes back, both copies of the shared text included, with their snippets.
    let all = search_json(root, "東京は日本の首都", &["-k", "10", "--sections"]);
    assert_eq!(all.len(), 4, "{all:?}");
    // By default one result per page, its other matching sections attached.
    let pages = search_json(root, "東京は日本の首都", &["-k", "10"]);
    assert_eq!(paths(&pages).len(), 2, "{pages:?}");
    assert!(pages
        .iter()
        .all(|p| p["other_sections"].as_array().map_or(0, Vec::len) == 1));
    assert_eq!(paths(&all)[0], "b.md");
    let shared = all
        .iter()
        .filter(|h| h["heading_path"].as_array().and_then(|p| p.last()) == Some(&"同じ".into()))
        .count();
    assert_eq!(shared, 2, "one text, two sections");
    assert!(all
        .iter()
        .all(|h| !h["snippet"].as_str().unwrap_or("").is_empty()));
    assert!(all
        .windows(2)
        .all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64()));
    // Below the size for a vector index every search is exact: recall against exact is 1.
    fs::write(
        root.join("q.jsonl"),
        "{\"query\": \"東京\", \"path\": \"b.md\"}\n{\"query\": \"再試行\", \"path\": \"a.md\"}\n",
    )
    .expect("write queries");
    let ann: serde_json::Value = serde_json::from_str(&ok(bin()
        .current_dir(root)
        .args(["eval", "q.jsonl", "--ann", "--json", "-k", "2"])))
    .expect("json");
    assert_eq!(ann["queries"], 2);
    assert_eq!(ann["recall"], 1.0);
    assert!(ann["indexed"].is_null());
    let filtered = search_json(root, "東京", &["--mode", "vector", "--path-prefix", "a.md"]);
    assert!(!filtered.is_empty() && paths(&filtered).iter().all(|p| p == "a.md"));

    // A no-op run embeds nothing (and keeps the mean); an edit embeds only the new text.
    assert_eq!(index_json(root, &["--model", &model])["vectors_written"], 0);
    assert_eq!(vector_mean(root), mean);
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(
        root,
        "a.md",
        "# メモ\n\nバックオフは指数関数的です。\n\n## 同じ\n\n共通の段落です。\n",
    );
    let edit = index_json(root, &["--model", &model]);
    assert_eq!(edit["vectors_written"], 1);
    assert_eq!(
        stats(root)["vectors"],
        3,
        "the replaced text's vector is gone"
    );
    let edited = vector_mean(root);
    assert_eq!(edited["rows"], 3);
    assert_ne!(
        edited["values"], mean["values"],
        "a third of the vectors changed: taken again"
    );

    // Another model: everything is re-embedded, never mixed.
    let other = index_json(root, &["--model", &tiny_model("tiny-bert")]);
    assert_eq!(other["vectors_written"], 3);
    assert_eq!(stats(root)["model"]["model_type"], "bert");
    let remade = vector_mean(root);
    assert_eq!(remade["rows"], 3);
    assert_ne!(
        remade["values"], edited["values"],
        "the new model's vectors' mean"
    );
}

/// A re-run without `--model` embeds with the model the index records, not the default
/// (which, offline, would leave the new file without a vector; online, would embed every
/// section again), with its token limit unless one is given; and sections made again by a run without a model (`--no-embed`, here
/// after an upgrade from format 5) still get the index that joins vector hits to them.
#[test]
fn a_rerun_keeps_the_recorded_model_and_the_hash_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "a.md", "# 一\n\n最初の文書です。\n");
    let model = tiny_model("tiny-modernbert");
    let first = index_json(root, &["--model", &model, "--max-tokens", "16"]);
    assert_eq!(first["vectors_written"], 1, "{first}");

    write(root, "b.md", "# 二\n\n二つ目の文書です。\n");
    let out = run(bin().arg("index").arg(root).arg("--json"));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("model"), "no model warning: {stderr}");
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        again["vectors_written"], 1,
        "the new file embedded: {again}"
    );
    assert_eq!(stats(root)["model"]["model_type"], "modernbert");
    assert_eq!(
        stats(root)["model"]["max_tokens"],
        16,
        "the recorded limit kept"
    );
    // A limit given is applied, even the default's (512, capped at the model's 128).
    index_json(root, &["--max-tokens", "512"]);
    assert_eq!(
        stats(root)["model"]["max_tokens"],
        128,
        "the given limit applied"
    );

    let hash_index = || {
        stats(root)["indexes"]
            .as_array()
            .expect("indexes")
            .iter()
            .any(|i| i["name"] == "text_hash_idx")
    };
    assert!(hash_index());
    let meta_file = root.join(".sagasu").join("sagasu.json");
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(&meta_file).expect("meta")).expect("json");
    let current = meta["format"].as_u64().expect("format");
    let text = fs::read_to_string(&meta_file).expect("meta");
    fs::write(
        &meta_file,
        text.replace(&format!("\"format\": {current}"), "\"format\": 5"),
    )
    .expect("write meta");
    let rebuilt = index_json(root, &["--no-embed"]);
    assert_eq!(rebuilt["files_indexed"], 2, "{rebuilt}");
    assert!(hash_index(), "the hash index is made again");
    let hits = search_json(root, "文書", &["--mode", "vector"]);
    assert_eq!(hits.len(), 2, "{hits:?}");
}

/// The vector mean `sagasu.json` records for the index of `root`.
fn vector_mean(root: &std::path::Path) -> serde_json::Value {
    let meta = fs::read(root.join(".sagasu").join("sagasu.json")).expect("sagasu.json");
    let meta: serde_json::Value = serde_json::from_slice(&meta).expect("json");
    meta["vector_mean"].clone()
}

#[test]
fn a_broken_model_fails_before_any_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "tree/a.md", "# a\n\nx\n");
    let broken = dir.path().join("model");
    fs::create_dir_all(&broken).expect("mkdir");
    fs::write(
        broken.join("config.json"),
        "{\"model_type\": \"modernbert\"}",
    )
    .expect("write");
    let out = run(bin()
        .arg("index")
        .arg(dir.path().join("tree"))
        .arg("--model")
        .arg(&broken));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tokenizer.json"),
        "{out:?}"
    );
    assert!(
        !dir.path().join("tree/.sagasu").exists(),
        "nothing was written"
    );
}

/// The thread budget and the write pattern, as a run reports them: at most N + 6 threads
/// (sampled every 256 files, at each phase and at the end), and commits that follow the
/// amount of data, not the number of files.
#[test]
fn threads_stay_within_budget_and_commits_do_not_follow_file_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    make_tree(&root, 1200);
    for threads in [1u64, 3] {
        let db = dir.path().join(format!("db{threads}"));
        let out = ok(std::process::Command::new(env!("CARGO_BIN_EXE_sagasu"))
            .env("HF_HUB_OFFLINE", "1")
            .args(["--threads", &threads.to_string(), "index"])
            .arg(&root)
            .arg("--db")
            .arg(&db)
            .args([
                "--json",
                "--quiet",
                "--model",
                &tiny_model("tiny-modernbert"),
            ]));
        let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(summary["files_indexed"], 1200, "{summary}");
        assert!(
            summary["vectors_written"].as_u64().unwrap_or(0) > 0,
            "{summary}"
        );
        let max = summary["max_threads"].as_u64().expect("max_threads");
        assert!(
            max > threads && max <= threads + 6,
            "--threads {threads}: {max} threads at most, budget {}",
            threads + 6
        );
        let commits = summary["commits"].as_u64().expect("commits");
        assert!(
            commits <= 10,
            "{commits} commits for 1,200 files: {summary}"
        );
    }
}

/// What is indexed and what is not, as the README says: ignore rules hold for `.md` files,
/// a file of front matter only is found by its title, and files left out (empty, a name that
/// is not UTF-8) are listed by `stats` with the reason.
#[test]
fn ignore_rules_front_matter_only_files_and_skipped_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, ".gitignore", "ign.md\n");
    write(root, "ign.md", "# x\n\nzqgnrfl\n");
    write(root, ".x.md", "# x\n\nzqgnrfl\n");
    write(root, "keep.md", "# 残す\n\n本文。\n");
    write(
        root,
        "title-only.md",
        "---\ntitle: 前書きだけの文書 QXTITLE\n---\n",
    );
    write(root, "empty.md", "");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name.md");
        std::fs::write(root.join(name), "# x\n\n本文\n").expect("write");
    }
    ok(bin().arg("index").arg(root).arg("--no-embed").arg("-q"));
    assert!(
        search_json(root, "zqgnrfl", &[]).is_empty(),
        "ignored files stay out"
    );
    assert_eq!(paths(&search_json(root, "QXTITLE", &[])), ["title-only.md"]);
    let s = stats(root);
    assert_eq!(s["documents"], 2, "{s}");
    let skipped: Vec<(String, String)> = s["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|x| {
            (
                x["path"].as_str().expect("path").to_string(),
                x["reason"].as_str().expect("reason").to_string(),
            )
        })
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(p, r)| p == "empty.md" && r.contains("no text")),
        "{skipped:?}"
    );
    #[cfg(unix)]
    assert!(
        skipped
            .iter()
            .any(|(p, r)| p.starts_with("bad-") && r.contains("UTF-8")),
        "{skipped:?}"
    );
}

/// A relative `--db` is a directory, whatever its name: LanceDB reads a URI that starts with
/// "db" as its cloud service, so sagasu hands it absolute paths.
#[test]
fn a_relative_db_path_starting_with_db_is_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "tree/a.md", "# 見出し\n\nRELWORD です。\n");
    ok(bin()
        .current_dir(dir.path())
        .args(["index", "tree", "--db", "db/idx", "--no-embed", "-q"]));
    let out = ok(bin()
        .current_dir(dir.path())
        .args(["search", "RELWORD", "--db", "db/idx", "--json"]));
    assert!(out.contains("a.md"), "{out}");
}

/// `search --json` says how fresh its answer is: the index version it read and when that was
/// committed; a re-index moves both.
#[test]
fn search_json_says_how_fresh_the_index_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "a.md", "# 鮮度\n\n索引の新しさを確かめる本文。\n");
    ok(bin().arg("index").arg(root).args(["--no-embed", "--quiet"]));
    let fresh = |root: &Path| -> serde_json::Value {
        let out = ok(bin().current_dir(root).args(["search", "鮮度", "--json"]));
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["results"].as_array().map(Vec::len), Some(1), "{v}");
        v["index"].clone()
    };
    let first = fresh(root);
    let at = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v["committed_at"].as_str().expect("committed_at"))
            .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {v}"))
    };
    let age = first["age_seconds"].as_f64().expect("age_seconds");
    assert!((0.0..600.0).contains(&age), "{first}");
    let since = chrono::Utc::now().signed_duration_since(at(&first));
    assert!(since.num_seconds() < 600, "{first}");
    write(root, "a.md", "# 鮮度\n\n書き換えた本文。\n");
    ok(bin().arg("index").arg(root).args(["--no-embed", "--quiet"]));
    let second = fresh(root);
    assert!(
        second["version"].as_u64() > first["version"].as_u64(),
        "{first} then {second}"
    );
    assert!(at(&second) >= at(&first), "{first} then {second}");
}

/// Issue 22: HTML (Shift_JIS, declared by `<meta charset>`), plain text, reStructuredText,
/// AsciiDoc and Org beside Markdown, each hand-written as people keep them. `--types` picks
/// the formats, the choice is recorded for later runs, and each format's headings and lines
/// reach the results.
#[test]
fn every_format_is_indexed_with_its_headings_and_lines_and_the_choice_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "README.md", "# 概要\n\nこの木の説明です。\n");
    write(
        root,
        "notes/議事録.txt",
        "定例会議事録 2024-03\n\n出席者: 山田、佐藤\n\n決定事項: 検索基盤を移行する。\n",
    );
    let html = "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"Shift_JIS\">\n\
                <title>移行ガイド</title>\n</head>\n<body>\n\
                <nav><a href=\"/\">ナビ専用語</a></nav>\n<h1>移行ガイド</h1>\n\
                <p>はじめに読む段落。</p>\n<h2>移行手順</h2>\n\
                <p>索引を作り直す手順を説明します。</p>\n</body>\n</html>\n";
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(html);
    write(root, "site/guide.html", &*sjis);
    write(
        root,
        "site/broken.html",
        b"<meta charset=\"shift_jis\"><p>\x81\xff\xff</p>".as_slice(),
    );
    write(
        root,
        "docs/install.rst",
        "==========\nインストール\n==========\n\n前提条件\n========\n\nRust 1.94 以降が必要です。\n",
    );
    write(
        root,
        "ops/runbook.adoc",
        "= 運用手順書\n:description: 当番の手引き\n\n== 障害対応\n\n障害時はオンコール担当へ連絡する。\n",
    );
    write(
        root,
        "journal/2024.org",
        "#+TITLE: 日誌\n:PROPERTIES:\n:ID: j-2024\n:END:\n* 三月\n** 検索の改善\n語句の近さで順位を上げる。\n",
    );

    // Markdown alone by default.
    ok(bin().arg("index").arg(root).args(["--no-embed", "--quiet"]));
    assert_eq!(stats(root)["documents"].as_u64(), Some(1));

    let all = index_json(root, &["--no-embed", "--types", "all"]);
    assert_eq!(all["files_indexed"].as_u64(), Some(5), "{all}");
    let s = stats(root);
    assert_eq!(s["documents"].as_u64(), Some(6), "{s}");
    let skipped = s["skipped"].to_string();
    assert!(
        skipped.contains("site/broken.html") && skipped.contains("Shift_JIS"),
        "{skipped}"
    );

    // (query, path, heading path, start line) of the expected first result.
    let cases: [(&str, &str, &[&str], u64); 5] = [
        (
            "索引を作り直す",
            "site/guide.html",
            &["移行ガイド", "移行手順"],
            11,
        ),
        (
            "オンコール担当",
            "ops/runbook.adoc",
            &["運用手順書", "障害対応"],
            4,
        ),
        ("語句の近さ", "journal/2024.org", &["三月", "検索の改善"], 6),
        (
            "Rust 1.94 以降",
            "docs/install.rst",
            &["インストール", "前提条件"],
            5,
        ),
        ("決定事項", "notes/議事録.txt", &["定例会議事録 2024-03"], 1),
    ];
    for (query, path, headings, line) in cases {
        let found = search_json(root, query, &["--mode", "text"]);
        let top = found
            .first()
            .unwrap_or_else(|| panic!("{query}: nothing found"));
        assert_eq!(top["path"].as_str(), Some(path), "{query}: {found:?}");
        let got: Vec<&str> = top["heading_path"]
            .as_array()
            .expect("heading_path")
            .iter()
            .filter_map(|h| h.as_str())
            .collect();
        assert_eq!(got, headings, "{query}: {top}");
        assert_eq!(top["start_line"].as_u64(), Some(line), "{query}: {top}");
    }
    // A site's navigation is not the page's text.
    assert!(search_json(root, "ナビ専用語", &["--mode", "text"]).is_empty());

    // The choice is recorded: a re-run without --types reads the same formats.
    let again = index_json(root, &["--no-embed"]);
    assert_eq!(again["files_unchanged"].as_u64(), Some(6), "{again}");
    assert_eq!(again["files_removed"].as_u64(), Some(0), "{again}");
    // Narrowed again, the other formats leave the index.
    let narrowed = index_json(root, &["--no-embed", "--types", "md"]);
    assert_eq!(narrowed["files_removed"].as_u64(), Some(5), "{narrowed}");
    assert_eq!(stats(root)["documents"].as_u64(), Some(1));
    let out = run(bin().arg("index").arg(root).args(["--types", "md,docx"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown type \"docx\""));
}

/// Flags not given again are what the index records: a re-run (with its root, or with
/// none) walks and splits as the first run did, and a flag given again replaces the record.
#[test]
fn a_re_run_without_flags_walks_and_splits_as_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "a.md", "# 索引\n\n本文です。\n");
    write(root, "b.mdx", "# 部品\n\nMDX の本文です。\n");
    let sections = "段落です。".repeat(40);
    write(
        root,
        "long.md",
        format!("# 長い\n\n{sections}\n\n{sections}\n"),
    );
    let first = index_json(root, &["--glob", "*.mdx", "--max-section-chars", "150"]);
    assert_eq!(first["files_indexed"], 3);
    let again = index_json(root, &[]);
    assert_eq!(
        (
            again["files_removed"].as_u64(),
            again["files_unchanged"].as_u64()
        ),
        (Some(0), Some(3)),
        "{again}"
    );
    let db = root.join(".sagasu");
    let none: serde_json::Value =
        serde_json::from_str(&ok(bin().args(["index", "--json", "--db"]).arg(&db)))
            .expect("index --json");
    assert_eq!(none["files_removed"], 0, "{none}");
    // A changed file is split with the recorded size.
    write(
        root,
        "long.md",
        format!("# 長い\n\n{sections}\n\n{sections}\n\n追記。\n"),
    );
    let edited = index_json(root, &[]);
    // Two paragraphs of 200 characters: one section under the default size, four or more
    // under 150.
    assert!(
        edited["sections_written"].as_u64().expect("sections") >= 4,
        "split with the recorded 150 characters, not the default: {edited}"
    );
    // Given again, a flag replaces the record.
    let narrowed = index_json(root, &["--glob", "!*.mdx"]);
    assert_eq!(narrowed["files_removed"], 1, "{narrowed}");
    // --no-glob forgets the recorded globs, for this run and the next.
    let widened = index_json(root, &["--glob", "*.mdx"]);
    assert_eq!(widened["files_indexed"], 1, "{widened}");
    let cleared = index_json(root, &["--no-glob"]);
    assert_eq!(cleared["files_removed"], 1, "{cleared}");
    let after = index_json(root, &[]);
    assert_eq!(
        (
            after["files_indexed"].as_u64(),
            after["files_removed"].as_u64()
        ),
        (Some(0), Some(0)),
        "{after}"
    );
}
