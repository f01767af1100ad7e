//! The embed stage of a run: after the sections are written, every distinct section text
//! without a vector is embedded once and committed in bulk; vectors of texts no section has
//! any more are deleted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use futures::TryStreamExt;
use sagasu_embed::resolve::{how_to_get_model, resolve};
use sagasu_embed::Embedder;
use tokio::runtime::Handle;

use super::options::{no_model_recorded, ModelChoice, Shard, TEXTS_PER_CALL, VECTORS_PER_COMMIT};
use crate::hash::{hash_key, HashKey};
use crate::progress::Progress;
use crate::store::vectors::Existing;
use crate::store::{Filter, Meta, SectionText, Store};

/// A loaded model and the directory it was loaded from.
pub struct LoadedModel {
    pub embedder: Embedder,
    pub dir: PathBuf,
}

/// Resolves and loads the model. `Ok(None)`: no model to be had (not broken, just absent):
/// the run goes on keyword-only after saying how to get one.
pub fn load_model(
    choice: &ModelChoice,
    runtime: &Handle,
    progress: &Progress,
) -> Result<Option<LoadedModel>> {
    let dir = match resolve(&choice.model, choice.download, runtime) {
        Ok(dir) => dir,
        Err(e) if !Path::new(&choice.model).exists() => {
            progress.warn(&how_to_get_model(&choice.model, &format!("{e:#}")));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let embedder = Embedder::load(&dir, &choice.id, &choice.load)?;
    // Recorded in sagasu.json for `search`, which may run from any directory.
    let dir = dir.canonicalize().unwrap_or(dir);
    Ok(Some(LoadedModel { embedder, dir }))
}

/// Up to this many texts without a vector are read by hash; more, by one scan of every
/// section (a watch run that changed one file reads one text, not the whole table).
const READ_MISSING_BY_HASH: usize = 4096;

/// Makes the vectors table match the sections: records the model in `meta` (a changed model
/// starts the table afresh), embeds what lacks a vector, deletes orphans. Returns the
/// vectors written.
///
/// With a `shard`, only that share of the missing texts is embedded, and nothing is deleted
/// or maintained: other shares are being appended by other processes at the same time
/// (appends of disjoint texts never conflict). `writer`: this process holds the writer lock
/// and records the model; a shard without it must find the model recorded, and the same.
pub async fn embed_missing(
    store: &mut Store,
    meta: &mut Meta,
    model: &LoadedModel,
    shard: Option<Shard>,
    writer: bool,
    progress: &Progress,
) -> Result<u64> {
    let info = model.embedder.info().clone();
    let reset = meta.model.as_ref().is_some_and(|m| m.key() != info.key());
    if !writer {
        match &meta.model {
            None => return Err(no_model_recorded(store.location())),
            Some(m) if reset => bail!(
                "the index's vectors are made by {} ({} dims); this run's model is {} ({} dims): give the same --model",
                m.id,
                m.dim,
                info.id,
                info.dim
            ),
            Some(_) => {}
        }
    }
    if reset {
        progress.warn(&format!(
            "the model changed ({}): re-embedding every section",
            info.id
        ));
    }
    let existing = if reset {
        Existing::Drop
    } else {
        Existing::Keep
    };
    store.prepare_vectors(info.dim, existing).await?;
    if writer {
        if reset {
            meta.vector_mean = None;
        }
        meta.model = Some(info);
        meta.model_dir = Some(model.dir.clone());
        store.write_meta(meta).await?;
    }
    // Keys only (16 bytes each): which texts exist, which have a vector.
    let sections = store.section_hashes(None).await?;
    let have = store.vector_hashes().await?;
    let orphans: Vec<HashKey> = have.difference(&sections).copied().collect();
    let written = fill_vectors(store, &model.embedder, progress, &sections, have, shard).await?;
    drop(sections);
    let mut deleted = 0;
    if shard.is_none() {
        store.delete_vectors(&orphans).await?;
        deleted = orphans.len() as u64;
        if store.commits() > 0 {
            store.maintain_vectors().await?;
        }
    }
    if writer {
        store.refresh_vector_mean(meta, written + deleted).await?;
    }
    Ok(written)
}

/// Embeds every section text that has no vector yet, once per distinct text, committing
/// every [`VECTORS_PER_COMMIT`] vectors: a killed run resumes where its last commit ended.
/// `sections`: the distinct text hashes of the sections; `have`: those with a vector.
async fn fill_vectors(
    store: &mut Store,
    embedder: &Embedder,
    progress: &Progress,
    sections: &HashSet<HashKey>,
    mut have: HashSet<HashKey>,
    shard: Option<Shard>,
) -> Result<u64> {
    let ours = |k: HashKey| shard.is_none_or(|s| s.owns(k));
    let mut missing: Vec<HashKey> = Vec::new();
    for k in sections {
        if !have.contains(k) && ours(*k) {
            missing.push(*k);
            if missing.len() > READ_MISSING_BY_HASH {
                break;
            }
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    let filters: Vec<Option<Filter>> = if missing.len() <= READ_MISSING_BY_HASH {
        missing
            .chunks(crate::store::sections::FILTER_CHUNK)
            .map(|chunk| Some(Filter::TextHashes(chunk.to_vec())))
            .collect()
    } else {
        vec![None]
    };
    drop(missing);
    let mut out = VectorBatch {
        store,
        embedder,
        progress,
        todo: Vec::new(),
        hashes: Vec::new(),
        vectors: Vec::new(),
        written: 0,
        started: Instant::now(),
    };
    for filter in &filters {
        // Texts are copied out whether or not they are embedded: the copy costs nothing
        // beside the embedding of the ones that are.
        let mut stream = out.store.section_texts(filter.as_ref()).await?;
        while let Some(texts) = stream.try_next().await? {
            for SectionText { hash, text } in texts {
                let key = hash_key(&hash);
                if ours(key) && have.insert(key) {
                    out.todo.push((hash, text));
                }
            }
            out.embed(false).await?;
        }
    }
    out.embed(true).await?;
    out.commit().await?;
    Ok(out.written)
}

/// Texts waiting to be embedded and vectors waiting to be committed.
struct VectorBatch<'a> {
    store: &'a mut Store,
    embedder: &'a Embedder,
    progress: &'a Progress,
    todo: Vec<(String, String)>,
    hashes: Vec<String>,
    vectors: Vec<Vec<f32>>,
    written: u64,
    started: Instant,
}

impl VectorBatch<'_> {
    /// Embeds `todo` in calls of [`TEXTS_PER_CALL`] (all of it when `all`), committing every
    /// [`VECTORS_PER_COMMIT`] vectors.
    async fn embed(&mut self, all: bool) -> Result<()> {
        while self.todo.len() >= TEXTS_PER_CALL || (all && !self.todo.is_empty()) {
            let n = self.todo.len().min(TEXTS_PER_CALL);
            let chunk: Vec<(String, String)> = self.todo.drain(..n).collect();
            let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
            let vectors = self.embedder.embed_documents(&texts)?;
            self.hashes.extend(chunk.into_iter().map(|(h, _)| h));
            self.vectors.extend(vectors);
            let total = self.written as usize + self.hashes.len();
            let rate = total as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            self.progress
                .set_message(&format!("embedding: {total} vectors ({rate:.0}/s)"));
            if self.hashes.len() >= VECTORS_PER_COMMIT {
                self.commit().await?;
            }
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        self.store.add_vectors(&self.hashes, &self.vectors).await?;
        self.written += self.hashes.len() as u64;
        self.hashes.clear();
        self.vectors.clear();
        Ok(())
    }
}
