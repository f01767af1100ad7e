//! Keyword ranking: BM25 over the index's terms, every query word first, then the fields
//! ([`super::rank`]).

use std::collections::HashSet;

use super::rank::{rank_fields, Wanted, WEIGHTS};
use super::SectionHit;
use crate::ingest::terms::query_terms;
use crate::store::{Filter, Match, Result, Store};

/// Fewest candidates the full-text index is asked for: the field pass can only reorder what
/// the index returns, and a page whose title is the query is not always in BM25's first ten.
/// 40 gave titles hits@1 .961 and 100 gave .964 (cpp-docs-ja, bench/relevance.sh); 50 gives
/// .961 at a keyword p50 of ~4 ms.
pub const MIN_CANDIDATES: usize = 50;

/// Keyword ranking of up to `depth` sections (at least [`MIN_CANDIDATES`] are scored), and
/// how many of the first hold every query word. Sections holding every word come first; when
/// they are fewer than asked, sections holding any word fill the rest.
pub async fn text_search(
    store: &Store,
    query: &str,
    filter: Option<&Filter>,
    depth: usize,
) -> Result<(Vec<SectionHit>, usize)> {
    let want = depth.max(MIN_CANDIDATES);
    let terms = query_terms(query);
    let wanted = Wanted::new(&terms);
    let mut hits: Vec<SectionHit> = store
        .search_text(terms.clone(), Match::EveryWord, filter, want)
        .await?
        .into_iter()
        .map(SectionHit::from)
        .collect();
    let every_word = hits.len();
    // The fill with any word is a second, slower query: only when the sections holding
    // every word are fewer than asked for.
    if hits.len() < depth {
        let seen: HashSet<String> = hits.iter().map(|h| h.id.clone()).collect();
        let more = store
            .search_text(terms, Match::AnyWord, filter, want)
            .await?;
        hits.extend(
            more.into_iter()
                .filter(|h| !seen.contains(&h.id))
                .take(want - hits.len())
                .map(SectionHit::from),
        );
    }
    rank_fields(&wanted, &mut hits, every_word, &WEIGHTS);
    hits.truncate(depth);
    Ok((hits, every_word.min(depth)))
}
