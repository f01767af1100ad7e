//! Field-aware ranking of keyword candidates: BM25 over the section's terms, plus how much
//! of the query the page title and the section's heading path hold, minus link lists and
//! text repeated across pages.
//!
//! The full-text index holds one column (the section's text with its heading line, and the
//! page title folded into the first section), so it finds candidates whatever field a query
//! word is in; this pass then scores the fields apart (a BM25F-like sum with its own
//! weights), on the few hundred candidates the index returns. Why not a second index on
//! titles: that costs every run index time, and a title word is already in the candidates.
//!
//! Demotion is structural and language-free: a section whose body is mostly link text (a
//! "See also" list, a table of contents) or whose text recurs verbatim on several of the
//! candidate pages (boilerplate) is multiplied down, never dropped: searching its words still
//! finds it when nothing better matches.

use std::collections::{HashMap, HashSet};

use super::{Explain, SectionHit};
use crate::ingest::terms::query_terms;

/// The weights of the fields and demotions, chosen on cpp-docs-ja query sets
/// (bench/relevance.sh; ARCHITECTURE.md has the table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Added per share of the query's terms found in the page title.
    pub title: f32,
    /// Added per share of the query's terms found in the section's heading path.
    pub heading: f32,
    /// A section wholly of link text keeps `1 - link` of its score.
    pub link: f32,
    /// A section whose text is on n candidate pages keeps `1 / (1 + repeat·(n-1))`.
    pub repeat: f32,
}

pub const WEIGHTS: Weights = Weights {
    title: 0.3,
    heading: 0.1,
    link: 0.6,
    repeat: 0.5,
};

