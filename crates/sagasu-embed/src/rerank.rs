//! Cross-encoders (rerankers): a (query, document) pair in, one relevance score out. Same
//! encoders as the embedders ([`super::modernbert`], [`super::bert`]), with the
//! sequence-classification heads of Hugging Face transformers on top:
//!
//! - `ModernBertForSequenceClassification` (the Ruri v3 reranker family): the first token, or
//!   the mean of all (`classifier_pooling`), → `head.dense` → GELU → `head.norm` →
//!   `classifier`;
//! - `BertForSequenceClassification`: the first token → `pooler.dense` → tanh → `classifier`;
//! - `XLMRobertaForSequenceClassification` (bge-reranker and kin): the first token →
//!   `classifier.dense` → tanh → `classifier.out_proj`.
//!
//! Which head is decided by the tensors the checkpoint holds. Checked against transformers on
//! random weights by `tests/rerankers.rs`. The score is the logit of the one label, or for a
//! two-label head the log-odds of the second (both order pairs as the model's probability).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use candle_nn::VarBuilder;
use serde::Deserialize;
use tokenizers::Tokenizer;

use super::cpu::{kernels, Linear, Norm};
use super::{in_length_batches, open_model, Encoder, DEFAULT_BATCH_TOKENS};

/// Tokens of a (query, document) pair; the document is cut to fit. 256, not the models' 512 or
/// more: on 2 cores with the ruri-v3-30m shape it halves the latency of 20 pairs (see
/// bench/rerank_latency.sh), and the part of a section that decides relevance is its start.
pub const DEFAULT_RERANK_MAX_TOKENS: usize = 256;

#[derive(Debug, Clone)]
pub struct RerankOptions {
    /// Tokens of a pair (at most the model's maximum).
    pub max_tokens: usize,
    /// Padded tokens per forward batch.
    pub batch_tokens: usize,
}

impl Default for RerankOptions {
    fn default() -> Self {
        RerankOptions {
            max_tokens: DEFAULT_RERANK_MAX_TOKENS,
            batch_tokens: DEFAULT_BATCH_TOKENS,
        }
    }
}

/// The classification head on the encoder.
enum Head {
    ModernBert {
        mean: bool,
        dense: Linear,
        norm: Norm,
        classifier: Linear,
    },
    /// BERT's pooler and classifier, or RoBERTa's dense and out_proj: the same shape.
    Tanh { dense: Linear, classifier: Linear },
}

#[derive(Deserialize)]
struct HeadConfig {
    hidden_size: usize,
    #[serde(default)]
    id2label: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    num_labels: Option<usize>,
    #[serde(default = "default_pooling")]
    classifier_pooling: String,
    #[serde(default = "default_activation")]
    classifier_activation: String,
    #[serde(default)]
    classifier_bias: bool,
    #[serde(default)]
    norm_bias: bool,
    #[serde(alias = "norm_eps", default = "default_eps")]
    layer_norm_eps: f64,
}

fn default_pooling() -> String {
    "cls".into()
}
fn default_activation() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-5
}

pub struct Reranker {
    encoder: Encoder,
    head: Head,
    tokenizer: Tokenizer,
    labels: usize,
    hidden: usize,
    batch_tokens: usize,
}

impl Reranker {
    /// Loads a `*ForSequenceClassification` checkpoint directory. A checkpoint without a
    /// classification head (an embedding model) is refused with the reason.
    pub fn load(dir: &Path, opts: &RerankOptions) -> Result<Reranker> {
        let m = open_model(dir, opts.max_tokens)?;
        let cfg: HeadConfig = serde_json::from_str(&m.config_text)
            .with_context(|| format!("{}: not a model config", m.config_path.display()))?;
        let labels = cfg
            .id2label
            .as_ref()
            .map(|l| l.len())
            .or(cfg.num_labels)
            .unwrap_or(2);
        if !(1..=2).contains(&labels) {
            bail!(
                "{}: {labels} labels; a reranker has one (a relevance logit) or two",
                m.config_path.display()
            );
        }
        let head = load_head(&m.vb, &m.model_type, &cfg, labels).map_err(|e| {
            anyhow!(
                "{}: not a cross-encoder ({e}); a reranker is a *ForSequenceClassification checkpoint",
                m.weights.display()
            )
        })?;
        Ok(Reranker {
            encoder: m.encoder,
            head,
            tokenizer: m.tokenizer,
            labels,
            hidden: cfg.hidden_size,
            batch_tokens: opts.batch_tokens.max(m.max_tokens),
        })
    }

