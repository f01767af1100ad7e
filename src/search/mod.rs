//! Ranked search over the index.
//!
//! [`text`] asks the full-text index (BM25 over ICU word segments) for sections holding every
//! query word; when that gives fewer than k, sections holding any of them fill the rest. AND
//! first keeps precision for long queries; the OR fill keeps recall when one word is spelt or
//! segmented differently in the text ("付" vs "付け") — the failure mode of exact-phrase peers.
//! [`vector`] ranks texts by embedding; [`fusion`] fuses both by their normalised scores,
//! sections holding every word lifted by a step; [`rank`] scores the keyword candidates'
//! fields; [`pages`] folds sections into one hit per page; [`rerank`] lets a cross-encoder
//! reorder the top candidates (optional); [`snippet`] cuts what is shown.

pub mod conditions;
pub mod density;
pub mod fusion;
mod hit;
pub mod pages;
pub mod rank;
pub mod rerank;
pub mod scope;
pub mod snippet;
pub mod text;
pub mod vector;

use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Result};
use sagasu_embed::{Embedder, Reranker};
use serde::{Deserialize, Serialize};

use crate::store::Store;
pub use conditions::{parse_since, parse_where, Where};
use fusion::hybrid_search;
pub use fusion::{Fusion, Method};
pub use hit::{Explain, SectionHit};
use pages::by_page;
pub use pages::SectionRef;
use rerank::{best_first, rerank_scores, RERANK_CANDIDATES};
use scope::{scope, Scope};
use snippet::snippet;
use text::{text_search, TermsWanted};
use vector::{embed_query, vector_search};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
/// How candidates are found and ranked.
pub enum Mode {
    /// Keyword search (BM25 over ICU word segments).
    Text,
    /// Semantic search by embedding similarity.
    Vector,
    /// Keyword and semantic rankings fused by their normalised scores, sections holding every
    /// query word lifted.
    Hybrid,
}

impl FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "text" | "keyword" | "lexical" => Ok(Mode::Text),
            "vector" | "semantic" => Ok(Mode::Vector),
            "hybrid" => Ok(Mode::Hybrid),
            other => bail!("unknown search mode {other:?}: use text, vector or hybrid"),
        }
    }
}

/// The most results one search returns.
pub const MAX_K: usize = 1000;
/// Results when none is asked for.
pub const DEFAULT_K: usize = 10;
/// Characters of a result's snippet.
pub const SNIPPET_CHARS: usize = 160;
/// Sections ranked per page asked for, when results are pages: enough for k distinct pages
/// when a few pages hold many matching sections.
const SECTIONS_PER_PAGE: usize = 4;

/// What one search asks for.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Results wanted (at most [`MAX_K`]).
    pub k: usize,
    /// `None`: the best mode the index supports.
    pub mode: Option<Mode>,
    /// Only sections whose path starts with this ('/'-separated, relative to the root).
    pub path_prefix: Option<String>,
    /// Only these collections (empty: all).
    pub collections: Vec<String>,
    /// Only pages whose front matter passes every one of these.
    pub conditions: Vec<Where>,
    /// Only files modified at or after this time (nanoseconds since 1970).
    pub changed_since: Option<i64>,
    /// What a result is: a page (its best section, the others attached) or a section.
    pub unit: Unit,
    /// Attach each result's score parts.
    pub explain: bool,
    /// Let the cross-encoder reorder the top [`RERANK_CANDIDATES`].
    pub rerank: bool,
    /// How hybrid search fuses its two rankings (the default is the measured choice).
    pub fusion: Fusion,
    /// Weight of phrase proximity in keyword ranking (the default is the measured choice).
    pub proximity: f32,
}

/// What one result stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// One result per page: its best section, with its other matching sections attached.
    #[default]
    Page,
    /// Every matching section on its own (`--sections`).
    Section,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: DEFAULT_K,
            mode: None,
            path_prefix: None,
            collections: Vec::new(),
            conditions: Vec::new(),
            changed_since: None,
            unit: Unit::Page,
            explain: false,
            rerank: false,
            fusion: Fusion::default(),
            proximity: rank::PROXIMITY,
        }
    }
}

/// One result: what the JSON contract promises, plus the section id.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// The collection (indexed root) the file belongs to.
    pub collection: String,
    /// The file's path relative to its collection's root.
    pub path: String,
    /// Headings from the page's top down to the section.
    pub heading_path: Vec<String>,
    /// First line of the section (1-based).
    pub start_line: u32,
    /// Last line of the section (1-based, inclusive).
    pub end_line: u32,
    /// The ranking's score (comparable within one answer only).
    pub score: f32,
    /// Up to [`SNIPPET_CHARS`] characters of the section around the query's words.
    pub snippet: String,
    /// The page's other matching sections, best first (pages only; absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_sections: Vec<SectionRef>,
    /// The parts of `score` (`--explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explain>,
    /// The section's id in the index (stable while its file is unchanged).
    #[serde(skip)]
    pub id: String,
}

/// The mode used when none is asked for: hybrid when vectors and a model are there.
pub fn default_mode(store: &Store, embedder: Option<&Embedder>) -> Mode {
    if embedder.is_some() && store.has_vectors() {
        Mode::Hybrid
    } else {
        Mode::Text
    }
}

