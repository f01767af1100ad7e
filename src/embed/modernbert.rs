//! ModernBERT encoder (the Ruri v3 family), forward pass only.
//!
//! Follows Hugging Face `transformers`' `ModernBertModel`: token embeddings → LayerNorm →
//! layers of pre-norm attention (RoPE; global attention every `global_attn_every_n_layers`
//! layers, a sliding window of `local_attention` tokens elsewhere) and a GeGLU MLP → final
//! LayerNorm. Checked against that implementation on random weights by `tests/embed.rs`.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{
    embedding, layer_norm, linear_b, ops::softmax_last_dim, Embedding, LayerNorm, LayerNormConfig,
    Linear, VarBuilder,
};
use serde::Deserialize;

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
            None => i % self.global_attn_every_n_layers.max(1) != 0,
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

/// Precomputed cos/sin tables for rotary position embeddings.
struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    fn new(theta: f64, head_dim: usize, max_len: usize, device: &Device) -> Result<Rotary> {
        let inv_freq: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / theta.powf(i as f64 / head_dim as f64) as f32)
            .collect();
        let half = inv_freq.len();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
        let t = Tensor::arange(0u32, max_len as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((max_len, 1))?;
        let freqs = t.matmul(&inv_freq)?;
        Ok(Rotary {
            cos: freqs.cos()?,
            sin: freqs.sin()?,
        })
    }

    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let seq = x.dim(2)?;
        let cos = self.cos.narrow(0, 0, seq)?;
        let sin = self.sin.narrow(0, 0, seq)?;
        candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin)
    }
}

struct Layer {
    attn_norm: Option<LayerNorm>,
    wqkv: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
    wi: Linear,
    mlp_wo: Linear,
    local: bool,
}

pub struct ModernBert {
    embeddings: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    global_rope: Rotary,
    local_rope: Rotary,
    config: Config,
    device: Device,
}

fn norm(size: usize, cfg: &Config, vb: VarBuilder) -> Result<LayerNorm> {
    let c = LayerNormConfig {
        eps: cfg.layer_norm_eps,
        remove_mean: true,
        affine: cfg.norm_bias,
    };
    layer_norm(size, c, vb)
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
        if cfg.hidden_size % cfg.num_attention_heads != 0 {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                cfg.hidden_size,
                cfg.num_attention_heads
            );
        }
        let vb = if vb.contains_tensor("model.embeddings.tok_embeddings.weight") {
            vb.pp("model")
        } else {
            vb
        };
        let h = cfg.hidden_size;
        let embeddings = embedding(cfg.vocab_size, h, vb.pp("embeddings.tok_embeddings"))?;
        let embed_norm = norm(h, cfg, vb.pp("embeddings.norm"))?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let lv = vb.pp(format!("layers.{i}"));
            // Layer 0 has no attention norm (the embedding norm precedes it).
            let attn_norm = if lv.contains_tensor("attn_norm.weight") {
                Some(norm(h, cfg, lv.pp("attn_norm"))?)
            } else {
                None
            };
            layers.push(Layer {
                attn_norm,
                wqkv: linear_b(h, 3 * h, cfg.attention_bias, lv.pp("attn.Wqkv"))?,
                wo: linear_b(h, h, cfg.attention_bias, lv.pp("attn.Wo"))?,
                mlp_norm: norm(h, cfg, lv.pp("mlp_norm"))?,
                wi: linear_b(h, 2 * cfg.intermediate_size, cfg.mlp_bias, lv.pp("mlp.Wi"))?,
                mlp_wo: linear_b(cfg.intermediate_size, h, cfg.mlp_bias, lv.pp("mlp.Wo"))?,
                local: cfg.is_local(i),
            });
        }
        let final_norm = norm(h, cfg, vb.pp("final_norm"))?;
        let max_len = max_len.clamp(1, cfg.max_position_embeddings.max(1));
        let device = vb.device().clone();
        let (global_theta, local_theta) = cfg.rope_thetas();
        Ok(ModernBert {
            embeddings,
            embed_norm,
            layers,
            final_norm,
            global_rope: Rotary::new(global_theta, cfg.head_dim(), max_len, &device)?,
            local_rope: Rotary::new(local_theta, cfg.head_dim(), max_len, &device)?,
            config: cfg.clone(),
            device,
        })
    }

    /// `ids`, `mask`: (batch, seq) u32, mask 1 for real tokens. Returns (batch, seq, hidden).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (_, seq) = ids.dims2()?;
        // Additive masks: padding (batch, 1, 1, seq) and the sliding window (seq, seq).
        let pad = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e30)?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        let half_window = self.config.local_attention / 2;
        let window = if seq > half_window + 1 {
            let m: Vec<f32> = (0..seq)
                .flat_map(|i| {
                    (0..seq).map(move |j| {
                        if i.abs_diff(j) > half_window {
                            -1e30
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(m, (seq, seq), &self.device)?.broadcast_add(&pad)?)
        } else {
            None // every token is within the window: local = global
        };
        let mut x = self.embed_norm.forward(&self.embeddings.forward(ids)?)?;
        for layer in &self.layers {
            let (mask, rope) = match (&window, layer.local) {
                (Some(w), true) => (w, &self.local_rope),
                (None, true) => (&pad, &self.local_rope),
                (_, false) => (&pad, &self.global_rope),
            };
            let normed = match &layer.attn_norm {
                Some(n) => n.forward(&x)?,
                None => x.clone(),
            };
            x = (&x + self.attention(layer, &normed, mask, rope)?)?;
            let h = layer.mlp_norm.forward(&x)?;
            let wi = layer.wi.forward(&h)?;
            let inter = self.config.intermediate_size;
            let input = wi.narrow(D::Minus1, 0, inter)?;
            let gate = wi.narrow(D::Minus1, inter, inter)?;
            x = (&x + layer.mlp_wo.forward(&(input.gelu_erf()? * gate)?)?)?;
        }
        self.final_norm.forward(&x)
    }

    fn attention(&self, layer: &Layer, x: &Tensor, mask: &Tensor, rope: &Rotary) -> Result<Tensor> {
        let (b, seq, h) = x.dims3()?;
        let heads = self.config.num_attention_heads;
        let hd = self.config.head_dim();
        let qkv = layer
            .wqkv
            .forward(x)?
            .reshape((b, seq, 3, heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let q = rope.apply(&qkv.get(0)?)?;
        let k = rope.apply(&qkv.get(1)?)?;
        let v = qkv.get(2)?.contiguous()?;
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = ((q * scale)?.matmul(&k.t()?)?).broadcast_add(mask)?;
        let probs = softmax_last_dim(&scores)?;
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, seq, h))?;
        layer.wo.forward(&out)
    }
}
