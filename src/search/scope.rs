//! What a search may rank: the restrictions of [`SearchOptions`] as one filter on the rows of
//! the sections table, applied inside LanceDB before ranking.
//!
//! Path, collection and time are columns of every row. The front matter is a page's and is
//! stored once, with its first section: its conditions first select pages (a query on first
//! sections), and the search is then restricted to those pages' rows by their page number
//! (or, when most pages pass, to the rows of all but those that fail). Storing it with every section made a keyword index of
//! cpp-docs-ja 2.7× slower to build (ARCHITECTURE.md, "Collections and filters").

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
    let Some(conditions) = Filter::all(opts.conditions.iter().map(|w| w.filter.clone())) else {
        return Ok(Scope::Rows(rows));
    };
    let page_filter = match &rows {
        Some(r) => r.clone().and(conditions.clone()),
        None => conditions.clone(),
    };
    let pages = store.pages(&page_filter).await?;
    if pages.is_empty() {
        return Ok(Scope::Nothing);
    }
    // Many pages pass (`draft!=true`): the search is restricted by the pages that do not,
    // when they are fewer.
    if pages.len() > COMPLEMENT_ABOVE {
        let failing = match &rows {
            Some(r) => r.clone().and(Filter::Not(Box::new(conditions.clone()))),
            None => Filter::Not(Box::new(conditions.clone())),
        };
        let others = store.pages(&failing).await?;
        if others.len() < pages.len() {
            let not_others = Filter::Not(Box::new(Filter::Pages(others)));
            return Ok(Scope::Rows(Some(match rows {
                Some(r) => r.and(not_others),
                None => not_others,
            })));
        }
    }
    let files = Filter::Pages(pages);
    Ok(Scope::Rows(Some(match rows {
        Some(r) => r.and(files),
        None => files,
    })))
}

/// Pages selected by conditions, above which the pages that fail them are looked up too.
const COMPLEMENT_ABOVE: usize = 256;
