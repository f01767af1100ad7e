//! The encoders against Hugging Face transformers (reference vectors made by
//! tools/make_test_models.py), model loading errors, and a real multilingual model.

use std::path::{Path, PathBuf};

use sagasu_embed::{Embedder, LoadOptions};

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

fn no_prefix() -> LoadOptions {
    LoadOptions {
        query_prefix: Some(String::new()),
        doc_prefix: Some(String::new()),
        batch_tokens: 4096,
        ..Default::default()
    }
}

struct Reference {
    inputs: Vec<String>,
    token_counts: Vec<usize>,
    embeddings: Vec<Vec<f32>>,
}

fn reference(dir: &Path) -> Reference {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("reference.json")).expect("reference.json"),
    )
    .expect("json");
    let strings = |k: &str| {
        v[k].as_array()
            .expect(k)
            .iter()
            .map(|x| x.as_str().expect("str").to_string())
            .collect()
    };
    Reference {
        inputs: strings("inputs"),
        token_counts: v["token_counts"]
            .as_array()
            .expect("counts")
            .iter()
            .map(|x| x.as_u64().expect("n") as usize)
            .collect(),
        embeddings: v["embeddings"]
            .as_array()
            .expect("embeddings")
            .iter()
            .map(|row| {
                row.as_array()
                    .expect("row")
                    .iter()
                    .map(|x| x.as_f64().expect("f") as f32)
                    .collect()
            })
            .collect(),
    }
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

fn check_against_reference(name: &str) {
    let dir = fixture(name);
    let r = reference(&dir);
    let e = Embedder::load(&dir, name, &no_prefix()).expect("load");
    // The fixture's inputs cross the sliding window (8 tokens) of the tiny ModernBERT.
    assert!(r.token_counts.iter().any(|&n| n > 8) && r.token_counts.iter().any(|&n| n <= 5));
    let got = e.embed_raw(&r.inputs).expect("embed");
    let diff = max_abs_diff(&got, &r.embeddings);
    assert!(diff <= 1e-4, "{name}: max |Δ| = {diff}");
    // One at a time (no padding) gives the same vectors as the padded batch.
    let single: Vec<Vec<f32>> = r
        .inputs
        .iter()
        .map(|t| {
            e.embed_raw(std::slice::from_ref(t))
                .expect("embed")
                .remove(0)
        })
        .collect();
    assert!(max_abs_diff(&single, &r.embeddings) <= 1e-4);
    // Many inputs on several threads run as small batches side by side (a budget of one
    // longest input per thread), each pass on its own buffers: the same vectors, in order.
    let small = LoadOptions {
        batch_tokens: 1,
        ..no_prefix()
    };
    let e = Embedder::load(&dir, name, &small).expect("load");
    let many: Vec<String> = (0..40).flat_map(|_| r.inputs.iter().cloned()).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("pool");
    let got = pool.install(|| e.embed_raw(&many)).expect("embed");
    let want: Vec<Vec<f32>> = (0..40).flat_map(|_| r.embeddings.iter().cloned()).collect();
    assert!(max_abs_diff(&got, &want) <= 1e-4, "{name}: side by side");
    for v in &got {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "L2-normalised");
    }
}

#[test]
fn tiny_modernbert_matches_transformers() {
    check_against_reference("tiny-modernbert");
}

#[test]
fn tiny_bert_matches_transformers() {
    check_against_reference("tiny-bert");
}

fn copy_fixture(name: &str, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(fixture(name).join(f), to.join(f)).expect("copy");
    }
}

