//! Helpers shared by the integration tests: the real binary, run offline, on temp dirs.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};

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

/// The package's directory, read when the test runs: one target directory serves clones at
/// several paths, and a test binary built in another clone (unchanged sources are not rebuilt)
/// would carry that clone's path if it were read at compile time.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn tiny_model(name: &str) -> String {
    manifest_dir()
        .join("crates/sagasu-embed/tests/fixtures")
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

/// These columns of every row of an index's sections table, read with LanceDB directly (the
/// tests check the format on disk, not sagasu's reader).
pub fn section_columns(db: &Path, columns: &[&str]) -> Vec<arrow_array::RecordBatch> {
    use futures::TryStreamExt;
    use lancedb::query::{ExecutableQuery, QueryBase, Select};
    let rt = sagasu::runtime(2).expect("runtime");
    rt.block_on(async {
        let conn = lancedb::connect(db.to_str().expect("utf-8"))
            .execute()
            .await
            .expect("connect");
        let table = conn
            .open_table("sections")
            .execute()
            .await
            .expect("sections table");
        table
            .query()
            .select(Select::columns(columns))
            .execute()
            .await
            .expect("query")
            .try_collect()
            .await
            .expect("rows")
    })
}

/// Every row of an index's sections table as (path, ordinal, start, end, text hash), sorted.
pub fn dump(db: &Path) -> Vec<(String, u32, u32, u32, String)> {
    use arrow_array::{Array, StringArray, UInt32Array};
    let batches = section_columns(
        db,
        &["path", "ordinal", "start_line", "end_line", "text_hash"],
    );
    let mut out = Vec::new();
    for b in &batches {
        let s = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .expect(name)
                .clone()
        };
        let u = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
                .expect(name)
                .clone()
        };
        let (path, ord, start, end, hash) = (
            s("path"),
            u("ordinal"),
            u("start_line"),
            u("end_line"),
            s("text_hash"),
        );
        for i in 0..b.num_rows() {
            out.push((
                path.value(i).to_string(),
                ord.value(i),
                start.value(i),
                end.value(i),
                hash.value(i).to_string(),
            ));
        }
    }
    out.sort();
    out
}

/// Newline-delimited JSON-RPC over the server's stdio, without any SDK.
pub struct RawClient {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl RawClient {
    pub fn start(db: &Path) -> RawClient {
        RawClient::spawn(bin().arg("serve").arg("--db").arg(db))
    }

    /// Starts `serve` as `command` sets it up.
    pub fn spawn(command: &mut Command) -> RawClient {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sagasu serve");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        RawClient {
            child,
            stdin,
            stdout,
        }
    }

    pub fn send_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to server");
        self.stdin.flush().expect("flush");
    }

    /// Sends a request and returns the response with the same id; every line on stdout must
    /// be JSON-RPC.
    pub fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(id, method, params);
        loop {
            let v = self.read_message();
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// Sends a request without waiting for its response.
    pub fn send(&mut self, id: u64, method: &str, params: Value) {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_line(&msg.to_string());
    }

    /// The next message on stdout, which must be JSON-RPC.
    pub fn read_message(&mut self) -> Value {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).expect("read from server");
        assert!(n > 0, "server closed stdout");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carries only JSON-RPC, got {line:?}: {e}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        v
    }

    /// Sends `initialize` and `notifications/initialized`.
    pub fn initialize(&mut self) {
        let init = self.request(
            0,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "sagasu-tests", "version": "0"}}),
        );
        assert!(init.get("result").is_some(), "{init}");
        self.send_line(
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        );
    }

    pub fn call(&mut self, id: u64, tool: &str, args: Value) -> Value {
        self.request(id, "tools/call", json!({"name": tool, "arguments": args}))
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
