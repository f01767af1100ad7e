//! Keeping the tables fast after writes: compaction when fragments pile up, the full-text
//! index brought up to date (folded in as segments, rebuilt past a bound), the text-hash and
//! vector indexes, and pruning of old versions. Also the numbers `stats` reports.

use lance::dataset::cleanup::CleanupPolicy;
use lancedb::index::scalar::FtsIndexBuilder;
use lancedb::index::Index;
use lancedb::query::{QueryBase, Select};
use lancedb::table::{CompactionOptions, OptimizeAction, OptimizeOptions};
use lancedb::Table;
use serde::Serialize;

use super::codec::string_col;
use super::error::{LanceContext, Result};
use super::schema::{
    columns, COLLECTION_INDEX, FTS_INDEX, HASH_INDEX, PAGE_INDEX, PAIRS_INDEX, VECTOR_INDEX,
};
use super::sections::{collect, dataset_of, Match};
use super::{Filter, Store};
use crate::ingest::terms::INDEX_TOKENIZER;

/// Sections left outside the full-text index (searched flat) before a run folds them in.
pub const UNINDEXED_TEXT_MAX: usize = 20_000;
/// Vectors left outside the ANN index (searched exactly) before a run folds them in.
pub const UNINDEXED_VECTORS_MAX: usize = 5_000;
/// Full-text index segments (one per fold-in) before the next fold-in rebuilds it whole.
pub const TEXT_SEGMENTS_MAX: usize = 8;
/// Above this many fragments a run compacts, which keeps a table at ≤ [`MAX_FRAGMENTS`].
pub const COMPACT_ABOVE_FRAGMENTS: usize = 8;
/// The most fragments a maintained table has; `stats` warns above it.
pub const MAX_FRAGMENTS: u64 = 2 * COMPACT_ABOVE_FRAGMENTS as u64;
/// The most versions past [`SUPERSEDED_GRACE`] a maintained table keeps (every run prunes
/// them); `stats` warns above it.
pub const MAX_VERSIONS: u64 = 5;

/// When the full-text index is brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextIndexRefresh {
    /// Fold rows in once more than this many are outside the index (build it if missing).
    FoldInAbove(usize),
    /// Build it again whole.
    Rebuild,
}

/// How much maintenance to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenance {
    /// After a run: only what the bounds above call for; nothing when nothing changed.
    AfterRun,
    /// `sagasu optimize`: compact and rebuild the full-text index whatever the state.
    Full,
}

/// How long a version stays readable after a newer one supersedes it. A reader opens the
/// latest version and reads its files until the query ends: pruning a version the moment it
/// is superseded made a search racing a `watch` run fail on a vanished deletion file (issue
/// 24). 10 s is ~10 times the slowest search measured (a reranked search, or a one-shot
/// search on object storage over a 20 ms round trip, ~1 s) and is counted from when the
/// version was superseded, not when it was written: nothing, not a long-lived `serve`, keeps
/// a version longer. Chosen by `bench/grace.sh`: what is kept grows with the grace (400
/// watch-sized runs on 2,000 files: 24.7 MiB with none, 356 MiB with 60 s, most of it the
/// compactions of the last minute). A reader that holds a version past it (an `eval` over
/// many queries, a `serve --refresh` longer than it) gets a vanished-file error, which the
/// engine answers by opening the latest version ([`crate::store::StoreError::is_retryable`]).
pub const SUPERSEDED_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Among versions committed at `timestamps` (in version order), the position of the oldest
/// to keep at `now`: every version superseded less than `grace` ago, and the latest. The
/// versions before it are what a prune removes.
pub fn keep_from(
    timestamps: &[chrono::DateTime<chrono::Utc>],
    now: chrono::DateTime<chrono::Utc>,
    grace: std::time::Duration,
) -> usize {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let horizon = now - grace;
    // Version i was superseded when version i + 1 was committed.
    (0..timestamps.len())
        .find(|&i| timestamps.get(i + 1).is_none_or(|next| *next > horizon))
        .unwrap_or(0)
}

