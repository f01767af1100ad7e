//! MCP calls do not queue behind each other: a `get_document` sent while a reranked search
//! is scoring its candidates answers long before that search does. The reranker is a
//! cross-encoder of the exact ruri-v3-30m shape with random weights (bench/random_modernbert.py,
//! numpy only): as slow as a real one (~0.7 s for 20 candidates here), meaningless for order.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

mod common;
use common::*;

#[test]
#[ignore = "needs Python with numpy (SAGASU_MCP_PYTHON) to write the random-weights reranker; scripts/test.sh provides it and runs this"]
fn get_document_answers_during_a_reranked_search() {
    let python = std::env::var("SAGASU_MCP_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("reranker");
    let made = Command::new(&python)
        .arg(manifest_dir().join("bench/random_modernbert.py"))
        .arg(&model)
        .arg("--reranker")
        .output()
        .expect("run python");
    assert!(
        made.status.success(),
        "random_modernbert.py: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let root = dir.path().join("tree");
    // Long enough that each pair fills the reranker's 256 tokens.
    let body = "例外処理の説明と、その詳しい内容がここに続きます。".repeat(40);
    for i in 0..40 {
        write(
            &root,
            &format!("p{i:02}.md"),
            format!("# 頁 {i}\n\nCOMMONWORD {body}\n\n## 節\n\nCOMMONWORD {body}\n"),
        );
    }
    ok(bin()
        .arg("index")
        .arg(&root)
        .args(["--no-embed", "--quiet"]));
    let mut c = RawClient::spawn(
        bin()
            .arg("serve")
            .arg("--db")
            .arg(root.join(".sagasu"))
            .arg("--reranker")
            .arg(&model),
    );
    c.initialize();
    let search = json!({"name": "search", "arguments": {"query": "COMMONWORD 例外処理", "k": 20, "rerank": true}});
    let doc = json!({"name": "get_document", "arguments": {"path": "p07.md", "start_line": 1, "end_line": 3}});
    // Warm: the first reranked search pays for first-touch page faults.
    let warm = c.request(1, "tools/call", search.clone());
    assert_eq!(warm["result"]["isError"], json!(false), "{warm}");
    for round in 0..3u64 {
        let (search_id, doc_id) = (10 + 2 * round, 11 + 2 * round);
        let sent = Instant::now();
        c.send(search_id, "tools/call", search.clone());
        // Sent once the search is under way (its keyword stage takes milliseconds).
        std::thread::sleep(Duration::from_millis(30));
        c.send(doc_id, "tools/call", doc.clone());
        let doc_sent = Instant::now();
        let mut took = [None, None];
        while took.iter().any(Option::is_none) {
            let v = c.read_message();
            let at = Instant::now();
            if v["id"] == json!(search_id) {
                assert_eq!(v["result"]["isError"], json!(false), "{v}");
                took[0] = Some(at - sent);
            } else if v["id"] == json!(doc_id) {
                assert_eq!(v["result"]["isError"], json!(false), "{v}");
                let text = v["result"]["structuredContent"]["text"]
                    .as_str()
                    .unwrap_or("");
                assert!(text.starts_with("# 頁 7"), "{v}");
                took[1] = Some(at - doc_sent);
            }
        }
        let (search_took, doc_took) = (took[0].unwrap(), took[1].unwrap());
        eprintln!("round {round}: reranked search {search_took:?}, get_document {doc_took:?}");
        assert!(
            search_took > Duration::from_millis(150),
            "the reranked search was too quick ({search_took:?}) to show anything"
        );
        assert!(
            doc_took * 3 < search_took,
            "get_document waited for the search: {doc_took:?} against {search_took:?}"
        );
    }
}
