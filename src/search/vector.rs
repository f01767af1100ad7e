//! Vector ranking: the query's embedding against the texts' vectors.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use sagasu_embed::Embedder;

use super::on_rayon;
use super::SectionHit;
use crate::hash::hash_key;
use crate::store::vectors::Search;
use crate::store::{Filter, Store};

/// Up to this many distinct texts under a filter, the vector search is pre-filtered by
/// their hashes (when over-fetching did not find enough); above it, it over-fetches further.
const PREFILTER_MAX_HASHES: usize = 20_000;

/// Under a filter, the vector search first asks for this many times the texts wanted.
const OVERFETCH: usize = 10;

/// The share of the mean of the index's vectors taken off a query's vector before the
/// vector search, which then ranks texts by `q·d − HUB_CORRECTION × mean·d`.
///
/// Why: an encoder's vectors share one direction (multilingual-e5-small on cpp-docs-ja: the
/// mean's length is 0.92 of a vector's), so raw cosine favours texts near the mean for
/// every query: short generic sections ("構文", "戻り値") become hubs that crowd the nearest
/// 50. A query unlike the indexed texts suffers most: an English sentence against Japanese
/// pages found its page at section rank 139 behind such hubs. Removing the whole mean (1)
/// lifts those queries most but also lifts texts far from the mean (code, English) for
/// every query, and titles and verbatim sentences lose; a quarter was chosen on cpp-docs-ja
/// and checked on oss-docs-ja (ARCHITECTURE.md, "Hubs and the mean vector").
pub const HUB_CORRECTION: f32 = 0.25;

/// `qv` less [`HUB_CORRECTION`] × the index's mean vector (`qv` as it is without one).
pub fn corrected(mut qv: Vec<f32>, mean: Option<&[f32]>) -> Vec<f32> {
    if let Some(mean) = mean.filter(|m| m.len() == qv.len()) {
        for (q, m) in qv.iter_mut().zip(mean) {
            *q -= HUB_CORRECTION * m;
        }
    }
    qv
}

/// Embeds the query on the rayon pool, so that the async worker stays free meanwhile, and
/// corrects it by the index's mean vector ([`corrected`]).
pub async fn embed_query(e: &Arc<Embedder>, mean: Option<&[f32]>, query: &str) -> Result<Vec<f32>> {
    let (e, q) = (Arc::clone(e), query.to_string());
    let qv = on_rayon("the query embedding", move || e.embed_query(&q)).await?;
    Ok(corrected(qv, mean))
}

/// Nearest sections by embedding; score = cosine similarity to the (corrected) query.
pub async fn vector_search(
    store: &Store,
    qv: &[f32],
    filter: Option<&Filter>,
    k: usize,
) -> Result<Vec<SectionHit>> {
    let nearest = nearest_texts(store, qv, filter, k).await?;
    let hashes: Vec<String> = nearest.iter().map(|(h, _)| h.clone()).collect();
    let mut sections: Vec<SectionHit> = store
        .sections_by_hash(&hashes, filter)
        .await?
        .into_iter()
        .map(SectionHit::from)
        .collect();
    let rank: HashMap<&str, (usize, f32)> = nearest
        .iter()
        .enumerate()
        .map(|(i, (h, d))| (h.as_str(), (i, *d)))
        .collect();
    sections.retain(|s| rank.contains_key(s.text_hash.as_str()));
    for s in &mut sections {
        let (r, distance) = rank[s.text_hash.as_str()];
        s.score = 1.0 - distance;
        s.explain.vector_rank = Some(r + 1);
        s.explain.vector_distance = Some(distance);
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

/// The `k` texts nearest to `qv` that have a section under `filter` (hash, cosine distance),
/// best first.
///
/// Under a filter it first over-fetches ([`OVERFETCH`] × `k`) and keeps the texts that have
/// a section under the filter (LanceDB tests it on their rows, found by the hash index):
/// when `k` of them pass, they are the `k` nearest that pass. Only when fewer do is the
/// search restricted up front to the hashes of the texts under the filter, an IN list that
/// LanceDB tests on every vector (oss-docs-ja, 446 pages, `--where toc!=false`: hybrid p50
/// 110 ms that way against 19 ms unfiltered), or with more than [`PREFILTER_MAX_HASHES`] of
/// them, over-fetched further and filtered after.
pub async fn nearest_texts(
    store: &Store,
    qv: &[f32],
    filter: Option<&Filter>,
    k: usize,
) -> Result<Vec<(String, f32)>> {
    let Some(f) = filter else {
        return Ok(store.search_vectors(qv, k, None, Search::Indexed).await?);
    };
    let wide = store
        .search_vectors(qv, k * OVERFETCH, None, Search::Indexed)
        .await?;
    let keys: Vec<_> = wide.iter().map(|(h, _)| hash_key(h)).collect();
    let under = store
        .section_hashes(Some(&Filter::TextHashes(keys).and(f.clone())))
        .await?;
    let mut nearest: Vec<(String, f32)> = wide
        .into_iter()
        .filter(|(h, _)| under.contains(&hash_key(h)))
        .collect();
    if nearest.len() >= k {
        nearest.truncate(k);
        return Ok(nearest);
    }
    let hashes = store.section_hashes(Some(f)).await?;
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    if hashes.len() <= PREFILTER_MAX_HASHES {
        let only = Filter::TextHashes(hashes.into_iter().collect());
        return Ok(store
            .search_vectors(qv, k, Some(&only), Search::Indexed)
            .await?);
    }
    let mut nearest = store
        .search_vectors(qv, k * 20, None, Search::Indexed)
        .await?;
    nearest.retain(|(h, _)| hashes.contains(&hash_key(h)));
    nearest.truncate(k);
    Ok(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_corrected_by_a_share_of_the_mean() {
        let q = vec![0.5, 0.5, 0.0];
        assert_eq!(
            corrected(q.clone(), Some(&[0.4, 0.0, -0.8])),
            vec![0.5 - 0.4 * HUB_CORRECTION, 0.5, 0.8 * HUB_CORRECTION]
        );
        assert_eq!(corrected(q.clone(), None), q, "no mean: as it is");
        assert_eq!(
            corrected(q.clone(), Some(&[1.0, 1.0])),
            q,
            "a mean of another model's length is not used"
        );
    }
}
