//! Build facts for the `sagasu` binary.
//!
//! - Links it as a non-PIE executable on Linux. The binary carries ~390,000 relative
//!   relocations (LanceDB, DataFusion and candle are big): as a PIE, the loader applies them
//!   all at every start, writing ~6.6 MB of pages, which is a large share of a one-shot
//!   `sagasu search`. A fixed-address executable has none to apply.
//! - Sets `SAGASU_COMMIT` (what `sagasu --version` names): `$SAGASU_COMMIT` if set (a build
//!   from a source tarball), else the commit the checkout's HEAD names, else "unknown".
use std::path::Path;
use std::process::Command;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && arch == "x86_64" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SAGASU_COMMIT");
    let commit = std::env::var("SAGASU_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SAGASU_COMMIT={commit}");
}

/// The checkout's commit, and a rerun of this script when it moves (only files that exist
/// are named: cargo reruns a script whose named file is missing on every build).
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let dir = git(&["rev-parse", "--git-dir"])?;
    let dir = Path::new(&dir);
    for name in ["HEAD", "packed-refs"] {
        if dir.join(name).exists() {
            println!("cargo:rerun-if-changed={}", dir.join(name).display());
        }
    }
    if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if dir.join(&head).exists() {
            println!("cargo:rerun-if-changed={}", dir.join(&head).display());
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}
