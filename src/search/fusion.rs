//! Hybrid ranking: keyword and vector rankings fused by a convex combination of their
//! z-scores ([`Scores::ZScore`]), sections holding every query word lifted by a step
//! ([`TIER_STEP`]).
//!
//! Plain fusion let the vector side push the section that matched every word of a
//! description below one that merely looked alike (hits@1 0.961 against text's 0.985 with
//! multilingual-e5): hence the step, which a strict tier overdid (sections of other pages
//! holding every word of a generic sentence then buried the vector side's best). A keyword
//! side that matched only stray words (an English question over Japanese pages) is weighed
//! by how much of the query it found ([`keyword_evidence`]). A section that holds a run of
//! the query's terms in the query's order (a quoted sentence, keywords from one line) is
//! lifted by how much of the query the run covers ([`PHRASE_STEP`]). Scores rather than ranks:
//! reciprocal rank gives a vector side that barely prefers one page the same say as a keyword
//! side whose first page stands far above the rest, and with it hybrid lost to keyword search
//! on a corpus it was not tuned on. z-scores rather than min-max: min-max gives each side's
//! first candidate 1 however far ahead of the rest it stands, so no share suited both the
//! queries keyword search leads and those the vector side leads. The fusion is chosen on
//! cpp-docs-ja and checked on oss-docs-ja (`bench/fusion.sh`, ARCHITECTURE.md "Fusion").

use std::collections::{HashMap, HashSet};

use anyhow::Result;

use super::rank::{Run, Wanted};
use super::text::{text_search, Ranking, TermsWanted};
use super::vector::ranked_texts;
use super::SectionHit;
use crate::hash::{hash_key, page_key};
use crate::ingest::terms::query_terms;
use crate::store::vectors::Search;
use crate::store::{Filter, Store};

/// Reciprocal rank fusion constant (Cormack et al.; what LanceDB's RRF reranker uses).
pub const RRF_K: f32 = 60.0;

/// How the two rankings are fused. The default is chosen by `bench/relevance.sh` on one
/// corpus and checked on the other (ARCHITECTURE.md, "Fusion"); `eval --fusion SPEC` runs
/// another, for that bench.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    /// How the sides add up.
    pub method: Method,
    /// What a section holding every query word gets on top of its fused score (0: nothing).
    pub tier: f32,
    /// The keyword side counts by the share of the query its best sections hold, to this
    /// power (0: always fully).
    pub coverage_power: i32,
    /// How each side's scores are put on one scale before [`Method::Convex`] adds them.
    pub scores: Scores,
    /// Keyword candidates the vector side did not return get their own similarity (read for
    /// them: plain cosine, without the local hub penalty of [`super::density`]), and the
    /// vector side is normalised over all candidates of both sides.
    pub fill: bool,
    /// A section gets this share of the other side's best evidence for its page when that
    /// side did not return the section itself (0, the default: sections stand alone). With 1
    /// a page found by both sides, through different sections, counts as found by both: a
    /// bench option, not the default, because it did not carry over to oss-docs-ja
    /// (ARCHITECTURE.md, "Evidence shared within a page"). Measured with min-max scores; with
    /// z-scores evidence below a side's mean is shared as none.
    pub page: f32,
    /// What a keyword candidate holding the whole query in order, term after term, gets on
    /// top of its fused score; a shorter run gets less ([`phrase_share`]; 0: nothing).
    pub phrase: f32,
}

/// How the two sides' evidence adds up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Reciprocal rank: 1 / (RRF_K + rank) from each side.
    Rrf,
    /// Convex combination of normalised scores ([`Scores`]): `alpha` × keyword + (1 −
    /// alpha) × vector (Bruch et al., "An Analysis of Fusion Functions for Hybrid
    /// Retrieval").
    Convex {
        /// The keyword side's share, 0–1.
        alpha: f32,
    },
}

/// How a side's scores are put on one scale before they are added ([`Method::Convex`]). A
/// candidate a side did not return gets the side's lowest score: its last candidate's, or
/// with z-scores a keyword side's 0 when it returned fewer than it was asked for ([`Sides`]);
/// 0 on the scale when the scores all tie (and every candidate gets 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scores {
    /// `(s − min) / (max − min)` over the side's candidates: its best 1, its worst 0, however
    /// far the best stands from the rest.
    MinMax,
    /// `(s − mean) / standard deviation` over the side's candidates: a best far ahead of the
    /// rest counts more than a best in a flat ranking, so the side that is surer of its first
    /// page weighs more for that query (a per-query confidence that min-max throws away).
    ZScore,
}

impl Default for Fusion {
    fn default() -> Fusion {
        Fusion {
            method: Method::Convex {
                alpha: KEYWORD_SHARE,
            },
            tier: TIER_STEP,
            coverage_power: KEYWORD_WEIGHT_POWER,
            scores: Scores::ZScore,
            fill: false,
            page: 0.0,
            phrase: PHRASE_STEP,
        }
    }
}

impl std::str::FromStr for Fusion {
    type Err = anyhow::Error;