fn load_error(dir: &Path) -> String {
    match Embedder::load(dir, "broken", &no_prefix()) {
        Ok(_) => panic!("a broken model at {} loaded", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn broken_model_directories_fail_with_the_file_named() {
    let tmp = tempfile::tempdir().expect("tempdir");

    let d = tmp.path().join("no-tokenizer");
    copy_fixture("tiny-modernbert", &d);
    std::fs::remove_file(d.join("tokenizer.json")).expect("rm");
    let e = load_error(&d);
    assert!(e.contains("tokenizer.json"), "{e}");

    let d = tmp.path().join("unknown-type");
    copy_fixture("tiny-modernbert", &d);
    let cfg = std::fs::read_to_string(d.join("config.json"))
        .expect("read")
        .replace("\"modernbert\"", "\"gpt2\"");
    std::fs::write(d.join("config.json"), cfg).expect("write");
    let e = load_error(&d);
    assert!(e.contains("config.json") && e.contains("gpt2"), "{e}");

    let d = tmp.path().join("wrong-shape");
    copy_fixture("tiny-modernbert", &d);
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).expect("read"))
            .expect("json");
    cfg["intermediate_size"] = serde_json::json!(64);
    std::fs::write(d.join("config.json"), cfg.to_string()).expect("write");
    let e = load_error(&d);
    assert!(e.contains("model.safetensors"), "{e}");

    let d = tmp.path().join("truncated-weights");
    copy_fixture("tiny-modernbert", &d);
    let weights = std::fs::read(d.join("model.safetensors")).expect("read");
    std::fs::write(d.join("model.safetensors"), &weights[..weights.len() / 2]).expect("write");
    let e = load_error(&d);
    assert!(
        e.contains("model.safetensors") && e.contains("tensor"),
        "{e}"
    );
}

/// Vectors are keyed by the model: a different config (here one layer fewer, same weights
/// file) or tokenizer must give a different key, so the index re-embeds instead of mixing.
#[test]
fn the_model_key_covers_config_and_tokenizer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().join("m");
    copy_fixture("tiny-modernbert", &d);
    let key = |d: &Path| {
        Embedder::load(d, "m", &no_prefix())
            .expect("load")
            .info()
            .key()
    };
    let original = key(&d);
    assert_eq!(key(&d), original, "the key is stable");

    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).expect("read"))
            .expect("json");
    let layers = cfg["num_hidden_layers"].as_u64().expect("layers");
    cfg["num_hidden_layers"] = serde_json::json!(layers - 1);
    std::fs::write(d.join("config.json"), cfg.to_string()).expect("write");
    let fewer_layers = key(&d);
    assert_ne!(fewer_layers, original, "config change");

    // The same tokenizer written another way: the key follows the file's bytes.
    let text = std::fs::read_to_string(d.join("tokenizer.json")).expect("read");
    let tok: serde_json::Value = serde_json::from_str(&text).expect("json");
    let rewritten = serde_json::to_string(&tok).expect("json");
    assert_ne!(rewritten, text);
    std::fs::write(d.join("tokenizer.json"), rewritten).expect("write");
    assert_ne!(key(&d), fewer_layers, "tokenizer change");
}

#[test]
fn prefixes_come_from_sentence_transformers_config_then_family() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().join("ruri-like");
    copy_fixture("tiny-modernbert", &d);
    let opts = LoadOptions {
        batch_tokens: 4096,
        ..Default::default()
    };
    let e = Embedder::load(&d, "cl-nagoya/ruri-v3-30m", &opts).expect("load");
    assert_eq!(e.info().query_prefix, "検索クエリ: ");
    assert_eq!(e.info().doc_prefix, "検索文書: ");
    std::fs::write(
        d.join("config_sentence_transformers.json"),
        r#"{"prompts": {"query": "Q: ", "document": "D: "}}"#,
    )
    .expect("write");
    let e = Embedder::load(&d, "cl-nagoya/ruri-v3-30m", &opts).expect("load");
    assert_eq!(
        (e.info().query_prefix.as_str(), e.info().doc_prefix.as_str()),
        ("Q: ", "D: ")
    );
    // The query prefix is applied: embedding "x" as a query equals embedding "Q: x" raw.
    let q = e.embed_query("リトライ").expect("q");
    let raw = e
        .embed_raw(&["Q: リトライ".to_string()])
        .expect("raw")
        .remove(0);
    assert!(max_abs_diff(&[q], &[raw]) < 1e-6);
}

