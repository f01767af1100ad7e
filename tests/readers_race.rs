//! Readers never fail because a writer cleaned up (issue 24): a writer commits and prunes in
//! a loop (incremental runs of edits, creations, deletions and renames, and `optimize`, which
//! compacts and rebuilds the full-text index) while one-shot `search` processes and a
//! long-lived `serve` search the whole time. Before superseded versions were kept for a grace
//! period, a reader that had opened the previous version could lose a deletion file mid-query
//! and was told that the index was damaged.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

const FILES: usize = 200;

fn page(i: usize, round: usize) -> String {
    format!(
        "# 頁 {i}\n\nCOMMONWORD 本文 {i} 版 {round}。例外処理の説明です。\n\n## 節\n\n詳しい内容 {round} と {i}。\n"
    )
}

/// One writer run's changes: a few files edited, one created, one deleted, one renamed.
fn change(root: &Path, round: usize) {
    for k in 0..5 {
        let i = (round * 7 + k * 31) % FILES;
        write(root, &format!("d{}/f{i:04}.md", i % 10), page(i, round));
    }
    write(
        root,
        &format!("new/n{round:04}.md"),
        page(10_000 + round, round),
    );
    if round >= 2 {
        let _ = std::fs::remove_file(root.join(format!("new/n{:04}.md", round - 2)));
    }
    let from = root.join(format!("new/n{:04}.md", round.saturating_sub(1)));
    if round >= 1 && from.exists() {
        let _ = std::fs::rename(&from, root.join(format!("new/r{round:04}.md")));
    }
}

#[test]
fn searches_never_fail_while_a_writer_commits_and_prunes() {
    const RUNS: usize = 120;
    const MIN_QUERIES: usize = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    for i in 0..FILES {
        write(&root, &format!("d{}/f{i:04}.md", i % 10), page(i, 0));
    }
    ok(bin()
        .arg("index")
        .arg(&root)
        .args(["--no-embed", "--quiet"]));
    let db = root.join(".sagasu");

    let done = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));

    // One-shot readers: a new process per search, as a shell loop or an agent's tool runs it.
    let one_shot: Vec<_> = (0..2)
        .map(|t| {
            let (done, queries, failures) = (done.clone(), queries.clone(), failures.clone());
            let root = root.clone();
            std::thread::spawn(move || {
                let words = ["COMMONWORD", "例外処理", "詳しい内容"];
                let mut n = 0;
                while !done.load(Ordering::Acquire) {
                    let out = run(bin().current_dir(&root).args([
                        "search",
                        words[(n + t) % words.len()],
                        "--mode",
                        "text",
                        "--json",
                        "-k",
                        "20",
                    ]));
                    n += 1;
                    queries.fetch_add(1, Ordering::Relaxed);
                    if out.status.code() != Some(0) {
                        failures.lock().unwrap().push(format!(
                            "one-shot search exit {:?}: {}",
                            out.status.code(),
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
            })
        })
        .collect();

    // A long-lived reader: `serve` keeps its view between calls and refreshes it on each.
    let served = {
        let (done, queries, failures) = (done.clone(), queries.clone(), failures.clone());
        let db = db.clone();
        std::thread::spawn(move || {
            let mut c = RawClient::start(&db);
            c.initialize();
            let mut id = 2;
            while !done.load(Ordering::Acquire) {
                let v = c.call(
                    id,
                    "search",
                    json!({"query": "COMMONWORD 例外処理", "mode": "text", "k": 10}),
                );
                id += 1;
                queries.fetch_add(1, Ordering::Relaxed);
                let result = &v["result"];
                let content = &result["structuredContent"];
                // Every answer says how fresh it is.
                let fresh = content["index"]["committed_at"].is_string()
                    && content["index"]["version"].is_u64()
                    && content["index"]["reindex_running"].is_boolean()
                    && content["index"]["reindex_pending"].is_boolean();
                if result["isError"] == json!(true)
                    || content["results"].as_array().is_none_or(Vec::is_empty)
                    || !fresh
                {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("serve search failed: {v}"));
                }
            }
        })
    };

    // The writer: incremental runs that commit and prune, and now and then `optimize`.
    let started = Instant::now();
    for round in 1..=RUNS {
        change(&root, round);
        if round % 20 == 0 {
            ok(bin().args(["optimize", "--db"]).arg(&db));
        } else {
            ok(bin()
                .arg("index")
                .arg(&root)
                .args(["--no-embed", "--quiet", "--batch-rows", "4"]));
        }
    }
    ok(bin()
        .arg("index")
        .arg(&root)
        .args(["--no-embed", "--quiet"]));
    // Searches go on a while after the last commit, until enough have run.
    let deadline = Instant::now() + Duration::from_secs(120);
    while queries.load(Ordering::Relaxed) < MIN_QUERIES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    done.store(true, Ordering::Release);
    for t in one_shot {
        t.join().expect("a one-shot reader panicked");
    }
    served.join().expect("the serve reader panicked");

    let n = queries.load(Ordering::Relaxed);
    let failures = failures.lock().unwrap();
    eprintln!(
        "{RUNS} writer runs in {:.1} s, {n} searches, {} failed",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {n} searches failed; first: {}",
        failures.len(),
        failures[0]
    );
    assert!(n >= MIN_QUERIES, "only {n} searches ran");
    // What the writer left is whole: every file once, old versions within the grace kept.
    // Stats with a long grace: which of the versions kept at the last run have passed the
    // 10 s grace since depends on how long this machine took to get here, not on the index.
    let s: Value = serde_json::from_str(&ok(bin().current_dir(&root).args([
        "stats",
        "--json",
        "--keep-superseded",
        "3600",
    ])))
    .expect("stats --json");
    assert_eq!(s["documents"].as_u64(), Some(markdown_files(&root)), "{s}");
    assert!(
        s["versions"].as_u64().unwrap_or(0) >= 2,
        "superseded versions are kept a while: {s}"
    );
    let v: Value = s;
    assert!(v["warnings"].as_array().is_some_and(Vec::is_empty), "{v}");
}

/// The Markdown files under `root`, the index's own directory aside.
fn markdown_files(root: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() && !p.ends_with(".sagasu") {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                n += 1;
            }
        }
    }
    n
}

/// With no grace (`--keep-superseded 0`), a run prunes every version but the latest, as
/// before; with the default, the versions superseded within the grace stay.
#[test]
fn superseded_versions_stay_for_the_grace_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    for i in 0..20 {
        write(&root, &format!("f{i:02}.md"), page(i, 0));
    }
    ok(bin()
        .arg("index")
        .arg(&root)
        .args(["--no-embed", "--quiet"]));
    for round in 1..=3 {
        write(&root, "f00.md", page(0, round));
        ok(bin()
            .arg("index")
            .arg(&root)
            .args(["--no-embed", "--quiet"]));
    }
    let kept = stats(&root)["versions"].as_u64().expect("versions");
    assert!(
        kept > 3,
        "versions superseded within the grace are kept: {kept}"
    );
    write(&root, "f00.md", page(0, 9));
    ok(bin()
        .args(["--keep-superseded", "0", "index"])
        .arg(&root)
        .args(["--no-embed", "--quiet"]));
    assert_eq!(stats(&root)["versions"].as_u64(), Some(1));
}
