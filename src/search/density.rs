//! Local hub correction: a text that sits among many of the query's other candidates, closer
//! to them than the query is, is a hub for this query and loses part of its similarity.
//!
//! Why: a query unlike the indexed texts (an English sentence over Japanese pages) lies
//! outside their cloud, and its nearest texts are then those at the cloud's dense centre —
//! short, generic sections (「構文」 over one line of code) — rather than its page. Centring
//! by the mean ([`super::vector::HUB_CORRECTION`]) removes the part every query shares; this
//! removes what is left, locally. A candidate's mean similarity to its nearest fellow
//! candidates is the local density that CSLS subtracts (Conneau et al., ICLR 2018, "Word
//! translation without parallel data"; margin scoring in bitext mining, Artetxe & Schwenk,
//! ACL 2019), here taken among the candidates rather than over the whole index, so it needs
//! nothing stored. It applies by how far the query stands outside its candidates
//! ([`outside`]): a query in the documents' own language stands among them, where density is
//! relevance, and keeps its order. ARCHITECTURE.md, "Local hubs", has the measurements.

/// How many nearest texts the correction reorders: the vector side fetches this many whatever
/// it is asked for.
pub const POOL: usize = 200;

/// How many fellow candidates a text's local density is taken over.
pub const NEIGHBOURS: usize = 30;

/// The share of its local density a text loses when the query stands wholly outside.
pub const STRENGTH: f32 = 0.5;

/// From how far outside ([`outside`]) the correction starts…
pub const OUTSIDE_FROM: f32 = 0.55;
/// …and over how much more it grows to [`STRENGTH`].
pub const OUTSIDE_RAMP: f32 = 0.1;

/// Reorders `nearest` (hash, cosine distance to the query, best first; `vectors[i]` is
/// `nearest[i]`'s vector) by similarity less the share of local density the query's place
/// calls for, and gives each text that score as its distance (1 − score). Unchanged when the
/// query stands among its candidates, with fewer than two, or when `vectors` does not hold one
/// vector per text (the store's read by row id fails rather than return fewer).
pub fn rescore(nearest: &mut Vec<(String, f32)>, vectors: &[&[f32]]) {
    let n = nearest.len();
    let k = NEIGHBOURS.min(n.saturating_sub(1));
    if k == 0 || vectors.len() != n {
        return;
    }
    // The first `k` texts' density says whether to correct at all; the rest is only needed
    // then (most queries in the documents' language stop here: 30 rows of dot products,
    // not 200).
    let norms: Vec<f32> = vectors
        .iter()
        .map(|v| dot(v, v).sqrt().max(f32::MIN_POSITIVE))
        .collect();
    let mut density = local_density(vectors, &norms, 0..k, k);
    let share =
        STRENGTH * ((outside(nearest, &density, k) - OUTSIDE_FROM) / OUTSIDE_RAMP).clamp(0.0, 1.0);
    if share == 0.0 {
        return;
    }
    density.extend(local_density(vectors, &norms, k..n, k));
    for ((_, distance), r) in nearest.iter_mut().zip(&density) {
        *distance += share * r;
    }
    nearest.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
}

/// The mean cosine similarity of each vector in `rows` to its `k` most similar others
/// (`norms[i]`: `vectors[i]`'s length).
fn local_density(
    vectors: &[&[f32]],
    norms: &[f32],
    rows: std::ops::Range<usize>,
    k: usize,
) -> Vec<f32> {
    rows.map(|i| {
        let mut sims: Vec<f32> = (0..vectors.len())
            .filter(|&j| j != i)
            .map(|j| dot(vectors[i], vectors[j]) / (norms[i] * norms[j]))
            .collect();
        sims.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        sims[..k].iter().sum::<f32>() / k as f32
    })
    .collect()
}

