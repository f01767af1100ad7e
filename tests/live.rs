//! Live use: the MCP server driven by real clients, watch mode, searches during indexing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

/// A tree with a known section, and a secret next to it that must never be served.
fn mcp_tree(dir: &Path) -> PathBuf {
    let root = dir.join("docs");
    write(
        &root,
        "guide/setup.md",
        "# セットアップ\n\n最初に必要なものを確認します。\n\n## 前提条件\n\nZEBRAFISH と protobuf-compiler が必要です。\n\n## インストール\n\nリポジトリを複製してビルドします。\n",
    );
    write(
        &root,
        "other/notes.md",
        "---\ntags: [日常]\norder: 2\n---\n# 雑記\n\n天気の話をします。\n",
    );
    write(dir, "outside/secret.md", "# 秘密\n\nTOP SECRET\n");
    std::os::unix::fs::symlink(dir.join("outside/secret.md"), root.join("outside.md"))
        .expect("symlink");
    ok(bin()
        .arg("index")
        .arg(&root)
        .arg("--no-embed")
        .arg("--quiet"));
    root
}

/// The official MCP Python SDK drives `sagasu serve`. `scripts/test.sh` (the README's test
/// command, and so CI) installs the SDK, sets `SAGASU_MCP_PYTHON` and runs the ignored tests
/// too; a plain `cargo test` has no SDK and leaves it out.
#[test]
#[ignore = "needs the MCP Python SDK in SAGASU_MCP_PYTHON; scripts/test.sh installs it and runs this"]
fn mcp_server_with_the_official_python_sdk() {
    let python = std::env::var("SAGASU_MCP_PYTHON")
        .expect("SAGASU_MCP_PYTHON names a Python with the `mcp` package");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = mcp_tree(dir.path());
    let script = manifest_dir().join("tests/mcp_client.py");
    let out = Command::new(python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_sagasu"))
        .arg(root.join(".sagasu"))
        .arg(&root)
        .output()
        .expect("run the python client");
    assert!(
        out.status.success(),
        "python MCP client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mcp_server_survives_bad_input_and_keeps_stdout_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = mcp_tree(dir.path());
    // An indexed file swapped for a link to a secret after indexing: the secret is not served.
    write(&root, "swap.md", "# 入れ替え\n\nSWAPWORD\n");
    write(&root, ".env", "SECRET_TOKEN=hunter2\n");
    ok(bin()
        .arg("index")
        .arg(&root)
        .arg("--no-embed")
        .arg("--quiet"));
    std::fs::remove_file(root.join("swap.md")).expect("rm");
    std::os::unix::fs::symlink(root.join(".env"), root.join("swap.md")).expect("symlink");
    let mut c = RawClient::start(&root.join(".sagasu"));
    let init = c.request(
        1,
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "0"}
        }),
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "sagasu", "{init}");
    c.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    // Malformed JSON, then a well-formed request: the server is still there.
    c.send_line("{this is not json");
    let found = c.call(2, "search", json!({"query": "ZEBRAFISH"}));
    let hits = &found["result"]["structuredContent"]["results"];
    assert_eq!(hits[0]["path"], "guide/setup.md", "{found}");
    assert!(hits[0].get("explain").is_none(), "{found}");
    // `sections` and `explain`: every section on its own, each with its score's parts.
    let flat = c.call(
        20,
        "search",
        json!({"query": "必要", "mode": "text", "sections": true, "explain": true}),
    );
    let flat = flat["result"]["structuredContent"]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let setup = flat
        .iter()
        .filter(|h| h["path"] == "guide/setup.md")
        .count();
    assert_eq!(setup, 2, "two sections of one page say 必要: {flat:?}");
    assert!(
        flat.iter().all(|h| h["explain"]["keyword_rank"].is_u64()),
        "{flat:?}"
    );
    let pages = c.call(21, "search", json!({"query": "必要", "mode": "text"}));
    let pages = &pages["result"]["structuredContent"]["results"];
    assert_eq!(pages.as_array().map_or(0, Vec::len), 1, "{pages}");
    assert_eq!(
        pages[0]["other_sections"].as_array().map_or(0, Vec::len),
        1,
        "{pages}"
    );

    // Filters: a collection, front-matter conditions (an object, or strings), and the note
    // when no page has the key; every result names its collection, which get_document takes.
    assert_eq!(hits[0]["collection"], "docs", "{found}");
    let filtered = c.call(
        22,
        "search",
        json!({"query": "天気", "collections": ["docs"], "where": {"tags": "日常", "order": {"<": 5}}}),
    );
    let filtered = &filtered["result"]["structuredContent"]["results"];
    assert_eq!(filtered[0]["path"], "other/notes.md", "{filtered}");
    let none = c.call(23, "search", json!({"query": "天気", "where": "tags=仕事"}));
    assert_eq!(
        none["result"]["structuredContent"]["results"],
        json!([]),
        "{none}"
    );
    assert!(
        none["result"]["structuredContent"].get("note").is_none(),
        "{none}"
    );
    let absent = c.call(
        24,
        "search",
        json!({"query": "天気", "where": ["audience=dev"]}),
    );
    let note = absent["result"]["structuredContent"]["note"]
        .as_str()
        .unwrap_or_default();
    assert!(note.contains("audience"), "{absent}");
    let doc = c.call(
        25,
        "get_document",
        json!({"path": "other/notes.md", "collection": "docs"}),
    );
    assert_eq!(
        doc["result"]["structuredContent"]["collection"], "docs",
        "{doc}"
    );

    // Bad arguments: tool errors naming the problem (the MCP spec's "input validation errors").
    for (id, args, needle) in [
        (15, json!({"query": "x", "where": "tags=~x"}), "=~"),
        (16, json!({"query": "x", "collections": ["nope"]}), "nope"),
        (17, json!({"query": "x", "changed_after": "soon"}), "soon"),
        (3, json!({"query": "x", "k": -1}), "k must be between"),
        (4, json!({"query": "x", "mode": "fuzzy"}), "fuzzy"),
        (5, json!({"k": 3}), "query"),
        (6, json!({"query": "x", "colour": "red"}), "colour"),
        (14, json!({"query": "x", "rerank": true}), "no reranker"),
    ] {
        let r = c.call(id, "search", args.clone());
        assert_eq!(r["result"]["isError"], true, "{args}: {r}");
        let msg = r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(msg.contains(needle), "{args}: {msg}");
    }
    let r = c.call(7, "get_document", json!({"path": "../outside/secret.md"}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(!r.to_string().contains("TOP SECRET"));
    // Swapped for a link after indexing: the bytes that were indexed are served (from the
    // index), never what the link leads to.
    let r = c.call(10, "get_document", json!({"path": "swap.md"}));
    assert_ne!(r["result"]["isError"], true, "{r}");
    assert!(r.to_string().contains("SWAPWORD"), "{r}");
    assert!(!r.to_string().contains("hunter2"), "{r}");
    // A 5 MB bad argument: the error names the problem and quotes a bounded part of it.
    let big = "x".repeat(5_000_000);
    for (id, tool, args) in [
        (11, "search", json!({"query": "x", "mode": big})),
        (12, "search", json!({"query": "x", "k": big})),
        (13, "get_document", json!({"path": big})),
    ] {
        let r = c.call(id, tool, args);
        assert_eq!(r["result"]["isError"], true, "{tool}");
        assert!(
            r.to_string().len() < 4096,
            "{tool}: {} bytes back",
            r.to_string().len()
        );
    }
    let r = c.call(8, "no_such_tool", json!({}));
    assert!(
        r["error"]["code"].is_i64(),
        "an unknown tool is a JSON-RPC error: {r}"
    );
    let again = c.call(9, "search", json!({"query": "ZEBRAFISH", "k": 1}));
    assert_eq!(
        again["result"]["structuredContent"]["results"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{again}"
    );
}

/// Polls `cond` until it holds or `limit` passes.
fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn watch_reflects_added_changed_and_removed_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write(&root, "a.md", "# 最初\n\nALPHAWORD がある。\n");
    let mut watch = bin()
        .arg("watch")
        .arg(&root)
        .arg("--no-embed")
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sagasu watch");
    // Until the first run has built the keyword index, a search may fail: that reads as
    // "not found yet".
    let found = |q: &str| -> Vec<String> {
        let out = run(bin()
            .current_dir(&root)
            .args(["search", q, "--mode", "text", "--json"]));
        serde_json::from_slice::<Value>(&out.stdout)
            .map(|v| paths(v["results"].as_array().map_or(&[][..], |a| a.as_slice())))
            .unwrap_or_default()
    };
    let limit = Duration::from_secs(20);
    eventually(limit, "the first run", || found("ALPHAWORD") == ["a.md"]);

    write(&root, "sub/b.md", "# 追加\n\nBETAWORD を足した。\n");
    eventually(limit, "an added file", || found("BETAWORD") == ["sub/b.md"]);

    write(&root, "a.md", "# 最初\n\nGAMMAWORD に変えた。\n");
    eventually(limit, "a changed file", || {
        found("GAMMAWORD") == ["a.md"] && found("ALPHAWORD").is_empty()
    });

    std::fs::remove_file(root.join("sub/b.md")).expect("rm");
    eventually(limit, "a removed file", || found("BETAWORD").is_empty());

    // A burst of 300 files becomes a few runs, each a few commits, not 300.
    for i in 0..300 {
        write(
            &root,
            &format!("burst/f{i:03}.md"),
            format!("# 束 {i}\n\nBURSTWORD {i}\n"),
        );
    }
    eventually(limit, "the burst", || {
        stats(&root)["documents"].as_u64() == Some(301)
    });
    let last = stats(&root)["last_run"].clone();
    assert!(
        last["commits"].as_u64().unwrap_or(99) <= 6,
        "a burst is committed in bulk: {last}"
    );
    let s = stats(&root);
    assert_eq!(s["prunable_versions"], 0, "{s}");
    let _ = watch.kill();
    let _ = watch.wait();
}

/// Every file holds SECTIONS sections tagged with the same version word. While a re-index
/// replaces every file, searches must succeed, see every file (a changed file's old rows go in
/// the commit that adds its new ones), and never show a file with sections of two versions or
/// only some of its sections. The test must also have seen what it guards: a
/// snapshot holding files of both versions. A rewrite that finished before any search caught
/// one is repeated (the other version, then back), up to ROUNDS times.
#[test]
fn searches_during_indexing_see_whole_files() {
    // 900 sections: one search (k = 1000) sees every section of the index at once.
    const FILES: usize = 300;
    const SECTIONS: usize = 3;
    const ROUNDS: usize = 4;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let make = |tag: &str| {
        for i in 0..FILES {
            let mut text = String::new();
            for j in 0..SECTIONS {
                text.push_str(&format!("# 節 {j}\n\nCOMMONWORD {tag} 本文 {i} {j}\n\n"));
            }
            write(root, &format!("d{}/f{i:04}.md", i % 10), text);
        }
    };
    make("VERSIONONE");
    ok(bin()
        .arg("index")
        .arg(root)
        .arg("--no-embed")
        .arg("--quiet"));
    let mut snapshots = 0;
    let mut seen_mixed_state = false;
    for round in 0..ROUNDS {
        make(if round % 2 == 0 {
            "VERSIONTWO"
        } else {
            "VERSIONONE"
        });
        // Small batches: 30 commits of 10 files, so nearly every snapshot a search sees holds
        // files of both versions.
        let mut writer = bin()
            .arg("index")
            .arg(root)
            .arg("--no-embed")
            .arg("--quiet")
            .args(["--batch-rows", "30"])
            .spawn()
            .expect("start index");
        while writer.try_wait().expect("poll").is_none() {
            let out = run(bin().current_dir(root).args([
                "search",
                "COMMONWORD",
                "--mode",
                "text",
                "-k",
                "1000",
                "--sections",
                "--json",
            ]));
            assert!(
                out.status.success(),
                "a search during indexing failed or found nothing: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            let mut per_file: HashMap<String, Vec<String>> = HashMap::new();
            for r in v["results"].as_array().expect("results") {
                let tag = if r["snippet"].as_str().unwrap_or("").contains("VERSIONTWO") {
                    "two"
                } else {
                    "one"
                };
                per_file
                    .entry(r["path"].as_str().unwrap_or("").to_string())
                    .or_default()
                    .push(tag.to_string());
            }
            assert_eq!(
                per_file.len(),
                FILES,
                "a snapshot without some files: a changed file was absent"
            );
            let tags: std::collections::HashSet<&String> = per_file.values().flatten().collect();
            seen_mixed_state |= tags.len() == 2;
            for (path, tags) in &per_file {
                assert_eq!(
                    tags.len(),
                    SECTIONS,
                    "{path}: part of a file in one snapshot"
                );
                assert!(
                    tags.iter().all(|t| t == &tags[0]),
                    "{path}: sections of two versions in one snapshot: {tags:?}"
                );
            }
            snapshots += 1;
        }
        assert!(writer.wait().expect("wait").success());
        assert_eq!(v_count(root), FILES * SECTIONS);
        if seen_mixed_state {
            break;
        }
    }
    eprintln!(
        "{snapshots} snapshots during the runs; mixed old/new files seen: {seen_mixed_state}"
    );
    assert!(
        seen_mixed_state,
        "in {ROUNDS} rewrites no search saw files of both versions at once ({snapshots} snapshots): \
         the test did not observe an index mid-update"
    );
}

fn v_count(root: &Path) -> usize {
    stats(root)["sections"].as_u64().expect("sections") as usize
}

/// The index holds each file's bytes: with the tree gone, `get_document` still serves what
/// was indexed, whole and by line range.
#[test]
fn documents_are_served_from_the_index_without_the_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = mcp_tree(dir.path());
    let db = dir.path().join("index");
    ok(bin()
        .arg("index")
        .arg(&root)
        .arg("--db")
        .arg(&db)
        .args(["--no-embed", "--quiet"]));
    std::fs::rename(&root, dir.path().join("moved")).expect("move the tree away");
    let mut c = RawClient::start(&db);
    c.request(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "test", "version": "0"}}),
    );
    c.send_line(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());
    let whole = c.call(2, "get_document", json!({"path": "guide/setup.md"}));
    assert_ne!(whole["result"]["isError"], true, "{whole}");
    let doc = &whole["result"]["structuredContent"];
    assert!(
        doc["text"].as_str().unwrap().starts_with("# セットアップ"),
        "{doc}"
    );
    assert_eq!(doc["total_lines"], 11, "{doc}");
    let line = c.call(
        3,
        "get_document",
        json!({"path": "guide/setup.md", "start_line": 7, "end_line": 7}),
    );
    assert_eq!(
        line["result"]["structuredContent"]["text"],
        "ZEBRAFISH と protobuf-compiler が必要です。"
    );
}
