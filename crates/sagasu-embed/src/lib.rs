//! sagasu's text encoders: text → vectors, in process, on CPU kernels of our own over candle
//! tensors (no Python, no LanceDB: `cargo test -p sagasu-embed` builds this crate alone).
//!
//! An [`Embedder`] is a tokenizer plus an encoder, chosen by `config.json`'s `model_type`:
//! ModernBERT for the Ruri v3 family ([`modernbert`]), BERT for BERT and XLM-R checkpoints
//! such as multilingual-e5 ([`bert`]). Output: masked mean pooling over the last hidden
//! state, L2-normalised. Documents and queries get the model's prefixes ([`prompts`]).
//! [`resolve`] finds a model's files: a directory, the Hugging Face cache, or a download.
//!
//! `unsafe` code is allowed only in [`cpu`], the kernels; each block states its contract.

#![deny(unsafe_code)]

pub mod bert;
#[allow(unsafe_code)]
pub mod cpu;
pub mod modernbert;
pub mod prompts;
pub mod rerank;
pub mod resolve;
mod weights;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use tokenizers::{Tokenizer, TruncationParams};

pub use rerank::{RerankOptions, Reranker};
pub use resolve::DEFAULT_MODEL;

/// Tokens each section is truncated to before embedding (at most the model's maximum).
pub const DEFAULT_MAX_TOKENS: usize = 512;
/// Padded tokens per forward batch: 16 inputs of 512 tokens.
pub const DEFAULT_BATCH_TOKENS: usize = 16 * 512;

/// What made a set of vectors; stored with the vectors so they are never mixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Hub id or directory name, as the user named it.
    pub id: String,
    /// Content fingerprint of the weights, config.json and tokenizer.json.
    pub fingerprint: String,
    pub model_type: String,
    pub dim: usize,
    pub query_prefix: String,
    pub doc_prefix: String,
    pub max_tokens: usize,
}

impl ModelInfo {
    /// The key vectors are stored under: two models (or prefixes, or truncations) never share
    /// it. Hex of the first 128 bits of a BLAKE3 digest (stable across releases: a changed key
    /// re-embeds every section).
    pub fn key(&self) -> String {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.fingerprint, self.dim, self.query_prefix, self.doc_prefix, self.max_tokens
        );
        blake3::hash(text.as_bytes()).as_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// How to load a model: overrides for what its directory says, and the batch size.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub query_prefix: Option<String>,
    pub doc_prefix: Option<String>,
    /// Truncate inputs to this many tokens (at most the model's maximum).
    pub max_tokens: usize,
    /// Padded tokens per forward batch; batches are formed from length-sorted inputs.
    pub batch_tokens: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            query_prefix: None,
            doc_prefix: None,
            max_tokens: DEFAULT_MAX_TOKENS,
            batch_tokens: DEFAULT_BATCH_TOKENS,
        }
    }
}

pub(crate) enum Encoder {
    ModernBert(modernbert::ModernBert),
    Bert(bert::Bert),
}

pub struct Embedder {
    encoder: Encoder,
    tokenizer: Tokenizer,
    info: ModelInfo,
    batch_tokens: usize,
}

#[derive(Deserialize)]
struct ModelType {
    model_type: Option<String>,
    max_position_embeddings: Option<usize>,
    pad_token_id: Option<usize>,
}

impl ModelType {
    /// Position rows an input of n tokens starts after. XLM-R (and RoBERTa) number positions
    /// from `pad_token_id + 1`; BERT and ModernBERT from 0.
    fn position_offset(&self) -> usize {
        match self.model_type.as_deref() {
            Some("xlm-roberta" | "roberta") => self.pad_token_id.unwrap_or(1) + 1,
            _ => 0,
        }
    }
}

/// The model files sagasu needs, in a directory.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// A model directory, opened: its config, a tokenizer truncating at `max_tokens`, the encoder,
/// and the weights (for a task head on top of the encoder).
pub(crate) struct Opened {
    pub encoder: Encoder,
    pub tokenizer: Tokenizer,
    pub config_text: String,
    pub config_path: PathBuf,
    pub model_type: String,
    pub hidden: usize,
    pub max_tokens: usize,
    pub vb: VarBuilder<'static>,
    pub weights: PathBuf,
    pub tok_bytes: Vec<u8>,
}

