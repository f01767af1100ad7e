//! A hit while search ranks it: the section as the store found it, and the parts of its
//! score as each stage sets them (`--explain`).

use std::ops::{Deref, DerefMut};

use serde::Serialize;

use crate::store::FoundSection;

/// One candidate of a search. Ranking reads the section's columns and writes the score's
/// parts at every stage, so a hit reads as its section (`Deref`) and carries [`Explain`].
#[derive(Debug, Clone)]
pub struct SectionHit {
    pub found: FoundSection,
    pub explain: Explain,
}

impl From<FoundSection> for SectionHit {
    fn from(found: FoundSection) -> SectionHit {
        SectionHit {
            found,
            explain: Explain::default(),
        }
    }
}

impl Deref for SectionHit {
    type Target = FoundSection;
    fn deref(&self) -> &FoundSection {
        &self.found
    }
}

impl DerefMut for SectionHit {
    fn deref_mut(&mut self) -> &mut FoundSection {
        &mut self.found
    }
}

/// Why a result ranks where it does (`--explain`): every part of its score.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Explain {
    /// The full-text index's BM25 score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25: Option<f32>,
    /// `bm25` as a share of the best candidate's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_share: Option<f32>,
    /// Share of the query's terms in the page title.
    pub title_match: f32,
    /// Share of the query's terms in the heading path.
    pub heading_match: f32,
    /// Share of the section's text that is link text (navigation pages rank lower).
    pub link_share: f32,
    /// Candidate pages holding this exact text.
    pub repeated_on: usize,
    /// 1: the section holds every query word (ranked above those that hold only some).
    pub tier: u8,
    /// Share of the query's phrases (adjacent terms within a query word) the section holds
    /// adjacent, in order.
    pub proximity: f32,
    /// 1-based rank on the keyword side (absent: not found by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword_rank: Option<usize>,
    /// 1-based rank on the vector side (absent: not found by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_rank: Option<usize>,
    /// Cosine distance of the section's text to the query, plus its local hub penalty for
    /// this query ([`super::density`]): 1 − the vector side's score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_distance: Option<f32>,
    /// How much the keyword ranking counted in the fusion (hybrid): 1 when a section holds
    /// every query word, lower as the keyword side matched fewer of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword_weight: Option<f32>,
    /// Share of the query the section holds as a phrase, its longest run of the query's terms
    /// in order (hybrid; absent when not measured: a one-term query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phrase: Option<f32>,
    /// The first stage's score (after fusion, in hybrid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused: Option<f32>,
    /// The cross-encoder's score (rerank).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank: Option<f32>,
}
