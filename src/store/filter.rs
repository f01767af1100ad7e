//! Row filters: the one place that says which rows a query, a count or a deletion touches.
//!
//! A filter is a typed value turned into a DataFusion expression (LanceDB's `only_if_expr`
//! and `delete(&Expr)`), never a string pasted together from user input: a path, a prefix
//! or a front-matter value is a literal, whatever quotes it holds. LanceDB's `count_rows`
//! takes only SQL, so for it the expression is printed by LanceDB's own unparser
//! ([`Filter::sql`]).
//!
//! Front-matter conditions read the list columns of [`super::schema`]: `=` and `!=` look a
//! `key␟value` pair up in `fm_pairs`, and presence the key itself (so a list key matches
//! when any of its values does; a label-list index makes both lookups); `<`, `>` … compare
//! the greatest or least of the key's values, kept per key in `fm_numbers` or `fm_times`:
//! any value in range matches.

use lancedb::datafusion::functions::expr_fn::starts_with;
use lancedb::datafusion::functions_nested::expr_fn::{array_element, array_has, array_position};
use lancedb::expr::{col, expr_to_sql_string, lit, DfExpr};

use super::schema::columns;
use crate::hash::{hash_hex, HashKey};

/// Separates a key from its value in `fm_pairs` (a control character no key holds).
pub const PAIR_SEPARATOR: char = '\u{1f}';

/// The `fm_pairs` entry of a key and a value's canonical text.
pub fn pair(key: &str, canonical: &str) -> String {
    format!("{key}{PAIR_SEPARATOR}{canonical}")
}

/// Which rows of the sections (or vectors) table.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Rows of files whose path starts with this ('/'-separated, relative to their root).
    PathPrefix(String),
    /// Rows of exactly these files of one collection.
    Files {
        collection: String,
        paths: Vec<String>,
    },
    /// Rows of these collections.
    Collections(Vec<String>),
    /// Rows of these pages ([`crate::hash::page_key`]).
    Pages(Vec<u64>),
    /// Rows whose text has one of these hashes (sections and vectors both have the column).
    TextHashes(Vec<HashKey>),
    /// The first section of every file: one row per file.
    FirstSections,
    /// Rows of files modified at or after this time (nanoseconds since 1970).
    ChangedSince(i64),
    /// First sections of pages whose front matter passes this test (the front matter is
    /// stored with a page's first section: `search::scope` turns pages into their rows).
    Property(Condition),
    /// Both filters.
    And(Box<Filter>, Box<Filter>),
    /// Not this filter.
    Not(Box<Filter>),
}

/// A page list taken out of a filter ([`Filter::split_pages`]), to be tested on candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct PageList {
    /// Sorted.
    pages: Vec<u64>,
    /// Whether the listed pages are the ones that pass (else the ones left out).
    keep: bool,
}

impl PageList {
    fn new(pages: &[u64], keep: bool) -> PageList {
        let mut pages = pages.to_vec();
        pages.sort_unstable();
        PageList { pages, keep }
    }

    /// Whether rows of `page` pass.
    pub fn admits(&self, page: u64) -> bool {
        self.pages.binary_search(&page).is_ok() == self.keep
    }

    /// The share of an index's `total` pages that pass.
    pub fn share(&self, total: usize) -> f64 {
        let listed = (self.pages.len() as f64 / total.max(1) as f64).min(1.0);
        if self.keep {
            listed
        } else {
            1.0 - listed
        }
    }
}

/// A test of one front-matter key.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: String,
    pub test: Test,
}

/// What a key's values must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// One of the values has one of these canonical texts
    /// ([`crate::ingest::front_matter::Value::canonical`]).
    Equals(Vec<String>),
    /// One of the values is a number that compares so.
    Number(Cmp, f64),
    /// One of the values is a time (seconds since 1970) that compares so.
    Time(Cmp, i64),
    /// The page has the key.
    Present,
}