/// A table's versions, oldest first: (version, commit time).
async fn versions(table: &Table, doing: &str) -> Result<Vec<(u64, chrono::DateTime<chrono::Utc>)>> {
    let mut listed: Vec<_> = table
        .list_versions()
        .await
        .doing(doing)?
        .into_iter()
        .map(|v| (v.version, v.timestamp))
        .collect();
    listed.sort_unstable();
    Ok(listed)
}

/// Prunes every version superseded more than `grace` ago ([`SUPERSEDED_GRACE`] unless
/// configured; the latest is always kept). `unverified`: also delete files no version refers to (what a killed run wrote).
/// Only where one writer writes: in the vectors table, the data files of another process's
/// append not yet committed look the same (`--shard` runs on other hosts), and Lance then
/// leaves such files for a week.
async fn prune(
    table: &Table,
    unverified: bool,
    grace: std::time::Duration,
    doing: &str,
) -> Result<()> {
    let listed = versions(table, doing).await?;
    let timestamps: Vec<_> = listed.iter().map(|(_, t)| *t).collect();
    let first_kept = keep_from(&timestamps, chrono::Utc::now(), grace);
    if first_kept == 0 {
        return Ok(()); // nothing is old enough
    }
    // By version number, not by a time cut-off: Lance would measure one from its own clock,
    // a little later than ours, and could take the oldest version to keep.
    let policy = CleanupPolicy {
        before_version: Some(listed[first_kept].0),
        delete_unverified: unverified,
        error_if_tagged_old_versions: false,
        ..CleanupPolicy::default()
    };
    dataset_of(table, doing)
        .await?
        .cleanup_with_policy(policy)
        .await
        .doing(doing)?;
    Ok(())
}

impl Store {
    /// Compacts when there are too many fragments, makes the full-text index cover every row,
    /// drops old versions. Cheap when nothing needs doing, so a no-op run commits nothing.
    pub async fn maintain(&mut self, how: Maintenance) -> Result<()> {
        self.check_writer().await?;
        let table = self.sections()?.clone();
        let fragments = table
            .stats()
            .await
            .doing("reading table stats")?
            .fragment_stats
            .num_fragments;
        if how == Maintenance::Full || fragments > COMPACT_ABOVE_FRAGMENTS {
            self.compact(&table).await?;
        }
        let refresh = match how {
            Maintenance::AfterRun => TextIndexRefresh::FoldInAbove(UNINDEXED_TEXT_MAX),
            Maintenance::Full => TextIndexRefresh::Rebuild,
        };
        self.refresh_text_index(refresh).await?;
        self.check_text_index().await?;
        self.ensure_hash_index().await?;
        self.commits +=
            refresh_filter_indexes(&table, how, self.options.filter_index_min_rows).await?;
        // Every run, even one that changed nothing: versions that have outlived the grace
        // since the last run go now (a prune makes no version; it is a no-op when none has).
        let grace = self.options.keep_superseded;
        prune(&table, true, grace, "pruning old versions").await?;
        Ok(())
    }

    async fn compact(&self, table: &Table) -> Result<()> {
        let options = CompactionOptions {
            num_threads: Some(self.options.budget.threads),
            ..Default::default()
        };
        table
            .optimize(OptimizeAction::Compact {
                options,
                remap_options: None,
            })
            .await
            .doing(&format!("compacting the {} table", table.name()))?;
        Ok(())
    }

