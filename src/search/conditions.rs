//! What a user writes to narrow a search, read into the store's typed filters: front-matter
//! conditions (`--where 'tags=rust'`, MCP `where`) and times (`--changed-after`).
//!
//! A condition is `KEY OP VALUE`, OP one of `=`, `!=`, `<`, `<=`, `>`, `>=`:
//! - `=` holds when one of the key's values equals VALUE (a list contains it): text without
//!   regard to case, numbers by value (`2` = `2.0`), a date for a whole day when VALUE is a
//!   date; `!=` holds when none does, so a page without the key passes `draft!=true`;
//! - `<` … compare numbers, or dates and times (VALUE decides which); one of the key's values
//!   in range is enough. A date alone is a day: `date<=2024-03-01` includes that day.

use anyhow::{bail, Result};

use crate::ingest::front_matter::{canonical_number, parse_time, Value, DAY_SECONDS};
use crate::store::{Cmp, Condition, Filter, Test};

/// One condition, as the store applies it, and the key it reads (to say when no page has
/// that key).
#[derive(Debug, Clone, PartialEq)]
pub struct Where {
    /// The front-matter key.
    pub key: String,
    /// What the store applies.
    pub filter: Filter,
    /// The condition as written, for messages.
    pub written: String,
}

/// The comparisons, longest first (so `<=` is not read as `<`).
const OPERATORS: [&str; 6] = ["!=", "<=", ">=", "=", "<", ">"];

/// Reads `KEY OP VALUE` (spaces around OP allowed, VALUE may be quoted).
pub fn parse_where(written: &str) -> Result<Where> {
    let Some(at) = written.find(['=', '!', '<', '>', '~']) else {
        bail!("--where {written:?}: no comparison; write KEY=VALUE, KEY!=VALUE, KEY<VALUE, KEY<=VALUE, KEY>VALUE or KEY>=VALUE");
    };
    let key = written[..at].trim();
    let rest = &written[at..];
    let op_len = rest
        .find(|c: char| !matches!(c, '=' | '!' | '<' | '>' | '~'))
        .unwrap_or(rest.len());
    let op = &rest[..op_len];
    if !OPERATORS.contains(&op) {
        bail!("--where {written:?}: unknown comparison {op:?}; use =, !=, <, <=, > or >=");
    }
    let value = unquote(rest[op_len..].trim());
    condition(key, op, value, written)
}

/// A condition from its parts (the MCP server's object form comes here too).
pub fn condition(key: &str, op: &str, value: &str, written: &str) -> Result<Where> {
    let key = key.trim();
    if key.is_empty() {
        bail!("--where {written:?}: no key before {op:?}");
    }
    if value.is_empty() {
        bail!("--where {written:?}: no value after {op:?}");
    }
    let property = |test: Test| {
        Filter::Property(Condition {
            key: key.to_string(),
            test,
        })
    };
    let time = parse_time(value);
    let filter = match op {
        "=" | "!=" => {
            let equal = match time {
                // A date is a day: any time of it matches.
                Some(t) if t.date_only => property(Test::Time(Cmp::GreaterOrEqual, t.seconds))
                    .and(property(Test::Time(Cmp::Less, t.seconds + DAY_SECONDS))),
                _ => property(Test::Equals(equal_texts(value))),
            };
            if op == "=" {
                equal
            } else {
                Filter::Not(Box::new(equal))
            }
        }
        "<" | "<=" | ">" | ">=" => {
            let cmp = match op {
                "<" => Cmp::Less,
                "<=" => Cmp::LessOrEqual,
                ">" => Cmp::Greater,
                _ => Cmp::GreaterOrEqual,
            };
            match (time, value.parse::<f64>()) {
                (Some(t), _) => {
                    // A date alone is the whole day: `<= day` is `< the next day`, `> day`
                    // is `>= the next day`.
                    let (cmp, at) = match (cmp, t.date_only) {
                        (Cmp::LessOrEqual, true) => (Cmp::Less, t.seconds + DAY_SECONDS),
                        (Cmp::Greater, true) => (Cmp::GreaterOrEqual, t.seconds + DAY_SECONDS),
                        _ => (cmp, t.seconds),
                    };
                    property(Test::Time(cmp, at))
                }
                (None, Ok(n)) if n.is_finite() => property(Test::Number(cmp, n)),
                _ => bail!(
                    "--where {written:?}: {op:?} compares numbers or dates (2024-03-01, 2024-03-01T10:00:00Z), and {value:?} is neither"
                ),
            }
        }
        other => {
            bail!("--where {written:?}: unknown comparison {other:?}; use =, !=, <, <=, > or >=")
        }
    };
    Ok(Where {
        key: key.to_string(),
        filter,
        written: written.to_string(),
    })
}

