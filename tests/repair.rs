//! A damaged index heals: the index is derived from the tree, so `sagasu index` always gets
//! back to a working index and says in one line what it repaired; until then `search` says
//! what is wrong and which command fixes it, in messages that carry no source paths of the
//! toolchain or of dependencies.

use std::path::{Path, PathBuf};

mod common;
use common::*;

fn tree(root: &Path) {
    for i in 0..30 {
        write(
            root,
            &format!("d{}/f{i:02}.md", i % 3),
            format!("# 文書 {i}\n\n本文 {i} です。HEALWORD と語{i}を含みます。\n\n## 節\n\n続き {i}。\n"),
        );
    }
}

/// Files of a table's subdirectory (`data`, `_versions`, `_indices`), recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains("/rustc/") && !text.contains(".cargo/registry") && !text.contains(".rs:"),
        "{what}: a source path in the message: {text}"
    );
}

/// Damages the index with `damage`, then checks the reader's message and the writer's repair.
fn damaged_then_repaired(name: &str, damage: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    tree(root);
    ok(bin().arg("index").arg(root).arg("--no-embed").arg("-q"));
    assert_eq!(
        search_json(root, "HEALWORD", &["-k", "50"]).len(),
        30,
        "{name}: before"
    );
    let db = root.join(".sagasu");
    damage(&db);

    let out = run(bin()
        .current_dir(root)
        .args(["search", "HEALWORD", "-k", "50"]));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_clean(name, &stderr);
    if out.status.code() == Some(2) {
        assert!(
            stderr.contains("sagasu index"),
            "{name}: says which command fixes it: {stderr}"
        );
    }

    let out = run(bin().arg("index").arg(root).arg("--no-embed").arg("--json"));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_clean(name, &stderr);
    assert!(out.status.success(), "{name}: index repairs: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let repairs = summary["repairs"].as_array().cloned().unwrap_or_default();
    assert!(
        !repairs.is_empty(),
        "{name}: says what it repaired: {summary}"
    );
    for r in &repairs {
        assert_clean(name, r.as_str().unwrap_or_default());
    }
    assert_eq!(
        search_json(root, "HEALWORD", &["-k", "50"]).len(),
        30,
        "{name}: after the repair"
    );
    assert_eq!(stats(root)["documents"], 30, "{name}");
    // The next run has nothing left to repair.
    let again = index_json(root, &["--no-embed"]);
    assert!(again.get("repairs").is_none(), "{name}: {again}");
}

#[test]
fn garbage_metadata() {
    damaged_then_repaired("garbage sagasu.json", |db| {
        std::fs::write(db.join("sagasu.json"), b"\x00{not json").expect("write");
    });
}

#[test]
fn truncated_data_file() {
    damaged_then_repaired("truncated data file", |db| {
        for f in files_under(&db.join("sections.lance/data")) {
            let bytes = std::fs::read(&f).expect("read");
            std::fs::write(&f, &bytes[..bytes.len() / 2]).expect("truncate");
        }
    });
}

#[test]
fn emptied_manifest() {
    damaged_then_repaired("emptied manifest", |db| {
        for f in files_under(&db.join("sections.lance/_versions")) {
            std::fs::write(&f, b"").expect("empty");
        }
    });
}

#[test]
fn emptied_full_text_index() {
    damaged_then_repaired("emptied full-text index", |db| {
        let files = files_under(&db.join("sections.lance/_indices"));
        assert!(!files.is_empty(), "there is a full-text index to damage");
        for f in files {
            std::fs::write(&f, b"").expect("empty");
        }
    });
}

/// A file is found by the words of its path, which its text need not hold; an index made
/// before the sections held them (format 5) gets them from its next `index`, and `optimize`
/// in between does not mark it current.
#[test]
fn path_words_find_a_page_and_an_older_index_gets_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    tree(root);
    write(
        root,
        "reference/set-errno.md",
        "# グローバル変数の値を設定する\n\n値を設定します。\n",
    );
    ok(bin().arg("index").arg(root).arg("--no-embed").arg("-q"));
    let found = |query: &str| paths(&search_json(root, query, &["--mode", "text"]));
    assert_eq!(found("errno")[..1], ["reference/set-errno.md"]);
    assert_eq!(found("set errno")[..1], ["reference/set-errno.md"]);
    // A directory's word reaches the pages under it.
    let under = found("d1 HEALWORD");
    assert!(
        under.len() == 10 && under.iter().all(|p| p.starts_with("d1/")),
        "{under:?}"
    );

    let meta_file = root.join(".sagasu").join("sagasu.json");
    let format = || -> u64 {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&meta_file).expect("meta")).expect("json");
        meta["format"].as_u64().expect("format")
    };
    let current = format();
    assert!(current >= 6, "{current}");
    // The same index as format 5 recorded it (its sections as they are: what counts is
    // that the next run reads every file again).
    let meta = std::fs::read_to_string(&meta_file).expect("meta");
    std::fs::write(
        &meta_file,
        meta.replace(&format!("\"format\": {current}"), "\"format\": 5"),
    )
    .expect("write meta");
    assert_eq!(format(), 5);
    ok(bin().arg("optimize").arg("--db").arg(root.join(".sagasu")));
    assert_eq!(
        format(),
        5,
        "optimize leaves the sections' format as it found it"
    );

    let out = run(bin().arg("index").arg(root).arg("--no-embed").arg("--json"));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("format 5"),
        "says why it rebuilds: {stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        summary["files_unchanged"], 0,
        "every file read again: {summary}"
    );
    assert!(
        summary["repairs"].as_array().is_none_or(|r| r.is_empty()),
        "an upgrade is no repair: {summary}"
    );
    assert_eq!(format(), current);
    assert_eq!(found("errno")[..1], ["reference/set-errno.md"]);

    let again = index_json(root, &["--no-embed"]);
    assert_eq!(again["files_unchanged"], 31, "current now: {again}");
}