/// The real multilingual-e5-small built by ../shared/tools/multilingual-e5-small/build.sh.
/// `scripts/test.sh` (the README's test command, and so CI) builds it, sets `SAGASU_E5_DIR`
/// and runs the ignored tests too; a plain `cargo test` has no model and leaves it out.
#[test]
#[ignore = "needs the real multilingual-e5-small in SAGASU_E5_DIR; scripts/test.sh builds it and runs this"]
fn multilingual_e5_ranks_the_paired_passage_first() {
    let dir = PathBuf::from(
        std::env::var_os("SAGASU_E5_DIR").expect("SAGASU_E5_DIR names the e5 model directory"),
    );
    assert!(
        dir.join("model.safetensors").is_file(),
        "no multilingual-e5-small at {} (build it with ../shared/tools/multilingual-e5-small/build.sh)",
        dir.display()
    );
    let e = Embedder::load(
        &dir,
        "intfloat/multilingual-e5-small",
        &LoadOptions {
            batch_tokens: 4096,
            ..Default::default()
        },
    )
    .expect("load e5");
    assert_eq!(e.info().dim, 384);
    assert_eq!(e.info().query_prefix, "query: ");
    let passages = [
        "リトライ回数の上限は設定ファイルの max_retries で指定します。既定値は 3 回です。",
        "東京は日本の首都であり、人口が最も多い都市です。",
        "このライブラリは MIT ライセンスで配布されています。",
        "Visual Studio で C++ プロジェクトを作成するには、[新しいプロジェクト] を選びます。",
    ];
    let docs = e.embed_documents(&passages).expect("docs");
    for (query, expected) in [
        ("再試行の最大回数はどこで設定しますか", 0),
        ("日本の首都はどこ？", 1),
        ("ライセンスは何ですか", 2),
        ("C++ の新規プロジェクトの作り方", 3),
    ] {
        let q = e.embed_query(query).expect("query");
        let scores: Vec<f32> = docs
            .iter()
            .map(|d| d.iter().zip(&q).map(|(a, b)| a * b).sum())
            .collect();
        let best = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        assert_eq!(best, Some(expected), "{query}: {scores:?}");
    }
}

/// XLM-R is BERT with positions numbered from `pad_token_id + 1`: the tiny BERT's weights with
/// its position table moved down two rows, loaded as `xlm-roberta` (and under the `roberta.`
/// prefix of a task-head checkpoint), must give the transformers reference vectors of the
/// tiny BERT exactly as the BERT does.
#[test]
fn xlm_roberta_is_bert_with_shifted_positions() {
    use candle_core::{Device, Tensor};
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().join("tiny-xlmr");
    copy_fixture("tiny-bert", &d);
    let weights =
        candle_core::safetensors::load(d.join("model.safetensors"), &Device::Cpu).expect("load");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).expect("read"))
            .expect("json");
    let max_pos = cfg["max_position_embeddings"].as_u64().expect("positions") as usize;
    cfg["model_type"] = serde_json::json!("xlm-roberta");
    cfg["pad_token_id"] = serde_json::json!(1);
    cfg["max_position_embeddings"] = serde_json::json!(max_pos + 2);
    std::fs::write(d.join("config.json"), cfg.to_string()).expect("write");
    let mut shifted = std::collections::HashMap::new();
    for (name, t) in weights {
        let bare = name.strip_prefix("bert.").unwrap_or(&name).to_string();
        let t = if bare == "embeddings.position_embeddings.weight" {
            // Two rows of noise first: they must never be read.
            let noise =
                Tensor::ones((2, t.dim(1).expect("dim")), t.dtype(), &Device::Cpu).expect("noise");
            Tensor::cat(&[&noise, &t], 0).expect("cat")
        } else {
            t
        };
        shifted.insert(format!("roberta.{bare}"), t);
    }
    candle_core::safetensors::save(&shifted, d.join("model.safetensors")).expect("save");
    let r = reference(&fixture("tiny-bert"));
    let e = Embedder::load(&d, "tiny-xlmr", &no_prefix()).expect("load xlm-roberta");
    assert_eq!(e.info().model_type, "xlm-roberta");
    let got = e.embed_raw(&r.inputs).expect("embed");
    let diff = max_abs_diff(&got, &r.embeddings);
    assert!(diff <= 1e-4, "xlm-roberta: max |Δ| = {diff}");
}
