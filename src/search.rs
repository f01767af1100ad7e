//! Ranked search over the index.
//!
//! Text mode asks the full-text index (BM25 over ICU word segments) for sections holding every
//! query word; when that gives fewer than k, sections holding any of them fill the rest. AND
//! first keeps precision for long queries; the OR fill keeps recall when one word is spelt or
//! segmented differently in the text ("付" vs "付け") — the failure mode of exact-phrase peers.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::embed::Embedder;
use crate::store::{hash_hex, sql_string, SectionHit, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Keyword search (BM25 over ICU word segments).
    Text,
    /// Semantic search by embedding similarity.
    Vector,
    /// Keyword and semantic rankings fused by reciprocal rank.
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

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub k: usize,
    /// `None`: the best mode the index supports.
    pub mode: Option<Mode>,
    /// Only sections whose path starts with this ('/'-separated, relative to the root).
    pub path_prefix: Option<String>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 10,
            mode: None,
            path_prefix: None,
        }
    }
}

/// One result: what the JSON contract promises, plus the section id.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub path: String,
    pub heading_path: Vec<String>,
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
    pub snippet: String,
    #[serde(skip)]
    pub id: String,
}

/// Reciprocal rank fusion constant (Cormack et al.; what LanceDB's RRF reranker uses).
pub const RRF_K: f32 = 60.0;
/// Candidates each side contributes to a hybrid ranking.
const HYBRID_DEPTH: usize = 50;
/// Up to this many distinct texts under a path prefix, the vector search is pre-filtered by
/// their hashes; above it, it over-fetches and filters after.
const PREFILTER_MAX_HASHES: usize = 20_000;

/// The mode used when none is asked for: hybrid when vectors and a model are there.
pub fn default_mode(store: &Store, embedder: Option<&Embedder>) -> Mode {
    if embedder.is_some() && store.has_vectors() {
        Mode::Hybrid
    } else {
        Mode::Text
    }
}

pub async fn search(
    store: &Store,
    embedder: Option<&Arc<Embedder>>,
    query: &str,
    opts: &SearchOptions,
) -> Result<Vec<SearchResult>> {
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
    let filter = opts.path_prefix.as_deref().map(path_filter);
    let filter = filter.as_deref();
    let embedder =
        match (mode, embedder) {
            (Mode::Text, _) => None,
            (_, Some(e)) if store.has_vectors() => Some(e),
            _ => bail!(
            "--mode {} needs embeddings, and this index has none (or its model cannot be loaded); \
             run `sagasu index` with a model, or use --mode text",
            if mode == Mode::Vector { "vector" } else { "hybrid" }
        ),
        };
    let hits = match (mode, embedder) {
        (Mode::Vector, Some(e)) => {
            let qv = e.embed_query(query)?;
            vector_search(store, &qv, filter, opts.k).await?
        }
        (Mode::Hybrid, Some(e)) => {
            // The query is embedded on the rayon pool while the keyword search runs, and the
            // two searches wait on LanceDB together: the sides overlap instead of adding up.
            let depth = opts.k.max(HYBRID_DEPTH);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (e, q) = (Arc::clone(e), query.to_string());
            rayon::spawn(move || {
                // A panic in a rayon::spawn job aborts the process: make it this query's error.
                let embedded =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.embed_query(&q)))
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("the query embedding panicked")));
                let _ = tx.send(embedded);
            });
            let vector = async {
                let qv = rx.await.context("the query embedding thread stopped")??;
                vector_search(store, &qv, filter, depth).await
            };
            let (text, vector) =
                tokio::try_join!(text_search(store, query, filter, depth), vector)?;
            fuse(&[text, vector], opts.k)
        }
        _ => text_search(store, query, filter, opts.k).await?,
    };
    Ok(hits.into_iter().map(|h| to_result(h, query)).collect())
}

