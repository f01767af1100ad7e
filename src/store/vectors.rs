//! Reads and writes of the `vectors` table: one vector per distinct section text.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field};
use futures::TryStreamExt;
use lancedb::query::{ExecutableQuery, QueryBase, Select};

use super::codec::{col, string_col, ROW_ID};
use super::error::{LanceContext, Result, StoreError};
use super::schema::{columns, vectors_schema, VECTORS_TABLE, VECTOR_INDEX};
use super::sections::{collect, take_rows, text_hashes, FILTER_CHUNK};
use super::{Filter, Meta, Store, VectorMean};
use crate::hash::HashKey;

/// IVF partitions a vector search visits (of √rows). On cpp-docs-ja (89,279 vectors, 298
/// partitions, ruri-v3-30m shape) recall@10 against exact search was 0.970 at 64 without
/// re-ranking, against 0.950 at 32 with 4× re-ranking on full vectors, and 1.6 ms faster:
/// which partitions are visited matters more than the 8-bit codes' error.
pub const ANN_NPROBES: usize = 64;

/// Share of the vectors that may change before their mean is taken again: taking it reads
/// every vector, and one changed vector in a hundred hardly moves it. The mean is what vector
/// search corrects queries by (`search::vector::HUB_CORRECTION`).
pub const MEAN_STALE_SHARE: f64 = 0.01;

/// A text a vector search found: its hash, its cosine distance to the query and its row in
/// the vectors table (an address in the version searched).
#[derive(Debug, Clone, PartialEq)]
pub struct NearText {
    pub hash: String,
    pub distance: f32,
    pub row: u64,
}

/// Whether a vector search may use the ANN index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// The ANN index where there is one (the default).
    Indexed,
    /// Every vector compared: what the index is measured against.
    Exact,
}

/// What to do with the vectors already stored when a run prepares the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Same model: keep them and add what is missing.
    Keep,
    /// Another model made them: drop them (vectors of two models are never mixed).
    Drop,
}

impl Store {
    /// Makes the vectors table hold vectors of `dim` dimensions.
    pub async fn prepare_vectors(&mut self, dim: usize, existing: Existing) -> Result<()> {
        if existing == Existing::Drop {
            self.drop_vectors().await?;
        }
        if self.vectors.is_none() {
            let created = self
                .conn
                .create_empty_table(VECTORS_TABLE, vectors_schema(dim))
                .execute()
                .await
                .doing("creating the vectors table");
            let t = match created {
                Ok(t) => t,
                // Another process (a `--shard` run on another host) created it first.
                Err(e) => match self.conn.open_table(VECTORS_TABLE).execute().await {
                    Ok(t) => t,
                    Err(_) => return Err(e),
                },
            };
            self.vectors = Some(t);
            self.commits += 1;
        }
        Ok(())
    }

    /// Drops the vectors table, if there is one: every text is embedded again.
    pub async fn drop_vectors(&mut self) -> Result<()> {
        if self.vectors.take().is_some() {
            self.conn
                .drop_table(VECTORS_TABLE, &[])
                .await
                .doing("dropping the vectors table")?;
            self.commits += 1;
        }
        Ok(())
    }

    /// Hashes of every text that has a vector.
    pub async fn vector_hashes(&self) -> Result<HashSet<HashKey>> {
        match &self.vectors {
            Some(t) => text_hashes(t, None).await,
            None => Ok(HashSet::new()),
        }
    }

