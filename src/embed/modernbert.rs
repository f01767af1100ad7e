//! ModernBERT encoder (the Ruri v3 family), forward pass only, on the CPU.
//!
//! Follows Hugging Face `transformers`' `ModernBertModel`: token embeddings → LayerNorm →
//! layers of pre-norm attention (RoPE; global attention every `global_attn_every_n_layers`
//! layers, a sliding window of `local_attention` tokens elsewhere) and a GeGLU MLP → final
//! LayerNorm. Checked against that implementation on random weights by `tests/embed.rs`.
//!
//! Weights load through candle's `VarBuilder` (names and shapes checked there). The forward
//! pass runs on plain f32 buffers with candle's matrix kernel (the `gemm` crate), because at
//! this model size candle's one-tensor-per-op style cost more than the arithmetic: every op
//! allocated (and page-faulted) a fresh buffer, sliding-window layers computed full
//! attention, and padding was computed like text. Here a batch's tokens are packed without
//! padding, attention runs per (sequence, head) over only the keys in reach, elementwise work
//! is fused and parallel, and the buffers are reused from batch to batch.

use std::sync::Mutex;

use candle_core::Result;
use candle_nn::VarBuilder;
use gemm::{gemm, Parallelism};
use rayon::prelude::*;
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

/// Query rows per attention block: with the 128-token window of Ruri v3 a block reaches at
/// most 64 + 128 keys, so little of each score block is masked away.
const QUERY_BLOCK: usize = 64;
/// Token rows per MLP step: the GeGLU intermediate of one step stays in cache.
const MLP_ROWS: usize = 512;

/// Rotary tables: `cos`/`sin` of (position × half head dim), row-major.
struct Rotary {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl Rotary {
    /// Same arithmetic as transformers (f32 angles), so positions far into a long input agree.
    fn new(theta: f64, head_dim: usize, max_len: usize) -> Rotary {
        let half = head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| (1.0 / theta.powf((2 * i) as f64 / head_dim as f64)) as f32)
            .collect();
        let mut cos = Vec::with_capacity(max_len * half);
        let mut sin = Vec::with_capacity(max_len * half);
        for p in 0..max_len {
            for f in &inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Rotary { cos, sin, half }
    }

    /// Rotates one head vector at `pos` (the rotate-half convention) into `out`, times `scale`.
    #[inline]
    fn apply(&self, x: &[f32], pos: usize, scale: f32, out: &mut [f32]) {
        let h = self.half;
        let cos = &self.cos[pos * h..(pos + 1) * h];
        let sin = &self.sin[pos * h..(pos + 1) * h];
        for i in 0..h {
            let (a, b) = (x[i], x[i + h]);
            out[i] = (a * cos[i] - b * sin[i]) * scale;
            out[i + h] = (b * cos[i] + a * sin[i]) * scale;
        }
    }
}

/// LayerNorm over rows of `weight.len()` values.
struct Norm {
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    eps: f32,
}

impl Norm {
    fn load(size: usize, cfg: &Config, vb: VarBuilder) -> Result<Norm> {
        let weight = vb.get(size, "weight")?.to_vec1::<f32>()?;
        let bias = if cfg.norm_bias {
            Some(vb.get(size, "bias")?.to_vec1::<f32>()?)
        } else {
            None
        };
        Ok(Norm {
            weight,
            bias,
            eps: cfg.layer_norm_eps as f32,
        })
    }

