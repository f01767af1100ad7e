//! Several roots in one index (collections), front-matter filters and `--changed-after`, and
//! an index made before collections, through the real binary on real directories.

use std::path::Path;

use serde_json::Value;

mod common;
use common::*;

fn search_in(db: &Path, query: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let out = run(bin()
        .arg("search")
        .arg(query)
        .arg("--db")
        .arg(db)
        .arg("--json")
        .args(extra));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{query} {extra:?}: {stderr}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("search --json");
    (v["results"].as_array().expect("results").clone(), stderr)
}

/// (collection, path) of each result.
fn found(results: &[Value]) -> Vec<(String, String)> {
    results
        .iter()
        .map(|r| {
            (
                r["collection"].as_str().expect("collection").to_string(),
                r["path"].as_str().expect("path").to_string(),
            )
        })
        .collect()
}

fn fails_with(cmd: &mut std::process::Command, says: &[&str]) {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for s in says {
        assert!(stderr.contains(s), "{s:?} not in: {stderr}");
    }
}

#[test]
fn several_roots_are_collections_searched_together_or_apart_and_removed_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (notes, work, db) = (
        dir.path().join("notes"),
        dir.path().join("work/docs"),
        dir.path().join("index"),
    );
    write(
        &notes,
        "guide.md",
        "---\ntags: [rust]\ndate: 2024-03-05\n---\n# 索引の手引き\n\n索引の作り方を書く。 #メモ\n",
    );
    write(&notes, "diary.md", "# 日記\n\n索引とは関係のない日記。\n");
    write(
        &work,
        "guide.md",
        "---\ntags: [python]\ndraft: true\ndate: 2023-01-10\n---\n# 索引の設計\n\n索引の設計を書く。\n",
    );
    let run_json = |args: &[&str]| -> Value {
        let out = ok(bin()
            .arg("index")
            .args(args)
            .arg("--db")
            .arg(&db)
            .arg("--json"));
        serde_json::from_str(&out).expect("index --json")
    };
    let first = run_json(&[notes.to_str().unwrap(), work.to_str().unwrap()]);
    assert_eq!(first["files_indexed"], 3);

    // Both collections, each result saying which; the same path in both stays two pages.
    let (hits, _) = search_in(&db, "索引", &[]);
    let mut all = found(&hits);
    all.sort();
    assert_eq!(
        all,
        [
            ("docs".to_string(), "guide.md".to_string()),
            ("notes".into(), "diary.md".into()),
            ("notes".into(), "guide.md".into())
        ]
    );
    let (hits, _) = search_in(&db, "索引", &["-c", "docs"]);
    assert_eq!(found(&hits), [("docs".to_string(), "guide.md".to_string())]);
    // Naming every collection restricts nothing (the search drops the filter).
    let (hits, _) = search_in(&db, "索引", &["-c", "notes", "-c", "docs"]);
    let mut every = found(&hits);
    every.sort();
    assert_eq!(every, all);
    let (hits, _) = search_in(
        &db,
        "索引",
        &["-c", "docs", "-c", "notes", "--where", "tags=rust"],
    );
    assert_eq!(
        found(&hits),
        [("notes".to_string(), "guide.md".to_string())]
    );
    let (hits, _) = search_in(&db, "索引", &["--where", "tags=メモ"]);
    assert_eq!(
        found(&hits),
        [("notes".to_string(), "guide.md".to_string())]
    );
    let (hits, _) = search_in(
        &db,
        "索引",
        &["--where", "draft!=true", "--where", "date>=2024-01-01"],
    );
    assert_eq!(
        found(&hits),
        [("notes".to_string(), "guide.md".to_string())]
    );
    // A key no page has: nothing, and a note that says why.
    let (hits, stderr) = search_in(&db, "索引", &["--where", "audience=dev"]);
    assert!(hits.is_empty());
    assert!(
        stderr.contains("no page of this index has the front-matter key \"audience\""),
        "{stderr}"
    );
    // Nothing changed since tomorrow; everything since a day ago.
    assert!(search_in(&db, "索引", &["--changed-after", "2999-01-01"])
        .0
        .is_empty());
    assert_eq!(
        search_in(&db, "索引", &["--changed-after", "1d"]).0.len(),
        3
    );

    // Bad filters are errors that name them.
    let search = |extra: &[&str]| {
        let mut c = bin();
        c.args(["search", "索引", "--db"]).arg(&db).args(extra);
        c
    };
    fails_with(&mut search(&["-c", "nope"]), &["\"nope\"", "docs", "notes"]);
    fails_with(
        &mut search(&["--where", "tags=~x"]),
        &["unknown comparison \"=~\""],
    );
    fails_with(
        &mut search(&["--where", "date<soon"]),
        &["date<soon", "numbers or dates"],
    );
    fails_with(&mut search(&["--changed-after", "soon"]), &["soon"]);

    // Stats lists each collection with its counts and last run.
    let stats: Value =
        serde_json::from_str(&ok(bin().arg("stats").arg("--db").arg(&db).arg("--json")))
            .expect("stats");
    let collections = stats["collections"].as_array().expect("collections");
    let listed: Vec<(&str, u64)> = collections
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["documents"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("notes", 2), ("docs", 1)]);
    assert!(collections
        .iter()
        .all(|c| c["last_run"]["finished_at"].is_string()));

    // A second root of the same name is refused, saying what to do; --name adds it.
    let other = dir.path().join("other/docs");
    write(&other, "x.md", "# 別の索引\n\n別の索引。\n");
    fails_with(
        bin().arg("index").arg(&other).arg("--db").arg(&db),
        &["\"docs\"", "--name", "sagasu remove docs"],
    );
    fails_with(
        bin()
            .arg("index")
            .arg(&other)
            .arg(&work)
            .arg("--db")
            .arg(&db),
        &["two roots are named \"docs\""],
    );
    let named = format!("vendor={}", other.display());
    let added = run_json(&["--name", &named]);
    assert_eq!(added["files_indexed"], 1, "only the new root is read");

    // Re-running with no root reads every collection again, incrementally.
    let again = run_json(&[]);
    assert_eq!(
        (
            again["files_seen"].as_u64(),
            again["files_indexed"].as_u64()
        ),
        (Some(4), Some(0))
    );
    // A root not named is left alone: a run of one collection removes nothing of another.
    std::fs::remove_file(notes.join("diary.md")).expect("rm");
    let one = run_json(&[work.to_str().unwrap()]);
    assert_eq!(one["files_removed"], 0);
    assert_eq!(search_in(&db, "日記", &["--mode", "text"]).0.len(), 1);

    // Removing one collection leaves the others.
    ok(bin().args(["remove", "docs", "--db"]).arg(&db));
    let (hits, _) = search_in(&db, "索引", &[]);
    assert!(found(&hits).iter().all(|(c, _)| c != "docs"), "{hits:?}");
    assert!(found(&hits).iter().any(|(c, _)| c == "vendor"));
    fails_with(
        bin().args(["remove", "docs", "--db"]).arg(&db),
        &["no collection named \"docs\"", "notes", "vendor"],
    );
}

