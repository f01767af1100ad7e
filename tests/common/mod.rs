//! Helpers shared by the integration tests: the real binary, run offline, on temp dirs.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The binary, offline, with an empty Hugging Face cache: the default model is never found,
/// so indexing is keyword-only unless a test passes `--model DIR`.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sagasu"));
    c.arg("--threads").arg("2");
    c.env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", "/nonexistent/sagasu-test-hf-home")
        .env_remove("HF_HUB_CACHE");
    c
}

pub fn tiny_model(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run sagasu")
}

pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "sagasu failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

pub fn write(root: &Path, rel: &str, text: impl AsRef<[u8]>) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

pub fn index_json(root: &Path, extra: &[&str]) -> Value {
    let out = ok(bin().arg("index").arg(root).arg("--json").args(extra));
    serde_json::from_str(&out).expect("index --json")
}

pub fn search_json(dir: &Path, query: &str, extra: &[&str]) -> Vec<Value> {
    let out = run(bin()
        .current_dir(dir)
        .arg("search")
        .arg(query)
        .arg("--json")
        .args(extra));
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{:?}",
        out
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("search --json");
    v["results"].as_array().expect("results").clone()
}

pub fn paths(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["path"].as_str().expect("path").to_string())
        .collect()
}

pub fn stats(dir: &Path) -> Value {
    serde_json::from_str(&ok(bin().current_dir(dir).arg("stats").arg("--json")))
        .expect("stats --json")
}