/// Opens a model directory. Every problem names the file: a broken model fails here, before
/// anything is written.
pub(crate) fn open_model(dir: &Path, max_tokens: usize) -> Result<Opened> {
    for f in MODEL_FILES {
        if !dir.join(f).is_file() {
            bail!("model directory {} has no {f}", dir.display());
        }
    }
    let config_path = dir.join("config.json");
    let config_text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let kind: ModelType = serde_json::from_str(&config_text)
        .with_context(|| format!("{}: not a model config", config_path.display()))?;
    let model_type = kind.model_type.clone().unwrap_or_default();
    let offset = kind.position_offset();
    let model_max = kind
        .max_position_embeddings
        .unwrap_or(DEFAULT_MAX_TOKENS)
        .saturating_sub(offset)
        .max(8);
    let max_tokens = max_tokens.clamp(8, model_max);

    let tok_path = dir.join("tokenizer.json");
    let tok_bytes =
        std::fs::read(&tok_path).with_context(|| format!("cannot read {}", tok_path.display()))?;
    let mut tokenizer = Tokenizer::from_bytes(&tok_bytes)
        .map_err(|e| anyhow!("{}: cannot load tokenizer: {e}", tok_path.display()))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..Default::default()
        }))
        .map_err(|e| anyhow!("{}: {e}", tok_path.display()))?;
    tokenizer.with_padding(None);

    let weights = dir.join("model.safetensors");
    let device = Device::Cpu;
    let vb = VarBuilder::from_tensors(
        weights::read_weights(&weights, &device)?,
        DType::F32,
        &device,
    );
    let tensor_error = |e: candle_core::Error| {
        anyhow!(
            "{}: {e} (tensor names or shapes do not match {})",
            weights.display(),
            config_path.display()
        )
    };
    let not_a = |what: &str| format!("{}: not a {what} config", config_path.display());
    let (encoder, hidden) = match model_type.as_str() {
        "modernbert" => {
            let cfg: modernbert::Config =
                serde_json::from_str(&config_text).with_context(|| not_a("ModernBERT"))?;
            let model =
                modernbert::ModernBert::load(vb.clone(), &cfg, max_tokens).map_err(tensor_error)?;
            (Encoder::ModernBert(model), cfg.hidden_size)
        }
        "bert" | "xlm-roberta" | "roberta" => {
            let mut cfg: bert::Config =
                serde_json::from_str(&config_text).with_context(|| not_a("BERT"))?;
            cfg.position_offset = offset;
            let model = bert::Bert::load(vb.clone(), &cfg, max_tokens).map_err(tensor_error)?;
            (Encoder::Bert(model), cfg.hidden_size)
        }
        other => bail!(
            "{}: model_type {other:?} is not supported (supported: modernbert, bert, xlm-roberta)",
            config_path.display()
        ),
    };
    Ok(Opened {
        encoder,
        tokenizer,
        config_text,
        config_path,
        model_type,
        hidden,
        max_tokens,
        vb,
        weights,
        tok_bytes,
    })
}

impl Encoder {
    /// The last hidden state of a batch, handed to `read` with each sequence's rows.
    /// `types`: token segments of pairs (BERT's token types; ModernBERT has none).
    pub(crate) fn forward<R>(
        &self,
        ids: &[&[u32]],
        types: Option<&[&[u32]]>,
        read: impl FnOnce(&[f32], &[(usize, usize)]) -> R,
    ) -> Result<R> {
        Ok(match self {
            Encoder::ModernBert(m) => m.forward(ids, read)?,
            Encoder::Bert(m) => m.forward(ids, types, read)?,
        })
    }
}

/// Orders inputs by length and cuts them into batches whose padded size stays within
/// `batch_tokens`: the batches, as index lists into `lengths`.
pub(crate) fn length_batches(lengths: &[usize], batch_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    let mut batches = Vec::new();
    let mut start = 0;
    while start < order.len() {
        // Longest in the batch is the last one (sorted): grow while padded size fits.
        let mut end = start + 1;
        while end < order.len() {
            let longest = lengths[order[end]].max(1);
            if longest * (end + 1 - start) > batch_tokens {
                break;
            }
            end += 1;
        }
        batches.push(order[start..end].to_vec());
        start = end;
    }
    batches
}

/// Runs `run` on the inputs of `lengths` (tokens each) in batches of similar length, given
/// as index lists, and returns its outputs (one per input) in input order.
///
/// Batches hold at most a thread's share of `batch_tokens` (at least the longest input).
/// Inputs over one share (an index run's texts, a page of hits to rerank) run as such
/// batches side by side, one pass per thread, evened out so that the threads finish
/// together: a pass split over the threads op by op meets at every layer and weight panel.
/// Inputs within one share (a query) run as one batch split over the threads. Either way
/// the passes in flight hold at most about `batch_tokens` tokens, so their buffers take
/// what one pass of `batch_tokens` took.
pub(crate) fn in_length_batches<T: Clone + Default + Send>(
    lengths: &[usize],
    batch_tokens: usize,
    run: impl Fn(&[usize]) -> Result<Vec<T>> + Sync,
) -> Result<Vec<T>> {
    let threads = rayon::current_num_threads().max(1);
    let longest = lengths.iter().copied().max().unwrap_or(1);
    let share = (batch_tokens / threads).max(longest).max(1);
    let total: usize = lengths.iter().sum();
    let side_by_side = threads > 1 && total > share;
    let budget = if side_by_side {
        // Evened out, so that every thread gets as many batches of about the same size.
        let n = total.div_ceil(share).next_multiple_of(threads);
        total.div_ceil(n).max(longest)
    } else {
        share
    };
    let batches = length_batches(lengths, budget);
    let outputs: Vec<Vec<T>> = if side_by_side {
        use rayon::prelude::*;
        batches.par_iter().map(|b| run(b)).collect::<Result<_>>()?
    } else {
        batches.iter().map(|b| run(b)).collect::<Result<_>>()?
    };
    let mut out = vec![T::default(); lengths.len()];
    for (batch, values) in batches.into_iter().zip(outputs) {
        for (i, v) in batch.into_iter().zip(values) {
            out[i] = v;
        }
    }
    Ok(out)
}

