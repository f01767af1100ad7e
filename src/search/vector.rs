//! Vector ranking: the query's embedding against the texts' vectors.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use sagasu_embed::Embedder;

use super::density::{self, dot};
use super::on_rayon;
use super::SectionHit;
use crate::hash::{hash_key, HashKey};
use crate::store::vectors::{NearText, Search};
use crate::store::{Filter, Store};

/// Under a filter, the vector search first asks for this many times the texts wanted. Fewer
/// cost less when most texts pass (3 × a hybrid depth of 200: `--path-prefix docs/` on
/// cpp-docs-ja's subset 101 ms p50 against 134) but more when about half do (a second search:
/// `docs/mfc/` 179 against 106), and a search over a small index compares every vector
/// whatever it asks for (ARCHITECTURE.md, "Filtered vector search").
const OVERFETCH: usize = 10;

/// Up to this many distinct texts under a filter, when too few pass among the over-fetched,
/// their vectors are read and compared to the query here: exact, and one filtered read. On
/// cpp-docs-ja's subset (24,514 vectors of 384 dims) a hybrid query under `docs/cpp/` (211
/// texts) took 123 ms p50 against 197 for LanceDB's search pre-filtered by their hashes (an
/// `IN` list it tests on every vector); the direct read of 211 vectors took 5.5 ms against
/// ~45 for that search; under `docs/mfc/` (14,112 texts), in an experimental build whose 3×
/// first over-fetch sent many queries here, hybrid p95 was 393 against 878.
const DIRECT_MAX_HASHES: usize = 20_000;

/// With more texts under a filter than [`DIRECT_MAX_HASHES`] but too few among the nearest,
/// the search asks for this many times the texts wanted and keeps those under the filter,
/// which may be fewer than wanted.
const LAST_OVERFETCH: usize = 20;

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
    let nearest = ranked_texts(store, qv, filter, k).await?;
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

/// The vector side's `k` best texts under `filter` (hash, distance), best first: the
/// [`density::POOL`] nearest (or `k`, if more), corrected for local hubs
/// ([`density::rescore`]), so that a distance is the cosine distance plus the text's hub
/// penalty for this query.
pub async fn ranked_texts(
    store: &Store,
    qv: &[f32],
    filter: Option<&Filter>,
    k: usize,
) -> Result<Vec<(String, f32)>> {
    let pool = k.max(density::POOL);
    let found = nearest_texts(store, qv, filter, pool).await?;
    let rows: Vec<u64> = found.iter().map(|t| t.row).collect();
    let vectors = store.vectors_at(&rows).await?;
    let mut nearest: Vec<(String, f32)> = found.into_iter().map(|t| (t.hash, t.distance)).collect();
    let vectors: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
    density::rescore(&mut nearest, &vectors);
    nearest.truncate(k);
    Ok(nearest)
}

/// The `k` texts nearest to `qv` that have a section under `filter`, best first.
///
/// Under a filter it over-fetches ([`OVERFETCH`] × `k`) and keeps the texts that have a
/// section under the filter (LanceDB tests it on their rows, found by the hash index): when
/// `k` of them pass, they are the `k` nearest that pass. Failing that, it looks up the texts
/// under the filter: up to [`DIRECT_MAX_HASHES`] of them are compared here, exactly; with
/// more, it over-fetches [`LAST_OVERFETCH`] × `k` and keeps those among them.
pub async fn nearest_texts(
    store: &Store,
    qv: &[f32],
    filter: Option<&Filter>,
    k: usize,
) -> Result<Vec<NearText>> {
    nearest_texts_with(store, qv, filter, k, DIRECT_MAX_HASHES).await
}

/// [`nearest_texts`] with the bound of the direct comparison given (tests take each way).
pub(crate) async fn nearest_texts_with(
    store: &Store,
    qv: &[f32],
    filter: Option<&Filter>,
    k: usize,
    direct_max: usize,
) -> Result<Vec<NearText>> {
    let Some(f) = filter else {
        return Ok(store
            .search_vector_rows(qv, k, None, Search::Indexed)
            .await?);
    };
    let mut nearest = over_fetch(store, qv, f, k * OVERFETCH).await?;
    if nearest.len() >= k {
        nearest.truncate(k);
        return Ok(nearest);
    }
    let hashes = store.section_hashes(Some(f)).await?;
    let mut nearest = if hashes.is_empty() {
        Vec::new()
    } else if hashes.len() <= direct_max {
        let keys: Vec<_> = hashes.into_iter().collect();
        nearest_of(store, qv, &keys).await?
    } else {
        let mut wide = store
            .search_vector_rows(qv, k * LAST_OVERFETCH, None, Search::Indexed)
            .await?;
        wide.retain(|t| hashes.contains(&hash_key(&t.hash)));
        wide
    };
    nearest.truncate(k);
    Ok(nearest)
}

/// The `n` texts nearest to `qv` less those without a section under `filter`, best first.
async fn over_fetch(store: &Store, qv: &[f32], filter: &Filter, n: usize) -> Result<Vec<NearText>> {
    let wide = store
        .search_vector_rows(qv, n, None, Search::Indexed)
        .await?;
    let keys: Vec<_> = wide.iter().map(|t| hash_key(&t.hash)).collect();
    let under = store
        .section_hashes(Some(&Filter::TextHashes(keys).and(filter.clone())))
        .await?;
    Ok(wide
        .into_iter()
        .filter(|t| under.contains(&hash_key(&t.hash)))
        .collect())
}

/// The texts `keys` ordered by cosine distance to `qv` (ties by hash), as LanceDB's search
/// would order them; each vector is read and compared in place, never copied, so 20,000 of
/// them cost no more memory than their distances.
async fn nearest_of(store: &Store, qv: &[f32], keys: &[HashKey]) -> Result<Vec<NearText>> {
    let norm = |v: &[f32]| dot(v, v).sqrt();
    let qn = norm(qv);
    let mut out = Vec::with_capacity(keys.len());
    store
        .visit_vectors_of(keys, |h, row, v| {
            let cos = dot(v, qv) / (qn * norm(v)).max(f32::MIN_POSITIVE);
            out.push(NearText {
                hash: h.to_string(),
                distance: 1.0 - cos,
                row,
            });
        })
        .await?;
    out.sort_by(|a, b| {
        a.distance
            .total_cmp(&b.distance)
            .then_with(|| a.hash.cmp(&b.hash))
    });
    Ok(out)
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
