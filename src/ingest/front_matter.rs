//! Front matter as typed properties: every scalar and list key a page declares (YAML, TOML,
//! or what a format has in its place), kept so that searches can filter on it.
//!
//! A value is text, a number, a boolean or a time; a list key becomes one property per
//! element, and nested maps are flattened with dots (`author: {name: x}` → `author.name`).
//! YAML and TOML say a value's type; the other formats (HTML `<meta>`, reST fields, AsciiDoc
//! attributes, Org keywords) give text, whose type is inferred ([`Value::infer`]). A time
//! written as text is recognised in YAML too (YAML 1.1's timestamps are text to serde).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use serde::Serialize;

/// One front-matter value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Text(String),
    Number(f64),
    Bool(bool),
    /// A date or a date and time, as seconds since 1970 UTC (a date is its midnight UTC).
    Time(i64),
}

impl Value {
    /// The type of a value written as text (formats without types): `true`/`false`, a number,
    /// a date or time ([`parse_time`]), else text.
    pub fn infer(text: &str) -> Value {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
        if looks_numeric(t) {
            if let Ok(n) = t.parse::<f64>() {
                if n.is_finite() {
                    return Value::Number(n);
                }
            }
        }
        Value::text(t)
    }

    /// A string value: a time when it is written as one, else text.
    pub fn text(text: &str) -> Value {
        let t = text.trim();
        match parse_time(t) {
            Some(time) => Value::Time(time.seconds),
            None => Value::Text(t.to_string()),
        }
    }

    /// How the value is compared for equality: text lowercased, numbers without a needless
    /// fraction (`2.0` → `2`), booleans as `true`/`false`, times as RFC 3339 UTC.
    pub fn canonical(&self) -> String {
        match self {
            Value::Text(s) => s.to_lowercase(),
            Value::Number(n) => canonical_number(*n),
            Value::Bool(b) => b.to_string(),
            Value::Time(s) => DateTime::from_timestamp(*s, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| s.to_string()),
        }
    }
}

/// A number as equality compares it.
pub fn canonical_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Digits with an optional sign, point and exponent; not a version (`1.2.3`), a code with a
/// leading zero (`007`), or `inf`/`nan`, which Rust would parse.
fn looks_numeric(t: &str) -> bool {
    let digits = t.trim_start_matches(['-', '+']);
    !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || ".eE-+".contains(c))
        && digits.chars().next().is_some_and(|c| c.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."))
        && digits.matches('.').count() <= 1
}

/// A time read from text, and whether it was a date alone (a day, not an instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// Seconds since 1970 UTC.
    pub seconds: i64,
    /// Written as a date without a time of day.
    pub date_only: bool,
}

/// Seconds in a day: a date compared as a day spans this many.
pub const DAY_SECONDS: i64 = 86_400;

/// A date or time as front matter and `--where` write them: `2024-03-01`, `2024/03/01`,
/// `3/1/2024` (month first, as Microsoft Learn's `ms.date`), RFC 3339
/// (`2024-03-01T10:00:00+09:00`), or a date and time without a zone (`2024-03-01 10:00`,
/// taken as UTC).
pub fn parse_time(text: &str) -> Option<Time> {
    let t = text.trim();
    if t.len() < 8 || t.len() > 40 || !t.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let day = |d: NaiveDate| Time {
        seconds: d.and_time(NaiveTime::MIN).and_utc().timestamp(),
        date_only: true,
    };
    for format in ["%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, format) {
            return Some(day(d));
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(Time {
            seconds: dt.timestamp(),
            date_only: false,
        });
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S %z",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, format) {
            return Some(Time {
                seconds: dt.and_utc().timestamp(),
                date_only: false,
            });
        }
    }
    None
}

/// Adds the properties of a YAML value under `key` (flattened, one per list element).
pub fn push_yaml(out: &mut Vec<(String, Value)>, key: &str, v: &serde_yaml::Value) {
    use serde_yaml::Value as Y;
    match v {
        Y::String(s) => out.push((key.to_string(), Value::text(s))),
        Y::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                out.push((key.to_string(), Value::Number(f)));
            }
        }
        Y::Bool(b) => out.push((key.to_string(), Value::Bool(*b))),
        Y::Sequence(items) => {
            for item in items
                .iter()
                .filter(|i| !matches!(i, Y::Sequence(_) | Y::Mapping(_)))
            {
                push_yaml(out, key, item);
            }
        }
        Y::Mapping(map) => {
            for (k, v) in map {
                if let Some(k) = yaml_key(k) {
                    push_yaml(out, &join_key(key, &k), v);
                }
            }
        }
        Y::Tagged(t) => push_yaml(out, key, &t.value),
        Y::Null => {}
    }
}

