//! The optional second stage: a cross-encoder reads the query together with each of the first
//! stage's top candidates (pages' best sections, or sections) and orders them by its score.
//! Slow next to the first stage (one encoder pass per candidate), so it sees only the top
//! [`RERANK_CANDIDATES`], each cut to the model's pair length.

use std::sync::Arc;

use anyhow::Result;
use sagasu_embed::Reranker;

use super::on_rayon;
use super::SectionHit;

/// Candidates the cross-encoder reads when reranking. 20 pairs of 256 tokens with the
/// ruri-v3-30m shape run in under a second on 2 cores (bench/rerank_latency.sh); a known
/// item the first stage ranks below 20 is not recovered.
pub const RERANK_CANDIDATES: usize = 20;

/// What the cross-encoder reads of a section: where it sits, then its text.
fn passage(hit: &SectionHit) -> String {
    let mut where_ = Vec::new();
    if let Some(t) = &hit.title {
        if hit.heading_path.first() != Some(t) {
            where_.push(t.as_str());
        }
    }
    where_.extend(hit.heading_path.iter().map(String::as_str));
    if where_.is_empty() {
        hit.text.clone()
    } else {
        format!("{}\n{}", where_.join(" > "), hit.text)
    }
}

/// Scores every hit (texts filled) with the cross-encoder on the rayon pool; returns the
/// scores in hit order.
pub async fn rerank_scores(
    reranker: &Arc<Reranker>,
    query: &str,
    hits: &[&SectionHit],
) -> Result<Vec<f32>> {
    let docs: Vec<String> = hits.iter().map(|h| passage(h)).collect();
    let (r, q) = (Arc::clone(reranker), query.to_string());
    on_rayon("the reranker", move || {
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        r.score(&q, &refs)
    })
    .await
}

/// Orders `items` by `score`, best first; ties keep the first stage's order (a stable sort).
pub fn best_first<T>(items: &mut [T], score: impl Fn(&T) -> f32) {
    items.sort_by(|a, b| score(b).total_cmp(&score(a)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_first_and_ties_keep_their_order() {
        let scores = [0.1f32, 0.9, 0.5, 0.9];
        let mut order: Vec<usize> = (0..scores.len()).collect();
        best_first(&mut order, |&i| scores[i]);
        assert_eq!(order, [1, 3, 2, 0]);
        let mut none: Vec<usize> = Vec::new();
        best_first(&mut none, |_| 0.0);
        assert!(none.is_empty());
    }

    #[test]
    fn the_passage_says_where_the_text_sits() {
        let mut hit = SectionHit::from(crate::store::FoundSection {
            id: "a.md#1".into(),
            collection: "docs".into(),
            path: "a.md".into(),
            heading_path: vec!["例外".into(), "ベストプラクティス".into()],
            start_line: 1,
            end_line: 3,
            title: Some("例外とエラー処理".into()),
            link_share: 0.0,
            text: "本文".into(),
            row_id: None,
            text_hash: String::new(),
            body_hash: String::new(),
            score: 0.0,
        });
        assert_eq!(
            passage(&hit),
            "例外とエラー処理 > 例外 > ベストプラクティス\n本文"
        );
        hit.heading_path[0] = "例外とエラー処理".into();
        assert_eq!(passage(&hit), "例外とエラー処理 > ベストプラクティス\n本文");
    }
}