/// The models a search may use: the embedder (vector and hybrid modes) and the cross-encoder
/// (`rerank`).
#[derive(Clone, Copy, Default)]
pub struct Models<'a> {
    pub embedder: Option<&'a Arc<Embedder>>,
    /// The mean of the index's vectors, which queries are corrected by
    /// ([`vector::corrected`]).
    pub vector_mean: Option<&'a [f32]>,
    pub reranker: Option<&'a Arc<Reranker>>,
}

pub async fn search(
    store: &Store,
    models: Models<'_>,
    query: &str,
    opts: &SearchOptions,
) -> Result<Vec<SearchResult>> {
    let embedder = models.embedder;
    let query = query.trim();
    if query.is_empty() {
        bail!("the query is empty");
    }
    if opts.k == 0 || opts.k > MAX_K {
        bail!("k must be between 1 and {MAX_K}, got {}", opts.k);
    }
    let mode = opts
        .mode
        .unwrap_or_else(|| default_mode(store, embedder.map(|e| &**e)));
    let filter = match scope(store, opts).await? {
        Scope::Nothing => return Ok(Vec::new()),
        Scope::Rows(filter) => filter,
    };
    let filter = filter.as_ref();
    let embedder = match (mode, embedder) {
        (Mode::Text, _) => None,
        (_, Some(e)) if store.has_vectors() => Some(e),
        _ => bail!(
            "{} search needs embeddings, and this index has none (or its model cannot be \
             loaded); index the tree with a model, or search in text mode",
            if mode == Mode::Vector {
                "vector"
            } else {
                "hybrid"
            }
        ),
    };
    let reranker = match (opts.rerank, models.reranker) {
        (false, _) => None,
        (true, Some(r)) => Some(r),
        (true, None) => bail!(
            "no reranker is loaded: give one with --reranker MODEL (or record one with `sagasu index --reranker MODEL`)"
        ),
    };
    // With a reranker, the first stage ranks its candidates; the reranker picks the k.
    let wanted = if reranker.is_some() {
        opts.k.max(RERANK_CANDIDATES)
    } else {
        opts.k
    };
    let depth = match opts.unit {
        Unit::Page => wanted * SECTIONS_PER_PAGE,
        Unit::Section => wanted,
    };
    let hits = match (mode, embedder) {
        (Mode::Vector, Some(e)) => {
            let qv = embed_query(e, models.vector_mean, query).await?;
            vector_search(store, &qv, filter, depth).await?
        }
        (Mode::Hybrid, Some(e)) => {
            // Embed first, then run both searches together. Embedding the query beside the
            // keyword search was slower: the encoder uses every compute thread, so the keyword
            // search only took CPU from it, and the embedding is the longer path.
            let qv = embed_query(e, models.vector_mean, query).await?;
            hybrid_search(
                store,
                query,
                &qv,
                filter,
                depth,
                &opts.fusion,
                opts.proximity,
            )
            .await?
        }
        _ => {
            text_search(
                store,
                query,
                filter,
                depth,
                opts.proximity,
                TermsWanted::None,
            )
            .await?
            .hits
        }
    };
    let explain = opts.explain;
    let (mut shown, others): (Vec<SectionHit>, Vec<Vec<SectionRef>>) = match opts.unit {
        Unit::Page => by_page(hits, wanted)
            .into_iter()
            .map(|p| (p.best, p.others))
            .unzip(),
        Unit::Section => hits
            .into_iter()
            .take(wanted)
            .map(|h| (h, Vec::new()))
            .unzip(),
    };
    store
        .fill_texts(shown.iter_mut().map(|h| &mut h.found).collect())
        .await?;
    let mut results: Vec<(SectionHit, Vec<SectionRef>)> = shown.into_iter().zip(others).collect();
    if let Some(r) = reranker {
        let hits: Vec<&SectionHit> = results.iter().map(|(h, _)| h).collect();
        let scores = rerank_scores(r, query, &hits).await?;
        for ((h, _), s) in results.iter_mut().zip(scores) {
            h.explain.fused = h.explain.fused.or(Some(h.score));
            h.explain.rerank = Some(s);
            h.score = s;
        }
        best_first(&mut results, |(h, _)| h.score);
    }
    Ok(results
        .into_iter()
        .take(opts.k)
        .map(|(h, o)| to_result(h, o, query, explain))
        .collect())
}

fn to_result(hit: SectionHit, others: Vec<SectionRef>, query: &str, explain: bool) -> SearchResult {
    let SectionHit {
        found,
        explain: why,
    } = hit;
    SearchResult {
        snippet: snippet(&found.text, query, SNIPPET_CHARS),
        collection: found.collection,
        path: found.path,
        heading_path: found.heading_path,
        start_line: found.start_line,
        end_line: found.end_line,
        score: found.score,
        other_sections: others,
        explain: explain.then_some(why),
        id: found.id,
    }
}

/// Runs `work` (`what`, for messages) on the rayon pool and awaits its result, so that the
/// async worker stays free meanwhile. A panic in a `rayon::spawn` job would abort the process:
/// it becomes this call's error instead.
async fn on_rayon<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("{what} panicked")));
        let _ = tx.send(done);
    });
    rx.await
        .map_err(|_| anyhow::anyhow!("{what}: its thread stopped"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("text".parse::<Mode>().ok(), Some(Mode::Text));
        assert!("fuzzy".parse::<Mode>().is_err());
    }
}
