//! Keyword ranking: BM25 over the index's terms, every query word first.

use std::collections::HashSet;

use crate::ingest::terms::query_terms;
use crate::store::{Filter, Match, Result, SectionHit, Store};

/// Keyword ranking of up to k sections, and how many of the first hold every query word.
/// Sections holding every word come first; when they are fewer than k, sections holding any
/// word fill the rest.
pub async fn text_search(
    store: &Store,
    query: &str,
    filter: Option<&Filter>,
    k: usize,
) -> Result<(Vec<SectionHit>, usize)> {
    let terms = query_terms(query);
    let mut hits = store
        .search_text(terms.clone(), Match::EveryWord, filter, k)
        .await?;
    let every_word = hits.len();
    if hits.len() < k {
        let seen: HashSet<String> = hits.iter().map(|h| h.id.clone()).collect();
        let more = store.search_text(terms, Match::AnyWord, filter, k).await?;
        hits.extend(
            more.into_iter()
                .filter(|h| !seen.contains(&h.id))
                .take(k - hits.len()),
        );
    }
    Ok((hits, every_word))
}
