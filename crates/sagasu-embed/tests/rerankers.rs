//! The cross-encoders against Hugging Face transformers' `*ForSequenceClassification` (reference
//! logits made by tools/make_reranker_models.py on random weights), and what a checkpoint
//! without a classification head gets.

use std::path::PathBuf;

use sagasu_embed::{RerankOptions, Reranker};

/// The package's directory, read when the test runs: one target directory serves clones at
/// several paths, and a test binary built in another clone (unchanged sources are not rebuilt)
/// would carry that clone's path if it were read at compile time.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn fixture(name: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures").join(name)
}

/// Every pair scored as transformers scores it, to 1e-4, in one call (several batches of
/// different lengths) and one pair at a time.
fn check(name: &str) {
    let dir = fixture(name);
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("reference.json")).expect("reference.json"),
    )
    .expect("json");
    let pairs: Vec<(String, String)> = r["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("query").to_string(),
                p[1].as_str().expect("doc").to_string(),
            )
        })
        .collect();
    let expected: Vec<f32> = r["scores"]
        .as_array()
        .expect("scores")
        .iter()
        .map(|x| x.as_f64().expect("f64") as f32)
        .collect();
    let opts = RerankOptions {
        max_tokens: 128,
        batch_tokens: 128,
    };
    let model = Reranker::load(&dir, &opts).expect("load");
    for (i, (q, d)) in pairs.iter().enumerate() {
        let one = model.score(q, &[d.as_str()]).expect("score");
        assert!(
            (one[0] - expected[i]).abs() <= 1e-4,
            "{name} pair {i}: {} vs transformers {}",
            one[0],
            expected[i]
        );
    }
    // The same query for every document, as search calls it.
    let q = &pairs[0].0;
    let same: Vec<usize> = (0..pairs.len()).filter(|&i| &pairs[i].0 == q).collect();
    assert!(
        same.len() >= 2,
        "the fixture has a query with two documents"
    );
    let docs: Vec<&str> = same.iter().map(|&i| pairs[i].1.as_str()).collect();
    let batch = model.score(q, &docs).expect("score");
    for (k, &i) in same.iter().enumerate() {
        assert!(
            (batch[k] - expected[i]).abs() <= 1e-4,
            "{name} batched pair {i}"
        );
    }
}

#[test]
fn modernbert_cls_pooling_matches_transformers() {
    check("tiny-modernbert-reranker-cls");
}

#[test]
fn modernbert_mean_pooling_matches_transformers() {
    check("tiny-modernbert-reranker-mean");
}

#[test]
fn bert_with_token_types_matches_transformers() {
    check("tiny-bert-reranker");
}

#[test]
fn xlm_roberta_matches_transformers() {
    check("tiny-xlmr-reranker");
}

#[test]
fn an_embedding_model_is_not_a_reranker() {
    let err = Reranker::load(&fixture("tiny-modernbert"), &RerankOptions::default())
        .err()
        .expect("no head")
        .to_string();
    assert!(
        err.contains("not a cross-encoder") && err.contains("model.safetensors"),
        "{err}"
    );
}
