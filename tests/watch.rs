//! `watch` against what editors and git do to a tree: at quiescence the index it keeps equals
//! a fresh `index` of the same tree (same paths, same sections, same texts).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the watched index equals a fresh index of the tree (made into `fresh`).
fn converges(root: &Path, fresh: &Path, what: &str) {
    let start = Instant::now();
    loop {
        let _ = std::fs::remove_dir_all(fresh);
        ok(bin()
            .arg("index")
            .arg(root)
            .arg("--db")
            .arg(fresh)
            .args(["--no-embed", "-q"]));
        let want = dump(fresh);
        let got = if root.join(".sagasu/sections.lance").exists() {
            dump(&root.join(".sagasu"))
        } else {
            Vec::new()
        };
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: the watched index did not converge:\nwatched {} rows, fresh {} rows\nonly watched: {:?}\nonly fresh: {:?}",
            got.len(),
            want.len(),
            got.iter().filter(|r| !want.contains(r)).take(5).collect::<Vec<_>>(),
            want.iter().filter(|r| !got.contains(r)).take(5).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn git(root: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(root)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn watch_converges_after_editor_saves_directory_swaps_checkouts_and_bursts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let fresh = dir.path().join("fresh");
    write(&root, "a.md", "# A\n\n最初の本文。\n");
    write(&root, "sub/b.md", "# B\n\nサブの本文。\n");
    let _watch = Watch(
        bin()
            .arg("watch")
            .arg(&root)
            .args(["--no-embed", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sagasu watch"),
    );
    converges(&root, &fresh, "the first run");

    // An editor's save: write a temporary file, rename it over the original.
    write(
        &root,
        "a.md.tmp",
        "# A\n\n保存し直した本文。\n\n## 追加\n\n節が増えた。\n",
    );
    std::fs::rename(root.join("a.md.tmp"), root.join("a.md")).expect("rename");
    converges(&root, &fresh, "save by rename");

    // A directory deleted and made again with other files.
    std::fs::remove_dir_all(root.join("sub")).expect("rm -r");
    write(&root, "sub/c.md", "# C\n\n作り直した。\n");
    write(&root, "sub/deeper/d.md", "# D\n\nもっと深く。\n");
    converges(&root, &fresh, "directory deleted and recreated");

    // git checkout of another branch.
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "main"]);
    git(&root, &["checkout", "-qb", "other"]);
    std::fs::remove_file(root.join("a.md")).expect("rm");
    for i in 0..40 {
        write(
            &root,
            &format!("branch/p{i:02}.md"),
            format!("# 枝 {i}\n\n別の枝の本文 {i}。\n"),
        );
    }
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "other"]);
    git(&root, &["checkout", "-q", "main"]);
    converges(&root, &fresh, "checkout back to main");
    git(&root, &["checkout", "-q", "other"]);
    converges(&root, &fresh, "checkout of another branch");

    // A burst while a run is in progress: 400 files, then, as soon as the watcher's run has
    // committed some of them (observed, not waited for), half of them again at once.
    let before = stats(&root)["documents"].as_u64().expect("documents");
    for i in 0..400 {
        write(
            &root,
            &format!("burst/f{i:03}.md"),
            format!("# 束 {i}\n\n一回目 {i}\n"),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats(&root)["documents"].as_u64().expect("documents") == before {
        assert!(
            Instant::now() < deadline,
            "watch committed nothing of the burst"
        );
    }
    for i in (0..400).step_by(2) {
        write(
            &root,
            &format!("burst/f{i:03}.md"),
            format!("# 束 {i}\n\n二回目 {i}\n"),
        );
    }
    converges(&root, &fresh, "a burst during a run");
}
