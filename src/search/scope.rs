//! What a search may rank: the restrictions of [`SearchOptions`] as one filter on the rows of
//! the sections table, applied inside LanceDB before ranking.
//!
//! Path and collection are columns of every row, tested with the search. The front matter is
//! a page's and is stored once, with its first section (storing it with every section made a
//! keyword index of cpp-docs-ja 2.7× slower to build: ARCHITECTURE.md, "Collections and
//! filters"). So its conditions, and the file time of `--changed-after`, first select pages,
//! and the search is then restricted to those pages' rows by their page number (a B-tree
//! lookup), by whichever list is shorter, the pages kept or the pages left out:
//! - a condition that must hold (`=`, `<` …) finds the pages that pass it: only a first
//!   section has front matter to pass it, so the lookup needs no test of `ordinal`;
//! - `!=` finds the pages that fail it, which is a lookup of the `=` it negates: they are
//!   taken off the pages that pass the other conditions, or off every page.

use std::collections::HashSet;

use anyhow::Result;

use super::SearchOptions;
use crate::store::{Filter, Store};

/// The rows a search ranks.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// No page passes the conditions: nothing to rank.
    Nothing,
    /// The rows passing this filter (`None`: every row).
    Rows(Option<Filter>),
}

/// The scope `opts` asks for.
pub async fn scope(store: &Store, opts: &SearchOptions) -> Result<Scope> {
    let collections =
        (!opts.collections.is_empty()).then(|| Filter::Collections(opts.collections.clone()));
    let rows = Filter::all(
        opts.path_prefix
            .as_deref()
            .map(Filter::path_prefix)
            .into_iter()
            .chain(collections),
    );
    // Each condition selects its pages alone, and the sets are combined here: LanceDB tests
    // a list function (a front-matter condition) on every row another part of the same
    // filter selected, 10× slower than both apart (51 against 5 ms on cpp-docs-ja). What a
    // condition selects is kept for the version (`Store::pages`). A file's time is on every
    // row but selects pages the same way, so that it is kept too: as a row filter it was
    // tested again on every row at every search. The rows' own restrictions (collection,
    // path) are applied to the search itself.
    let changed = opts
        .changed_since
        .map(|ns| Filter::ChangedSince(ns).and(Filter::FirstSections));
    let musts = changed
        .iter()
        .chain(opts.conditions.iter().map(|w| &w.filter));
    let mut passing: Option<Vec<u64>> = None;
    let mut failing: HashSet<u64> = HashSet::new();
    for filter in musts {
        match filter {
            Filter::Not(negated) => failing.extend(store.pages(negated).await?.iter()),
            must => {
                let pages = store.pages(must).await?;
                passing = Some(match passing {
                    None => pages.to_vec(),
                    Some(mut before) => {
                        let now: HashSet<u64> = pages.iter().copied().collect();
                        before.retain(|p| now.contains(p));
                        before
                    }
                });
            }
        }
    }
    if passing.is_none() && failing.is_empty() {
        return Ok(Scope::Rows(rows));
    }
    let every = store.pages(&Filter::FirstSections).await?;
    let mut allowed = passing.unwrap_or_else(|| every.to_vec());
    allowed.retain(|p| !failing.contains(p));
    if allowed.is_empty() {
        return Ok(Scope::Nothing);
    }
    Ok(Scope::Rows(Filter::all(
        rows.into_iter().chain(restriction(allowed, &every)),
    )))
}

/// The rows of the `allowed` pages out of `every` page, by the shorter list: `page IN` those,
/// or `page NOT IN` the others (`None` when that is none). LanceDB's cost grows with the
/// list (a text search of cpp-docs-ja in an index of three collections: 116 pages cost
/// nothing, 678 up to 4 ms, 2,463 about 8 ms), and a condition most pages pass, such as a
/// `--changed-after` older than the tree, then costs little or nothing.
fn restriction(allowed: Vec<u64>, every: &[u64]) -> Option<Filter> {
    if allowed.len() * 2 <= every.len() {
        return Some(Filter::Pages(allowed));
    }
    let allowed: HashSet<u64> = allowed.into_iter().collect();
    let others: Vec<u64> = every
        .iter()
        .copied()
        .filter(|p| !allowed.contains(p))
        .collect();
    (!others.is_empty()).then(|| Filter::Not(Box::new(Filter::Pages(others))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restriction_lists_the_shorter_side() {
        let every = [1, 2, 3, 4, 5];
        assert_eq!(
            restriction(vec![2, 4], &every),
            Some(Filter::Pages(vec![2, 4]))
        );
        assert_eq!(
            restriction(vec![1, 2, 4, 5], &every),
            Some(Filter::Not(Box::new(Filter::Pages(vec![3]))))
        );
        assert_eq!(restriction(every.to_vec(), &every), None);
    }
}