    /// `rrf` or `cc:ALPHA`, then optional `,tier` / `,tier=STEP` / `,notier`, `,pow=N`,
    /// `,z` / `,minmax`, `,fill` / `,nofill`, `,page=SHARE` / `,nopage` and `,phrase=STEP` /
    /// `,nophrase` (e.g. `cc:0.5,notier,pow=1,minmax`); unnamed parts keep the default's.
    fn from_str(s: &str) -> Result<Fusion> {
        let mut f = Fusion::default();
        for (i, part) in s.split(',').map(str::trim).enumerate() {
            match part {
                "rrf" if i == 0 => f.method = Method::Rrf,
                "tier" => f.tier = TIER_STEP,
                "notier" => f.tier = 0.0,
                "z" => f.scores = Scores::ZScore,
                "minmax" => f.scores = Scores::MinMax,
                "fill" => f.fill = true,
                "nofill" => f.fill = false,
                "nopage" => f.page = 0.0,
                "nophrase" => f.phrase = 0.0,
                _ => {
                    if let Some(a) = part.strip_prefix("cc:").filter(|_| i == 0) {
                        let alpha: f32 = a
                            .parse()
                            .map_err(|_| anyhow::anyhow!("bad alpha in {s:?}"))?;
                        anyhow::ensure!(
                            (0.0..=1.0).contains(&alpha),
                            "alpha must be in 0..=1 in {s:?}"
                        );
                        f.method = Method::Convex { alpha };
                    } else if let Some(t) = part.strip_prefix("tier=") {
                        f.tier = t
                            .parse()
                            .map_err(|_| anyhow::anyhow!("bad tier in {s:?}"))?;
                    } else if let Some(g) = part.strip_prefix("page=") {
                        f.page = g
                            .parse()
                            .map_err(|_| anyhow::anyhow!("bad page share in {s:?}"))?;
                        anyhow::ensure!(
                            (0.0..=1.0).contains(&f.page),
                            "the page share must be in 0..=1 in {s:?}"
                        );
                    } else if let Some(p) = part.strip_prefix("phrase=") {
                        f.phrase = p
                            .parse()
                            .map_err(|_| anyhow::anyhow!("bad phrase step in {s:?}"))?;
                        anyhow::ensure!(
                            f.phrase >= 0.0,
                            "the phrase step must be 0 or more in {s:?}"
                        );
                    } else if let Some(p) = part.strip_prefix("pow=") {
                        f.coverage_power =
                            p.parse().map_err(|_| anyhow::anyhow!("bad pow in {s:?}"))?;
                    } else {
                        anyhow::bail!("unknown fusion {part:?} in {s:?}: give rrf or cc:ALPHA, then ,tier|,tier=STEP|,notier, ,pow=N, ,z|,minmax, ,fill|,nofill, ,page=SHARE|,nopage and ,phrase=STEP|,nophrase");
                    }
                }
            }
        }
        Ok(f)
    }
}
/// Candidates each side contributes to a hybrid ranking (or k if more).
///
/// Deeper than the pages shown because a page that both sides rank 20th to 200th can come
/// first when fused, and because the z-scores ([`Scores::ZScore`]) are taken over these
/// candidates: over 200 a side's first few stand further above the mean when they stand
/// apart, and a candidate one side did not return gets that side's 200th score, not its
/// 50th. 50 before: on the held-out cross-lingual samples (`bench/crosslingual.sh`, 900
/// queries) 100, 150 and 200 gave hits@10 .794, .796, .799 against .787 (hits@1 .560, .562,
/// .568 against .546); chosen there, checked on every wide set of cpp-docs-ja and
/// oss-docs-ja (ARCHITECTURE.md, "Fusion depth").
const HYBRID_DEPTH: usize = 200;

/// Keyword and vector rankings fused as `fusion` says ([`fuse`]). Both searches run together;
/// then sections are read only for the texts that reach the top k and that the keyword side
/// did not return already: a few rows instead of one join row per vector hit.
pub async fn hybrid_search(
    store: &Store,
    query: &str,
    qv: &[f32],
    filter: Option<&Filter>,
    k: usize,
    fusion: &Fusion,
    proximity: f32,
) -> Result<Vec<SectionHit>> {
    let depth = k.max(HYBRID_DEPTH);
    let phrases =
        fusion.phrase > 0.0 && query_terms(query).split_whitespace().count() >= PHRASE_MIN_TERMS;
    let wanted_terms = match (phrases, fusion.coverage_power != 0) {
        (true, _) => TermsWanted::All,
        (false, true) => TermsWanted::AllWithoutEveryWord,
        (false, false) => TermsWanted::None,
    };
    let text = async {
        Ok::<_, anyhow::Error>(
            text_search(store, query, filter, depth, proximity, wanted_terms).await?,
        )
    };
    let (keyword, nearest) = tokio::try_join!(text, ranked_texts(store, qv, filter, depth))?;
    let (keyword_weight, runs) = keyword_evidence(query, &keyword, fusion);
    let Ranking {
        hits: text,
        every_word,
        ..
    } = keyword;
    // Reads a few rows that the two rankings name.
    let same_page = same_page_sections(store, &text, &nearest, filter, fusion.page > 0.0).await?;
    let vector_side: HashMap<&str, (usize, f32)> = nearest
        .iter()
        .enumerate()
        .map(|(i, (h, d))| (h.as_str(), (i + 1, *d)))
        .collect();
    let others = if fusion.fill {
        other_similarities(store, qv, &text, &nearest).await?
    } else {
        Vec::new()
    };
    let sides = Sides {
        text,
        depth,
        every_word,
        keyword_weight,
        runs,
        nearest: &nearest,
        others: &others,
        same_page,
    };
    let fused = fuse(sides, fusion);
    let mut out: Vec<SectionHit> = Vec::with_capacity(k);
    // A section the vector side found on a page of the keyword side is ranked on its own;
    // its text's other sections come with the text.
    let mut seen: HashSet<String> = HashSet::new();
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
            out.extend(
                hits.into_iter()
                    .filter(|h| seen.insert(h.id.clone()))
                    .map(|mut hit| {
                        hit.score = *score;
                        hit.explain.fused = Some(*score);
                        hit.explain.keyword_weight = Some(keyword_weight);
                        if let Some(&(rank, distance)) = vector_side.get(hit.text_hash.as_str()) {
                            hit.explain.vector_rank = Some(rank);
                            hit.explain.vector_distance = Some(distance);
                        }
                        hit
                    }),
            );
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    out.truncate(k);
    Ok(out)
}