/// The canonical texts a value written in a condition equals: as text, and as the number it
/// may be (`2.0` matches a page's `2`).
fn equal_texts(value: &str) -> Vec<String> {
    let mut out = vec![Value::Text(value.to_string()).canonical()];
    if let Some(n) = value.parse::<f64>().ok().filter(|n| n.is_finite()) {
        let n = canonical_number(n);
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// MCP's `where`: a condition string, a list of them, or an object whose keys are front-matter
/// keys and whose values are a value (`=`) or an object of comparisons
/// (`{"date": {">=": "2024-03-01"}, "draft": {"!=": true}, "tags": "rust"}`).
pub fn where_from_json(value: &serde_json::Value) -> Result<Vec<Where>> {
    use serde_json::Value as J;
    let scalar = |key: &str, v: &J| -> Result<String> {
        match v {
            J::String(s) => Ok(s.clone()),
            J::Number(n) => Ok(n.to_string()),
            J::Bool(b) => Ok(b.to_string()),
            other => bail!("where: the value of {key:?} must be a string, a number, a boolean or an object of comparisons, not {other}"),
        }
    };
    match value {
        J::Null => Ok(Vec::new()),
        J::String(s) => Ok(vec![parse_where(s)?]),
        J::Array(items) => items
            .iter()
            .map(|i| match i {
                J::String(s) => parse_where(s),
                other => {
                    bail!("where: a list holds condition strings (\"tags=rust\"), not {other}")
                }
            })
            .collect(),
        J::Object(map) => {
            let mut out = Vec::new();
            for (key, v) in map {
                match v {
                    J::Object(tests) => {
                        for (op, v) in tests {
                            let v = scalar(key, v)?;
                            out.push(condition(key, op, &v, &format!("{key}{op}{v}"))?);
                        }
                    }
                    v => {
                        let v = scalar(key, v)?;
                        out.push(condition(key, "=", &v, &format!("{key}={v}"))?);
                    }
                }
            }
            Ok(out)
        }
        other => bail!("where: give a condition string, a list of them, or an object, not {other}"),
    }
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// `--changed-after`: a date or time ([`parse_time`]), or a span back from `now` (`7d`,
/// `12h`, `30m`); nanoseconds since 1970.
pub fn parse_since(written: &str, now: chrono::DateTime<chrono::Utc>) -> Result<i64> {
    let w = written.trim();
    if let Some(t) = parse_time(w) {
        return Ok(t.seconds.saturating_mul(1_000_000_000));
    }
    let unit = w.chars().last().unwrap_or(' ');
    let seconds = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        _ => 0,
    };
    match w[..w.len() - unit.len_utf8().min(w.len())].parse::<u32>() {
        Ok(n) if seconds > 0 => {
            let at = now - chrono::Duration::seconds(i64::from(n) * seconds);
            Ok(at.timestamp_nanos_opt().unwrap_or(i64::MIN))
        }
        _ => bail!(
            "--changed-after {written:?}: give a date (2024-03-01), a time (2024-03-01T10:00:00Z) or a span back from now (7d, 12h, 30m)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_comparison_reads_and_bad_ones_say_what_is_wrong() {
        let w = parse_where("tags=Rust").expect("=");
        assert_eq!(w.key, "tags");
        assert_eq!(
            w.filter,
            Filter::Property(Condition {
                key: "tags".into(),
                test: Test::Equals(vec!["rust".into()]),
            })
        );
        let w = parse_where(" ms.topic = 'business-process' ").expect("spaces, quotes");
        assert_eq!(w.key, "ms.topic");
        assert!(
            matches!(w.filter, Filter::Property(Condition { test: Test::Equals(ref v), .. }) if v == &["business-process"])
        );
        assert!(matches!(
            parse_where("draft!=true").expect("!=").filter,
            Filter::Not(_)
        ));
        let march = parse_time("2024-03-01").unwrap().seconds;
        assert_eq!(
            parse_where("date<=2024-03-01").expect("<=").filter,
            Filter::Property(Condition {
                key: "date".into(),
                test: Test::Time(Cmp::Less, march + DAY_SECONDS),
            })
        );
        assert_eq!(
            parse_where("order>3").expect(">").filter,
            Filter::Property(Condition {
                key: "order".into(),
                test: Test::Number(Cmp::Greater, 3.0),
            })
        );
        assert!(matches!(
            parse_where("date=2024-03-01").expect("a day").filter,
            Filter::And(_, _)
        ));
        let n = parse_where("version=2.0").expect("number");
        assert!(
            matches!(n.filter, Filter::Property(Condition { test: Test::Equals(ref v), .. }) if v.contains(&"2".to_string()))
        );
        for (bad, says) in [
            ("tags", "no comparison"),
            ("tags=~rust", "unknown comparison \"=~\""),
            ("tags==rust", "unknown comparison \"==\""),
            ("=rust", "no key"),
            ("tags=", "no value"),
            ("title<abc", "neither"),
        ] {
            let err = parse_where(bad).expect_err(bad).to_string();
            assert!(err.contains(says) && err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn json_forms_read_as_the_strings_do() {
        let from_object = where_from_json(&serde_json::json!({
            "tags": "rust", "date": {">=": "2024-03-01"}, "draft": {"!=": true}, "order": 3
        }))
        .expect("object");
        let from_strings = where_from_json(&serde_json::json!([
            "tags=rust",
            "date>=2024-03-01",
            "draft!=true",
            "order=3"
        ]))
        .expect("list");
        let filters = |w: &[Where]| {
            let mut f: Vec<String> = w.iter().map(|w| format!("{:?}", w.filter)).collect();
            f.sort();
            f
        };
        assert_eq!(filters(&from_object), filters(&from_strings));
        let err = where_from_json(&serde_json::json!({"date": {"~": "x"}}))
            .expect_err("unknown comparison")
            .to_string();
        assert!(err.contains("\"~\""), "{err}");
        assert!(where_from_json(&serde_json::json!({"tags": ["a"]})).is_err());
    }

    #[test]
    fn since_takes_dates_and_spans() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-03T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_since("2024-03-01", now).unwrap(),
            parse_time("2024-03-01").unwrap().seconds * 1_000_000_000
        );
        assert_eq!(
            parse_since("2d", now).unwrap(),
            (now.timestamp() - 2 * 86_400) * 1_000_000_000
        );
        for bad in ["yesterday", "d", "", "-3d"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