    fn apply(&self, x: &[f32], out: &mut [f32]) {
        let h = self.weight.len();
        out.par_chunks_mut(h)
            .zip(x.par_chunks(h))
            .with_min_len(64)
            .for_each(|(o, row)| {
                let mean = kernels::sum_by(row, |v| v) / h as f32;
                let var = kernels::sum_by(row, |v| (v - mean) * (v - mean)) / h as f32;
                let inv = 1.0 / (var + self.eps).sqrt();
                for ((o, v), w) in o.iter_mut().zip(row).zip(&self.weight) {
                    *o = (v - mean) * inv * w;
                }
                if let Some(b) = &self.bias {
                    o.iter_mut().zip(b).for_each(|(o, b)| *o += b);
                }
            });
    }
}

/// A dense layer: weight transposed to in × out (row-major), optional bias.
struct Linear {
    /// Wᵀ, so that gemm's right-hand side is read along rows.
    weight_t: Vec<f32>,
    bias: Option<Vec<f32>>,
    in_dim: usize,
    out_dim: usize,
}

impl Linear {
    fn load(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
        let weight = vb
            .get((out_dim, in_dim), "weight")?
            .t()?
            .contiguous()?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let bias = if bias {
            Some(vb.get(out_dim, "bias")?.to_vec1::<f32>()?)
        } else {
            None
        };
        Ok(Linear {
            weight_t: weight,
            bias,
            in_dim,
            out_dim,
        })
    }