/// How far the query stands outside its first `k` candidates: their mean local density less
/// the query's mean similarity to them, over what that similarity lacks of 1. 0: the query is
/// as close to them as they are to each other. With multilingual-e5-small its median is
/// 0.37–0.50 on query sets in the documents' language and 0.58–0.64 on English sentences over
/// Japanese pages (ARCHITECTURE.md, "Local hubs").
fn outside(nearest: &[(String, f32)], density: &[f32], k: usize) -> f32 {
    let near = nearest[..k].iter().map(|(_, d)| 1.0 - d).sum::<f32>() / k as f32;
    let dense = density[..k].iter().sum::<f32>() / k as f32;
    (dense - near) / (1.0 - near).max(f32::MIN_POSITIVE)
}

/// The dot product, summed over 8 lanes so that it vectorises.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector at `angle` radians in the plane of the first two axes.
    fn at(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin(), 0.0]
    }

    /// `vectors` ranked for a query at `query` (unit vectors): (hash, cosine distance).
    fn ranked(query: &[f32], vectors: &[Vec<f32>]) -> Vec<(String, f32)> {
        let mut out: Vec<(String, f32)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("t{i:02}"), 1.0 - dot(query, v)))
            .collect();
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        out
    }

    #[test]
    fn dot_matches_the_plain_sum_at_any_length() {
        for len in [0, 3, 8, 13, 384] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-4, "length {len}");
        }
    }

    #[test]
    fn a_query_outside_a_dense_cluster_prefers_the_text_that_stands_alone() {
        // Forty texts packed together (a hub cluster) and one on its own, all about equally
        // far from a query that stands off their plane: the cluster is nearer by a little.
        let mut vectors: Vec<Vec<f32>> = (0..40).map(|i| at(0.005 * i as f32)).collect();
        vectors.push(at(0.8));
        let query = {
            let (c, s) = (0.2f32.cos(), 0.2f32.sin());
            let mut q: Vec<f32> = at(0.45).iter().map(|x| x * c).collect();
            q[2] = s;
            q
        };
        let mut nearest = ranked(&query, &vectors);
        assert_ne!(
            nearest[0].0, "t40",
            "the cluster comes first before the correction"
        );
        let mut names_before: Vec<String> = nearest.iter().map(|(h, _)| h.clone()).collect();
        let refs: Vec<&[f32]> = nearest
            .iter()
            .map(|(h, _)| vectors[h[1..].parse::<usize>().unwrap()].as_slice())
            .collect();
        let norms = vec![1.0; refs.len()];
        let density = local_density(&refs, &norms, 0..NEIGHBOURS, NEIGHBOURS);
        assert!(outside(&nearest, &density, NEIGHBOURS) > OUTSIDE_FROM + OUTSIDE_RAMP);
        rescore(&mut nearest, &refs);
        assert_eq!(nearest[0].0, "t40");
        // Every text kept, each once.
        let mut names_after: Vec<String> = nearest.iter().map(|(h, _)| h.clone()).collect();
        names_before.sort();
        names_after.sort();
        assert_eq!(names_before, names_after);
    }

    #[test]
    fn a_query_among_its_candidates_keeps_their_order() {
        // The same cluster, and a query inside it: density is relevance here.
        let mut vectors: Vec<Vec<f32>> = (0..40).map(|i| at(0.005 * i as f32)).collect();
        vectors.push(at(0.8));
        let mut nearest = ranked(&at(0.1), &vectors);
        let before = nearest.clone();
        let refs: Vec<&[f32]> = nearest
            .iter()
            .map(|(h, _)| vectors[h[1..].parse::<usize>().unwrap()].as_slice())
            .collect();
        rescore(&mut nearest, &refs);
        assert_eq!(nearest, before);
    }

    #[test]
    fn one_candidate_or_none_is_left_as_it_is() {
        let mut one = vec![("a".to_string(), 0.3)];
        rescore(&mut one, &[&[1.0, 0.0]]);
        assert_eq!(one, vec![("a".to_string(), 0.3)]);
        let mut none: Vec<(String, f32)> = Vec::new();
        rescore(&mut none, &[]);
        assert!(none.is_empty());
    }
}