    /// Builds the full-text index, or folds the rows it lacks into it as a new segment once
    /// there are more than a bound of them (after a run: [`UNINDEXED_TEXT_MAX`]). Rows outside
    /// the index are still found (LanceDB searches them flat), so a run that changed a few
    /// files leaves them until there are enough. A fold-in tokenizes only the new rows;
    /// LanceDB's default merges them with every old segment, loaded into memory, so its memory
    /// would follow the corpus. With [`TEXT_SEGMENTS_MAX`] segments, or when asked to
    /// rebuild, the index is built again whole. Returns whether it committed.
    pub async fn refresh_text_index(&mut self, how: TextIndexRefresh) -> Result<bool> {
        let table = self.sections()?.clone();
        if table.count_rows(None).await.doing("counting rows")? == 0 {
            return Ok(false);
        }
        let stats = table
            .index_stats(FTS_INDEX)
            .await
            .doing("reading index stats")?;
        let fold_in = match (how, stats) {
            (TextIndexRefresh::Rebuild, _) | (_, None) => false,
            (TextIndexRefresh::FoldInAbove(max), Some(s)) if s.num_unindexed_rows <= max => {
                return Ok(false)
            }
            (_, Some(s)) => (s.num_indices.unwrap_or(1) as usize) < TEXT_SEGMENTS_MAX,
        };
        if fold_in {
            let mut options = OptimizeOptions::append();
            options.index_names = Some(vec![FTS_INDEX.to_string()]);
            table
                .optimize(OptimizeAction::Index(options))
                .await
                .doing("updating the full-text index")?;
        } else {
            // The terms are analysed already (ingest::terms): the index only splits them.
            let params = FtsIndexBuilder::default()
                .base_tokenizer(INDEX_TOKENIZER.to_string())
                .max_token_length(None)
                .lower_case(false)
                .stem(false)
                .remove_stop_words(false)
                .ascii_folding(false)
                .num_workers(self.options.budget.threads.max(1))
                .memory_limit_mb(self.options.budget.index_memory_mib);
            table
                .create_index(&[columns::TERMS], Index::FTS(params))
                .name(FTS_INDEX.to_string())
                .replace(true)
                .execute()
                .await
                .doing("building the full-text index")?;
        }
        self.commits += 1;
        Ok(true)
    }

    /// Runs a full-text query for a term the index holds; if the index cannot answer it (its
    /// files damaged), builds it again. Returns whether it did.
    async fn check_text_index(&mut self) -> Result<bool> {
        let table = self.sections()?.clone();
        if table
            .index_stats(FTS_INDEX)
            .await
            .doing("reading index stats")?
            .is_none()
        {
            return Ok(false);
        }
        let probe = self.first_terms().await?;
        let Some(term) = probe.split_whitespace().next().map(str::to_string) else {
            return Ok(false);
        };
        let Err(e) = self.search_text(term, Match::AnyWord, None, 1).await else {
            return Ok(false);
        };
        self.refresh_text_index(TextIndexRefresh::Rebuild).await?;
        self.repairs.push(format!(
            "{}: the full-text index was built again",
            e.chain()
        ));
        Ok(true)
    }

    /// The text-hash index on sections, when there are vectors to join back to them and it is
    /// missing: a sections table made again (an upgrade, a repair) by a run that loaded no
    /// model still gets it, or every vector search would scan the hashes (hybrid p50 34 → 49
    /// ms on `bench/hybrid_latency.sh`'s index).
    async fn ensure_hash_index(&mut self) -> Result<()> {
        if self.vectors.is_none() {
            return Ok(());
        }
        let sections = self.sections()?.clone();
        if sections
            .index_stats(HASH_INDEX)
            .await
            .doing("reading index stats")?
            .is_none()
            && sections.count_rows(None).await.doing("counting rows")? > 0
        {
            sections
                .create_index(&[columns::TEXT_HASH], Index::BTree(Default::default()))
                .name(HASH_INDEX.to_string())
                .replace(true)
                .execute()
                .await
                .doing("building the text hash index")?;
            self.commits += 1;
        }
        Ok(())
    }