/// The keyword side's share in the convex combination of z-scores. Chosen on cpp-docs-ja by
/// the worst margin over its wide query sets (hybrid − the better side, min over hits@1, @5,
/// @10 and MRR@10; `bench/fusion.sh`), with the step 0.75: 0.56, 0.58, 0.6, 0.62, 0.64 gave
/// −.035, −.018, −.009, −.017, −.022 — below 0.6 `stray` loses (a query with a word its page
/// lacks, where keyword search leads), above it descriptions (where the vector side leads).
/// On oss-docs-ja, held out: −.023, −.017, −.017, −.020, −.023; choosing there picks 0.6 as
/// well. Min-max with 0.7, the previous default: −.033 and −.037 (ARCHITECTURE.md, "z-scores
/// for the placed vectors").
const KEYWORD_SHARE: f32 = 0.6;

/// What a section holding every query word gets on top of its fused score, in standard
/// deviations (the z-scores' unit). A strict tier (above every other section) lost
/// cpp-docs-ja's descriptions (sections of other pages that hold every word of a generic
/// sentence buried the vector side's first page); none lost verbatim sentences. Chosen on
/// cpp-docs-ja's wide sets by the worst margin, with 0.6: 0.5 −.010, 0.75 −.009, 1 −.011; on
/// oss-docs-ja, held out, −.020, −.017, −.013 (verbatim sentences each time: the same sentence
/// on a Remix page and its React Router twin). ARCHITECTURE.md, "z-scores for the placed
/// vectors".
pub const TIER_STEP: f32 = 0.75;

/// What a keyword candidate holding the whole query as a phrase gets on top of its fused
/// score, in standard deviations ([`phrase_share`]: a shorter run gets less). The z-scored
/// keyword side weighs how many query words a section holds and how rare they are, not
/// whether it states them as the query does: a verbatim sentence on a page that the vector
/// side missed lost to pages that only looked alike, and a section holding three of four
/// keywords in their order to one holding them scattered. Chosen with [`PHRASE_POWER`] on
/// cpp-docs-ja's wide sets by the worst margin, then the mean (replay of `bench/fusion.sh`'s
/// candidate lists): power 3 with 1, 1.5, 2, 2.5, 3 gave −.006, −.006, −.006, −.007, −.011
/// (mean +.0070, +.0084, +.0085, +.0084, +.0078), against −.010 without; on oss-docs-ja,
/// held out, +.001 at each (−.016 without). ARCHITECTURE.md, "Phrases in the fusion".
pub const PHRASE_STEP: f32 = 2.0;

/// The power of a run's share of the query in [`phrase_share`]: a run of three of four terms
/// counts .42 of a whole phrase, two of four .125. Powers 1, 2, 3 and 4 at their best step
/// gave −.011, −.006, −.006 and −.006 on cpp-docs-ja (1 lost descriptions: pages holding a
/// few of a sentence's words in order are not the page it describes); 3 had the best mean.
const PHRASE_POWER: i32 = 3;

/// The power of the keyword side's coverage that weighs it in the fusion. With reciprocal
/// ranks it had to be 3 (cross-lingual hits@1 .35, .40, .44 for 1, 2, 3); with normalised
/// scores 1 suffices, and 0 (no weighing) lost cpp-docs-ja's cross-lingual set .16 at hits@1.
/// With z-scores, 0.6 and 0.75: 0.5 and 1.5 gave worst margins −.017 and −.033 on cpp-docs-ja
/// against 1's −.009.
const KEYWORD_WEIGHT_POWER: i32 = 1;

/// Keyword candidates whose terms are read to see how much of the query the keyword side
/// found.
const COVERAGE_PROBE: usize = 5;

/// How much the keyword ranking counts in the fusion, 0–1, and each keyword candidate's
/// [`phrase_share`] (empty when the step is off), from the candidates' terms that the keyword
/// search read.
///
/// The weight is the largest share of the query's terms that one of its first few sections
/// holds, to `fusion.coverage_power`: 1 when some section holds every word (or when the
/// terms could not be read: the rows moved on under a long-lived reader); low when the
/// keyword side matched only stray words — a question in another language than the
/// documents, where only identifiers and loanwords match and its ranking is noise.
fn keyword_evidence(query: &str, keyword: &Ranking, fusion: &Fusion) -> (f32, Vec<f32>) {
    let terms = query_terms(query);
    let weight = if keyword.every_word > 0 || fusion.coverage_power == 0 || keyword.terms.is_empty()
    {
        1.0
    } else {
        let wanted = Wanted::new(&terms);
        keyword
            .terms
            .iter()
            .take(COVERAGE_PROBE)
            .map(|t| wanted.share_in(t))
            .fold(0.0f32, f32::max)
            .powi(fusion.coverage_power)
    };
    let run = Run::new(&terms);
    let runs = if fusion.phrase > 0.0 && run.term_count() >= PHRASE_MIN_TERMS {
        keyword
            .terms
            .iter()
            .map(|t| phrase_share(&run, t))
            .collect()
    } else {
        Vec::new()
    };
    (weight, runs)
}

/// Fewest consecutive query terms that count as a phrase.
const PHRASE_MIN_TERMS: usize = 2;

/// How much of the query a section holds as a phrase, 0–1: its longest run of the query's
/// terms in order, term after term ([`Run`]), over the query's terms, to [`PHRASE_POWER`]: a
/// quoted sentence or a page's line taken as keywords gets 1, two words of a ten-word
/// question next to each other almost nothing. Runs shorter than [`PHRASE_MIN_TERMS`] count
/// 0.
fn phrase_share(run: &Run, section_terms: &str) -> f32 {
    let longest = run.longest_in(section_terms);
    if longest < PHRASE_MIN_TERMS {
        return 0.0;
    }
    (longest as f32 / run.term_count() as f32).powi(PHRASE_POWER)
}

