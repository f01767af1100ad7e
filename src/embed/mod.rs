//! Text → vectors, in process, with candle.
//!
//! An [`Embedder`] is a tokenizer plus an encoder (ModernBERT for the Ruri v3 family, BERT
//! for BERT/XLM-R checkpoints such as multilingual-e5), chosen by `config.json`'s
//! `model_type`. Output: masked mean pooling over the last hidden state, L2-normalised.
//! Documents and queries get the model's prefixes (Ruri: `検索文書: ` / `検索クエリ: `).

pub mod bert;
pub mod cpu;
pub mod modernbert;
pub mod resolve;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use tokenizers::{Tokenizer, TruncationParams};

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
    /// The key vectors are stored under: two models (or prefixes, or truncations) never share it.
    pub fn key(&self) -> String {
        let text = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.fingerprint, self.dim, self.query_prefix, self.doc_prefix, self.max_tokens
        );
        crate::store::content_hash(text.as_bytes())
    }
}

/// Overrides for what the model directory says.
#[derive(Debug, Clone, Default)]
pub struct EmbedOptions {
    pub query_prefix: Option<String>,
    pub doc_prefix: Option<String>,
    /// Truncate inputs to this many tokens (default 512, at most the model's maximum).
    pub max_tokens: Option<usize>,
    /// Padded tokens per forward batch; batches are formed from length-sorted inputs.
    pub batch_tokens: usize,
}

enum Encoder {
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
}

/// The model files sagasu needs, in a directory.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

impl Embedder {
    /// Loads a model directory. Every problem names the file: a broken model fails here,
    /// before anything is written.
    pub fn load(dir: &Path, id: &str, opts: &EmbedOptions) -> Result<Embedder> {
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
        let model_type = kind.model_type.unwrap_or_default();
        let model_max = kind.max_position_embeddings.unwrap_or(512);
        let max_tokens = opts.max_tokens.unwrap_or(512).clamp(8, model_max);

        let tok_path = dir.join("tokenizer.json");
        let tok_bytes = std::fs::read(&tok_path)
            .with_context(|| format!("cannot read {}", tok_path.display()))?;
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
        let vb = VarBuilder::from_tensors(read_weights(&weights, &device)?, DType::F32, &device);
        let tensor_error = |e: candle_core::Error| {
            anyhow!(
                "{}: {e} (tensor names or shapes do not match {})",
                weights.display(),
                config_path.display()
            )
        };
        let (encoder, dim) = match model_type.as_str() {
            "modernbert" => {
                let cfg: modernbert::Config =
                    serde_json::from_str(&config_text).with_context(|| {
                        format!("{}: not a ModernBERT config", config_path.display())
                    })?;
                let dim = cfg.hidden_size;
                (
                    Encoder::ModernBert(
                        modernbert::ModernBert::load(vb, &cfg, max_tokens).map_err(tensor_error)?,
                    ),
                    dim,
                )
            }
            "bert" | "xlm-roberta" => {
                if model_type == "xlm-roberta" {
                    bail!("{}: model_type xlm-roberta needs BertModel weight names; convert it or use a bert checkpoint", config_path.display());
                }
                let cfg: bert::Config = serde_json::from_str(&config_text)
                    .with_context(|| format!("{}: not a BERT config", config_path.display()))?;
                let dim = cfg.hidden_size;
                (
                    Encoder::Bert(bert::Bert::load(vb, &cfg, max_tokens).map_err(tensor_error)?),
                    dim,
                )
            }
            other => bail!(
                "{}: model_type {other:?} is not supported (supported: modernbert, bert)",
                config_path.display()
            ),
        };
        let (query_prefix, doc_prefix) = prefixes(dir, id)?;
        let info = ModelInfo {
            id: id.to_string(),
            fingerprint: fingerprint(&weights, &config_text, &tok_bytes)?,
            model_type,
            dim,
            query_prefix: opts.query_prefix.clone().unwrap_or(query_prefix),
            doc_prefix: opts.doc_prefix.clone().unwrap_or(doc_prefix),
            max_tokens,
        };
        Ok(Embedder {
            encoder,
            tokenizer,
            info,
            batch_tokens: opts.batch_tokens.max(max_tokens),
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
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); encodings.len()];
        let mut start = 0;
        while start < order.len() {
            // Longest in the batch is the last one (sorted): grow while padded size fits.
            let mut end = start + 1;
            while end < order.len() {
                let longest = encodings[order[end]].get_ids().len().max(1);
                if longest * (end + 1 - start) > self.batch_tokens {
                    break;
                }
                end += 1;
            }
            let batch: Vec<usize> = order[start..end].to_vec();
            let vectors = self.encode_ids(
                &batch
                    .iter()
                    .map(|&i| encodings[i].get_ids())
                    .collect::<Vec<_>>(),
            )?;
            for (i, v) in batch.into_iter().zip(vectors) {
                out[i] = v;
            }
            start = end;
        }
        Ok(out)
    }

