//! A run that fills the disk exits 2 naming the problem, and the previous version of the
//! index still serves searches. The index lives on a 3 MiB tmpfs mounted for the test.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::*;

/// A tmpfs mounted for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mkdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs at {} needs root",
            at.display()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "mounts a tmpfs, which needs root; scripts/test.sh (run as root by CI) runs it"]
fn a_full_disk_fails_the_run_and_keeps_the_previous_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    for i in 0..20 {
        write(
            &tree,
            &format!("f{i:02}.md"),
            format!("# 文書 {i}\n\nFULLWORD 本文 {i}\n"),
        );
    }
    let mnt = Tmpfs::mount(&dir.path().join("small"), "3m");
    let db = mnt.0.join("index");
    ok(bin()
        .arg("index")
        .arg(&tree)
        .arg("--db")
        .arg(&db)
        .args(["--no-embed", "-q"]));

    // ~6 MB of text that does not compress: more than the disk holds.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..3000 {
        let words: Vec<String> = (0..300)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("w{:x}", seed >> 24)
            })
            .collect();
        write(
            &tree,
            &format!("big/g{i:04}.md"),
            format!("# g {i}\n\n{}\n", words.join(" ")),
        );
    }
    let out = run(bin()
        .arg("index")
        .arg(&tree)
        .arg("--db")
        .arg(&db)
        .args(["--no-embed", "-q"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("No space left on device") && stderr.contains(&db.display().to_string()),
        "names the problem and the index: {stderr}"
    );
    let found = ok(bin()
        .args(["search", "FULLWORD", "-k", "50", "--json", "--db"])
        .arg(&db));
    let v: serde_json::Value = serde_json::from_str(&found).expect("json");
    assert_eq!(
        v["results"].as_array().map(Vec::len),
        Some(20),
        "the previous version serves"
    );
}