/// The cosine distances of the keyword candidates' texts that `nearest` lacks, compared
/// exactly (a few dozen vectors, found by hash).
async fn other_similarities(
    store: &Store,
    qv: &[f32],
    text: &[SectionHit],
    nearest: &[(String, f32)],
) -> Result<Vec<(String, f32)>> {
    let have: HashSet<&str> = nearest.iter().map(|(h, _)| h.as_str()).collect();
    let mut missing: Vec<&str> = text
        .iter()
        .map(|h| h.text_hash.as_str())
        .filter(|h| !have.contains(h))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let only = Filter::TextHashes(missing.iter().map(|h| hash_key(h)).collect());
    Ok(store
        .search_vectors(qv, missing.len(), Some(&only), Search::Exact)
        .await?)
}

/// The sections of the vector side's texts that lie on pages the keyword side returned (under
/// the filter): where a page's evidence from one side meets the other side's sections.
/// Nothing unless `wanted`.
async fn same_page_sections(
    store: &Store,
    text: &[SectionHit],
    nearest: &[(String, f32)],
    filter: Option<&Filter>,
    wanted: bool,
) -> Result<Vec<SectionHit>> {
    if !wanted {
        return Ok(Vec::new());
    }
    let mut pages: Vec<u64> = text
        .iter()
        .map(|h| page_key(&h.collection, &h.path))
        .collect();
    pages.sort_unstable();
    pages.dedup();
    if pages.is_empty() || nearest.is_empty() {
        return Ok(Vec::new());
    }
    let hashes: Vec<String> = nearest.iter().map(|(h, _)| h.clone()).collect();
    let on_pages = match filter {
        Some(f) => Filter::Pages(pages).and(f.clone()),
        None => Filter::Pages(pages),
    };
    Ok(store
        .sections_by_hash(&hashes, Some(&on_pages))
        .await?
        .into_iter()
        .map(SectionHit::from)
        .collect())
}

/// What [`fuse`] fuses: each side's candidates and what was read about them.
pub struct Sides<'a> {
    /// The keyword ranking of sections, best first.
    pub text: Vec<SectionHit>,
    /// How many sections the keyword side was asked for: when it returned fewer, the others
    /// hold no query word and score 0, and count so in its z-scores.
    pub depth: usize,
    /// How many of `text`'s first sections hold every query word.
    pub every_word: usize,
    /// How much the keyword side counts, 0–1 ([`keyword_evidence`]).
    pub keyword_weight: f32,
    /// Each of `text`'s sections' [`phrase_share`], in its order (missing ones count 0).
    pub runs: Vec<f32>,
    /// The vector ranking of texts: (hash, cosine distance), best first.
    pub nearest: &'a [(String, f32)],
    /// Distances of keyword candidates' texts that `nearest` lacks (`Fusion::fill`).
    pub others: &'a [(String, f32)],
    /// Sections of `nearest`'s texts on pages of `text` (`Fusion::page`).
    pub same_page: Vec<SectionHit>,
}

/// An entry of a fused ranking: a section the keyword side returned, or the hash of a text
/// only the vector side found (its sections are read if it reaches the top k).
#[derive(Debug, Clone)]
pub enum Fused {
    Section(Box<SectionHit>),
    Text(String),
}

