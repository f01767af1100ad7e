//! BERT encoder (BERT checkpoints, and XLM-R ones: `model_type` `xlm-roberta`, or `bert`
//! as multilingual-e5-small's config says), forward pass only. Follows Hugging Face
//! `transformers`' `BertModel`: word + position + token-type-0 embeddings → LayerNorm →
//! post-norm layers (self-attention, then a GELU MLP, each added back and normalised).
//! `XLMRobertaModel` is the same network with positions numbered from `pad_token_id + 1`
//! ([`Config::position_offset`]). Checked against `BertModel` on random weights by
//! `tests/encoders.rs`, and XLM-R against it with the position table shifted.
//!
//! Weights load through candle's `VarBuilder`; the forward pass runs on the CPU blocks of
//! [`super::cpu`].

use candle_core::Result;
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::Deserialize;

use super::cpu::{
    attention, encoder_root, kernels, mean_pool, pack, with_buffers, Linear, Norm, Scratch, Table,
    MLP_ROWS,
};

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// The position row of a sequence's first token: 0 for BERT, `pad_token_id + 1` for
    /// XLM-R (not in config.json; set from `model_type` by the loader).
    #[serde(skip)]
    pub position_offset: usize,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

struct Layer {
    /// query, key and value stacked into one (3·hidden × hidden) layer: one gemm.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

pub struct Bert {
    word: Table,
    position: Vec<f32>,
    /// The token-type (segment) table: row 0 for a single text, row 1 for the second text of
    /// a cross-encoder's pair.
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    config: Config,
    max_len: usize,
    scratch: Scratch,
}

impl Bert {
    /// Loads weights named as in `BertModel` / `XLMRobertaModel`, with or without the
    /// `bert.` / `roberta.` prefix of a task-head checkpoint. `max_len` bounds the inputs (at
    /// most `max_position_embeddings - position_offset`).
    pub fn load(vb: VarBuilder, cfg: &Config, max_len: usize) -> Result<Bert> {
        if cfg.hidden_act != "gelu" {
            candle_core::bail!(
                "unsupported hidden_act {:?} (only \"gelu\")",
                cfg.hidden_act
            );
        }
        if let Some(p) = cfg.position_embedding_type.as_deref() {
            if p != "absolute" {
                candle_core::bail!("unsupported position_embedding_type {p:?}");
            }
        }
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                cfg.hidden_size,
                cfg.num_attention_heads
            );
        }
        let probe = "embeddings.word_embeddings.weight";
        let vb = if vb.contains_tensor(&format!("roberta.{probe}")) {
            encoder_root(vb, "roberta", probe)
        } else {
            encoder_root(vb, "bert", probe)
        };
        let positions = cfg
            .max_position_embeddings
            .saturating_sub(cfg.position_offset);
        if positions == 0 {
            candle_core::bail!(
                "max_position_embeddings {} leaves no position after the offset {}",
                cfg.max_position_embeddings,
                cfg.position_offset
            );
        }
        let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        let word = Table::load(&vb, cfg.vocab_size, h, "embeddings.word_embeddings.weight")?;
        // Small tables: plain copies.
        let position = Table::load(
            &vb,
            cfg.max_position_embeddings,
            h,
            "embeddings.position_embeddings.weight",
        )?
        .with(<[f32]>::to_vec)?;
        let token_type = Table::load(
            &vb,
            cfg.type_vocab_size,
            h,
            "embeddings.token_type_embeddings.weight",
        )?
        .with(<[f32]>::to_vec)?;
        let embed_norm = Norm::load(h, eps, true, vb.pp("embeddings.LayerNorm"))?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let lv = vb.pp(format!("encoder.layer.{i}"));
            let (mut w, mut b) = (Vec::with_capacity(3 * h * h), Vec::with_capacity(3 * h));
            for part in ["query", "key", "value"] {
                let pv = lv.pp("attention.self").pp(part);
                w.extend(pv.get((h, h), "weight")?.flatten_all()?.to_vec1::<f32>()?);
                b.extend(pv.get(h, "bias")?.to_vec1::<f32>()?);
            }
            let inter = cfg.intermediate_size;
            layers.push(Layer {
                qkv: Linear::from_rows(w, Some(b), h, 3 * h),
                attn_out: Linear::load(h, h, true, lv.pp("attention.output.dense"))?,
                attn_norm: Norm::load(h, eps, true, lv.pp("attention.output.LayerNorm"))?,
                up: Linear::load(h, inter, true, lv.pp("intermediate.dense"))?,
                down: Linear::load(inter, h, true, lv.pp("output.dense"))?,
                out_norm: Norm::load(h, eps, true, lv.pp("output.LayerNorm"))?,
            });
        }
        Ok(Bert {
            word,
            position,
            token_type,
            embed_norm,
            layers,
            config: cfg.clone(),
            max_len: max_len.clamp(1, positions),
            scratch: Scratch::default(),
        })
    }

    /// Encodes token-id sequences and returns their masked-mean-pooled, L2-normalised
    /// embeddings, one per sequence. Sequences are packed back to back: no padding.
    pub fn embed(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let h = self.config.hidden_size;
        self.forward(ids, None, |x, seqs| mean_pool(x, seqs, h))
    }

    /// Runs the encoder and hands `read` the last hidden state (rows × hidden, the sequences
    /// packed back to back) and each sequence's (first row, length). `types`: each token's
    /// segment (0 or 1), as the tokenizer gives them for a pair; `None`: all 0.
    pub fn forward<R>(
        &self,
        ids: &[&[u32]],
        types: Option<&[&[u32]]>,
        read: impl FnOnce(&[f32], &[(usize, usize)]) -> R,
    ) -> Result<R> {
        let cfg = &self.config;
        let (h, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let (seqs, rows) = pack(ids, self.max_len)?;
        with_buffers(&self.scratch, (rows, h), (inter, 0), |sc| {
            self.word.with(|table| -> Result<()> {
                let mut rows_of = sc.tmp.chunks_mut(h);
                for (i, s) in ids.iter().enumerate() {
                    let segments = types.map(|t| t[i]);
                    for (p, &id) in s.iter().enumerate() {
                        let id = id as usize;
                        if id >= cfg.vocab_size {
                            candle_core::bail!(
                                "token id {id} outside the vocabulary ({})",
                                cfg.vocab_size
                            );
                        }
                        let Some(row) = rows_of.next() else {
                            candle_core::bail!("packed rows out of step");
                        };
                        let word = &table[id * h..(id + 1) * h];
                        let ty = segments.and_then(|t| t.get(p)).copied().unwrap_or(0) as usize;
                        let p = p + cfg.position_offset;
                        let pos = &self.position[p * h..(p + 1) * h];
                        if ty >= cfg.type_vocab_size {
                            candle_core::bail!(
                                "token type {ty} outside the type vocabulary ({})",
                                cfg.type_vocab_size
                            );
                        }
                        let segment = &self.token_type[ty * h..(ty + 1) * h];
                        for (((o, w), q), t) in row.iter_mut().zip(word).zip(pos).zip(segment) {
                            *o = w + q + t;
                        }
                    }
                }
                Ok(())
            })??;
            self.embed_norm.apply(&sc.tmp, &mut sc.x);

            for layer in &self.layers {
                layer.qkv.forward(&sc.x, &mut sc.qkv, false);
                attention(
                    &sc.qkv,
                    &seqs,
                    cfg.num_attention_heads,
                    None,
                    None,
                    &mut sc.attn,
                );
                sc.tmp.copy_from_slice(&sc.x);
                layer.attn_out.forward(&sc.attn, &mut sc.tmp, true);
                layer.attn_norm.apply(&sc.tmp, &mut sc.x);

                sc.tmp.copy_from_slice(&sc.x);
                let mut start = 0;
                while start < rows {
                    let n = MLP_ROWS.min(rows - start);
                    let up = &mut sc.mlp_in[..n * inter];
                    layer
                        .up
                        .forward(&sc.x[start * h..(start + n) * h], up, false);
                    up.par_chunks_mut(inter)
                        .with_min_len(16)
                        .for_each(kernels::gelu);
                    layer
                        .down
                        .forward(up, &mut sc.tmp[start * h..(start + n) * h], true);
                    start += n;
                }
                layer.out_norm.apply(&sc.tmp, &mut sc.x);
            }
            Ok(read(&sc.x, &seqs))
        })
    }
}