    /// After vectors were written: the text-hash index on sections (vector hits are joined
    /// back to sections by it), compaction of the vectors table, and an ANN index once there
    /// are enough vectors for it to pay off (exact search below that), folding new vectors
    /// into it in bulk.
    pub async fn maintain_vectors(&mut self) -> Result<()> {
        let Some(t) = self.vectors.clone() else {
            return Ok(());
        };
        self.ensure_hash_index().await?;
        let rows = t.count_rows(None).await.doing("counting vectors")?;
        let fragments = t
            .stats()
            .await
            .doing("reading vector stats")?
            .fragment_stats
            .num_fragments;
        if fragments > COMPACT_ABOVE_FRAGMENTS {
            self.compact(&t).await?;
        }
        if rows >= self.options.ann_min_rows {
            match t
                .index_stats(VECTOR_INDEX)
                .await
                .doing("reading vector index stats")?
            {
                None => {
                    let partitions = ((rows as f64).sqrt() as u32).clamp(16, 1024);
                    let builder = lancedb::index::vector::IvfSqIndexBuilder::default()
                        .distance_type(lancedb::DistanceType::Cosine)
                        .num_partitions(partitions);
                    t.create_index(&[columns::VECTOR], Index::IvfSq(builder))
                        .name(VECTOR_INDEX.to_string())
                        .replace(true)
                        .execute()
                        .await
                        .doing("building the vector index")?;
                }
                // New vectors are searched exactly until there are enough of them to be worth
                // folding into the index: a watch run that adds one vector stays cheap.
                Some(s) if s.num_unindexed_rows > UNINDEXED_VECTORS_MAX => {
                    t.optimize(OptimizeAction::Index(OptimizeOptions::default()))
                        .await
                        .doing("updating the vector index")?;
                }
                Some(_) => {}
            }
        }
        let grace = self.options.keep_superseded;
        prune(&t, false, grace, "pruning old vector versions").await?;
        Ok(())
    }