impl Embedder {
    /// Loads a model directory. Every problem names the file: a broken model fails here,
    /// before anything is written.
    pub fn load(dir: &Path, id: &str, opts: &LoadOptions) -> Result<Embedder> {
        let m = open_model(dir, opts.max_tokens)?;
        let (query_prefix, doc_prefix) = prompts::prefixes(dir, id, &m.config_text)?;
        let info = ModelInfo {
            id: id.to_string(),
            fingerprint: weights::fingerprint(&m.weights, &m.config_text, &m.tok_bytes)?,
            model_type: m.model_type,
            dim: m.hidden,
            query_prefix: opts.query_prefix.clone().unwrap_or(query_prefix),
            doc_prefix: opts.doc_prefix.clone().unwrap_or(doc_prefix),
            max_tokens: m.max_tokens,
        };
        Ok(Embedder {
            encoder: m.encoder,
            tokenizer: m.tokenizer,
            info,
            batch_tokens: opts.batch_tokens.max(m.max_tokens),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Embeds documents (with the document prefix). Output order = input order.
    pub fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let prefixed: Vec<String> = texts
            .iter()
            .map(|t| format!("{}{t}", self.info.doc_prefix))
            .collect();
        self.embed_raw(&prefixed)
    }

    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        let v = self.embed_raw(&[format!("{}{query}", self.info.query_prefix)])?;
        v.into_iter()
            .next()
            .ok_or_else(|| anyhow!("no embedding returned"))
    }

    /// Tokenizes, sorts by length, runs batches under the token budget, restores order.
    pub fn embed_raw(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        self.encode_ids(&ids)
    }

    /// Encodes token-id sequences in batches under the token budget (many inputs: batches side
    /// by side, one per thread) and pools them: the hot path, public for the speed benchmark.
    pub fn encode_ids(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let lengths: Vec<usize> = ids.iter().map(|s| s.len()).collect();
        in_length_batches(&lengths, self.batch_tokens, |batch| {
            let group: Vec<&[u32]> = batch.iter().map(|&i| ids[i]).collect();
            Ok(match &self.encoder {
                Encoder::ModernBert(m) => m.embed(&group)?,
                Encoder::Bert(m) => m.embed(&group)?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Runs `in_length_batches` on a pool of `threads` and returns its outputs and the token
    /// count of every batch it formed.
    fn batches_on(threads: usize, lengths: &[usize], budget: usize) -> (Vec<usize>, Vec<usize>) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let sizes = Mutex::new(Vec::new());
        let out = pool
            .install(|| {
                in_length_batches(lengths, budget, |batch| {
                    let tokens = batch.iter().map(|&i| lengths[i]).sum::<usize>();
                    sizes.lock().expect("sizes").push(tokens);
                    Ok(batch.to_vec())
                })
            })
            .expect("batches");
        (out, sizes.into_inner().expect("sizes"))
    }

    #[test]
    fn inputs_over_a_threads_share_run_in_batches_of_that_share() {
        let lengths: Vec<usize> = (0..400).map(|i| 1 + (i * 7) % 8).collect();
        let total: usize = lengths.iter().sum();
        let (out, sizes) = batches_on(4, &lengths, 256);
        assert_eq!(out, (0..lengths.len()).collect::<Vec<_>>(), "input order");
        assert_eq!(sizes.iter().sum::<usize>(), total, "every input once");
        assert!(sizes.iter().all(|&n| n <= 256 / 4), "{sizes:?}");
        assert!(sizes.len() >= total / 64, "{} batches", sizes.len());
    }

    #[test]
    fn batches_side_by_side_are_evened_out_between_the_threads() {
        // 20 hits of 256 tokens to rerank on 2 threads: 10 and 10, not 16 and 4.
        let (_, mut sizes) = batches_on(2, &[256; 20], 8192);
        sizes.sort_unstable();
        assert_eq!(sizes, vec![2560, 2560]);
    }

    #[test]
    fn a_few_inputs_run_in_one_batch_for_all_threads() {
        let lengths = [3, 8, 1, 5, 2];
        let (out, sizes) = batches_on(4, &lengths, 256);
        assert_eq!(out, vec![0, 1, 2, 3, 4]);
        assert_eq!(sizes, vec![19], "one batch within a thread's share");
        // One thread never splits the budget.
        let many: Vec<usize> = vec![8; 100];
        let (_, sizes) = batches_on(1, &many, 256);
        assert!(
            sizes.iter().all(|&n| n <= 256) && sizes.iter().any(|&n| n > 64),
            "{sizes:?}"
        );
    }
}
