//! CPU building blocks shared by the encoders: dense layers on candle's matrix kernel (the
//! `gemm` crate) for batches and on a kernel of our own for a few rows (a query), LayerNorm,
//! rotary tables, blocked attention over packed sequences, mean pooling, and elementwise
//! kernels written to vectorise.
//!
//! Why not candle tensors: at the size of these models the per-op tensors cost more than the
//! arithmetic (every op allocated and page-faulted a fresh buffer, windowed layers computed full
//! attention, padding was computed like text). Sequences are packed back to back here, so no
//! row is padding, and the callers reuse their buffers from batch to batch.

use candle_core::Result;
use candle_nn::VarBuilder;
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// Query rows per attention block: with the 128-token window of Ruri v3 a block reaches at
/// most 64 + 128 keys, so little of each score block is masked away.
pub const QUERY_BLOCK: usize = 64;
/// Token rows per MLP step: the GeGLU intermediate of one step stays in cache.
pub const MLP_ROWS: usize = 512;

/// Checkpoints saved from a task head (`…ForMaskedLM`) nest the encoder under a prefix
/// (`model.`, `bert.`): look there when `probe` exists under it, else at the top level.
pub fn encoder_root<'a>(vb: VarBuilder<'a>, prefix: &str, probe: &str) -> VarBuilder<'a> {
    if vb.contains_tensor(&format!("{prefix}.{probe}")) {
        vb.pp(prefix)
    } else {
        vb
    }
}