/// A mapping key as text (YAML allows numbers and booleans as keys).
pub fn yaml_key(k: &serde_yaml::Value) -> Option<String> {
    match k {
        serde_yaml::Value::String(s) => Some(s.trim().to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Adds the properties of a TOML value under `key`.
pub fn push_toml(out: &mut Vec<(String, Value)>, key: &str, v: &toml::Value) {
    use toml::Value as T;
    match v {
        T::String(s) => out.push((key.to_string(), Value::text(s))),
        T::Integer(i) => out.push((key.to_string(), Value::Number(*i as f64))),
        T::Float(f) if f.is_finite() => out.push((key.to_string(), Value::Number(*f))),
        T::Float(_) => {}
        T::Boolean(b) => out.push((key.to_string(), Value::Bool(*b))),
        T::Datetime(d) => {
            if let Some(t) = parse_time(&d.to_string()) {
                out.push((key.to_string(), Value::Time(t.seconds)));
            }
        }
        T::Array(items) => {
            for item in items
                .iter()
                .filter(|i| !matches!(i, T::Array(_) | T::Table(_)))
            {
                push_toml(out, key, item);
            }
        }
        T::Table(table) => {
            for (k, v) in table {
                push_toml(out, &join_key(key, k), v);
            }
        }
    }
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_typed_by_what_it_looks_like() {
        assert_eq!(Value::infer("true"), Value::Bool(true));
        assert_eq!(Value::infer(" 42 "), Value::Number(42.0));
        assert_eq!(Value::infer("-1.5"), Value::Number(-1.5));
        for text in ["1.2.3", "007", "inf", "NaN", "v2", "1e", "C++"] {
            assert!(matches!(Value::infer(text), Value::Text(_)), "{text}");
        }
        let march = parse_time("2024-03-01").expect("date");
        assert!(march.date_only);
        assert_eq!(Value::infer("2024/03/01"), Value::Time(march.seconds));
        assert_eq!(
            parse_time("3/1/2024").map(|t| t.seconds),
            Some(march.seconds)
        );
        let t = parse_time("2024-03-01T09:00:00+09:00").expect("rfc 3339");
        assert_eq!((t.seconds, t.date_only), (march.seconds, false));
        assert_eq!(
            parse_time("2024-03-01 10:30").map(|t| t.seconds),
            Some(march.seconds + 10 * 3600 + 30 * 60)
        );
        for text in ["2024-13-01", "12345678", "March 1", "2024-03"] {
            assert_eq!(parse_time(text), None, "{text}");
        }
        assert_eq!(Value::Number(2.0).canonical(), "2");
        assert_eq!(Value::Text("Rust".into()).canonical(), "rust");
        assert_eq!(
            Value::Time(march.seconds).canonical(),
            "2024-03-01T00:00:00Z"
        );
    }

    #[test]
    fn yaml_and_toml_keep_every_key_typed_and_flattened() {
        let yaml: serde_yaml::Value = serde_yaml::from_str(
            "tags: [a, b]\ndraft: false\norder: 3\nms.date: 12/06/2019\nauthor:\n  name: 山田\nempty:\n",
        )
        .unwrap();
        let mut out = Vec::new();
        push_yaml(&mut out, "", &yaml);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["tags", "tags", "draft", "order", "ms.date", "author.name"]
        );
        assert_eq!(out[2].1, Value::Bool(false));
        assert_eq!(out[3].1, Value::Number(3.0));
        assert!(matches!(out[4].1, Value::Time(_)));
        assert_eq!(out[5].1, Value::Text("山田".into()));
        let toml: toml::Table = "date = 2024-03-01\nn = 1.5\n[extra]\nflag = true\n"
            .parse()
            .unwrap();
        let mut out = Vec::new();
        push_toml(&mut out, "", &toml::Value::Table(toml));
        assert!(out.contains(&(
            "date".into(),
            Value::Time(parse_time("2024-03-01").unwrap().seconds)
        )));
        assert!(out.contains(&("extra.flag".into(), Value::Bool(true))));
        assert!(out.contains(&("n".into(), Value::Number(1.5))));
    }
}
