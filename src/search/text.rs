//! Keyword ranking: BM25 over the index's terms, every query word first, then the fields
//! ([`super::rank`]).

use std::collections::{HashMap, HashSet};

use super::rank::{rank_fields, Phrases, Wanted, WEIGHTS};
use super::SectionHit;
use crate::ingest::terms::query_terms;
use crate::store::{Filter, Match, Result, Store, StoreError};

/// Fewest candidates the full-text index is asked for: the field pass can only reorder what
/// the index returns, and a page whose title is the query is not always in BM25's first ten.
/// 40 gave titles hits@1 .961 and 100 gave .964 (cpp-docs-ja, bench/relevance.sh); 50 gives
/// .961 at a keyword p50 of ~4 ms.
pub const MIN_CANDIDATES: usize = 50;

/// A keyword ranking, best first.
pub struct Ranking {
    pub hits: Vec<SectionHit>,
    /// How many of the first hold every query word.
    pub every_word: usize,
    /// Each hit's stored terms, in the hits' order, when the caller asked for them
    /// ([`TermsWanted`]); empty otherwise.
    pub terms: Vec<String>,
}

/// Whose stored terms [`text_search`] hands back besides ranking (it reads those of the
/// sections holding every word for proximity anyway; one read serves both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermsWanted {
    /// None.
    None,
    /// Every candidate's.
    All,
    /// Every candidate's when no section holds every query word (the fusion then weighs the
    /// keyword side by how much of the query its best sections hold).
    AllWithoutEveryWord,
}

/// Keyword ranking of up to `depth` sections (at least [`MIN_CANDIDATES`] are scored).
/// Sections holding every word come first; when they are fewer than asked, sections holding
/// any word fill the rest.
pub async fn text_search(
    store: &Store,
    query: &str,
    filter: Option<&Filter>,
    depth: usize,
    proximity: f32,
    wanted_terms: TermsWanted,
) -> Result<Ranking> {
    let want = depth.max(MIN_CANDIDATES);
    let terms = query_terms(query);
    let wanted = Wanted::new(&terms);
    // Under a page restriction each query pays for the list (a deeper search that tests it,
    // or LanceDB's search of a short list: `Store::search_text_rows`), so both run at once
    // (ARCHITECTURE.md, "Collections and filters"); otherwise the fill with any word is a
    // second, slower query, run only when the sections holding every word are fewer than
    // asked for.
    let listed = filter.is_some_and(Filter::lists_pages);
    let every = store.search_text_rows(terms.clone(), Match::EveryWord, filter, want);
    let (mut ranked, any_word) = if listed {
        let any = store.search_text_rows(terms.clone(), Match::AnyWord, filter, want);
        let (found, more) = futures::try_join!(every, any)?;
        (found, Some(more))
    } else {
        (every.await?, None)
    };
    let every_word = ranked.len();
    if ranked.len() < depth {
        let more = match any_word {
            Some(more) => more,
            None => {
                store
                    .search_text_rows(terms, Match::AnyWord, filter, want)
                    .await?
            }
        };
        let seen: HashSet<u64> = ranked.iter().map(|(_, row)| *row).collect();
        let fill: Vec<(f32, u64)> = more
            .into_iter()
            .filter(|(_, row)| !seen.contains(row))
            .take(want - ranked.len())
            .collect();
        ranked.extend(fill);
    }
    // Phrase proximity of the sections holding every word (the first `every_word`; it orders
    // only those), from their stored terms: read with the candidates' fields when every
    // candidate's are wanted, else with a second take of just those rows, only when it
    // counts and the query has phrases.
    let phrases = (proximity > 0.0 && every_word > 0)
        .then(|| Phrases::new(query))
        .filter(|p| !p.is_empty());
    let all = match wanted_terms {
        TermsWanted::None => false,
        TermsWanted::All => true,
        TermsWanted::AllWithoutEveryWord => every_word == 0,
    };
    let (hits, mut terms) = store.candidates_at(&ranked, all).await?;
    let mut hits: Vec<SectionHit> = hits.into_iter().map(SectionHit::from).collect();
    if !all && phrases.is_some() {
        let rows: Vec<u64> = ranked[..every_word].iter().map(|(_, row)| *row).collect();
        match store.terms_of(&rows).await {
            Ok(read) => terms = read,
            // A long-lived reader's table moved on since the query (a writer compacted the
            // rows away): this one search ranks without proximity rather than fail.
            Err(StoreError::Vanished { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let near: Vec<f32> = match &phrases {
        Some(p) if terms.len() >= every_word => {
            terms[..every_word].iter().map(|t| p.share_in(t)).collect()
        }
        _ => Vec::new(),
    };
    // The hits are sorted next: their terms go with them by id.
    let mut terms_of: HashMap<String, String> = if all {
        hits.iter().map(|h| h.id.clone()).zip(terms).collect()
    } else {
        HashMap::new()
    };
    let weights = super::rank::Weights {
        proximity,
        ..WEIGHTS
    };
    rank_fields(&wanted, &mut hits, every_word, &weights, &near);
    hits.truncate(depth);
    let terms = if terms_of.is_empty() {
        Vec::new()
    } else {
        hits.iter()
            .map(|h| terms_of.remove(&h.id).unwrap_or_default())
            .collect()
    };
    Ok(Ranking {
        hits,
        every_word: every_word.min(depth),
        terms,
    })
}