/// Rotary tables: `cos`/`sin` of (position × half head dim), row-major.
pub struct Rotary {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl Rotary {
    /// Same arithmetic as transformers (f32 angles), so positions far into a long input agree.
    pub fn new(theta: f64, head_dim: usize, max_len: usize) -> Rotary {
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
pub struct Norm {
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    eps: f32,
}

impl Norm {
    pub fn load(size: usize, eps: f64, bias: bool, vb: VarBuilder) -> Result<Norm> {
        let weight = vb.get(size, "weight")?.to_vec1::<f32>()?;
        let bias = if bias {
            Some(vb.get(size, "bias")?.to_vec1::<f32>()?)
        } else {
            None
        };
        Ok(Norm {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    pub fn apply(&self, x: &[f32], out: &mut [f32]) {
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

/// A lookup table (token or position embeddings, rows × width) kept in the tensor candle
/// loaded: vocabulary tables are the largest weights (384 MB in multilingual-e5), and copying
/// one out would hold it twice while loading.
pub struct Table {
    tensor: candle_core::Tensor,
}

impl Table {
    pub fn load(vb: &VarBuilder, rows: usize, width: usize, name: &str) -> Result<Table> {
        let tensor = vb.get((rows, width), name)?.contiguous()?;
        Ok(Table { tensor })
    }

    /// Runs `f` on the whole table, row-major.
    pub fn with<R>(&self, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
        let (storage, layout) = self.tensor.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else {
            candle_core::bail!("weights are not in CPU memory");
        };
        let start = layout.start_offset();
        let all = cpu.as_slice::<f32>()?;
        Ok(f(&all[start..start + self.tensor.elem_count()]))
    }
}

/// A dense layer: weight in panels of [`PANEL`] output columns, optional bias.
///
/// Why panels: a query is a few rows, and for a few rows gemm's microkernel spent its time
/// waiting on weights read across a row-major in × out matrix (29 tokens of the ruri-v3-30m
/// shape: 13-17 ms, 80% in the microkernel). A panel is read front to back instead, by a
/// kernel that keeps 4 rows × 16 columns in registers: 9-12 ms. Large batches still go to
/// gemm, one panel at a time (within noise of one call over the whole matrix).
pub struct Linear {
    /// Panel p holds output columns p·PANEL.. as an in × PANEL row-major block (zero-padded).
    panels: Vec<f32>,
    bias: Option<Vec<f32>>,
    in_dim: usize,
    out_dim: usize,
}

/// Output columns per weight panel: wide enough for gemm to run well on a panel, a multiple
/// of the 16 columns ([`kernels::TILE`]) the few-rows kernel keeps in registers.
const PANEL: usize = 96;
/// Up to this many rows, [`Linear`] uses its own kernel instead of gemm.
const FEW_ROWS: usize = 64;

impl Linear {
    /// Loads `weight` (out × in, as checkpoints store it) and, with `bias`, `bias`.
    pub fn load(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
        let weight = vb
            .get((out_dim, in_dim), "weight")?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let bias = if bias {
            Some(vb.get(out_dim, "bias")?.to_vec1::<f32>()?)
        } else {
            None
        };
        Ok(Linear::from_rows(weight, bias, in_dim, out_dim))
    }

    /// From a row-major out × in weight (several stacked layers may make one).
    pub fn from_rows(
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        in_dim: usize,
        out_dim: usize,
    ) -> Linear {
        let mut panels = vec![0f32; out_dim.div_ceil(PANEL) * PANEL * in_dim];
        for (o, row) in weight.chunks(in_dim).enumerate() {
            let panel = &mut panels[o / PANEL * PANEL * in_dim..];
            for (i, w) in row.iter().enumerate() {
                panel[i * PANEL + o % PANEL] = *w;
            }
        }
        Linear {
            panels,
            bias,
            in_dim,
            out_dim,
        }
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.panels[p * PANEL * self.in_dim..(p + 1) * PANEL * self.in_dim]
    }

    fn gemm(&self, x: &[f32], out: &mut [f32], accumulate: bool, par: Parallelism) {
        let rows = x.len() / self.in_dim;
        if rows <= FEW_ROWS {
            let out = SharedOut(out.as_mut_ptr());
            let tiles = self.out_dim.div_ceil(kernels::TILE);
            (0..tiles).into_par_iter().for_each(|t| {
                let first = t * kernels::TILE;
                let (p, offset) = (first / PANEL, first % PANEL);
                let width = kernels::TILE.min(self.out_dim - first);
                // SAFETY: `forward` checked out is rows × out_dim and x is rows × in_dim; the
                // panel slice from `offset` (≤ PANEL - TILE: both multiples of TILE) holds
                // (in_dim - 1) · PANEL + TILE values; width ≤ TILE; each task writes its own
                // TILE columns of out.
                unsafe {
                    kernels::panel_rows(
                        x,
                        &self.panel(p)[offset..],
                        (self.in_dim, PANEL),
                        (out.at(first), self.out_dim, width),
                        accumulate,
                    )
                };
            });
            return;
        }
        for p in 0..self.out_dim.div_ceil(PANEL) {
            let first = p * PANEL;
            let width = PANEL.min(self.out_dim - first);
            // SAFETY: the caller checked out is rows × out; x is rows × in; the panel is
            // in × PANEL, of which the first `width` columns are used.
            unsafe {
                matmul(
                    (rows, width, self.in_dim),
                    (out.as_mut_ptr().add(first), self.out_dim),
                    accumulate,
                    (x.as_ptr(), self.in_dim),
                    (self.panel(p).as_ptr(), PANEL, 1),
                    par,
                );
            }
        }
    }

    /// `out = x · Wᵀ + b` over rows; with `accumulate`, `out += x · Wᵀ + b` (the residual add).
    pub fn forward(&self, x: &[f32], out: &mut [f32], accumulate: bool) {
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

/// Multi-head attention over packed sequences (`seqs`: first row, length): `qkv` rows are
/// (3, heads, head_dim) per token; `out` rows get (heads, head_dim). `window`: each token
/// sees only tokens at most this far away; `rope`: rotate q and k first. One task per
/// (sequence, head); each task walks its queries in blocks and scores each block against
/// only the keys it can see.
///
/// # Panics
/// Unless the sequences are disjoint row ranges of `qkv` (rows × 3·hidden), `hidden` is a
/// multiple of `heads`, and `out` holds rows × hidden values: the parallel tasks write
/// through raw pointers, and these checks are what makes their regions valid and disjoint.
pub fn attention(
    qkv: &[f32],
    seqs: &[(usize, usize)],
    heads: usize,
    window: Option<usize>,
    rope: Option<&Rotary>,
    out: &mut [f32],
) {
    let rows: usize = seqs.iter().map(|s| s.1).sum();
    if rows == 0 {
        return;
    }
    assert!(heads > 0, "attention: no heads");
    assert_eq!(
        qkv.len() % (3 * rows),
        0,
        "attention: qkv is not rows × 3·hidden"
    );
    let h = qkv.len() / rows / 3;
    assert_eq!(
        h % heads,
        0,
        "attention: hidden {h} is not a multiple of {heads} heads"
    );
    assert!(
        out.len() >= rows * h,
        "attention: out holds {} of {} values",
        out.len(),
        rows * h
    );
    let mut spans: Vec<(usize, usize)> = seqs.iter().copied().filter(|s| s.1 > 0).collect();
    spans.sort_unstable();
    assert!(
        spans.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0)
            && spans.last().is_none_or(|s| s.0 + s.1 <= rows),
        "attention: sequences overlap or run past the rows"
    );
    let hd = h / heads;
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
            let (qp, kp) = (&mut q[p * hd..(p + 1) * hd], &mut k[p * hd..(p + 1) * hd]);
            match rope {
                Some(r) => {
                    r.apply(at(0), p, scale, qp);
                    r.apply(at(1), p, 1.0, kp);
                }
                None => {
                    qp.iter_mut().zip(at(0)).for_each(|(o, x)| *o = x * scale);
                    kp.copy_from_slice(at(1));
                }
            }
            v[p * hd..(p + 1) * hd].copy_from_slice(at(2));
        }
        let reach = |i: usize| match window {
            Some(w) => (i.saturating_sub(w), (i + w + 1).min(len)),
            None => (0, len),
        };
        let mut scores = Vec::new();
        for qs in (0..len).step_by(QUERY_BLOCK) {
            let qe = (qs + QUERY_BLOCK).min(len);
            let (ks, _) = reach(qs);
            let (_, ke) = reach(qe - 1);
            let (bq, nk) = (qe - qs, ke - ks);
            scores.resize(bq * nk, 0.0);
            // SAFETY: scores is bq × nk; q rows qs..qe and k rows ks..ke are in bounds; kᵀ
            // is read through strides.
            unsafe {
                matmul(
                    (bq, nk, hd),
                    (scores.as_mut_ptr(), nk),
                    false,
                    (q.as_ptr().add(qs * hd), hd),
                    (k.as_ptr().add(ks * hd), 1, hd),
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
                matmul(
                    (bq, hd, nk),
                    (out.at((first + qs) * h + head * hd), h),
                    false,
                    (scores.as_ptr(), nk),
                    (v.as_ptr().add(ks * hd), hd, 1),
                    Parallelism::None,
                );
            }
        }
    });
}

/// Buffers of one forward pass, kept between batches.
#[derive(Default)]
pub struct Buffers {
    /// The residual stream (rows × hidden).
    pub x: Vec<f32>,
    /// A second rows × hidden buffer (normalised input, or a sum before its norm).
    pub tmp: Vec<f32>,
    pub qkv: Vec<f32>,
    pub attn: Vec<f32>,
    /// The MLP's widened rows, [`MLP_ROWS`] at a time.
    pub mlp_in: Vec<f32>,
    pub mlp_out: Vec<f32>,
}

/// The buffers of the forward passes that have run, kept for the next ones: one per pass in
/// flight (batches side by side, or a query during an index run), up to one per thread.
#[derive(Default)]
pub struct Scratch(std::sync::Mutex<Vec<Buffers>>);

/// Runs `f` on buffers from `scratch` sized for `rows` tokens of width `h` and MLP widths
/// (`mlp_in`, `mlp_out`), and keeps them there afterwards. No pass waits for another's
/// buffers: when none is free, it gets fresh ones.
pub fn with_buffers<R>(
    scratch: &Scratch,
    (rows, h): (usize, usize),
    (mlp_in, mlp_out): (usize, usize),
    f: impl FnOnce(&mut Buffers) -> R,
) -> R {
    let taken = scratch.0.lock().ok().and_then(|mut kept| kept.pop());
    let mut b = taken.unwrap_or_default();
    let mlp_rows = MLP_ROWS.min(rows);
    for (buf, len) in [
        (&mut b.x, rows * h),
        (&mut b.tmp, rows * h),
        (&mut b.qkv, rows * 3 * h),
        (&mut b.attn, rows * h),
        (&mut b.mlp_in, mlp_rows * mlp_in),
        (&mut b.mlp_out, mlp_rows * mlp_out),
    ] {
        buf.resize(len, 0.0);
    }
    let out = f(&mut b);
    if let Ok(mut kept) = scratch.0.lock() {
        if kept.len() < rayon::current_num_threads().max(1) {
            kept.push(b);
        }
    }
    out
}

/// Mean of each sequence's rows of `x` (rows of `h` values), L2-normalised.
pub fn mean_pool(x: &[f32], seqs: &[(usize, usize)], h: usize) -> Vec<Vec<f32>> {
    seqs.iter()
        .map(|&(first, len)| {
            let mut v = vec![0f32; h];
            for row in x[first * h..(first + len) * h].chunks(h) {
                v.iter_mut().zip(row).for_each(|(a, b)| *a += b);
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}

/// Packs sequences back to back: (first row, length) of each, and the total rows.
pub fn pack(ids: &[&[u32]], max_len: usize) -> Result<(Vec<(usize, usize)>, usize)> {
    let mut seqs = Vec::with_capacity(ids.len());
    let mut rows = 0;
    for s in ids {
        if s.len() > max_len {
            candle_core::bail!("input of {} tokens exceeds {max_len}", s.len());
        }
        seqs.push((rows, s.len()));
        rows += s.len();
    }
    Ok((seqs, rows))
}

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)`. `dst` and `lhs` are row-major with the
/// given row strides; `rhs` is (pointer, row stride, column stride), so a transpose is free.
///
/// # Safety
/// Every pointer must be valid for the extents its strides and (m, n, k) imply, and `dst`
/// must not overlap the inputs.
unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (*mut f32, usize),
    accumulate: bool,
    (lhs, lhs_rs): (*const f32, usize),
    (rhs, rhs_rs, rhs_cs): (*const f32, usize, usize),
    par: Parallelism,
) {
    gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs,
        1,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        par,
    )
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

    /// gelu (erf form) in place.
    pub fn gelu(x: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function was compiled for.
            return unsafe { gelu_avx2(x) };
        }
        gelu_portable(x)
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
    unsafe fn gelu_avx2(x: &mut [f32]) {
        gelu_portable(x)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn softmax_avx2(row: &mut [f32]) {
        softmax_portable(row)
    }

    /// `out (+)= x · panel` for every row of `x` (rows × k) and one k × PANEL weight panel;
    /// `out`: (first value, row stride, columns to write). Tiles of 4 rows × 16 columns stay
    /// in registers while the panel streams past. `k`: (rows of the panel = the length of a
    /// row of `x`, the panel's row stride).
    ///
    /// # Safety
    /// - `k.0 > 0` and `x.len()` is a multiple of `k.0` (rows = `x.len() / k.0`);
    /// - `panel` holds at least `(k.0 - 1) · k.1 + TILE` values: the tiles read TILE values
    ///   of each panel row with unchecked indexing;
    /// - `out.2 <= TILE`, and for every row r < rows, `out.0 + r · out.1 .. + out.2` is valid
    ///   for writes (and reads, with `accumulate`);
    /// - no one else reads or writes those values meanwhile.
    pub(crate) unsafe fn panel_rows(
        x: &[f32],
        panel: &[f32],
        k: (usize, usize),
        out: (*mut f32, usize, usize),
        accumulate: bool,
    ) {
        debug_assert!(
            k.0 > 0 && x.len().is_multiple_of(k.0),
            "panel_rows: x is not rows × k"
        );
        debug_assert!(
            panel.len() >= (k.0 - 1) * k.1 + TILE,
            "panel_rows: panel too short"
        );
        debug_assert!(out.2 <= TILE, "panel_rows: wider than a tile");
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return panel_rows_avx2(x, panel, k, out, accumulate);
        }
        panel_rows_portable(x, panel, k, out, accumulate)
    }

    /// Output columns one few-rows tile holds in registers: two AVX2 registers per row.
    pub const TILE: usize = 16;

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn panel_rows_avx2(
        x: &[f32],
        panel: &[f32],
        k: (usize, usize),
        out: (*mut f32, usize, usize),
        accumulate: bool,
    ) {
        panel_rows_portable(x, panel, k, out, accumulate)
    }

    #[inline(always)]
    unsafe fn panel_rows_portable(
        x: &[f32],
        panel: &[f32],
        k: (usize, usize),
        out: (*mut f32, usize, usize),
        accumulate: bool,
    ) {
        let rows = x.len() / k.0;
        let mut r = 0;
        while r < rows {
            let x = &x[r * k.0..];
            let out = (out.0.add(r * out.1), out.1, out.2);
            r += match rows - r {
                1 => tile::<1>(x, panel, k, out, accumulate),
                2 => tile::<2>(x, panel, k, out, accumulate),
                3 => tile::<3>(x, panel, k, out, accumulate),
                _ => tile::<4>(x, panel, k, out, accumulate),
            };
        }
    }

    /// The first R rows of `x` times TILE columns of a panel (`k`: its rows, row stride);
    /// returns R.
    #[inline(always)]
    unsafe fn tile<const R: usize>(
        x: &[f32],
        panel: &[f32],
        (k, panel_stride): (usize, usize),
        (out, stride, width): (*mut f32, usize, usize),
        accumulate: bool,
    ) -> usize {
        let mut acc = [[0f32; TILE]; R];
        for i in 0..k {
            let w: &[f32; TILE] = panel
                .get_unchecked(i * panel_stride..i * panel_stride + TILE)
                .try_into()
                .unwrap_unchecked();
            for (r, acc) in acc.iter_mut().enumerate() {
                let xv = *x.get_unchecked(r * k + i);
                for j in 0..TILE {
                    acc[j] = xv.mul_add(w[j], acc[j]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let dst = std::slice::from_raw_parts_mut(out.add(r * stride), width);
            if accumulate {
                dst.iter_mut().zip(acc).for_each(|(d, a)| *d += a);
            } else {
                dst.copy_from_slice(&acc[..width]);
            }
        }
        R
    }

    #[inline(always)]
    fn gelu_one(x: f32) -> f32 {
        0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
    }

    #[inline(always)]
    fn geglu_portable(x: &[f32], gate: &[f32], out: &mut [f32]) {
        for ((o, &x), &g) in out.iter_mut().zip(x).zip(gate) {
            *o = gelu_one(x) * g;
        }
    }

    #[inline(always)]
    fn gelu_portable(x: &mut [f32]) {
        x.iter_mut().for_each(|v| *v = gelu_one(*v));
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
        p = x2 * p + -2.954_6e-3;
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
        p = p * r + 5e-1; // 0.500_000_01 as written by the fit: the same f32
        let e = p * r * r + r + 1.0;
        e * f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
}

#[cfg(test)]
mod tests {
    use super::{kernels, Linear, FEW_ROWS, PANEL};

    #[test]
    fn linear_matches_a_plain_product_on_both_paths() {
        // Widths that leave a partial tile and a partial panel; rows for both kernels.
        let (k, n) = (37, PANEL + 21);
        let weight: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 10.0)
            .collect();
        let bias: Vec<f32> = (0..n).map(|o| o as f32 / 100.0).collect();
        let linear = Linear::from_rows(weight.clone(), Some(bias.clone()), k, n);
        for rows in [1, 3, 5, FEW_ROWS, FEW_ROWS + 7] {
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 5 % 17) as f32 - 8.0) / 8.0)
                .collect();
            let want = |r: usize, o: usize| {
                bias[o]
                    + (0..k)
                        .map(|i| x[r * k + i] * weight[o * k + i])
                        .sum::<f32>()
            };
            let mut out = vec![0.5f32; rows * n];
            linear.forward(&x, &mut out, true);
            for r in 0..rows {
                for o in 0..n {
                    let d = (out[r * n + o] - (0.5 + want(r, o))).abs();
                    assert!(d < 1e-4, "rows {rows}, ({r}, {o}): off by {d} (accumulate)");
                }
            }
            linear.forward(&x, &mut out, false);
            for r in 0..rows {
                for o in 0..n {
                    let d = (out[r * n + o] - want(r, o)).abs();
                    assert!(d < 1e-4, "rows {rows}, ({r}, {o}): off by {d}");
                }
            }
        }
    }

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
