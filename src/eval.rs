//! Known-item evaluation: each query names the file (and optionally the section) it should
//! find. Reports hits@1/5/10 and MRR@10 at document level (rank among the distinct documents
//! of the ranking), and at section level (rank among the first k sections) where the queries
//! say which section.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use sagasu_embed::Embedder;

use crate::search::vector::corrected;
use crate::search::{search, Models, SearchOptions, SearchResult, Unit};
use crate::store::vectors::Search;
use crate::store::Store;

#[derive(Debug, Clone, Deserialize)]
pub struct EvalQuery {
    pub query: String,
    #[serde(default)]
    pub query_core: Option<String>,
    pub path: String,
    #[serde(default)]
    pub heading: Option<String>,
    /// 1-based line inside the expected section (0 or absent: not given).
    #[serde(default)]
    pub line: Option<u32>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// Which queries of a file to run.
#[derive(Debug, Clone, Default)]
pub struct QuerySelection {
    /// Only lines whose `type` is this.
    pub kind: Option<String>,
    /// Use `query_core` instead of `query` where present.
    pub use_core: bool,
    /// At most this many (the first ones).
    pub limit: Option<usize>,
}

pub fn read_queries(path: &Path, sel: &QuerySelection) -> Result<Vec<EvalQuery>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut q: EvalQuery = serde_json::from_str(line).with_context(|| {
            format!(
                "{}:{}: not a query line (needs \"query\" and \"path\")",
                path.display(),
                i + 1
            )
        })?;
        if sel
            .kind
            .as_ref()
            .is_some_and(|k| q.kind.as_ref() != Some(k))
        {
            continue;
        }
        if sel.use_core {
            if let Some(core) = q.query_core.take().filter(|c| !c.trim().is_empty()) {
                q.query = core;
            }
        }
        out.push(q);
        if sel.limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    if out.is_empty() {
        bail!("{}: no queries selected", path.display());
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    pub queries: usize,
    pub hits_at_1: f64,
    pub hits_at_5: f64,
    pub hits_at_10: f64,
    pub mrr_at_10: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub queries: usize,
    pub hits_at_1: f64,
    pub hits_at_5: f64,
    pub hits_at_10: f64,
    pub mrr_at_10: f64,
    /// Queries that returned nothing at all.
    pub empty: usize,
    /// Section-level figures, over the queries that name a section.
    pub section: Option<Metrics>,
    /// Of searches for k results (the figures above come from a deeper search).
    pub latency_ms_p50: f64,
    pub latency_ms_p95: f64,
    /// Each query's document rank (1-based, within k; None when not in the first k), in
    /// the order of the queries: a bench compares two runs query by query.
    pub ranks: Vec<Option<usize>>,
}

#[derive(Default)]
struct Tally {
    n: usize,
    at1: usize,
    at5: usize,
    at10: usize,
    rr: f64,
}

impl Tally {
    fn add(&mut self, rank: Option<usize>) {
        self.n += 1;
        if let Some(r) = rank {
            self.at1 += usize::from(r <= 1);
            self.at5 += usize::from(r <= 5);
            self.at10 += usize::from(r <= 10);
            if r <= 10 {
                self.rr += 1.0 / r as f64;
            }
        }
    }
    fn metrics(&self) -> Metrics {
        let n = self.n.max(1) as f64;
        Metrics {
            queries: self.n,
            hits_at_1: self.at1 as f64 / n,
            hits_at_5: self.at5 as f64 / n,
            hits_at_10: self.at10 as f64 / n,
            mrr_at_10: self.rr / n,
        }
    }
}

/// Rank (1-based) of the expected document among the distinct paths of the results.
pub fn document_rank(results: &[SearchResult], path: &str) -> Option<usize> {
    let mut seen: Vec<&str> = Vec::new();
    for r in results {
        if !seen.contains(&r.path.as_str()) {
            seen.push(&r.path);
            if r.path == path {
                return Some(seen.len());
            }
        }
    }
    None
}

/// Rank (1-based) of the first result that is the expected section.
pub fn section_rank(results: &[SearchResult], q: &EvalQuery) -> Option<usize> {
    results
        .iter()
        .position(|r| {
            r.path == q.path
                && match (q.line.filter(|l| *l > 0), q.heading.as_deref()) {
                    (Some(line), _) => r.start_line <= line && line <= r.end_line,
                    (None, Some(h)) => r.heading_path.last().map(String::as_str) == Some(h),
                    (None, None) => false,
                }
        })
        .map(|i| i + 1)
}

/// Sections fetched per distinct document asked for, for document-level ranks.
const DOC_DEPTH: usize = 5;

pub async fn evaluate(
    store: &Store,
    models: Models<'_>,
    queries: &[EvalQuery],
    opts: &SearchOptions,
) -> Result<EvalReport> {
    let mut doc = Tally::default();
    let mut sec = Tally::default();
    let mut empty = 0;
    let mut latencies = Vec::with_capacity(queries.len());
    let mut ranks = Vec::with_capacity(queries.len());
    // Document ranks count distinct documents, so a document with many matching sections
    // does not crowd the others out of the top k: fetch deeper than k for them.
    // Ranks come from the flat list of sections: a document's rank is that of its first
    // section among distinct documents (what one hit per page shows), a section's is its rank
    // among the first k sections.
    let deep = SearchOptions {
        k: (opts.k * DOC_DEPTH).min(crate::search::MAX_K),
        unit: Unit::Section,
        ..opts.clone()
    };
    for q in queries {
        // Latency is that of the search a user runs (k results), timed before the deeper
        // search for ranks, so that the deeper one does not warm its caches first.
        let t = Instant::now();
        let shown = search(store, models, &q.query, opts)
            .await
            .with_context(|| format!("query {:?}", q.query))?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        // A reranked search is measured as shown (its pages are distinct documents): a deeper
        // search would rerank other candidates.
        let results = if opts.rerank {
            shown
        } else {
            search(store, models, &q.query, &deep)
                .await
                .with_context(|| format!("query {:?}", q.query))?
        };
        empty += usize::from(results.is_empty());
        let rank = document_rank(&results, &q.path).filter(|&r| r <= opts.k);
        doc.add(rank);
        ranks.push(rank);
        if q.heading.is_some() || q.line.is_some_and(|l| l > 0) {
            let top = &results[..results.len().min(opts.k)];
            sec.add(section_rank(top, q));
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&latencies, p);
    let m = doc.metrics();
    Ok(EvalReport {
        queries: m.queries,
        hits_at_1: m.hits_at_1,
        hits_at_5: m.hits_at_5,
        hits_at_10: m.hits_at_10,
        mrr_at_10: m.mrr_at_10,
        empty,
        section: (sec.n > 0).then(|| sec.metrics()),
        latency_ms_p50: pct(0.5),
        latency_ms_p95: pct(0.95),
        ranks,
    })
}

/// How the vector index compares with exact search, on the embeddings of real queries.
#[derive(Debug, Clone, Serialize)]
pub struct AnnReport {
    pub queries: usize,
    pub k: usize,
    /// Of the exact top k texts, the share the vector index also returns.
    pub recall: f64,
    /// Vectors the index covers; `None`: no index yet (below `ann_min_rows`), all exact.
    pub indexed: Option<u64>,
    pub ann_ms_p50: f64,
    pub exact_ms_p50: f64,
}

/// Recall@k of the vector index against exact search over every vector.
pub async fn ann_recall(
    store: &Store,
    embedder: &Embedder,
    vector_mean: Option<&[f32]>,
    queries: &[EvalQuery],
    k: usize,
) -> Result<AnnReport> {
    let (mut found, mut wanted) = (0usize, 0usize);
    let (mut ann_ms, mut exact_ms) = (Vec::new(), Vec::new());
    for q in queries {
        let qv = corrected(embedder.embed_query(&q.query)?, vector_mean);
        let t = Instant::now();
        let ann = store.search_vectors(&qv, k, None, Search::Indexed).await?;
        ann_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let exact = store.search_vectors(&qv, k, None, Search::Exact).await?;
        exact_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        wanted += exact.len();
        found += exact
            .iter()
            .filter(|(h, _)| ann.iter().any(|(a, _)| a == h))
            .count();
    }
    ann_ms.sort_by(f64::total_cmp);
    exact_ms.sort_by(f64::total_cmp);
    Ok(AnnReport {
        queries: queries.len(),
        k,
        recall: found as f64 / wanted.max(1) as f64,
        indexed: store.vector_index_rows().await?,
        ann_ms_p50: percentile(&ann_ms, 0.5),
        exact_ms_p50: percentile(&exact_ms, 0.5),
    })
}

/// The value at fraction `p` of sorted values (nearest rank); 0 when there are none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str, start: u32, end: u32, heading: &str) -> SearchResult {
        SearchResult {
            collection: "docs".into(),
            path: path.into(),
            heading_path: vec![heading.into()],
            start_line: start,
            end_line: end,
            score: 1.0,
            snippet: String::new(),
            other_sections: Vec::new(),
            explain: None,
            id: String::new(),
        }
    }

    #[test]
    fn ranks_are_by_distinct_document_and_by_section() {
        let results = vec![
            r("a.md", 1, 5, "x"),
            r("a.md", 6, 9, "y"),
            r("b.md", 1, 3, "z"),
        ];
        assert_eq!(document_rank(&results, "b.md"), Some(2));
        assert_eq!(document_rank(&results, "c.md"), None);
        let q = EvalQuery {
            query: String::new(),
            query_core: None,
            path: "a.md".into(),
            heading: Some("y".into()),
            line: Some(7),
            kind: None,
        };
        assert_eq!(section_rank(&results, &q), Some(2));
        let q2 = EvalQuery { line: None, ..q };
        assert_eq!(section_rank(&results, &q2), Some(2));
    }

    #[test]
    fn tally_metrics() {
        let mut t = Tally::default();
        t.add(Some(1));
        t.add(Some(4));
        t.add(None);
        t.add(Some(11));
        let m = t.metrics();
        assert_eq!(m.queries, 4);
        assert!((m.hits_at_1 - 0.25).abs() < 1e-9);
        assert!((m.hits_at_5 - 0.5).abs() < 1e-9);
        assert!((m.mrr_at_10 - (1.0 + 0.25) / 4.0).abs() < 1e-9);
    }
}
