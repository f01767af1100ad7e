//! One hit per page: a ranking of sections folded into a ranking of pages, each led by its
//! best section with the page's other matching sections attached. What a person (or an
//! agent) wants first is which page; a page with five matching sections should not push four
//! other pages off the first screen.

use std::collections::HashMap;

use serde::Serialize;

use super::SectionHit;

/// Another matching section of a page: where it is, and its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionRef {
    /// Headings from the page's top down to the section.
    pub heading_path: Vec<String>,
    /// First line of the section (1-based).
    pub start_line: u32,
    /// Last line of the section (1-based, inclusive).
    pub end_line: u32,
    /// The section's score in the same ranking as the page's best section.
    pub score: f32,
}

/// A page's best section, and its other matching sections in rank order.
pub struct Page {
    pub best: SectionHit,
    pub others: Vec<SectionRef>,
}

/// Folds `hits` (best first) into at most `k` pages, in the order of their best sections.
pub fn by_page(hits: Vec<SectionHit>, k: usize) -> Vec<Page> {
    let mut pages: Vec<Page> = Vec::new();
    // A page is a path of a collection: two roots may hold the same path.
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for hit in hits {
        match index.get(&(hit.collection.clone(), hit.path.clone())) {
            Some(&i) => pages[i].others.push(SectionRef {
                heading_path: hit.found.heading_path,
                start_line: hit.found.start_line,
                end_line: hit.found.end_line,
                score: hit.found.score,
            }),
            None if pages.len() < k => {
                index.insert((hit.collection.clone(), hit.path.clone()), pages.len());
                pages.push(Page {
                    best: hit,
                    others: Vec::new(),
                });
            }
            None => {}
        }
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(path: &str, line: u32, score: f32) -> SectionHit {
        SectionHit::from(crate::store::FoundSection {
            id: format!("{path}#{line}"),
            collection: "docs".into(),
            path: path.into(),
            heading_path: vec![format!("h{line}")],
            start_line: line,
            end_line: line,
            title: None,
            link_share: 0.0,
            text: String::new(),
            text_hash: format!("{path}{line}"),
            body_hash: format!("{path}{line}"),
            score,
            row_id: None,
        })
    }

    #[test]
    fn each_page_once_in_the_order_of_its_best_section() {
        let hits = vec![
            hit("a.md", 10, 0.9),
            hit("a.md", 1, 0.8),
            hit("b.md", 5, 0.7),
            hit("a.md", 30, 0.6),
            hit("c.md", 2, 0.5),
            hit("d.md", 2, 0.4),
            hit("c.md", 9, 0.3),
        ];
        let pages = by_page(hits, 3);
        let order: Vec<&str> = pages.iter().map(|p| p.best.path.as_str()).collect();
        assert_eq!(order, ["a.md", "b.md", "c.md"]);
        assert_eq!(pages[0].best.start_line, 10);
        let others: Vec<u32> = pages[0].others.iter().map(|s| s.start_line).collect();
        assert_eq!(others, [1, 30]);
        // Sections of pages already listed still attach after k pages are full.
        assert_eq!(pages[2].others.len(), 1);
    }
}