/// Fuses a keyword ranking of sections, whose first `every_word` hold every query word, and a
/// vector ranking of texts (by hash, best first): each side adds its evidence to a section
/// (the keyword side times `keyword_weight`; the vector side by the section's text), which is
/// 1 / (RRF_K + rank) with [`Method::Rrf`] and the side's share of its normalised score with
/// [`Method::Convex`]; a section holding every query word gets `fusion.tier` more. With
/// `fusion.page`, a section that one side did not return gets that share of the side's best
/// evidence for its page (a vector text on n of the keyword side's pages giving each 1/n of
/// its own), and the vector side's sections on the keyword side's pages are ranked as
/// sections of their own. Best first; ties by section id, then hash.
pub fn fuse(sides: Sides<'_>, fusion: &Fusion) -> Vec<(f32, Fused)> {
    let Sides {
        text,
        depth,
        every_word,
        keyword_weight,
        runs,
        nearest,
        others,
        same_page,
    } = sides;
    // Same-page sections count only with a page share (`hybrid_search` reads none without).
    let same_page = if fusion.page > 0.0 {
        same_page
    } else {
        Vec::new()
    };
    let rrf = |rank: usize| 1.0 / (RRF_K + rank as f32 + 1.0);
    // Each side's evidence for its entry at `rank` with score `score`.
    // The keyword side's own score, without the every-word step rank_fields adds.
    let keyword_scores: Vec<f32> = text
        .iter()
        .map(|h| h.score - f32::from(h.explain.tier))
        .collect();
    let similarities: Vec<f32> = nearest.iter().map(|(_, d)| 1.0 - d).collect();
    let other_similarity: HashMap<&str, f32> =
        others.iter().map(|(h, d)| (h.as_str(), 1.0 - d)).collect();
    let every_similarity: Vec<f32> = similarities
        .iter()
        .copied()
        .chain(other_similarity.values().copied())
        .collect();
    // A keyword side that found only a few sections is sure of them, but a few scores cannot
    // spread far (the best of n is at most √(n − 1) deviations above their mean): the sections
    // it did not return hold no query word and score 0, and count so. The vector side has no
    // such score for what it did not return.
    let kw_scale = Scale::new(fusion.scores, &keyword_scores, depth);
    let vec_scale = Scale::new(fusion.scores, &every_similarity, 0);
    let keyword = |rank: usize| match fusion.method {
        Method::Rrf => keyword_weight * rrf(rank),
        Method::Convex { alpha } => alpha * keyword_weight * kw_scale.of(keyword_scores[rank]),
    };
    let vector_of = |similarity: f32| match fusion.method {
        Method::Rrf => 0.0,
        Method::Convex { alpha } => (1.0 - alpha) * vec_scale.of(similarity),
    };
    let vector = |rank: usize| match fusion.method {
        Method::Rrf => rrf(rank),
        Method::Convex { .. } => vector_of(similarities[rank]),
    };
    // What a candidate gets from a side that did not return it.
    let (keyword_missing, vector_missing) = match fusion.method {
        Method::Rrf => (0.0, 0.0),
        Method::Convex { alpha } => (
            alpha * keyword_weight * kw_scale.floor,
            (1.0 - alpha) * vec_scale.floor,
        ),
    };
    let vector_rank: HashMap<&str, usize> = nearest
        .iter()
        .enumerate()
        .map(|(i, (h, _))| (h.as_str(), i))
        .collect();
    // Each side's best evidence for a page, shared out by `fusion.page`.
    let page_of = |h: &SectionHit| page_key(&h.collection, &h.path);
    let mut keyword_page: HashMap<u64, f32> = HashMap::new();
    let mut vector_page: HashMap<u64, f32> = HashMap::new();
    if !same_page.is_empty() {
        for (rank, hit) in text.iter().enumerate() {
            let e = keyword_page.entry(page_of(hit)).or_default();
            *e = e.max(keyword(rank));
        }
        // A text repeated on several of these pages (a footer, a boilerplate note) is
        // evidence for none in particular: each gets its share.
        let mut pages_of_text: HashMap<&str, HashSet<u64>> = HashMap::new();
        for hit in &same_page {
            pages_of_text
                .entry(hit.text_hash.as_str())
                .or_default()
                .insert(page_of(hit));
        }
        for hit in &same_page {
            if let Some(&r) = vector_rank.get(hit.text_hash.as_str()) {
                let n = pages_of_text[hit.text_hash.as_str()].len() as f32;
                let e = vector_page.entry(page_of(hit)).or_default();
                *e = e.max(vector(r) / n);
            }
        }
    }
    let shared =
        |side: &HashMap<u64, f32>, page: u64| fusion.page * side.get(&page).copied().unwrap_or(0.0);
    let covered: HashSet<String> = text.iter().map(|h| h.text_hash.clone()).collect();
    let keyword_ids: HashSet<String> = if same_page.is_empty() {
        HashSet::new()
    } else {
        text.iter().map(|h| h.id.clone()).collect()
    };
    let mut fused: Vec<(f32, Fused)> = text
        .into_iter()
        .enumerate()
        .map(|(rank, mut hit)| {
            if let Some(&share) = runs.get(rank) {
                hit.explain.phrase = Some(share);
            }
            let own = match (
                vector_rank.get(hit.text_hash.as_str()),
                other_similarity.get(hit.text_hash.as_str()),
                fusion.method,
            ) {
                (Some(&r), _, _) => vector(r),
                (None, Some(&sim), Method::Convex { .. }) => vector_of(sim),
                _ => vector_missing,
            };
            let v = if vector_page.is_empty() {
                own
            } else {
                own.max(shared(&vector_page, page_of(&hit)))
            };
            let tier = if rank < every_word { fusion.tier } else { 0.0 };
            let phrase = fusion.phrase * hit.explain.phrase.unwrap_or(0.0);
            (
                tier + phrase + keyword(rank) + v,
                Fused::Section(Box::new(hit)),
            )
        })
        .collect();
    for hit in same_page {
        if keyword_ids.contains(&hit.id) {
            continue;
        }
        if let Some(&r) = vector_rank.get(hit.text_hash.as_str()) {
            let score = vector(r) + shared(&keyword_page, page_of(&hit));
            fused.push((score, Fused::Section(Box::new(hit))));
        }
    }
    fused.extend(
        nearest
            .iter()
            .enumerate()
            .filter(|(_, (h, _))| !covered.contains(h))
            .map(|(rank, (h, _))| (vector(rank) + keyword_missing, Fused::Text(h.clone()))),
    );
    let key = |f: &Fused| match f {
        Fused::Section(hit) => (0, hit.id.clone()),
        Fused::Text(h) => (1, h.clone()),
    };
    fused.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| key(&a.1).cmp(&key(&b.1))));
    fused
}

/// One side's scores put on the combination's scale ([`Scores`]): `(s − shift) / spread`,
/// every candidate 1 when they tie; `floor` is what a candidate the side did not return
/// gets.
struct Scale {
    shift: f32,
    spread: f32,
    floor: f32,
}

impl Scale {
    /// z-scores count `scores` padded with zeros up to `slots` (min-max does not pad: its
    /// scale stays that of the candidates).
    fn new(how: Scores, scores: &[f32], slots: usize) -> Scale {
        let zeros = match how {
            Scores::ZScore => slots.saturating_sub(scores.len()),
            Scores::MinMax => 0,
        };
        let padded = || scores.iter().copied().chain((0..zeros).map(|_| 0.0));
        let lo = padded().fold(f32::INFINITY, f32::min);
        let hi = padded().fold(f32::NEG_INFINITY, f32::max);
        if scores.is_empty() || hi <= lo {
            // No spread to measure: what a side returned counts 1, what it did not 0.
            return Scale {
                shift: 0.0,
                spread: 0.0,
                floor: 0.0,
            };
        }
        let (shift, spread) = match how {
            Scores::MinMax => (lo, hi - lo),
            Scores::ZScore => {
                let n = (scores.len() + zeros) as f32;
                let mean = padded().sum::<f32>() / n;
                let var = padded().map(|s| (s - mean).powi(2)).sum::<f32>() / n;
                (mean, var.sqrt())
            }
        };
        Scale {
            shift,
            spread,
            floor: (lo - shift) / spread,
        }
    }