/// Nearest sections by embedding; score = cosine similarity.
async fn vector_search(
    store: &Store,
    qv: &[f32],
    filter: Option<&str>,
    k: usize,
) -> Result<Vec<SectionHit>> {
    let (vector_filter, fetch) = match filter {
        None => (None, k),
        Some(f) => {
            let hashes = store.section_hashes(Some(f)).await?;
            if hashes.is_empty() {
                return Ok(Vec::new());
            }
            if hashes.len() <= PREFILTER_MAX_HASHES {
                let list: Vec<String> = hashes.iter().map(|h| sql_string(&hash_hex(*h))).collect();
                (Some(format!("text_hash IN ({})", list.join(", "))), k)
            } else {
                (None, k * 20)
            }
        }
    };
    let nearest = store
        .search_vectors(qv, fetch, vector_filter.as_deref())
        .await?;
    let hashes: Vec<String> = nearest.iter().map(|(h, _)| h.clone()).collect();
    let mut sections = store.sections_by_hash(&hashes, filter).await?;
    let rank: std::collections::HashMap<&str, (usize, f32)> = nearest
        .iter()
        .enumerate()
        .map(|(i, (h, d))| (h.as_str(), (i, *d)))
        .collect();
    sections.retain(|s| rank.contains_key(s.text_hash.as_str()));
    for s in &mut sections {
        s.score = 1.0 - rank[s.text_hash.as_str()].1;
    }
    sections.sort_by(|a, b| {
        rank[a.text_hash.as_str()]
            .0
            .cmp(&rank[b.text_hash.as_str()].0)
            .then_with(|| a.id.cmp(&b.id))
    });
    sections.truncate(k);
    Ok(sections)
}

/// Reciprocal rank fusion of several rankings of sections; score = fused score.
pub fn fuse(rankings: &[Vec<SectionHit>], k: usize) -> Vec<SectionHit> {
    let mut by_id: std::collections::HashMap<String, (f32, SectionHit)> =
        std::collections::HashMap::new();
    for ranking in rankings {
        for (rank, hit) in ranking.iter().enumerate() {
            let add = 1.0 / (RRF_K + rank as f32 + 1.0);
            by_id
                .entry(hit.id.clone())
                .and_modify(|(s, _)| *s += add)
                .or_insert_with(|| (add, hit.clone()));
        }
    }
    let mut fused: Vec<SectionHit> = by_id
        .into_values()
        .map(|(score, mut hit)| {
            hit.score = score;
            hit
        })
        .collect();
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    fused.truncate(k);
    fused
}

async fn text_search(
    store: &Store,
    query: &str,
    filter: Option<&str>,
    k: usize,
) -> Result<Vec<SectionHit>> {
    let mut hits = store.search_text(query, true, filter, k).await?;
    if hits.len() < k {
        let seen: HashSet<String> = hits.iter().map(|h| h.id.clone()).collect();
        let more = store.search_text(query, false, filter, k).await?;
        hits.extend(
            more.into_iter()
                .filter(|h| !seen.contains(&h.id))
                .take(k - hits.len()),
        );
    }
    Ok(hits)
}

/// A filter that keeps paths under `prefix`; applied before ranking.
pub fn path_filter(prefix: &str) -> String {
    let p = prefix.replace('\\', "/");
    let p = p.trim_start_matches("./");
    format!("starts_with(path, {})", sql_string(p))
}

fn to_result(hit: SectionHit, query: &str) -> SearchResult {
    SearchResult {
        snippet: snippet(&hit.text, query, 160),
        path: hit.path,
        heading_path: hit.heading_path,
        start_line: hit.start_line,
        end_line: hit.end_line,
        score: hit.score,
        id: hit.id,
    }
}