    /// Numbers for `stats`.
    pub async fn table_stats(&self) -> Result<TableStats> {
        let Some(table) = &self.sections else {
            return Ok(TableStats::default());
        };
        let stats = table.stats().await.doing("reading table stats")?;
        let sections = table.count_rows(None).await.doing("counting rows")? as u64;
        let first = Filter::FirstSections.sql().doing("counting documents")?;
        let documents = table
            .count_rows(Some(first))
            .await
            .doing("counting documents")? as u64;
        // Versions are few (every run prunes), so listing them is cheap here; never on a hot path.
        let timestamps: Vec<_> = versions(table, "listing versions")
            .await?
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let mut indexes = Vec::new();
        for index in table.list_indices().await.doing("listing indexes")? {
            let s = table
                .index_stats(&index.name)
                .await
                .doing("reading index stats")?;
            indexes.push(IndexInfo {
                name: index.name.clone(),
                columns: index.columns.clone(),
                index_type: format!("{:?}", index.index_type),
                indexed_rows: s.as_ref().map(|s| s.num_indexed_rows as u64),
                unindexed_rows: s.as_ref().map(|s| s.num_unindexed_rows as u64),
                segments: s.as_ref().and_then(|s| s.num_indices).map(u64::from),
            });
        }
        Ok(TableStats {
            documents,
            sections,
            fragments: stats.fragment_stats.num_fragments as u64,
            versions: timestamps.len() as u64,
            prunable_versions: keep_from(
                &timestamps,
                chrono::Utc::now(),
                self.options.keep_superseded,
            ) as u64,
            indexes,
        })
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableStats {
    pub documents: u64,
    pub sections: u64,
    pub fragments: u64,
    pub versions: u64,
    /// Versions superseded longer ago than the grace, which the next run prunes.
    pub prunable_versions: u64,
    pub indexes: Vec<IndexInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexInfo {
    pub name: String,
    pub columns: Vec<String>,
    pub index_type: String,
    pub indexed_rows: Option<u64>,
    pub unindexed_rows: Option<u64>,
    /// Parts the index is stored in (a full-text fold-in adds one).
    pub segments: Option<u64>,
}

/// The scalar indexes filters use (a bitmap on `collection` once the table holds several,
/// a B-tree on `page` that restricts a search to the pages a condition selected): built when
/// missing and the table has [`super::StoreOptions::filter_index_min_rows`] rows, and new
/// rows folded in once more than [`UNINDEXED_TEXT_MAX`] are outside them (LanceDB scans
/// those meanwhile), or always with [`Maintenance::Full`]. Each is a commit and a share of
/// the run's time, so none is built that no search needs: with one collection, `-c` names
/// all of it or none and is no filter at all (`Engine::search`). Front-matter conditions
/// have no index: the label list on `fm_pairs` made a keyword index of cpp-docs-ja 7 %
/// slower to build, and a reader keeps what a condition selected for the version
/// (`Store::pages`), so its scan is paid once, not per search. An earlier build's label
/// list is dropped.
async fn refresh_filter_indexes(table: &Table, how: Maintenance, min_rows: usize) -> Result<u64> {
    let mut commits = 0;
    let rows = table.count_rows(None).await.doing("counting rows")?;
    let doing = format!("dropping the {PAIRS_INDEX} index");
    if table
        .index_stats(PAIRS_INDEX)
        .await
        .doing(&doing)?
        .is_some()
    {
        table.drop_index(PAIRS_INDEX).await.doing(&doing)?;
        commits += 1;
    }
    for (name, column) in [
        (COLLECTION_INDEX, columns::COLLECTION),
        (PAGE_INDEX, columns::PAGE),
    ] {
        let doing = format!("building the {name} index");
        match table.index_stats(name).await.doing(&doing)? {
            None if rows == 0 || rows < min_rows => continue,
            None if name == COLLECTION_INDEX && !several_collections(table).await? => continue,
            None => {
                let index = match name {
                    PAGE_INDEX => Index::BTree(Default::default()),
                    _ => Index::Bitmap(Default::default()),
                };
                table
                    .create_index(&[column], index)
                    .name(name.to_string())
                    .replace(true)
                    .execute()
                    .await
                    .doing(&doing)?;
            }
            Some(s) if s.num_unindexed_rows > UNINDEXED_TEXT_MAX || how == Maintenance::Full => {
                if s.num_unindexed_rows == 0 {
                    continue;
                }
                let mut options = OptimizeOptions::append();
                options.index_names = Some(vec![name.to_string()]);
                table
                    .optimize(OptimizeAction::Index(options))
                    .await
                    .doing(&doing)?;
            }
            Some(_) => continue,
        }
        commits += 1;
    }
    Ok(commits)
}

/// Whether the table holds rows of more than one collection.
async fn several_collections(table: &Table) -> Result<bool> {
    let doing = "reading collections";
    let q = table
        .query()
        .select(Select::columns(&[columns::COLLECTION]))
        .limit(1);
    let batches = collect(q, doing).await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(false);
    };
    let first = string_col(b, columns::COLLECTION)?.value(0).to_string();
    let q = table
        .query()
        .only_if_expr(Filter::Not(Box::new(Filter::collection(&first))).expr())
        .select(Select::columns(&[columns::COLLECTION]))
        .limit(1);
    Ok(collect(q, doing).await?.iter().any(|b| b.num_rows() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_version_is_kept_while_its_successor_is_young() {
        let at = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
        let grace = std::time::Duration::from_secs(60);
        // Written at 0, 10 and 500 s; now 530 s. Version 0 was superseded at 10 s (long ago):
        // pruned. Version 10 was superseded at 500 s (30 s ago): kept, although written long
        // before the grace began.
        let versions = [at(0), at(10), at(500)];
        assert_eq!(keep_from(&versions, at(530), grace), 1);
        // 70 s after the last commit, only the latest is needed.
        assert_eq!(keep_from(&versions, at(570), grace), 2);
        // No grace: the latest only, as soon as it is written.
        assert_eq!(keep_from(&versions, at(500), std::time::Duration::ZERO), 2);
        assert_eq!(keep_from(&[], at(0), grace), 0);
    }
}