/// An order comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Filter {
    /// Files under `prefix` as a user writes it: `./` and `\` are accepted.
    pub fn path_prefix(prefix: &str) -> Filter {
        let p = prefix.replace('\\', "/");
        Filter::PathPrefix(p.trim_start_matches("./").to_string())
    }

    /// One file of a collection.
    pub fn file(collection: &str, path: &str) -> Filter {
        Filter::Files {
            collection: collection.to_string(),
            paths: vec![path.to_string()],
        }
    }

    /// Every row of one collection.
    pub fn collection(name: &str) -> Filter {
        Filter::Collections(vec![name.to_string()])
    }

    pub fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }

    /// All of `filters`; `None` when there are none.
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::and)
    }

    /// Whether the filter lists pages (a restriction whose planning costs LanceDB a few ms
    /// per query).
    pub fn lists_pages(&self) -> bool {
        match self {
            Filter::Pages(_) => true,
            Filter::And(a, b) => a.lists_pages() || b.lists_pages(),
            Filter::Not(a) => a.lists_pages(),
            _ => false,
        }
    }

    /// The filter without its page list (`page IN (…)` or `NOT page IN (…)`, one of the
    /// conditions that must all hold), and the list; `None` when no such list is there. A
    /// long list costs LanceDB a few ms per query to plan and to search its B-tree with, so
    /// the full-text search may test it on its candidates instead (`Store::search_text_rows`).
    pub fn split_pages(&self) -> Option<(Option<Filter>, PageList)> {
        match self {
            Filter::Pages(pages) => Some((None, PageList::new(pages, true))),
            Filter::Not(inner) => match inner.as_ref() {
                Filter::Pages(pages) => Some((None, PageList::new(pages, false))),
                _ => None,
            },
            Filter::And(a, b) => match (a.split_pages(), b.split_pages()) {
                (Some((rest, list)), None) => {
                    Some((Filter::all(rest.into_iter().chain([(**b).clone()])), list))
                }
                (None, Some((rest, list))) => {
                    Some((Filter::all([(**a).clone()].into_iter().chain(rest)), list))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The expression LanceDB evaluates.
    pub fn expr(&self) -> DfExpr {
        let list = |values: &[String]| values.iter().cloned().map(lit).collect::<Vec<_>>();
        let one_of = |column: &str, values: &[String]| match values {
            [one] => col(column).eq(lit(one.clone())),
            _ => col(column).in_list(list(values), false),
        };
        match self {
            Filter::PathPrefix(p) => starts_with(col(columns::PATH), lit(p.clone())),
            Filter::Files { collection, paths } => col(columns::COLLECTION)
                .eq(lit(collection.clone()))
                .and(one_of(columns::PATH, paths)),
            Filter::Collections(names) => one_of(columns::COLLECTION, names),
            Filter::Pages(keys) => {
                col(columns::PAGE).in_list(keys.iter().map(|k| lit(*k)).collect(), false)
            }
            Filter::TextHashes(keys) => {
                let hex: Vec<String> = keys.iter().map(|k| hash_hex(*k)).collect();
                col(columns::TEXT_HASH).in_list(list(&hex), false)
            }
            Filter::FirstSections => col(columns::ORDINAL).eq(lit(0u32)),
            Filter::ChangedSince(ns) => col(columns::MTIME_NS).gt_eq(lit(*ns)),
            Filter::Property(c) => c.expr(),
            Filter::And(a, b) => a.expr().and(b.expr()),
            Filter::Not(a) => !a.expr(),
        }
    }

    /// The expression as SQL, for the LanceDB calls that take nothing else.
    pub fn sql(&self) -> lancedb::Result<String> {
        expr_to_sql_string(&self.expr())
    }
}

impl Condition {
    fn expr(&self) -> DfExpr {
        let key = || lit(self.key.clone());
        match &self.test {
            Test::Present => array_has(col(columns::FM_PAIRS), key()),
            Test::Equals(values) => values
                .iter()
                .map(|v| array_has(col(columns::FM_PAIRS), lit(pair(&self.key, v))))
                .reduce(DfExpr::or)
                .unwrap_or_else(|| lit(false)),
            Test::Number(cmp, n) => self.compare(columns::FM_NUMBERS, *cmp, lit(*n)),
            Test::Time(cmp, t) => self.compare(columns::FM_TIMES, *cmp, lit(*t)),
        }
    }

    /// Whether any of the key's values in `column` compares so with `value`: the greatest
    /// against a lower bound, the least against an upper one (`column` holds `[min, max]`
    /// for each typed key, in `fm_keys` order). A page without the key (position null) or
    /// without a value of the type (null) never matches.
    fn compare(&self, column: &str, cmp: Cmp, value: DfExpr) -> DfExpr {
        let at =
            array_position(col(columns::FM_KEYS), lit(self.key.clone()), lit(1i64)).cast_to_i64();
        let greatest = || array_element(col(column), at.clone() * lit(2i64));
        let least = || array_element(col(column), at.clone() * lit(2i64) - lit(1i64));
        match cmp {
            Cmp::Greater => greatest().gt(value),
            Cmp::GreaterOrEqual => greatest().gt_eq(value),
            Cmp::Less => least().lt(value),
            Cmp::LessOrEqual => least().lt_eq(value),
        }
    }
}

/// `expr` cast to a signed 64-bit integer (positions and lengths are unsigned).
trait CastToI64 {
    fn cast_to_i64(self) -> DfExpr;
}

impl CastToI64 for DfExpr {
    fn cast_to_i64(self) -> DfExpr {
        lancedb::datafusion::logical_expr::cast(self, arrow_schema::DataType::Int64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalised_and_quotes_stay_literal() {
        assert_eq!(
            Filter::path_prefix(".\\docs\\it's"),
            Filter::PathPrefix("docs/it's".into())
        );
        let sql = Filter::file("notes", "it's.md").sql().expect("sql");
        assert!(
            sql.contains("'it''s.md'") && sql.contains("'notes'"),
            "{sql}"
        );
        let sql = Filter::TextHashes(vec![1, 2])
            .and(Filter::FirstSections)
            .sql()
            .expect("sql");
        assert!(
            sql.contains(&hash_hex(1)) && sql.contains(columns::ORDINAL),
            "{sql}"
        );
    }

    #[test]
    fn a_page_list_is_found_inside_and_and_not() {
        let pages = || Filter::Pages(vec![7]);
        assert!(pages().lists_pages());
        assert!(Filter::collection("docs").and(pages()).lists_pages());
        assert!(Filter::Not(Box::new(pages())).lists_pages());
        assert!(!Filter::collection("docs")
            .and(Filter::path_prefix("a/"))
            .lists_pages());
        assert!(!Filter::FirstSections.lists_pages());
    }

    #[test]
    fn a_page_list_is_taken_out_of_the_conditions_that_must_hold() {
        let docs = || Filter::collection("docs");
        let (rest, list) = Filter::Pages(vec![9, 3]).split_pages().unwrap();
        assert_eq!(rest, None);
        assert!(list.admits(3) && list.admits(9) && !list.admits(4));
        assert!((list.share(8) - 0.25).abs() < 1e-9);
        let (rest, list) = docs()
            .and(Filter::Not(Box::new(Filter::Pages(vec![3]))))
            .split_pages()
            .unwrap();
        assert_eq!(rest, Some(docs()));
        assert!(!list.admits(3) && list.admits(4));
        assert!((list.share(4) - 0.75).abs() < 1e-9);
        let (rest, _) = Filter::Pages(vec![1])
            .and(docs())
            .and(Filter::path_prefix("a/"))
            .split_pages()
            .unwrap();
        assert_eq!(rest, Some(docs().and(Filter::path_prefix("a/"))));
        // Not taken: none there, two of them, or one under a Not of something else.
        assert_eq!(docs().split_pages(), None);
        assert_eq!(
            Filter::Pages(vec![1])
                .and(Filter::Pages(vec![2]))
                .split_pages(),
            None
        );
        let negated = Filter::Not(Box::new(docs().and(Filter::Pages(vec![1]))));
        assert_eq!(negated.split_pages(), None);
    }
}
