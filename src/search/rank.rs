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
//! candidate pages (boilerplate) has its body's evidence multiplied down, never dropped:
//! searching its words still finds it when nothing better matches. Its page title and
//! headings keep their weight: they are the page's own words wherever the section sits.

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
    /// A section wholly of link text keeps `1 - link` of its body's score (BM25 and
    /// proximity; the title and headings are not demoted).
    pub link: f32,
    /// A section whose text is on n candidate pages keeps `1 / (1 + repeat·(n-1))` of its
    /// body's score.
    pub repeat: f32,
    /// Added per share of the query's adjacent term pairs found adjacent, in order, in the
    /// section ([`Phrases`]): 「例外処理」 beats 例外 … 処理 far apart.
    pub proximity: f32,
}

pub const WEIGHTS: Weights = Weights {
    title: 0.3,
    heading: 0.1,
    link: 0.6,
    repeat: 0.5,
    proximity: PROXIMITY,
};

/// The default [`Weights::proximity`], chosen on cpp-docs-ja's 3-word queries and checked on
/// oss-docs-ja's (bench/relevance.sh): hits@1 .591 → .694 and .661 → .775; 0.5 gave .680 on
/// cpp-docs-ja, 2 gave .703 but lost titles .004. ARCHITECTURE.md has every set.
pub const PROXIMITY: f32 = 1.0;

/// Rescores keyword candidates (the first `every_word` hold every query word) in place and
/// sorts them, best first: tier, then `(bm25 share + proximity) × demotions + field matches`,
/// scaled into [0, 1) so that the tier stays an integer step. `proximity`: each hit's share
/// of the query's phrases ([`Phrases::share_in`]), or empty when not measured.
pub fn rank_fields(
    wanted: &Wanted,
    hits: &mut [SectionHit],
    every_word: usize,
    w: &Weights,
    proximity: &[f32],
) {
    let best = hits.iter().map(|h| h.score).fold(0.0f32, f32::max);
    // Pages holding each text among the candidates (the text alone: not its vector's key,
    // which holds the page's title).
    let mut pages: HashMap<&str, HashSet<&str>> = HashMap::new();
    for h in hits.iter() {
        pages
            .entry(h.body_hash.as_str())
            .or_default()
            .insert(h.path.as_str());
    }
    let repeated: Vec<usize> = hits
        .iter()
        .map(|h| pages[h.body_hash.as_str()].len())
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
        // Nearness orders the sections that hold every word; among the others it rewarded
        // pages quoting a few words of a description over the page it describes.
        let near = if i < every_word {
            proximity.get(i).copied().unwrap_or(0.0)
        } else {
            0.0
        };
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
            proximity: near,
            ..Explain::default()
        };
        // Demotions weigh the body's evidence only: the page's title and the section's headings
        // are not link text nor boilerplate, and a table of contents that opens the page
        // titled by the query is still on that page.
        h.score = f32::from(tier)
            + ((bm25_share + w.proximity * near) * demote
                + w.title * title_match
                + w.heading * heading_match)
                / (1.0 + w.title + w.heading + w.proximity);
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    for (rank, h) in hits.iter_mut().enumerate() {
        h.explain.keyword_rank = Some(rank + 1);
    }
}

/// The query's phrases as pairs of terms that follow each other in it: within one of its
/// words (a whitespace-separated piece) they must be adjacent in the section, as ICU splits
/// 「例外処理」 into 例外 / 処理 and a section holding them adjacent says what the query says
/// more closely than one holding them far apart; across the query's spaces (`RFQ ケース
/// 仕入先`), within [`NEAR_GAP`] terms, in order.
pub struct Phrases {
    /// Term → (a term that follows it, the most positions it may follow by, pair number).
    next: HashMap<String, Vec<(String, usize, usize)>>,
    pairs: usize,
}

/// Most positions apart two terms of consecutive query words may be and still count as near
/// (stop words are not in the terms, so 「翻訳の利用」 puts 翻訳 and 利用 1 apart). On
/// cpp-docs-ja's 3-word queries (bench/relevance.sh) 1, 2, 3 and 4 gave hits@1 .690, .695,
/// .680 and .671 at weight 1; adjacency within query words alone, .595.
pub const NEAR_GAP: usize = 2;

