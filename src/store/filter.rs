//! Row filters: the one place that says which rows a query, a count or a deletion touches.
//!
//! A filter is a typed value turned into a DataFusion expression (LanceDB's `only_if_expr`
//! and `delete(&Expr)`), never a string pasted together from user input: a path or prefix
//! is a literal, whatever quotes it holds. LanceDB's `count_rows` takes only SQL, so for it
//! the expression is printed by LanceDB's own unparser ([`Filter::sql`]).

use lancedb::datafusion::functions::expr_fn::starts_with;
use lancedb::expr::{col, expr_to_sql_string, lit, DfExpr};

use super::schema::columns;
use crate::hash::{hash_hex, HashKey};

/// Which rows of the sections (or vectors) table.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Rows of files whose path starts with this ('/'-separated, relative to the root).
    PathPrefix(String),
    /// Rows of exactly these files.
    Paths(Vec<String>),
    /// Rows whose text has one of these hashes (sections and vectors both have the column).
    TextHashes(Vec<HashKey>),
    /// The first section of every file: one row per file.
    FirstSections,
    /// Both filters.
    And(Box<Filter>, Box<Filter>),
}

impl Filter {
    /// Files under `prefix` as a user writes it: `./` and `\` are accepted.
    pub fn path_prefix(prefix: &str) -> Filter {
        let p = prefix.replace('\\', "/");
        Filter::PathPrefix(p.trim_start_matches("./").to_string())
    }

    /// One file.
    pub fn path(path: &str) -> Filter {
        Filter::Paths(vec![path.to_string()])
    }

    pub fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }

    /// The expression LanceDB evaluates.
    pub fn expr(&self) -> DfExpr {
        let list = |values: Vec<String>| values.into_iter().map(lit).collect::<Vec<_>>();
        match self {
            Filter::PathPrefix(p) => starts_with(col(columns::PATH), lit(p.clone())),
            Filter::Paths(paths) if paths.len() == 1 => {
                col(columns::PATH).eq(lit(paths[0].clone()))
            }
            Filter::Paths(paths) => col(columns::PATH).in_list(list(paths.clone()), false),
            Filter::TextHashes(keys) => col(columns::TEXT_HASH)
                .in_list(list(keys.iter().map(|k| hash_hex(*k)).collect()), false),
            Filter::FirstSections => col(columns::ORDINAL).eq(lit(0u32)),
            Filter::And(a, b) => a.expr().and(b.expr()),
        }
    }

    /// The expression as SQL, for the LanceDB calls that take nothing else.
    pub fn sql(&self) -> lancedb::Result<String> {
        expr_to_sql_string(&self.expr())
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
        let sql = Filter::path("it's.md").sql().expect("sql");
        assert!(sql.contains("'it''s.md'"), "{sql}");
        let sql = Filter::TextHashes(vec![1, 2])
            .and(Filter::FirstSections)
            .sql()
            .expect("sql");
        assert!(
            sql.contains(&hash_hex(1)) && sql.contains(columns::ORDINAL),
            "{sql}"
        );
    }
}
