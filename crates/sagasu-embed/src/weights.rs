//! Reading a model's weights and fingerprinting what makes its vectors.
//!
//! One of the two modules of this crate allowed `unsafe` code: none is left here since the
//! byte view of the f32 buffer is `bytemuck`'s.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use candle_core::{DType, Device, Tensor};

/// Reads a safetensors file tensor by tensor. Memory-mapping it (candle's way) keeps every
/// page read resident until the load ends, beside the tensors copied out of it: twice the
/// model at the peak. Read this way, f32 weights are read once, into their tensors.
/// Every error names the file (and the tensor, where there is one).
pub fn read_weights(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    use safetensors::tensor::TensorInfo;
    let bad = |what: String| anyhow!("{}: {what}", path.display());
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let file_len = f
        .metadata()
        .with_context(|| format!("cannot read the size of {}", path.display()))?
        .len();
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
    f.read_exact(&mut header)
        .map_err(|e| bad(format!("cannot read the safetensors header ({e})")))?;
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
        let reading = || format!("{}: reading tensor {name}", path.display());
        f.seek(SeekFrom::Start(data_start + begin))
            .with_context(reading)?;
        let tensor = if dtype == DType::F32 && cfg!(target_endian = "little") {
            // Straight into the tensor's own buffer: no second copy of the largest table.
            let mut values = vec![0f32; expected / 4];
            f.read_exact(bytemuck::cast_slice_mut::<f32, u8>(&mut values))
                .with_context(reading)?;
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
pub fn fingerprint(weights: &Path, config_text: &str, tokenizer: &[u8]) -> Result<String> {
    let reading = || format!("cannot read {} to fingerprint it", weights.display());
    let mut f = std::fs::File::open(weights).with_context(reading)?;
    let len = f.metadata().with_context(reading)?.len();
    let mut hasher = blake3::Hasher::new();
    hasher.update(&len.to_le_bytes());
    let mut buf = vec![0u8; (1 << 20).min(len as usize)];
    f.read_exact(&mut buf).with_context(reading)?;
    hasher.update(&buf);
    if len > buf.len() as u64 {
        f.seek(SeekFrom::End(-(buf.len() as i64)))
            .with_context(reading)?;
        f.read_exact(&mut buf).with_context(reading)?;
        hasher.update(&buf);
    }
    hasher.update(config_text.as_bytes());
    hasher.update(tokenizer);
    Ok(hasher.finalize().to_hex()[..32].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_file_names_the_file_and_the_tensor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.safetensors");
        let t = Tensor::from_vec(vec![1f32, 2., 3., 4.], (2, 2), &Device::Cpu).expect("tensor");
        let mut map = HashMap::new();
        map.insert("w".to_string(), t);
        candle_core::safetensors::save(&map, &path).expect("save");
        let full = std::fs::read(&path).expect("read");
        let back = read_weights(&path, &Device::Cpu).expect("whole file reads");
        assert_eq!(
            back["w"]
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .expect("values"),
            [1., 2., 3., 4.]
        );
        std::fs::write(&path, &full[..full.len() - 3]).expect("truncate");
        let err = format!(
            "{:#}",
            read_weights(&path, &Device::Cpu).expect_err("truncated")
        );
        assert!(
            err.contains("model.safetensors") && err.contains("tensor w"),
            "{err}"
        );
        std::fs::write(&path, b"abc").expect("garbage");
        let err = format!(
            "{:#}",
            read_weights(&path, &Device::Cpu).expect_err("garbage")
        );
        assert!(err.contains("not a safetensors file"), "{err}");
    }
}