/// Phrases are those of queries made of words: at most this many terms in all, and at most
/// [`WORD_MAX_TERMS`] in each whitespace-separated piece. A sentence (Japanese has no spaces
/// to split it) or a long question is not quoted by the page it means: rewarding the pages
/// that do hold its phrases cost cpp-docs-ja's descriptions .036 at hits@5. Words and
/// compounds are where the order and nearness of the terms tell pages apart.
pub const PHRASE_MAX_TERMS: usize = 10;
/// Most terms one piece of a query may have to be a word or compound (「例外処理」: 2).
pub const WORD_MAX_TERMS: usize = 4;

impl Phrases {
    pub fn new(query: &str) -> Phrases {
        let mut next: HashMap<String, Vec<(String, usize, usize)>> = HashMap::new();
        let mut pairs = 0;
        let mut last: Option<String> = None;
        let words: Vec<String> = query.split_whitespace().map(query_terms).collect();
        let counts: Vec<usize> = words.iter().map(|w| w.split_whitespace().count()).collect();
        if counts.iter().sum::<usize>() > PHRASE_MAX_TERMS
            || counts.iter().any(|&n| n > WORD_MAX_TERMS)
        {
            return Phrases { next, pairs };
        }
        for terms in &words {
            for (i, t) in terms.split_whitespace().enumerate() {
                if let Some(prev) = last.take() {
                    let gap = if i == 0 { NEAR_GAP } else { 1 };
                    next.entry(prev)
                        .or_default()
                        .push((t.to_string(), gap, pairs));
                    pairs += 1;
                }
                last = Some(t.to_string());
            }
        }
        Phrases { next, pairs }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    /// Share of the phrases that `terms` (a section's, in order) hold near enough, in order.
    pub fn share_in(&self, terms: &str) -> f32 {
        if self.pairs == 0 {
            return 0.0;
        }
        let terms: Vec<&str> = terms.split_whitespace().collect();
        let mut found = vec![false; self.pairs];
        for (i, t) in terms.iter().enumerate() {
            let Some(follow) = self.next.get(*t) else {
                continue;
            };
            for (b, gap, n) in follow {
                let end = (i + 1 + gap).min(terms.len());
                if !found[*n] && terms[i + 1..end].iter().any(|x| x == b) {
                    found[*n] = true;
                }
            }
        }
        found.iter().filter(|f| **f).count() as f32 / self.pairs as f32
    }
}

/// The query's terms in order, to find the longest run of them that a section holds one
/// after another, in the query's order: a section that states the query's phrase (a quoted
/// sentence, keywords taken from one line of a page) holds a long run; one that holds the
/// words scattered holds runs of one. Unlike [`Phrases`] it counts for queries of any length
/// (a run grows with what is quoted) and for sections that lack some of the query's words.
pub struct Run {
    terms: Vec<String>,
    /// Term → its positions in the query.
    at: HashMap<String, Vec<usize>>,
}

impl Run {
    /// From analysed terms, space-separated ([`query_terms`]).
    pub fn new(terms: &str) -> Run {
        let terms: Vec<String> = terms.split_whitespace().map(str::to_string).collect();
        let mut at: HashMap<String, Vec<usize>> = HashMap::new();
        for (j, t) in terms.iter().enumerate() {
            at.entry(t.clone()).or_default().push(j);
        }
        Run { terms, at }
    }

    /// How many terms the query has.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// The longest run of consecutive query terms that `terms` (a section's, in order) hold
    /// consecutively, in terms.
    pub fn longest_in(&self, terms: &str) -> usize {
        let terms: Vec<&str> = terms.split_whitespace().collect();
        let mut best = 0;
        for (i, t) in terms.iter().enumerate() {
            let Some(starts) = self.at.get(*t) else {
                continue;
            };
            for &j in starts {
                let n = terms[i..]
                    .iter()
                    .zip(&self.terms[j..])
                    .take_while(|(a, b)| **a == b.as_str())
                    .count();
                best = best.max(n);
            }
            if best == self.terms.len() {
                break;
            }
        }
        best
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
            collection: "docs".into(),
            path: path.into(),
            heading_path: headings.iter().map(|s| s.to_string()).collect(),
            start_line: 1,
            end_line: 2,
            title: Some(title.into()),
            link_share: 0.0,
            text: text.into(),
            text_hash: crate::hash::content_hash(text.as_bytes()),
            body_hash: crate::hash::content_hash(text.as_bytes()),
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
        rank_fields(&Wanted::new(&query_terms(q)), &mut hits, 6, &WEIGHTS, &[]);
        assert_eq!(hits[0].path, "target.md", "{hits:#?}");
        assert_eq!(hits[0].explain.title_match, 1.0);
        assert_eq!(hits[0].explain.keyword_rank, Some(1));
        // Demoted, not dropped, and still above sections without every word.
        assert_eq!(hits.len(), 6);
        assert!(hits.iter().all(|h| h.score >= 1.0));
    }

