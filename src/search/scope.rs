//! What a search may rank: the restrictions of [`SearchOptions`] as one filter on the rows of
//! the sections table, applied inside LanceDB before ranking.
//!
//! Path, collection and time are columns of every row. The front matter is a page's and is
//! stored once, with its first section (storing it with every section made a keyword index
//! of cpp-docs-ja 2.7× slower to build: ARCHITECTURE.md, "Collections and filters"). So its
//! conditions first select pages, and the search is then restricted to those pages' rows by
//! their page number (a B-tree lookup):
//! - a condition that must hold (`=`, `<` …) finds the pages that pass it: only a first
//!   section has front matter to pass it, so the lookup needs no test of `ordinal`;
//! - `!=` finds the pages that fail it, which is a lookup of the `=` it negates: they are
//!   taken off the pages that pass the other conditions or, when there are none, the search
//!   is restricted to the rows of every other page.

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
            .chain(collections)
            .chain(opts.changed_since.map(Filter::ChangedSince)),
    );
    // Each condition selects its pages alone, and the sets are combined here: LanceDB tests
    // a list function (a front-matter condition) on every row another part of the same
    // filter selected, 10× slower than both apart (51 against 5 ms on cpp-docs-ja). What a
    // condition selects is kept for the version (`Store::pages`). The rows' own
    // restrictions (collection, path, time) are applied to the search itself.
    let mut passing: Option<Vec<u64>> = None;
    let mut failing = Vec::new();
    for w in &opts.conditions {
        match &w.filter {
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
    let pages = match passing {
        Some(mut pages) => {
            let failing: HashSet<u64> = failing.into_iter().collect();
            pages.retain(|p| !failing.contains(p));
            if pages.is_empty() {
                return Ok(Scope::Nothing);
            }
            Filter::Pages(pages)
        }
        None if failing.is_empty() => return Ok(Scope::Rows(rows)),
        None => {
            failing.sort_unstable();
            failing.dedup();
            Filter::Not(Box::new(Filter::Pages(failing)))
        }
    };
    Ok(Scope::Rows(Some(match rows {
        Some(r) => r.and(pages),
        None => pages,
    })))
}