/// Rescores keyword candidates (the first `every_word` hold every query word) in place and
/// sorts them, best first: tier, then `(bm25 share + field matches) × demotions`, scaled into
/// [0, 1) so that the tier stays an integer step.
pub fn rank_fields(wanted: &Wanted, hits: &mut [SectionHit], every_word: usize, w: &Weights) {
    let best = hits.iter().map(|h| h.score).fold(0.0f32, f32::max);
    // Pages holding each text among the candidates.
    let mut pages: HashMap<&str, HashSet<&str>> = HashMap::new();
    for h in hits.iter() {
        pages
            .entry(h.text_hash.as_str())
            .or_default()
            .insert(h.path.as_str());
    }
    let repeated: Vec<usize> = hits
        .iter()
        .map(|h| pages[h.text_hash.as_str()].len())
        .collect();
    // Pages share titles and headings ("概要", "関連項目"): analyse each string once.
    let mut seen: HashMap<String, f32> = HashMap::new();
    let mut overlap_of = |field: &str| -> f32 {
        if let Some(&v) = seen.get(field) {
            return v;
        }
        let v = wanted.overlap(&query_terms(field));
        seen.insert(field.to_string(), v);
        v
    };
    for (i, (h, repeated_on)) in hits.iter_mut().zip(repeated).enumerate() {
        let title_match = h.title.as_deref().map_or(0.0, &mut overlap_of);
        let heading_match = h
            .heading_path
            .iter()
            .map(|heading| overlap_of(heading))
            .fold(0.0, f32::max);
        let bm25_share = if best > 0.0 { h.score / best } else { 0.0 };
        let tier = u8::from(i < every_word);
        let demote = (1.0 - w.link * h.link_share.clamp(0.0, 1.0))
            / (1.0 + w.repeat * (repeated_on.saturating_sub(1)) as f32);
        h.explain = Explain {
            bm25: Some(h.score),
            bm25_share: Some(bm25_share),
            title_match,
            heading_match,
            link_share: h.link_share,
            repeated_on,
            tier,
            ..Explain::default()
        };
        h.score = f32::from(tier)
            + (bm25_share + w.title * title_match + w.heading * heading_match) * demote
                / (1.0 + w.title + w.heading);
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    for (rank, h) in hits.iter_mut().enumerate() {
        h.explain.keyword_rank = Some(rank + 1);
    }
}

/// A query's distinct search terms, to compare with a field's or a section's terms.
pub struct Wanted(HashSet<String>);

impl Wanted {
    /// From analysed terms, space-separated ([`query_terms`]).
    pub fn new(terms: &str) -> Wanted {
        Wanted(terms.split_whitespace().map(str::to_string).collect())
    }

    fn shared(&self, terms: &str) -> (usize, usize) {
        let have: HashSet<&str> = terms.split_whitespace().collect();
        let shared = self.0.iter().filter(|t| have.contains(t.as_str())).count();
        (shared, have.len())
    }

    /// Share of the query's terms that `terms` hold (0 for a query without terms).
    pub fn share_in(&self, terms: &str) -> f32 {
        match self.0.len() {
            0 => 0.0,
            n => self.shared(terms).0 as f32 / n as f32,
        }
    }

    /// How alike the query's terms and a field's `terms` are: shared terms over all terms of
    /// either (Jaccard), so that a field scores high only when it says about what the query
    /// says — a long title that happens to hold the query's three words scores low.
    pub fn overlap(&self, terms: &str) -> f32 {
        let (shared, have) = self.shared(terms);
        match self.0.len() + have - shared {
            0 => 0.0,
            union => shared as f32 / union as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(
        id: &str,
        path: &str,
        title: &str,
        headings: &[&str],
        text: &str,
        bm25: f32,
    ) -> SectionHit {
        SectionHit::from(crate::store::FoundSection {
            id: id.into(),
            path: path.into(),
            heading_path: headings.iter().map(|s| s.to_string()).collect(),
            start_line: 1,
            end_line: 2,
            title: Some(title.into()),
            link_share: 0.0,
            text: text.into(),
            text_hash: crate::hash::content_hash(text.as_bytes()),
            score: bm25,
            row_id: None,
        })
    }

    #[test]
    fn a_page_titled_by_the_query_beats_link_lists_that_name_it() {
        let q = "例外処理のベストプラクティス";
        let mut see_also = Vec::new();
        for i in 0..5 {
            let mut h = hit(
                &format!("other{i}.md#9"),
                &format!("other{i}.md"),
                &format!("別のページ {i}"),
                &["関連項目"],
                &format!("関連項目\n例外処理のベストプラクティス\n別の話 {i}"),
                9.0,
            );
            h.link_share = 0.9;
            see_also.push(h);
        }
        let mut hits = see_also;
        hits.push(hit(
            "target.md#0",
            "target.md",
            "例外処理のベストプラクティス",
            &["例外処理のベストプラクティス"],
            "例外処理のベストプラクティス\n例外を使うと……",
            6.0,
        ));
        rank_fields(&Wanted::new(&query_terms(q)), &mut hits, 6, &WEIGHTS);
        assert_eq!(hits[0].path, "target.md", "{hits:#?}");
        assert_eq!(hits[0].explain.title_match, 1.0);
        assert_eq!(hits[0].explain.keyword_rank, Some(1));
        // Demoted, not dropped, and still above sections without every word.
        assert_eq!(hits.len(), 6);
        assert!(hits.iter().all(|h| h.score >= 1.0));
    }

    #[test]
    fn text_repeated_across_pages_ranks_below_the_same_words_said_once() {
        let boiler = "このページは自動生成されています 設定";
        let mut hits: Vec<SectionHit> = (0..4)
            .map(|i| {
                hit(
                    &format!("p{i}.md#5"),
                    &format!("p{i}.md"),
                    "p",
                    &["フッター"],
                    boiler,
                    5.0,
                )
            })
            .collect();
        hits.push(hit("q.md#1", "q.md", "q", &["本文"], "設定の手順", 4.0));
        rank_fields(&Wanted::new(&query_terms("設定")), &mut hits, 5, &WEIGHTS);
        assert_eq!(hits[0].path, "q.md");
        assert_eq!(hits[1].explain.repeated_on, 4);
    }

    #[test]
    fn tiers_are_kept() {
        let mut hits = vec![
            hit("a.md#0", "a.md", "x", &["x"], "設定 接続", 1.0),
            hit("b.md#0", "b.md", "設定 接続", &["設定 接続"], "設定", 9.0),
        ];
        rank_fields(
            &Wanted::new(&query_terms("設定 接続")),
            &mut hits,
            1,
            &WEIGHTS,
        );
        assert_eq!(
            hits[0].path, "a.md",
            "every word beats a better title with some words"
        );
        assert_eq!(hits[0].explain.tier, 1);
        assert_eq!(hits[1].explain.tier, 0);
    }
}