    /// Appends vectors in one commit.
    pub async fn add_vectors(&mut self, hashes: &[String], vectors: &[Vec<f32>]) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        let dim = vectors.first().map(Vec::len).unwrap_or(0);
        let table = self.vectors()?;
        let flat: Vec<f32> = vectors.iter().flat_map(|v| v.iter().copied()).collect();
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let bad = |e: arrow_schema::ArrowError| StoreError::Codec {
            doing: "building a batch of vectors".into(),
            message: e.to_string(),
        };
        let list =
            FixedSizeListArray::try_new(item, dim as i32, Arc::new(Float32Array::from(flat)), None)
                .map_err(bad)?;
        let batch = RecordBatch::try_new(
            vectors_schema(dim),
            vec![
                Arc::new(StringArray::from_iter_values(hashes)),
                Arc::new(list),
            ],
        )
        .map_err(bad)?;
        table.add(batch).execute().await.doing("writing vectors")?;
        self.commits += 1;
        Ok(())
    }

    /// Deletes the vectors of texts no section has any more, in commits of [`FILTER_CHUNK`].
    pub async fn delete_vectors(&mut self, keys: &[HashKey]) -> Result<()> {
        let Some(t) = &self.vectors else {
            return Ok(());
        };
        for chunk in keys.chunks(FILTER_CHUNK) {
            let filter = Filter::TextHashes(chunk.to_vec()).expr();
            t.delete(&filter).await.doing("deleting stale vectors")?;
            self.commits += 1;
        }
        Ok(())
    }

    /// Nearest texts to `query` by cosine distance: (text_hash, distance), best first.
    /// `filter`: on the vectors table, so only [`Filter::TextHashes`] applies.
    pub async fn search_vectors(
        &self,
        query: &[f32],
        limit: usize,
        filter: Option<&Filter>,
        search: Search,
    ) -> Result<Vec<(String, f32)>> {
        let found = self
            .search_vector_rows(query, limit, filter, search)
            .await?;
        Ok(found.into_iter().map(|t| (t.hash, t.distance)).collect())
    }

    /// [`Store::search_vectors`] with each text's row, for [`Store::vectors_at`].
    pub async fn search_vector_rows(
        &self,
        query: &[f32],
        limit: usize,
        filter: Option<&Filter>,
        search: Search,
    ) -> Result<Vec<NearText>> {
        let doing = "running the vector query";
        let mut q = self
            .vectors()?
            .query()
            .nearest_to(query)
            .doing(doing)?
            .distance_type(lancedb::DistanceType::Cosine)
            .nprobes(ANN_NPROBES)
            .doing(doing)?
            .select(Select::columns(&[columns::TEXT_HASH]))
            .with_row_id()
            .limit(limit);
        if search == Search::Exact {
            q = q.bypass_vector_index();
        }
        if let Some(f) = filter {
            q = q.only_if_expr(f.expr());
        }
        let mut out = Vec::new();
        for b in &collect(q, doing).await? {
            let h = string_col(b, columns::TEXT_HASH)?;
            let d = col::<Float32Array>(b, "_distance")?;
            let row = col::<UInt64Array>(b, ROW_ID)?;
            out.extend((0..b.num_rows()).map(|i| NearText {
                hash: h.value(i).to_string(),
                distance: d.value(i),
                row: row.value(i),
            }));
        }
        out.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        Ok(out)
    }

    /// The vectors of these rows of the vectors table ([`NearText::row`]), in the order
    /// asked: one take of just those rows, where a lookup by hash scans the hash column (200
    /// of 102,970 vectors: 23–28 ms more per filtered hybrid query). [`StoreError::Vanished`]
    /// when a compaction since the search moved them (the engine then searches again on a
    /// fresh store).
    pub async fn vectors_at(&self, rows: &[u64]) -> Result<Vec<Vec<f32>>> {
        let doing = "reading the found texts' vectors";
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let batch = take_rows(self.vectors()?, rows, &[columns::VECTOR], doing).await?;
        let list = col::<FixedSizeListArray>(&batch, columns::VECTOR)?;
        (0..list.len())
            .map(|i| Ok(f32_row(&list.value(i), doing)?.to_vec()))
            .collect()
    }

    /// Takes the mean of the vectors again, into `meta`, when it has none, when more than
    /// [`MEAN_STALE_SHARE`] of them were written or deleted since (`changed`: this run's), or
    /// when the table's rows differ from those it was taken over by as much (`--shard` runs
    /// appended theirs: `optimize` after them takes it over all). Returns whether it did.
    pub async fn refresh_vector_mean(&self, meta: &mut Meta, changed: u64) -> Result<bool> {
        let rows = self.vector_count().await?;
        let stale = match &mut meta.vector_mean {
            Some(m) => {
                m.changed += changed;
                let allowed = m.rows as f64 * MEAN_STALE_SHARE;
                m.changed as f64 > allowed || m.rows.abs_diff(rows) as f64 > allowed
            }
            None => rows > 0,
        };
        if stale {
            meta.vector_mean = self.mean_vector().await?.map(|(values, rows)| VectorMean {
                values,
                rows,
                changed: 0,
            });
        }
        Ok(stale)
    }

    /// The mean of every stored vector and how many there are; `None` when there are none.
    /// One streamed scan of the vector column (24,514 vectors of 384 dims: ~0.2 s), summed
    /// in f64 so that the order of the rows does not show in the f32 result.
    pub async fn mean_vector(&self) -> Result<Option<(Vec<f32>, u64)>> {
        let doing = "reading every vector for their mean";
        let Some(t) = &self.vectors else {
            return Ok(None);
        };
        let q = t.query().select(Select::columns(&[columns::VECTOR]));
        let mut stream = q.execute().await.doing(doing)?;
        let (mut sum, mut rows) = (Vec::<f64>::new(), 0u64);
        while let Some(batch) = stream.try_next().await.doing(doing)? {
            let list = col::<FixedSizeListArray>(&batch, columns::VECTOR)?;
            sum.resize(list.value_length() as usize, 0.0);
            for i in 0..list.len() {
                for (s, v) in sum.iter_mut().zip(f32_row(&list.value(i), doing)?) {
                    *s += f64::from(*v);
                }
            }
            rows += batch.num_rows() as u64;
        }
        if rows == 0 {
            return Ok(None);
        }
        let mean = sum.iter().map(|s| (s / rows as f64) as f32).collect();
        Ok(Some((mean, rows)))
    }

    /// Calls `visit` with the hash, row ([`NearText::row`]) and vector of each of these
    /// texts, in any order: a scan of the hash column under an `IN` list that reads only the
    /// matching rows' vectors ([`FILTER_CHUNK`] hashes a query), none of them copied.
    pub async fn visit_vectors_of(
        &self,
        keys: &[HashKey],
        mut visit: impl FnMut(&str, u64, &[f32]),
    ) -> Result<()> {
        let doing = "reading the vectors of texts";
        let Some(t) = &self.vectors else {
            return Ok(());
        };
        for chunk in keys.chunks(FILTER_CHUNK) {
            let q = t
                .query()
                .only_if_expr(Filter::TextHashes(chunk.to_vec()).expr())
                .select(Select::columns(&[columns::TEXT_HASH, columns::VECTOR]))
                .with_row_id();
            for batch in collect(q, doing).await? {
                let h = string_col(&batch, columns::TEXT_HASH)?;
                let row = col::<UInt64Array>(&batch, ROW_ID)?;
                let list = col::<FixedSizeListArray>(&batch, columns::VECTOR)?;
                for i in 0..list.len() {
                    visit(h.value(i), row.value(i), f32_row(&list.value(i), doing)?);
                }
            }
        }
        Ok(())
    }

    /// Rows the vector index covers; `None` when there is no vector index.
    pub async fn vector_index_rows(&self) -> Result<Option<u64>> {
        let Some(t) = &self.vectors else {
            return Ok(None);
        };
        let stats = t
            .index_stats(VECTOR_INDEX)
            .await
            .doing("reading vector index stats")?;
        Ok(stats.map(|s| s.num_indexed_rows as u64))
    }

    /// Vectors stored, for `stats`.
    pub async fn vector_count(&self) -> Result<u64> {
        match &self.vectors {
            Some(t) => Ok(t.count_rows(None).await.doing("counting vectors")? as u64),
            None => Ok(0),
        }
    }
}

/// One row of a vector column as f32 values.
fn f32_row<'a>(row: &'a ArrayRef, doing: &str) -> Result<&'a [f32]> {
    row.as_any()
        .downcast_ref::<Float32Array>()
        .map(|a| a.values().as_ref())
        .ok_or_else(|| StoreError::Codec {
            doing: doing.into(),
            message: format!("vectors of {:?}, not f32", row.data_type()),
        })
}
