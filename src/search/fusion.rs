//! Hybrid ranking: keyword and vector rankings fused by reciprocal rank, sections holding
//! every query word first.
//!
//! Plain fusion let the vector side push the section that matched every word of a
//! description below one that merely looked alike (hits@1 0.961 against text's 0.985 with
//! multilingual-e5); with the tier, hybrid is at least as good as either side on every
//! measure (see ARCHITECTURE.md). The opposite failure, a keyword side that matched only stray
//! words (an English question over Japanese pages), is handled by weighing the keyword side
//! by how much of the query it found ([`keyword_weight`]).

use std::collections::{HashMap, HashSet};

use anyhow::Result;

use super::rank::Wanted;
use super::text::text_search;
use super::vector::nearest_texts;
use super::SectionHit;
use crate::ingest::terms::query_terms;
use crate::store::{Filter, Store};

/// Reciprocal rank fusion constant (Cormack et al.; what LanceDB's RRF reranker uses).
pub const RRF_K: f32 = 60.0;
/// Candidates each side contributes to a hybrid ranking.
const HYBRID_DEPTH: usize = 50;

/// Keyword and vector rankings fused by reciprocal rank. Both searches run together; then
/// sections are read only for the texts that reach the top k and that the keyword side did not
/// return already: a few rows instead of one join row per vector hit.
pub async fn hybrid_search(
    store: &Store,
    query: &str,
    qv: &[f32],
    filter: Option<&Filter>,
    k: usize,
) -> Result<Vec<SectionHit>> {
    let depth = k.max(HYBRID_DEPTH);
    let text = async { Ok::<_, anyhow::Error>(text_search(store, query, filter, depth).await?) };
    let ((text, every_word), nearest) =
        tokio::try_join!(text, nearest_texts(store, qv, filter, depth))?;
    let keyword_weight = keyword_weight(store, query, &text, every_word).await?;
    let hashes: Vec<String> = nearest.iter().map(|(h, _)| h.clone()).collect();
    let vector_side: HashMap<&str, (usize, f32)> = nearest
        .iter()
        .enumerate()
        .map(|(i, (h, d))| (h.as_str(), (i + 1, *d)))
        .collect();
    let fused = fuse(text, every_word, keyword_weight, &hashes);
    let mut out: Vec<SectionHit> = Vec::with_capacity(k);
    let mut next = 0;
    // Every text has a section under the filter, so one pass fills k; another runs only if a
    // re-index removed a text's sections in between.
    while out.len() < k && next < fused.len() {
        let batch = &fused[next..(next + k - out.len()).min(fused.len())];
        next += batch.len();
        let wanted: Vec<String> = batch
            .iter()
            .filter_map(|(_, f)| match f {
                Fused::Text(h) => Some(h.clone()),
                Fused::Section(_) => None,
            })
            .collect();
        let mut read: HashMap<String, Vec<SectionHit>> = HashMap::new();
        for s in store.sections_by_hash(&wanted, filter).await? {
            read.entry(s.text_hash.clone())
                .or_default()
                .push(SectionHit::from(s));
        }
        for (score, f) in batch {
            let hits = match f {
                Fused::Section(hit) => vec![(**hit).clone()],
                Fused::Text(h) => read.remove(h).unwrap_or_default(),
            };
            out.extend(hits.into_iter().map(|mut hit| {
                hit.score = *score;
                hit.explain.fused = Some(*score);
                hit.explain.keyword_weight = Some(keyword_weight);
                if let Some(&(rank, distance)) = vector_side.get(hit.text_hash.as_str()) {
                    hit.explain.vector_rank = Some(rank);
                    hit.explain.vector_distance = Some(distance);
                }
                hit
            }));
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    out.truncate(k);
    Ok(out)
}

/// The power of the keyword side's coverage that weighs it in the fusion: on the
/// cross-lingual set (bench/relevance.sh) 1 gave hybrid hits@1 .35, 2 gave .40, 3 gave .44
/// against vector's .42, while the other sets moved by at most .01.
const KEYWORD_WEIGHT_POWER: i32 = 3;

/// Keyword candidates whose terms are read to see how much of the query the keyword side
/// found.
const COVERAGE_PROBE: usize = 5;

/// How much the keyword ranking counts in the fusion, 0–1: the largest share of the query's
/// terms that one of its first few sections holds, cubed. 1 when some section holds every
/// word (then nothing is read); low when the keyword side matched only stray words — a
/// question in another language than the documents, where only identifiers and loanwords
/// match and its ranking is noise.
async fn keyword_weight(
    store: &Store,
    query: &str,
    text: &[SectionHit],
    every_word: usize,
) -> Result<f32> {
    if every_word > 0 {
        return Ok(1.0);
    }
    let wanted = Wanted::new(&query_terms(query));
    let ids: Vec<u64> = text
        .iter()
        .take(COVERAGE_PROBE)
        .filter_map(|h| h.row_id)
        .collect();
    let best = store
        .terms_of(&ids)
        .await?
        .iter()
        .map(|terms| wanted.share_in(terms))
        .fold(0.0f32, f32::max);
    Ok(best.powi(KEYWORD_WEIGHT_POWER))
}

/// An entry of a fused ranking: a section the keyword side returned, or the hash of a text
/// only the vector side found (its sections are read if it reaches the top k).
#[derive(Debug, Clone)]
pub enum Fused {
    Section(Box<SectionHit>),
    Text(String),
}

/// Reciprocal rank fusion of a keyword ranking of sections, whose first `every_word` hold every
/// query word, and a vector ranking of texts (by hash, best first): each side adds
/// 1 / (RRF_K + rank) to a section (the keyword side times `keyword_weight`), the vector side
/// by the section's text, and a section
/// holding every query word gets 1 more, which puts it above all the others. Best first; ties
/// by section id, then hash.
pub fn fuse(
    text: Vec<SectionHit>,
    every_word: usize,
    keyword_weight: f32,
    nearest: &[String],
) -> Vec<(f32, Fused)> {
    let rrf = |rank: usize| 1.0 / (RRF_K + rank as f32 + 1.0);
    let vector_rank: HashMap<&str, usize> = nearest
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let covered: HashSet<String> = text.iter().map(|h| h.text_hash.clone()).collect();
    let mut fused: Vec<(f32, Fused)> = text
        .into_iter()
        .enumerate()
        .map(|(rank, hit)| {
            let v = vector_rank
                .get(hit.text_hash.as_str())
                .map_or(0.0, |&r| rrf(r));
            let tier = if rank < every_word { 1.0 } else { 0.0 };
            (
                tier + keyword_weight * rrf(rank) + v,
                Fused::Section(Box::new(hit)),
            )
        })
        .collect();
    fused.extend(
        nearest
            .iter()
            .enumerate()
            .filter(|(_, h)| !covered.contains(*h))
            .map(|(rank, h)| (rrf(rank), Fused::Text(h.clone()))),
    );
    let key = |f: &Fused| match f {
        Fused::Section(hit) => (0, hit.id.clone()),
        Fused::Text(h) => (1, h.clone()),
    };
    fused.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| key(&a.1).cmp(&key(&b.1))));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str) -> SectionHit {
        SectionHit::from(crate::store::FoundSection {
            id: id.into(),
            path: format!("{id}.md"),
            heading_path: vec![],
            start_line: 1,
            end_line: 1,
            title: None,
            link_share: 0.0,
            text: String::new(),
            text_hash: id.into(),
            score: 0.0,
            row_id: None,
        })
    }

    fn names(fused: &[(f32, Fused)]) -> Vec<String> {
        fused
            .iter()
            .map(|(_, f)| match f {
                Fused::Section(h) => h.id.clone(),
                Fused::Text(h) => format!("text {h}"),
            })
            .collect()
    }

    #[test]
    fn rrf_rewards_agreement_and_defers_vector_only_texts() {
        let text = vec![hit("x"), hit("y"), hit("z")];
        let nearest: Vec<String> = ["y", "w", "x"].iter().map(|s| s.to_string()).collect();
        let fused = fuse(text, 0, 1.0, &nearest);
        // y: 2nd and 1st beats x: 1st and 3rd; w (2nd by vector only) beats z (3rd by text).
        assert_eq!(names(&fused), ["y", "x", "text w", "z"]);
        assert!((fused[0].0 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert!((fused[2].0 - 1.0 / 62.0).abs() < 1e-6);
    }

    #[test]
    fn sections_holding_every_word_come_first() {
        // x and z hold every query word; the vector side prefers w, then y.
        let text = vec![hit("x"), hit("z"), hit("y")];
        let nearest: Vec<String> = ["w", "y", "z"].iter().map(|s| s.to_string()).collect();
        let fused = fuse(text, 2, 1.0, &nearest);
        assert_eq!(names(&fused), ["z", "x", "y", "text w"]);
        assert!(fused.windows(2).all(|w| w[0].0 >= w[1].0));
    }

    #[test]
    fn a_keyword_side_that_found_little_of_the_query_weighs_less() {
        // The keyword side's first hit x is the vector side's 3rd; the vector side's first is w.
        let nearest: Vec<String> = ["w", "v", "x"].iter().map(|s| s.to_string()).collect();
        let full = fuse(vec![hit("x"), hit("y")], 0, 1.0, &nearest);
        assert_eq!(names(&full)[0], "x", "full weight: agreement wins");
        let weak = fuse(vec![hit("x"), hit("y")], 0, 0.01, &nearest);
        assert_eq!(
            names(&weak)[..2],
            ["text w", "text v"],
            "{:?}",
            names(&weak)
        );
    }
}