    #[test]
    fn the_longest_run_of_query_terms_in_their_order() {
        let run = Run::new("a b c d");
        assert_eq!(run.term_count(), 4);
        assert_eq!(run.longest_in("x a b y b c d z"), 3);
        assert_eq!(run.longest_in("d c b a"), 1);
        assert_eq!(run.longest_in("x y"), 0);
        assert_eq!(run.longest_in("a b c d"), 4);
        // A term the query repeats starts a run at each of its places.
        assert_eq!(Run::new("a b a c").longest_in("z a c"), 2);
        assert_eq!(Run::new("").term_count(), 0);
    }

    #[test]
    fn a_table_of_contents_keeps_the_title_of_its_page() {
        // The page titled by the query opens with a list of links to its sections; another
        // page holds the words in prose, a little less often.
        let mut toc = hit(
            "sdk.md#0",
            "sdk.md",
            "Tracing SDK",
            &["Tracing SDK"],
            "Tracing SDK Sampler Span Processor Span Exporter",
            10.0,
        );
        toc.link_share = 0.9;
        let prose = hit(
            "layout.md#7",
            "layout.md",
            "Package layout",
            &["Package layout", "sdk"],
            "the tracing SDK lives here",
            7.0,
        );
        let mut hits = vec![prose, toc];
        let w = Wanted::new(&query_terms("Tracing SDK"));
        rank_fields(&w, &mut hits, 2, &WEIGHTS, &[]);
        assert_eq!(hits[0].path, "sdk.md", "{hits:#?}");
        // Its body is still demoted: without the title the prose wins.
        let mut untitled = hits.clone();
        for h in &mut untitled {
            h.title = None;
            h.heading_path.clear();
            h.score = if h.path == "sdk.md" { 10.0 } else { 7.0 };
        }
        rank_fields(&w, &mut untitled, 2, &WEIGHTS, &[]);
        assert_eq!(untitled[0].path, "layout.md", "{untitled:#?}");
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
        rank_fields(
            &Wanted::new(&query_terms("設定")),
            &mut hits,
            5,
            &WEIGHTS,
            &[],
        );
        assert_eq!(hits[0].path, "q.md");
        assert_eq!(hits[1].explain.repeated_on, 4);
    }

    #[test]
    fn phrases_are_adjacent_terms_within_a_query_word() {
        let p = Phrases::new("例外処理 ベストプラクティス");
        assert!(!p.is_empty());
        assert!(
            Phrases::new("例外は送出された場所から呼び出し元へ伝わります").is_empty(),
            "a sentence has no phrases"
        );
        let together = query_terms("例外処理のベストプラクティスを示す");
        let apart = query_terms("例外が起きたときの処理とベストプラクティス");
        assert!(
            p.share_in(&together) > p.share_in(&apart),
            "{together} / {apart}"
        );
        let words = Phrases::new("設定 接続");
        assert_eq!(words.share_in("設定 a 接続"), 1.0, "near across a space");
        assert_eq!(words.share_in("設定 a b 接続"), 0.0, "too far");
        assert_eq!(words.share_in("接続 設定"), 0.0, "out of order");
        // With proximity counted, of two sections holding every word the one holding the
        // compound whole ranks first, whatever BM25 says.
        let mut hits = vec![
            hit("a.md#0", "a.md", "a", &["a"], "例外 … 処理", 2.0),
            hit("b.md#0", "b.md", "b", &["b"], "例外処理", 1.8),
        ];
        let w = Weights {
            proximity: 0.3,
            ..WEIGHTS
        };
        rank_fields(
            &Wanted::new(&query_terms("例外処理")),
            &mut hits,
            2,
            &w,
            &[0.0, 1.0],
        );
        assert_eq!(hits[0].path, "b.md");
        assert_eq!(hits[0].explain.proximity, 1.0);
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
            &[],
        );
        assert_eq!(
            hits[0].path, "a.md",
            "every word beats a better title with some words"
        );
        assert_eq!(hits[0].explain.tier, 1);
        assert_eq!(hits[1].explain.tier, 0);
    }
}
