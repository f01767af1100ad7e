//! ModernBERT encoder (the Ruri v3 family), forward pass only, on the CPU.
//!
//! Follows Hugging Face `transformers`' `ModernBertModel`: token embeddings → LayerNorm →
//! layers of pre-norm attention (RoPE; global attention every `global_attn_every_n_layers`
//! layers, a sliding window of `local_attention` tokens elsewhere) and a GeGLU MLP → final
//! LayerNorm. Checked against that implementation on random weights by `tests/embed.rs`.
//! Weights load through candle's `VarBuilder` (names and shapes checked there); the forward
//! pass runs on the CPU blocks of [`super::cpu`].

use candle_core::Result;
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::Deserialize;

use super::cpu::{
    attention, encoder_root, kernels, mean_pool, pack, with_buffers, Linear, Norm, Rotary, Scratch,
    Table, MLP_ROWS,
};

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    /// Hugging Face configs call it `norm_eps`.
    #[serde(alias = "norm_eps", default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub norm_bias: bool,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default = "default_activation")]
    pub hidden_activation: String,
    #[serde(default = "default_global_every")]
    pub global_attn_every_n_layers: usize,
    #[serde(default = "default_global_theta")]
    pub global_rope_theta: f64,
    #[serde(default = "default_local_attention")]
    pub local_attention: usize,
    #[serde(default = "default_local_theta")]
    pub local_rope_theta: f64,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// transformers ≥ 5 writes the per-layer attention kinds and rope thetas this way instead.
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    #[serde(default)]
    pub rope_parameters: Option<std::collections::HashMap<String, RopeParameters>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RopeParameters {
    pub rope_theta: f64,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_activation() -> String {
    "gelu".into()
}
fn default_global_every() -> usize {
    3
}
fn default_global_theta() -> f64 {
    160_000.0
}
fn default_local_attention() -> usize {
    128
}
fn default_local_theta() -> f64 {
    10_000.0
}

impl Config {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Whether layer `i` uses the sliding window (else global attention).
    pub fn is_local(&self, i: usize) -> bool {
        match &self.layer_types {
            Some(types) => types.get(i).is_some_and(|t| t == "sliding_attention"),
            None => !i.is_multiple_of(self.global_attn_every_n_layers.max(1)),
        }
    }

    /// (global, local) rope theta, from `rope_parameters` when present.
    pub fn rope_thetas(&self) -> (f64, f64) {
        let get = |k: &str| {
            self.rope_parameters
                .as_ref()
                .and_then(|p| p.get(k))
                .map(|r| r.rope_theta)
        };
        (
            get("full_attention").unwrap_or(self.global_rope_theta),
            get("sliding_attention").unwrap_or(self.local_rope_theta),
        )
    }
}

struct Layer {
    attn_norm: Option<Norm>,
    wqkv: Linear,
    wo: Linear,
    mlp_norm: Norm,
    wi: Linear,
    mlp_wo: Linear,
    local: bool,
}

pub struct ModernBert {
    embeddings: Table,
    embed_norm: Norm,
    layers: Vec<Layer>,
    final_norm: Norm,
    global_rope: Rotary,
    local_rope: Rotary,
    config: Config,
    max_len: usize,
    scratch: Scratch,
}

impl ModernBert {
    /// Loads weights named as in `ModernBertModel` (`embeddings.tok_embeddings.weight`, …),
    /// with or without the `model.` prefix that `ModernBertForMaskedLM` checkpoints add.
    /// `max_len` bounds the rotary tables (the longest input this instance will see).
    pub fn load(vb: VarBuilder, cfg: &Config, max_len: usize) -> Result<ModernBert> {
        if cfg.hidden_activation != "gelu" {
            candle_core::bail!(
                "unsupported hidden_activation {:?} (only \"gelu\")",
                cfg.hidden_activation
            );
        }
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
            || !cfg.head_dim().is_multiple_of(2)
        {
            candle_core::bail!(
                "hidden_size {} does not split into {} heads of even size",
                cfg.hidden_size,
                cfg.num_attention_heads
            );
        }
        let vb = encoder_root(vb, "model", "embeddings.tok_embeddings.weight");
        let h = cfg.hidden_size;
        let embeddings = Table::load(&vb, cfg.vocab_size, h, "embeddings.tok_embeddings.weight")?;
        let embed_norm = Norm::load(
            h,
            cfg.layer_norm_eps,
            cfg.norm_bias,
            vb.pp("embeddings.norm"),
        )?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let lv = vb.pp(format!("layers.{i}"));
            // Layer 0 has no attention norm (the embedding norm precedes it).
            let attn_norm = if lv.contains_tensor("attn_norm.weight") {
                Some(Norm::load(
                    h,
                    cfg.layer_norm_eps,
                    cfg.norm_bias,
                    lv.pp("attn_norm"),
                )?)
            } else {
                None
            };
            let inter = cfg.intermediate_size;
            layers.push(Layer {
                attn_norm,
                wqkv: Linear::load(h, 3 * h, cfg.attention_bias, lv.pp("attn.Wqkv"))?,
                wo: Linear::load(h, h, cfg.attention_bias, lv.pp("attn.Wo"))?,
                mlp_norm: Norm::load(h, cfg.layer_norm_eps, cfg.norm_bias, lv.pp("mlp_norm"))?,
                wi: Linear::load(h, 2 * inter, cfg.mlp_bias, lv.pp("mlp.Wi"))?,
                mlp_wo: Linear::load(inter, h, cfg.mlp_bias, lv.pp("mlp.Wo"))?,
                local: cfg.is_local(i),
            });
        }
        let final_norm = Norm::load(h, cfg.layer_norm_eps, cfg.norm_bias, vb.pp("final_norm"))?;
        let max_len = max_len.clamp(1, cfg.max_position_embeddings.max(1));
        let (global_theta, local_theta) = cfg.rope_thetas();
        Ok(ModernBert {
            embeddings,
            embed_norm,
            layers,
            final_norm,
            global_rope: Rotary::new(global_theta, cfg.head_dim(), max_len),
            local_rope: Rotary::new(local_theta, cfg.head_dim(), max_len),
            config: cfg.clone(),
            max_len,
            scratch: Scratch::default(),
        })
    }

    /// Encodes token-id sequences and returns their masked-mean-pooled, L2-normalised
    /// embeddings, one per sequence. Sequences are packed back to back: no padding.
    pub fn embed(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let h = self.config.hidden_size;
        self.forward(ids, |x, seqs| mean_pool(x, seqs, h))
    }

    /// Runs the encoder and hands `read` the last hidden state (rows × hidden, the sequences
    /// packed back to back) and each sequence's (first row, length).
    pub fn forward<R>(
        &self,
        ids: &[&[u32]],
        read: impl FnOnce(&[f32], &[(usize, usize)]) -> R,
    ) -> Result<R> {
        let cfg = &self.config;
        let (h, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let (seqs, rows) = pack(ids, self.max_len)?;
        with_buffers(&self.scratch, (rows, h), (2 * inter, inter), |sc| {
            self.embeddings.with(|table| -> Result<()> {
                for (row, &id) in sc.tmp.chunks_mut(h).zip(ids.iter().flat_map(|s| s.iter())) {
                    let id = id as usize;
                    if id >= cfg.vocab_size {
                        candle_core::bail!(
                            "token id {id} outside the vocabulary ({})",
                            cfg.vocab_size
                        );
                    }
                    row.copy_from_slice(&table[id * h..(id + 1) * h]);
                }
                Ok(())
            })??;
            self.embed_norm.apply(&sc.tmp, &mut sc.x);

            for layer in &self.layers {
                let input = match &layer.attn_norm {
                    Some(n) => {
                        n.apply(&sc.x, &mut sc.tmp);
                        &sc.tmp
                    }
                    None => &sc.x,
                };
                layer.wqkv.forward(input, &mut sc.qkv, false);
                let rope = if layer.local {
                    &self.local_rope
                } else {
                    &self.global_rope
                };
                let window = layer.local.then_some(cfg.local_attention / 2);
                attention(
                    &sc.qkv,
                    &seqs,
                    cfg.num_attention_heads,
                    window,
                    Some(rope),
                    &mut sc.attn,
                );
                layer.wo.forward(&sc.attn, &mut sc.x, true);

                layer.mlp_norm.apply(&sc.x, &mut sc.tmp);
                let mut start = 0;
                while start < rows {
                    let n = MLP_ROWS.min(rows - start);
                    let wi = &mut sc.mlp_in[..n * 2 * inter];
                    let act = &mut sc.mlp_out[..n * inter];
                    layer
                        .wi
                        .forward(&sc.tmp[start * h..(start + n) * h], wi, false);
                    act.par_chunks_mut(inter)
                        .zip(wi.par_chunks(2 * inter))
                        .with_min_len(16)
                        .for_each(|(a, w)| kernels::geglu(&w[..inter], &w[inter..], a));
                    layer
                        .mlp_wo
                        .forward(act, &mut sc.x[start * h..(start + n) * h], true);
                    start += n;
                }
            }
            self.final_norm.apply(&sc.x, &mut sc.tmp);

            Ok(read(&sc.tmp, &seqs))
        })
    }
}