/// Runs of one script (Han, kana, Latin/digits) of the query: the units a snippet looks for.
fn query_terms(query: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Han,
        Hiragana,
        Katakana,
        Word,
        Other,
    }
    let class = |c: char| match c {
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '々' => Class::Han,
        '\u{3040}'..='\u{309F}' => Class::Hiragana,
        '\u{30A0}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}' => Class::Katakana,
        c if c.is_alphanumeric() || c == '_' => Class::Word,
        _ => Class::Other,
    };
    let mut terms: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_class = Class::Other;
    for c in query.chars() {
        let k = class(c);
        if k != cur_class || k == Class::Other {
            if cur_class != Class::Other && cur_class != Class::Hiragana && !cur.is_empty() {
                terms.push(cur.to_lowercase());
            }
            cur.clear();
        }
        if k != Class::Other {
            cur.push(c);
        }
        cur_class = k;
    }
    if cur_class != Class::Other && cur_class != Class::Hiragana && !cur.is_empty() {
        terms.push(cur.to_lowercase());
    }
    terms.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
    terms.dedup();
    terms
}

/// About `max_chars` of `text` around the first place the query (or its longest term) occurs,
/// on one line, with "…" where it was cut.
pub fn snippet(text: &str, query: &str, max_chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = flat.to_lowercase();
    // Lowercasing can change byte lengths outside ASCII; only trust positions when it did not.
    let same_len = lower.len() == flat.len();
    let needle = query.trim().to_lowercase();
    let pos = if same_len {
        lower.find(&needle).or_else(|| {
            query_terms(query)
                .iter()
                .find_map(|t| lower.find(t.as_str()))
        })
    } else {
        None
    };
    let chars: Vec<(usize, char)> = flat.char_indices().collect();
    let total = chars.len();
    if total <= max_chars {
        return flat;
    }
    let hit_char = pos
        .map(|p| chars.partition_point(|(i, _)| *i < p))
        .unwrap_or(0);
    let start = hit_char
        .saturating_sub(max_chars / 5)
        .min(total - max_chars);
    let end = (start + max_chars).min(total);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(chars[start..end].iter().map(|(_, c)| c));
    if end < total {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_by_script() {
        let t = query_terms("RFQ ケース 仕入先の設定、Commerce");
        assert!(t.contains(&"rfq".to_string()));
        assert!(t.contains(&"ケース".to_string()));
        assert!(t.contains(&"仕入先".to_string()));
        assert!(t.contains(&"設定".to_string()));
        assert!(t.contains(&"commerce".to_string()));
        assert!(!t.iter().any(|x| x == "の"), "particles are not terms");
    }

    #[test]
    fn snippet_centres_on_the_match() {
        let text = format!(
            "{}目的の文はここです。{}",
            "前置き。".repeat(100),
            "後書き。".repeat(100)
        );
        let s = snippet(&text, "目的の文", 60);
        assert!(s.contains("目的の文はここです"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert!(s.chars().count() <= 62);
        assert_eq!(snippet("短い\n本文", "x", 60), "短い 本文");
    }

    #[test]
    fn path_filter_quotes() {
        assert_eq!(
            path_filter("./docs/it's"),
            "starts_with(path, 'docs/it''s')"
        );
    }

    fn hit(id: &str) -> SectionHit {
        SectionHit {
            id: id.into(),
            path: format!("{id}.md"),
            heading_path: vec![],
            start_line: 1,
            end_line: 1,
            text: String::new(),
            text_hash: id.into(),
            score: 0.0,
        }
    }

    #[test]
    fn rrf_rewards_agreement() {
        let a = vec![hit("x"), hit("y"), hit("z")];
        let b = vec![hit("y"), hit("w"), hit("x")];
        let fused = fuse(&[a, b], 3);
        let ids: Vec<&str> = fused.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids[0], "y", "ranked 2nd and 1st beats 1st and 3rd");
        assert_eq!(ids[1], "x");
        assert!((fused[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(fused.len(), 3);
    }

    #[test]
    fn modes_parse() {
        assert_eq!("text".parse::<Mode>().ok(), Some(Mode::Text));
        assert!("fuzzy".parse::<Mode>().is_err());
    }
}