/// An index made before collections (format 3: one root, no collection column, no front
/// matter kept) keeps working: its readers are told to re-index, and the first run rebuilds
/// the sections from the tree as one collection named after the root, keeping every vector
/// whose key the rebuilt sections still have (here all: the downgrade keeps this sagasu's
/// keys; a real format 3 or 4 index keyed vectors by the text alone, and those are made again
/// once).
#[test]
fn an_index_of_one_root_made_before_collections_is_migrated_and_keeps_its_vectors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("notes");
    write(
        &root,
        "a.md",
        "# 索引\n\n索引を作る。\n\n## 詳細\n\n詳細を書く。\n",
    );
    write(
        &root,
        "b.md",
        "---\ntags: [rust]\n---\n# 検索\n\n検索する。\n",
    );
    let model = tiny_model("tiny-bert");
    let made = index_json(&root, &["--model", &model]);
    assert!(made["vectors_written"].as_u64().unwrap() > 0);
    let db = root.join(".sagasu");
    downgrade_to_format_3(&db, &root);

    // A reader of the old layout says what to run.
    let out = run(bin().arg("search").arg("索引").arg("--db").arg(&db));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sagasu index"), "{stderr}");

    let migrated = index_json(&root, &["--model", &model]);
    assert_eq!(
        migrated["files_indexed"], 2,
        "sections rebuilt from the tree"
    );
    assert_eq!(migrated["vectors_written"], 0, "every vector kept");
    let stats = stats(&root);
    assert_eq!(stats["collections"][0]["name"], "notes");
    assert_eq!(stats["collections"][0]["documents"], 2);
    let (hits, _) = search_in(&db, "検索", &["--where", "tags=rust", "--mode", "hybrid"]);
    assert_eq!(found(&hits), [("notes".to_string(), "b.md".to_string())]);
}

/// Rewrites an index as format 3 wrote it: the sections table without the columns format 4
/// added, and `sagasu.json` with its one `root`.
fn downgrade_to_format_3(db: &Path, root: &Path) {
    let v3: Vec<&str> = vec![
        "id",
        "path",
        "ordinal",
        "heading_path",
        "level",
        "start_line",
        "end_line",
        "link_share",
        "title",
        "description",
        "tags",
        "text",
        "terms",
        "text_hash",
        "file_hash",
        "file_size",
        "mtime_ns",
        "raw",
    ];
    let batches = section_columns(db, &v3);
    let rt = sagasu::runtime(2).expect("runtime");
    rt.block_on(async {
        let conn = lancedb::connect(db.to_str().expect("utf-8"))
            .execute()
            .await
            .expect("connect");
        conn.drop_table("sections", &[]).await.expect("drop");
        conn.create_table("sections", batches)
            .execute()
            .await
            .expect("create the format 3 table");
    });
    let meta_path = db.join("sagasu.json");
    let mut meta: Value =
        serde_json::from_slice(&std::fs::read(&meta_path).expect("read meta")).expect("json");
    let m = meta.as_object_mut().expect("object");
    m.remove("collections");
    m.insert("format".into(), 3.into());
    m.insert(
        "root".into(),
        root.canonicalize().unwrap().display().to_string().into(),
    );
    m.insert("skipped".into(), Value::Array(Vec::new()));
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).expect("write meta");
}