    fn of(&self, score: f32) -> f32 {
        if self.spread > 0.0 {
            (score - self.shift) / self.spread
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str) -> SectionHit {
        SectionHit::from(crate::store::FoundSection {
            id: id.into(),
            collection: "docs".into(),
            path: format!("{id}.md"),
            heading_path: vec![],
            start_line: 1,
            end_line: 1,
            title: None,
            link_share: 0.0,
            text: String::new(),
            text_hash: id.into(),
            body_hash: id.into(),
            score: 0.0,
            row_id: None,
        })
    }

    const RRF: Fusion = Fusion {
        method: Method::Rrf,
        tier: 1.0,
        coverage_power: 3,
        scores: Scores::MinMax,
        fill: false,
        page: 0.0,
        phrase: 0.0,
    };

    /// A vector ranking of texts, best first, at cosine distances 0.1, 0.2, …
    fn near(hashes: &[&str]) -> Vec<(String, f32)> {
        hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), 0.1 * (i + 1) as f32))
            .collect()
    }

    /// A keyword ranking of x, y, z with scores 3, 2, 1.
    fn x_y_z() -> Vec<SectionHit> {
        let mut hits = vec![hit("x"), hit("y"), hit("z")];
        for (h, s) in hits.iter_mut().zip([3.0, 2.0, 1.0]) {
            h.found.score = s;
        }
        hits
    }

    /// Fuses the two sides as sections standing alone (no same-page sections read).
    fn fuse_alone(
        text: Vec<SectionHit>,
        every_word: usize,
        keyword_weight: f32,
        nearest: &[(String, f32)],
        others: &[(String, f32)],
        fusion: &Fusion,
    ) -> Vec<(f32, Fused)> {
        let sides = Sides {
            depth: text.len(),
            text,
            every_word,
            keyword_weight,
            runs: Vec::new(),
            nearest,
            others,
            same_page: Vec::new(),
        };
        fuse(sides, fusion)
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
        let nearest = near(&["y", "w", "x"]);
        let fused = fuse_alone(text, 0, 1.0, &nearest, &[], &RRF);
        // y: 2nd and 1st beats x: 1st and 3rd; w (2nd by vector only) beats z (3rd by text).
        assert_eq!(names(&fused), ["y", "x", "text w", "z"]);
        assert!((fused[0].0 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert!((fused[2].0 - 1.0 / 62.0).abs() < 1e-6);
    }

    #[test]
    fn sections_holding_every_word_come_first() {
        // x and z hold every query word; the vector side prefers w, then y.
        let text = vec![hit("x"), hit("z"), hit("y")];
        let nearest = near(&["w", "y", "z"]);
        let fused = fuse_alone(text, 2, 1.0, &nearest, &[], &RRF);
        assert_eq!(names(&fused), ["z", "x", "y", "text w"]);
        assert!(fused.windows(2).all(|w| w[0].0 >= w[1].0));
    }

    #[test]
    fn the_default_tier_lifts_sections_holding_every_word_but_not_above_all() {
        // x holds every word but scores lowest on its own (1 against y's 3 and z's 2); the
        // vector side has w first and does not return x.
        let mut text = vec![hit("x"), hit("y"), hit("z")];
        for (h, s) in text.iter_mut().zip([1.0, 3.0, 2.0]) {
            h.found.score = s;
        }
        let nearest = near(&["w", "y", "z"]);
        let soft = Fusion::default();
        let fused = fuse_alone(text.clone(), 1, 1.0, &nearest, &[], &soft);
        // Either side's three scores are ±√1.5 and 0 in standard deviations. x is the keyword
        // side's lowest and gets the vector side's lowest (it was not returned): the step and
        // −√1.5. That passes z (0 and −√1.5), not y (first on one side) nor w (first on the
        // vector side, missing on the keyword side).
        assert_eq!(names(&fused), ["y", "text w", "x", "z"]);
        let x = fused[2].0;
        assert!((x - (soft.tier - 1.5f32.sqrt())).abs() < 1e-5, "{x}");
        let steep = Fusion { tier: 10.0, ..soft };
        assert_eq!(
            names(&fuse_alone(text, 1, 1.0, &nearest, &[], &steep))[0],
            "x"
        );
    }

    #[test]
    fn z_scores_count_a_best_far_ahead_of_the_rest_more() {
        // Keyword scores x 3, y 2, z 1; the vector side ranks them in the same order, evenly
        // spaced or with x far ahead.
        let even = near(&["x", "y", "z"]);
        let ahead: Vec<(String, f32)> = [("x", 0.1), ("y", 0.4), ("z", 0.41)]
            .iter()
            .map(|(h, d)| (h.to_string(), *d))
            .collect();
        let first = |nearest: &[(String, f32)], scores| {
            let fusion = Fusion {
                scores,
                tier: 0.0,
                ..Fusion::default()
            };
            let fused = fuse_alone(x_y_z(), 0, 1.0, nearest, &[], &fusion);
            assert_eq!(names(&fused)[0], "x");
            fused[0].0
        };
        // Min-max gives a side's best 1 however far ahead it is.
        assert!((first(&even, Scores::MinMax) - 1.0).abs() < 1e-6);
        assert!((first(&ahead, Scores::MinMax) - 1.0).abs() < 1e-6);
        // z-scores: √1.5 on both sides when even; more from the vector side when x is ahead.
        let even_z = first(&even, Scores::ZScore);
        assert!((even_z - 1.5f32.sqrt()).abs() < 1e-5, "{even_z}");
        assert!(first(&ahead, Scores::ZScore) > even_z + 0.05);
    }

    #[test]
    fn a_side_whose_candidates_tie_counts_what_it_returned_as_one() {
        // Every keyword candidate scores the same: each gets 1, a text it missed 0.
        let mut text = vec![hit("x"), hit("y")];
        for h in &mut text {
            h.found.score = 2.0;
        }
        let nearest = near(&["w", "x"]);
        let fusion = Fusion {
            tier: 0.0,
            ..Fusion::default()
        };
        let fused = fuse_alone(text, 0, 1.0, &nearest, &[], &fusion);
        // x: 0.6 + 0.4 × (−1); w: 0.4 × 1 + 0.6 × 0; y: 0.6 + 0.4 × (−1), after x by id.
        assert_eq!(names(&fused), ["text w", "x", "y"]);
        assert!((fused[0].0 - 0.4).abs() < 1e-6 && (fused[1].0 - 0.2).abs() < 1e-6);
    }

    #[test]
    fn a_keyword_side_that_found_few_sections_lets_them_stand_out() {
        // Asked for 50, the keyword side found x alone (it holds half the query); the vector
        // side has w first, x second.
        let mut text = vec![hit("x")];
        text[0].found.score = 1.0;
        let nearest = near(&["w", "x", "v"]);
        let fusion = Fusion {
            tier: 0.0,
            ..Fusion::default()
        };
        let run = |depth| {
            let sides = Sides {
                text: text.clone(),
                depth,
                every_word: 0,
                keyword_weight: 0.5,
                runs: Vec::new(),
                nearest: &nearest,
                others: &[],
                same_page: Vec::new(),
            };
            fuse(sides, &fusion)
        };
        // Among 49 sections scoring 0, x is 7 deviations up: 0.6 × 0.5 × 7, and the vector
        // side's 0 for it.
        let asked = run(50);
        assert_eq!(names(&asked)[0], "x");
        assert!((asked[0].0 - 2.1).abs() < 1e-4, "{}", asked[0].0);
        // Counted alone it would have no spread: 1, below w's 0.4 × √1.5.
        assert_eq!(names(&run(1))[0], "text w");
    }

    #[test]
    fn a_keyword_side_that_found_little_of_the_query_weighs_less() {
        // The keyword side's first hit x is the vector side's 3rd; the vector side's first is w.
        let nearest = near(&["w", "v", "x"]);
        let full = fuse_alone(vec![hit("x"), hit("y")], 0, 1.0, &nearest, &[], &RRF);
        assert_eq!(names(&full)[0], "x", "full weight: agreement wins");
        let weak = fuse_alone(vec![hit("x"), hit("y")], 0, 0.01, &nearest, &[], &RRF);
        assert_eq!(
            names(&weak)[..2],
            ["text w", "text v"],
            "{:?}",
            names(&weak)
        );
    }

    /// A section `id` on page `page` whose text hashes as `id`.
    fn on_page(id: &str, page: &str) -> SectionHit {
        let mut h = hit(id);
        h.path = format!("{page}.md");
        h
    }

    #[test]
    fn a_page_both_sides_found_through_different_sections_counts_as_found_by_both() {
        // The keyword side ranks p1 (page P) first and q1 (page Q) a close second; the vector
        // side has r (page R) first and p2, another section of P, second. Alone, R's text
        // passes Q's section; with the page share, P leads and q1 stays behind.
        let mut text = vec![on_page("p1", "P"), on_page("q1", "Q")];
        for (h, s) in text.iter_mut().zip([3.0, 2.9]) {
            h.found.score = s;
        }
        let nearest = near(&["r", "p2", "s"]);
        let same_page = vec![on_page("p2", "P")];
        let cc = |page| Fusion {
            method: Method::Convex { alpha: 0.5 },
            tier: 0.0,
            coverage_power: 0,
            scores: Scores::MinMax,
            fill: false,
            page,
            phrase: 0.0,
        };
        let run = |page| {
            let sides = Sides {
                text: text.clone(),
                depth: 2,
                every_word: 0,
                keyword_weight: 1.0,
                runs: Vec::new(),
                nearest: &nearest,
                others: &[],
                same_page: same_page.clone(),
            };
            fuse(sides, &cc(page))
        };
        let alone = run(0.0);
        assert_eq!(names(&alone), ["p1", "text r", "text p2", "q1", "text s"]);
        let shared = run(1.0);
        // p1: 0.5 + P's vector best (p2: 0.5 × 0.5); p2 as P's section: the same, tied by id.
        assert_eq!(
            names(&shared),
            ["p1", "p2", "text r", "text p2", "q1", "text s"]
        );
        assert!((shared[0].0 - 0.75).abs() < 1e-6, "{}", shared[0].0);
        assert!((shared[1].0 - 0.75).abs() < 1e-6, "{}", shared[1].0);
        let half = run(0.5);
        assert!((half[0].0 - 0.625).abs() < 1e-6, "{}", half[0].0);
    }

    #[test]
    fn a_text_on_several_pages_shares_its_evidence_out_among_them() {
        // The keyword side returned p1 (page P) and q1 (page Q), tied; the vector side's only
        // text f is a footer on both pages and on a third page the keyword side missed.
        let mut text = vec![on_page("p1", "P"), on_page("q1", "Q")];
        for h in &mut text {
            h.found.score = 1.0;
        }
        let mut footers = vec![on_page("p-footer", "P"), on_page("q-footer", "Q")];
        for h in &mut footers {
            h.found.text_hash = "f".into();
        }
        let nearest = near(&["f", "g"]);
        let sides = Sides {
            text,
            depth: 2,
            every_word: 0,
            keyword_weight: 1.0,
            runs: Vec::new(),
            nearest: &nearest,
            others: &[],
            same_page: footers,
        };
        let rrf = Fusion { page: 1.0, ..RRF };
        let fused = fuse(sides, &rrf);
        let score = |name: &str| {
            let i = names(&fused).iter().position(|n| n == name).unwrap();
            fused[i].0
        };
        // p1: its own first place and half of f's first place.
        let first = 1.0 / 61.0;
        assert!((score("p1") - 1.5 * first).abs() < 1e-6, "{}", score("p1"));
        assert!((score("q1") - (1.0 / 62.0 + 0.5 * first)).abs() < 1e-6);
        // The footer sections themselves get f's own evidence and their page's keyword best.
        assert!((score("p-footer") - 2.0 * first).abs() < 1e-6);
    }

    #[test]
    fn a_section_that_quotes_the_query_beats_one_that_only_looks_alike() {
        // Two sections hold every query word: one quotes the query term after term, the
        // other holds its words apart, scores a little higher and is the vector side's
        // first.
        let text: Vec<SectionHit> = [("apart", 1.2), ("quote", 1.0), ("c", 0.2), ("d", 0.1)]
            .into_iter()
            .map(|(id, score)| {
                let mut h = hit(id);
                h.found.score = score;
                h
            })
            .collect();
        let nearest = near(&["apart", "quote", "x", "y"]);
        let fused = |phrase: f32| {
            let sides = Sides {
                depth: 4,
                text: text.clone(),
                every_word: 2,
                keyword_weight: 1.0,
                runs: vec![0.0, 1.0, 0.0, 0.0],
                nearest: &nearest,
                others: &[],
                same_page: Vec::new(),
            };
            names(&fuse(
                sides,
                &Fusion {
                    phrase,
                    ..Fusion::default()
                },
            ))
        };
        assert_eq!(fused(0.0)[0], "apart");
        assert_eq!(fused(PHRASE_STEP)[0], "quote");
    }

    #[test]
    fn a_phrase_share_grows_with_the_longest_run() {
        let run = Run::new(&query_terms("認証 トークン 更新 期限"));
        let share = |terms: &str| phrase_share(&run, terms);
        assert_eq!(share("認証 トークン 更新 期限"), 1.0);
        assert_eq!(
            share("前 認証 トークン 更新 後 期限"),
            0.75f32.powi(PHRASE_POWER)
        );
        // Scattered, reversed or single terms are no phrase.
        assert_eq!(share("期限 更新 トークン 認証"), 0.0);
        assert_eq!(share("認証 ほか トークン"), 0.0);
        assert_eq!(share(""), 0.0);
    }

    #[test]
    fn fusion_specs_parse_and_bad_ones_say_why() {
        let f: Fusion = "cc:0.4,notier,pow=1".parse().unwrap();
        assert_eq!(f.method, Method::Convex { alpha: 0.4 });
        assert_eq!(f.tier, 0.0);
        assert_eq!("cc:0.7,tier=0.3".parse::<Fusion>().unwrap().tier, 0.3);
        assert_eq!(f.coverage_power, 1);
        assert_eq!("rrf".parse::<Fusion>().unwrap().method, Method::Rrf);
        assert_eq!("cc:0.7,page=0.5".parse::<Fusion>().unwrap().page, 0.5);
        assert_eq!("cc:0.6,phrase=0.5".parse::<Fusion>().unwrap().phrase, 0.5);
        assert_eq!("cc:0.6,nophrase".parse::<Fusion>().unwrap().phrase, 0.0);
        assert_eq!(f.scores, Scores::ZScore);
        let m: Fusion = "cc:0.7,minmax".parse().unwrap();
        assert_eq!(m.scores, Scores::MinMax);
        assert_eq!("rrf,z".parse::<Fusion>().unwrap().scores, Scores::ZScore);
        for bad in [
            "cc:1.5",
            "cc:x",
            "lin",
            "rrf,pow=a",
            "tier,rrf",
            "tier=x",
            "page=2",
            "phrase=-1",
        ] {
            let err = bad.parse::<Fusion>().unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn a_convex_combination_follows_alpha_between_the_sides() {
        // Keyword scores x 3, y 2, z 1; the vector side ranks z, y, x.
        let nearest = near(&["z", "y", "x"]);
        let cc = |alpha| Fusion {
            method: Method::Convex { alpha },
            tier: 0.0,
            coverage_power: 0,
            scores: Scores::MinMax,
            fill: false,
            page: 0.0,
            phrase: 0.0,
        };
        assert_eq!(
            names(&fuse_alone(x_y_z(), 0, 1.0, &nearest, &[], &cc(1.0))),
            ["x", "y", "z"]
        );
        assert_eq!(
            names(&fuse_alone(x_y_z(), 0, 1.0, &nearest, &[], &cc(0.0)))[0],
            "z"
        );
        // Balanced, the middle one (second on both sides) ties the ends; a stronger keyword
        // side breaks the tie its way.
        assert_eq!(
            names(&fuse_alone(x_y_z(), 0, 1.0, &nearest, &[], &cc(0.6)))[0],
            "x"
        );
    }

    #[test]
    fn a_keyword_candidate_the_vector_side_missed_keeps_its_similarity() {
        // Keyword scores x 3, y 2, z 1; the vector side returned y, w, z at distances .1, .2,
        // .5 but not x, whose own distance is .15: as close as the best.
        let nearest: Vec<(String, f32)> = [("y", 0.1), ("w", 0.2), ("z", 0.5)]
            .iter()
            .map(|(h, d)| (h.to_string(), *d))
            .collect();
        let cc = |fill| Fusion {
            method: Method::Convex { alpha: 0.6 },
            tier: 0.0,
            coverage_power: 0,
            scores: Scores::MinMax,
            fill,
            page: 0.0,
            phrase: 0.0,
        };
        // Without its similarity x gets nothing from the vector side: 0.6 against y's
        // 0.6 × 0.5 + 0.4.
        assert_eq!(
            names(&fuse_alone(x_y_z(), 0, 1.0, &nearest, &[], &cc(false)))[0],
            "y"
        );
        let others = [("x".to_string(), 0.15)];
        let filled = fuse_alone(x_y_z(), 0, 1.0, &nearest, &others, &cc(true));
        assert_eq!(names(&filled)[0], "x", "{:?}", names(&filled));
        // Similarities .5–.9: x's .85 is 0.875 of the range, 0.6 + 0.4 × 0.875.
        assert!((filled[0].0 - 0.95).abs() < 1e-5, "{}", filled[0].0);
    }
}