    /// One score per document for `query`, higher = more relevant; order = input order.
    pub fn score(&self, query: &str, docs: &[&str]) -> Result<Vec<f32>> {
        let pairs: Vec<(String, String)> = docs
            .iter()
            .map(|d| (query.to_string(), d.to_string()))
            .collect();
        let encodings = self
            .tokenizer
            .encode_batch(pairs, true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let types: Vec<&[u32]> = encodings.iter().map(|e| e.get_type_ids()).collect();
        self.score_ids(&ids, &types)
    }

    /// Scores token-id sequences of pairs (with their token types) in batches under the
    /// token budget: the hot path, public for the latency benchmark.
    pub fn score_ids(&self, ids: &[&[u32]], types: &[&[u32]]) -> Result<Vec<f32>> {
        let lengths: Vec<usize> = ids.iter().map(|s| s.len()).collect();
        in_length_batches(&lengths, self.batch_tokens, |batch| {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| ids[i]).collect();
            let types: Vec<&[u32]> = batch.iter().map(|&i| types[i]).collect();
            self.score_batch(&ids, &types)
        })
    }

    /// Scores one batch.
    fn score_batch(&self, ids: &[&[u32]], types: &[&[u32]]) -> Result<Vec<f32>> {
        let h = self.hidden;
        let pooled = self.encoder.forward(ids, Some(types), |x, seqs| {
            let mean = matches!(self.head, Head::ModernBert { mean: true, .. });
            let mut pooled = vec![0f32; seqs.len() * h];
            for (out, &(first, len)) in pooled.chunks_mut(h).zip(seqs) {
                if mean {
                    for row in x[first * h..(first + len) * h].chunks(h) {
                        out.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                    }
                    let n = len.max(1) as f32;
                    out.iter_mut().for_each(|a| *a /= n);
                } else {
                    out.copy_from_slice(&x[first * h..(first + 1) * h]);
                }
            }
            pooled
        })?;
        let rows = ids.len();
        let mut hidden = vec![0f32; rows * h];
        let mut logits = vec![0f32; rows * self.labels];
        match &self.head {
            Head::ModernBert {
                dense,
                norm,
                classifier,
                ..
            } => {
                dense.forward(&pooled, &mut hidden, false);
                hidden.chunks_mut(h).for_each(kernels::gelu);
                let mut normed = vec![0f32; rows * h];
                norm.apply(&hidden, &mut normed);
                classifier.forward(&normed, &mut logits, false);
            }
            Head::Tanh { dense, classifier } => {
                dense.forward(&pooled, &mut hidden, false);
                hidden.iter_mut().for_each(|v| *v = v.tanh());
                classifier.forward(&hidden, &mut logits, false);
            }
        }
        Ok(logits
            .chunks(self.labels)
            .map(|l| if l.len() == 2 { l[1] - l[0] } else { l[0] })
            .collect())
    }
}

fn load_head(
    vb: &VarBuilder,
    model_type: &str,
    cfg: &HeadConfig,
    labels: usize,
) -> candle_core::Result<Head> {
    let h = cfg.hidden_size;
    if model_type == "modernbert" {
        if !vb.contains_tensor("head.dense.weight") {
            candle_core::bail!("no head.dense.weight");
        }
        if cfg.classifier_activation != "gelu" {
            candle_core::bail!(
                "classifier_activation {:?} is not supported (only \"gelu\")",
                cfg.classifier_activation
            );
        }
        let mean = match cfg.classifier_pooling.as_str() {
            "cls" => false,
            "mean" => true,
            other => candle_core::bail!("classifier_pooling {other:?} is not supported"),
        };
        return Ok(Head::ModernBert {
            mean,
            dense: Linear::load(h, h, cfg.classifier_bias, vb.pp("head.dense"))?,
            norm: Norm::load(h, cfg.layer_norm_eps, cfg.norm_bias, vb.pp("head.norm"))?,
            classifier: Linear::load(h, labels, true, vb.pp("classifier"))?,
        });
    }
    if vb.contains_tensor("classifier.out_proj.weight") {
        return Ok(Head::Tanh {
            dense: Linear::load(h, h, true, vb.pp("classifier.dense"))?,
            classifier: Linear::load(h, labels, true, vb.pp("classifier.out_proj"))?,
        });
    }
    let pooler = ["bert.pooler.dense", "pooler.dense"]
        .into_iter()
        .find(|p| vb.contains_tensor(&format!("{p}.weight")));
    match pooler {
        Some(p) if vb.contains_tensor("classifier.weight") => Ok(Head::Tanh {
            dense: Linear::load(h, h, true, vb.pp(p))?,
            classifier: Linear::load(h, labels, true, vb.pp("classifier"))?,
        }),
        _ => candle_core::bail!("no classifier weights"),
    }
}