    /// Runs the encoder on one batch of token ids and pools: the hot path, public for the
    /// speed benchmark.
    pub fn encode_ids(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        Ok(match &self.encoder {
            Encoder::ModernBert(m) => m.embed(ids)?,
            Encoder::Bert(m) => m.embed(ids)?,
        })
    }
}

/// (query, document) prefixes: the model's `config_sentence_transformers.json` prompts when
/// present, else the known family's, else none.
fn prefixes(dir: &Path, id: &str) -> Result<(String, String)> {
    let path = dir.join("config_sentence_transformers.json");
    if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        if let Some(prompts) = v.get("prompts").and_then(|p| p.as_object()) {
            let get = |k: &str| prompts.get(k).and_then(|x| x.as_str()).map(str::to_string);
            let q = get("query");
            let d = get("document").or_else(|| get("passage"));
            if q.is_some() || d.is_some() {
                return Ok((q.unwrap_or_default(), d.unwrap_or_default()));
            }
        }
    }
    let name = format!("{id} {}", dir.display()).to_lowercase();
    Ok(if name.contains("ruri") {
        ("検索クエリ: ".into(), "検索文書: ".into())
    } else if name.contains("e5") {
        ("query: ".into(), "passage: ".into())
    } else {
        (String::new(), String::new())
    })
}

/// Reads a safetensors file tensor by tensor. Memory-mapping it (candle's way) keeps every
/// page read resident until the load ends, beside the tensors copied out of it: twice the
/// model at the peak. Read this way, f32 weights are read once, into their tensors.
fn read_weights(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    use safetensors::tensor::TensorInfo;
    use std::io::{Read, Seek, SeekFrom};
    let bad = |what: String| anyhow!("{}: {what}", path.display());
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let file_len = f.metadata()?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > (100 << 20) || 8 + header_len > file_len {
        return Err(bad(format!(
            "not a safetensors file (header of {header_len} bytes)"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header)?;
    let mut entries: HashMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("unreadable safetensors header: {e}")))?;
    entries.remove("__metadata__");
    let data_start = 8 + header_len;
    let mut entries: Vec<(String, TensorInfo)> = entries
        .into_iter()
        .map(|(name, v)| {
            let entry = serde_json::from_value(v)
                .map_err(|e| bad(format!("tensor {name}: bad header entry: {e}")))?;
            Ok((name, entry))
        })
        .collect::<Result<_>>()?;
    entries.sort_by_key(|(_, e)| e.data_offsets.0);
    let mut tensors = HashMap::with_capacity(entries.len());
    for (name, e) in entries {
        let dtype = DType::try_from(e.dtype)
            .map_err(|err| bad(format!("tensor {name}: unsupported dtype ({err})")))?;
        let (begin, end) = (e.data_offsets.0 as u64, e.data_offsets.1 as u64);
        let expected = e.shape.iter().product::<usize>() * dtype.size_in_bytes();
        if begin > end || data_start + end > file_len || (end - begin) as usize != expected {
            return Err(bad(format!(
                "tensor {name}: data offsets {begin}..{end} do not fit its shape {:?} or the file",
                e.shape
            )));
        }
        f.seek(SeekFrom::Start(data_start + begin))?;
        let reading = || format!("{}: reading tensor {name}", path.display());
        let tensor = if dtype == DType::F32 && cfg!(target_endian = "little") {
            // Straight into the tensor's own buffer: no second copy of the largest table.
            let mut values = vec![0f32; expected / 4];
            // SAFETY: any bit pattern is a valid f32, and the byte view covers exactly `values`.
            let view = unsafe {
                std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), expected)
            };
            f.read_exact(view).with_context(reading)?;
            Tensor::from_vec(values, e.shape.as_slice(), device)
        } else {
            let mut bytes = vec![0u8; expected];
            f.read_exact(&mut bytes).with_context(reading)?;
            Tensor::from_raw_buffer(&bytes, dtype, &e.shape, device)
        }
        .map_err(|err| bad(format!("tensor {name}: {err}")))?;
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

/// What makes the vectors: the weights (size plus a hash of the safetensors header and the
/// first and last MiB of data: cheap for a 500 MB file, and changes whenever the weights do in
/// practice), the config (a layer count changes the model, not the weights file) and the
/// tokenizer. Any change re-embeds instead of mixing vectors of two models.
fn fingerprint(weights: &Path, config_text: &str, tokenizer: &[u8]) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(weights)
        .with_context(|| format!("cannot open {}", weights.display()))?;
    let len = f.metadata()?.len();
    let mut hasher = blake3::Hasher::new();
    hasher.update(&len.to_le_bytes());
    let mut buf = vec![0u8; (1 << 20).min(len as usize)];
    f.read_exact(&mut buf)?;
    hasher.update(&buf);
    if len > buf.len() as u64 {
        f.seek(SeekFrom::End(-(buf.len() as i64)))?;
        f.read_exact(&mut buf)?;
        hasher.update(&buf);
    }
    hasher.update(config_text.as_bytes());
    hasher.update(tokenizer);
    Ok(hasher.finalize().to_hex()[..32].to_string())
}