    fn gemm(&self, x: &[f32], out: &mut [f32], accumulate: bool, par: Parallelism) {
        let rows = x.len() / self.in_dim;
        // SAFETY: the sizes were checked by the caller; lhs is rows × in (row-major), rhs is
        // Wᵀ (in × out, row-major), dst is rows × out (row-major); no aliasing.
        unsafe {
            gemm(
                rows,
                self.out_dim,
                self.in_dim,
                out.as_mut_ptr(),
                1,
                self.out_dim as isize,
                accumulate,
                x.as_ptr(),
                1,
                self.in_dim as isize,
                self.weight_t.as_ptr(),
                1,
                self.out_dim as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
    }

    /// `out = x · Wᵀ + b` over rows; with `accumulate`, `out += x · Wᵀ + b` (the residual add).
    fn forward(&self, x: &[f32], out: &mut [f32], accumulate: bool) {
        let rows = x.len() / self.in_dim;
        assert_eq!(out.len(), rows * self.out_dim, "linear output size");
        if rows == 0 {
            return;
        }
        let threads = rayon::current_num_threads();
        // gemm splits the work over the pool itself (measured no slower than one
        // single-threaded gemm per share of rows).
        let par = if threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        self.gemm(x, out, accumulate, par);
        if let Some(b) = &self.bias {
            out.par_chunks_mut(self.out_dim)
                .for_each(|row| row.iter_mut().zip(b).for_each(|(o, b)| *o += b));
        }
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

/// Buffers one forward pass needs, kept between batches.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    normed: Vec<f32>,
    qkv: Vec<f32>,
    attn: Vec<f32>,
    wi: Vec<f32>,
    act: Vec<f32>,
}

pub struct ModernBert {
    embeddings: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    final_norm: Norm,
    global_rope: Rotary,
    local_rope: Rotary,
    config: Config,
    max_len: usize,
    scratch: Mutex<Scratch>,
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
        if cfg.hidden_size % cfg.num_attention_heads != 0 || cfg.head_dim() % 2 != 0 {
            candle_core::bail!(
                "hidden_size {} does not split into {} heads of even size",
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
        let embeddings = vb
            .get((cfg.vocab_size, h), "embeddings.tok_embeddings.weight")?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let embed_norm = Norm::load(h, cfg, vb.pp("embeddings.norm"))?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let lv = vb.pp(format!("layers.{i}"));
            // Layer 0 has no attention norm (the embedding norm precedes it).
            let attn_norm = if lv.contains_tensor("attn_norm.weight") {
                Some(Norm::load(h, cfg, lv.pp("attn_norm"))?)
            } else {
                None
            };
            let inter = cfg.intermediate_size;
            layers.push(Layer {
                attn_norm,
                wqkv: Linear::load(h, 3 * h, cfg.attention_bias, lv.pp("attn.Wqkv"))?,
                wo: Linear::load(h, h, cfg.attention_bias, lv.pp("attn.Wo"))?,
                mlp_norm: Norm::load(h, cfg, lv.pp("mlp_norm"))?,
                wi: Linear::load(h, 2 * inter, cfg.mlp_bias, lv.pp("mlp.Wi"))?,
                mlp_wo: Linear::load(inter, h, cfg.mlp_bias, lv.pp("mlp.Wo"))?,
                local: cfg.is_local(i),
            });
        }
        let final_norm = Norm::load(h, cfg, vb.pp("final_norm"))?;
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
            scratch: Mutex::new(Scratch::default()),
        })
    }

    /// Encodes token-id sequences and returns their masked-mean-pooled, L2-normalised
    /// embeddings, one per sequence. Sequences are packed back to back: no padding.
    pub fn embed(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let cfg = &self.config;
        let (h, inter) = (cfg.hidden_size, cfg.intermediate_size);
        let mut seqs = Vec::with_capacity(ids.len()); // (first row, length)
        let mut rows = 0;
        for s in ids {
            if s.len() > self.max_len {
                candle_core::bail!("input of {} tokens exceeds {}", s.len(), self.max_len);
            }
            seqs.push((rows, s.len()));
            rows += s.len();
        }
        // A concurrent caller (a query during indexing) gets its own buffers instead of waiting.
        let mut own = None;
        let mut guard = self.scratch.try_lock().ok();
        let sc: &mut Scratch = match guard.as_deref_mut() {
            Some(s) => s,
            None => own.insert(Scratch::default()),
        };
        for (buf, len) in [
            (&mut sc.x, rows * h),
            (&mut sc.normed, rows * h),
            (&mut sc.qkv, rows * 3 * h),
            (&mut sc.attn, rows * h),
            (&mut sc.wi, MLP_ROWS.min(rows) * 2 * inter),
            (&mut sc.act, MLP_ROWS.min(rows) * inter),
        ] {
            buf.resize(len, 0.0);
        }

        for (row, &id) in sc
            .normed
            .chunks_mut(h)
            .zip(ids.iter().flat_map(|s| s.iter()))
        {
            let id = id as usize;
            if id >= cfg.vocab_size {
                candle_core::bail!("token id {id} outside the vocabulary ({})", cfg.vocab_size);
            }
            row.copy_from_slice(&self.embeddings[id * h..(id + 1) * h]);
        }
        self.embed_norm.apply(&sc.normed, &mut sc.x);

        for layer in &self.layers {
            let input = match &layer.attn_norm {
                Some(n) => {
                    n.apply(&sc.x, &mut sc.normed);
                    &sc.normed
                }
                None => &sc.x,
            };
            layer.wqkv.forward(input, &mut sc.qkv, false);
            let rope = if layer.local {
                &self.local_rope
            } else {
                &self.global_rope
            };
            self.attention(&sc.qkv, &seqs, layer.local, rope, &mut sc.attn);
            layer.wo.forward(&sc.attn, &mut sc.x, true);

            layer.mlp_norm.apply(&sc.x, &mut sc.normed);
            let mut start = 0;
            while start < rows {
                let n = MLP_ROWS.min(rows - start);
                let wi = &mut sc.wi[..n * 2 * inter];
                let act = &mut sc.act[..n * inter];
                layer
                    .wi
                    .forward(&sc.normed[start * h..(start + n) * h], wi, false);
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
        self.final_norm.apply(&sc.x, &mut sc.normed);

        Ok(seqs
            .iter()
            .map(|&(first, len)| {
                let mut v = vec![0f32; h];
                for row in sc.normed[first * h..(first + len) * h].chunks(h) {
                    v.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect())
    }

    /// Multi-head attention over packed sequences: `qkv` rows are (3, heads, head_dim) per
    /// token; `out` rows get (heads, head_dim). One task per (sequence, head); each task walks
    /// its queries in blocks and scores each block against only the keys it can see.
    fn attention(
        &self,
        qkv: &[f32],
        seqs: &[(usize, usize)],
        local: bool,
        rope: &Rotary,
        out: &mut [f32],
    ) {
        let cfg = &self.config;
        let (h, heads, hd) = (cfg.hidden_size, cfg.num_attention_heads, cfg.head_dim());
        let half_window = cfg.local_attention / 2;
        let scale = 1.0 / (hd as f32).sqrt();
        let out = SharedOut(out.as_mut_ptr());
        let tasks: Vec<(usize, usize, usize)> = seqs
            .iter()
            .filter(|s| s.1 > 0)
            .flat_map(|&(first, len)| (0..heads).map(move |head| (first, len, head)))
            .collect();
        tasks.into_par_iter().for_each(|(first, len, head)| {
            // Gather this head's q (rotated, scaled), k (rotated) and v, contiguous.
            let mut q = vec![0f32; len * hd];
            let mut k = vec![0f32; len * hd];
            let mut v = vec![0f32; len * hd];
            for p in 0..len {
                let row = &qkv[(first + p) * 3 * h..(first + p + 1) * 3 * h];
                let at = |part: usize| &row[part * h + head * hd..part * h + (head + 1) * hd];
                rope.apply(at(0), p, scale, &mut q[p * hd..(p + 1) * hd]);
                rope.apply(at(1), p, 1.0, &mut k[p * hd..(p + 1) * hd]);
                v[p * hd..(p + 1) * hd].copy_from_slice(at(2));
            }
            let reach = |i: usize| {
                if local {
                    (
                        i.saturating_sub(half_window),
                        (i + half_window + 1).min(len),
                    )
                } else {
                    (0, len)
                }
            };
            let mut scores = Vec::new();
            for qs in (0..len).step_by(QUERY_BLOCK) {
                let qe = (qs + QUERY_BLOCK).min(len);
                let (ks, _) = reach(qs);
                let (_, ke) = reach(qe - 1);
                let (bq, nk) = (qe - qs, ke - ks);
                scores.resize(bq * nk, 0.0);
                // SAFETY: scores is bq × nk; q rows qs..qe and k rows ks..ke are in bounds.
                unsafe {
                    gemm(
                        bq,
                        nk,
                        hd,
                        scores.as_mut_ptr(),
                        1,
                        nk as isize,
                        false,
                        q.as_ptr().add(qs * hd),
                        1,
                        hd as isize,
                        k.as_ptr().add(ks * hd),
                        hd as isize,
                        1,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
                for (r, row) in scores.chunks_mut(nk).enumerate() {
                    let (lo, hi) = reach(qs + r);
                    row[..lo - ks].fill(0.0);
                    row[hi - ks..].fill(0.0);
                    kernels::softmax(&mut row[lo - ks..hi - ks]);
                }
                // SAFETY: this task alone writes rows first+qs..first+qe, columns of `head`;
                // v rows ks..ke are in bounds.
                unsafe {
                    gemm(
                        bq,
                        hd,
                        nk,
                        out.at((first + qs) * h + head * hd),
                        1,
                        h as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        nk as isize,
                        v.as_ptr().add(ks * hd),
                        1,
                        hd as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            }
        });
    }
}

/// The attention output, written by parallel tasks to disjoint (rows, head) blocks.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint regions (see `attention`), and the buffer outlives them.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// A method, not a field access, so closures capture the whole (Send) wrapper.
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// Elementwise kernels written so that LLVM vectorises them: `erf` and `exp` by polynomial
/// (no libm call per element), compiled a second time for AVX2+FMA and picked at run time.
pub mod kernels {
    /// `out = gelu(x) * gate`, gelu with erf as in `transformers` (not the tanh form).
    pub fn geglu(x: &[f32], gate: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function was compiled for.
            return unsafe { geglu_avx2(x, gate, out) };
        }
        geglu_portable(x, gate, out)
    }

    /// Softmax in place.
    pub fn softmax(row: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { softmax_avx2(row) };
        }
        softmax_portable(row)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn geglu_avx2(x: &[f32], gate: &[f32], out: &mut [f32]) {
        geglu_portable(x, gate, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn softmax_avx2(row: &mut [f32]) {
        softmax_portable(row)
    }

    #[inline(always)]
    fn geglu_portable(x: &[f32], gate: &[f32], out: &mut [f32]) {
        for ((o, &x), &g) in out.iter_mut().zip(x).zip(gate) {
            *o = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)) * g;
        }
    }

    #[inline(always)]
    fn softmax_portable(row: &mut [f32]) {
        let max = max(row);
        row.iter_mut().for_each(|v| *v = exp(*v - max));
        let inv = 1.0 / sum_by(row, |v| v);
        row.iter_mut().for_each(|v| *v *= inv);
    }

    /// Σ g(x) over 8 independent lanes, so that it vectorises (a single running total would
    /// fix the order of the additions and keep the loop scalar).
    #[inline(always)]
    pub fn sum_by(x: &[f32], g: impl Fn(f32) -> f32) -> f32 {
        let mut acc = [0f32; 8];
        let mut chunks = x.chunks_exact(8);
        for c in &mut chunks {
            for i in 0..8 {
                acc[i] += g(c[i]);
            }
        }
        let rest: f32 = chunks.remainder().iter().map(|&v| g(v)).sum();
        rest + acc.iter().sum::<f32>()
    }

    /// The maximum, over 8 lanes like [`sum_by`].
    #[inline(always)]
    fn max(x: &[f32]) -> f32 {
        let pick = |a: f32, b: f32| if b > a { b } else { a };
        let mut acc = [f32::NEG_INFINITY; 8];
        let mut chunks = x.chunks_exact(8);
        for c in &mut chunks {
            for i in 0..8 {
                acc[i] = pick(acc[i], c[i]);
            }
        }
        let rest = chunks
            .remainder()
            .iter()
            .fold(f32::NEG_INFINITY, |a, &b| pick(a, b));
        acc.iter().fold(rest, |a, &b| pick(a, b))
    }

    /// erf as a rational function on [-4, 4] (Eigen's `generic_fast_erf_float`; outside that
    /// range erf is ±1 in f32). Max error a few ulp.
    #[inline(always)]
    pub fn erf(x: f32) -> f32 {
        let x = x.clamp(-4.0, 4.0);
        let x2 = x * x;
        let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
        p = x2 * p + -2.101_024e-6;
        p = x2 * p + -5.692_506_4e-5;
        p = x2 * p + -7.349_906_3e-4;
        p = x2 * p + -2.954_600_0e-3;
        p = x2 * p + -1.609_603_3e-2;
        let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
        q = x2 * q + -1.682_827e-3;
        q = x2 * q + -7.373_329_2e-3;
        q = x2 * q + -1.426_474e-2;
        x * p / q
    }

    /// e^x by range reduction and a degree-6 polynomial (Cephes `expf`); x ≥ −87 is exact to
    /// about 1 ulp, below that the result flushes to ~1e-38 (only ever used as x − max ≤ 0).
    #[inline(always)]
    pub fn exp(x: f32) -> f32 {
        let x = x.clamp(-87.0, 88.0);
        let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
        let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let mut p = r * 1.987_569_1e-4 + 1.398_2e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 5.000_000_1e-1;
        let e = p * r * r + r + 1.0;
        e * f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
}

#[cfg(test)]
mod tests {
    use super::kernels;

    #[test]
    fn erf_and_exp_match_the_standard_functions() {
        let mut worst_erf = 0f64;
        let mut worst_exp = 0f64;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            worst_erf = worst_erf.max((kernels::erf(x) as f64 - libm::erf(x as f64)).abs());
            let e = (x as f64).exp();
            worst_exp = worst_exp.max(((kernels::exp(x) as f64) - e).abs() / e);
        }
        for x in [-80.0f32, -50.5, -20.25, 10.0, 40.0, 80.0] {
            let e = (x as f64).exp();
            worst_exp = worst_exp.max(((kernels::exp(x) as f64) - e).abs() / e);
        }
        assert!(worst_erf < 1e-6, "erf abs error {worst_erf}");
        assert!(worst_exp < 1e-6, "exp rel error {worst_exp}");
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut row = vec![1.0f32, 3.0, -2.0, 0.5, 3.0];
        kernels::softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row[1] > row[0] && row[0] > row[3] && row[3] > row[2]);
        assert!((row[1] - row[4]).abs() < 1e-7);
    }
}
