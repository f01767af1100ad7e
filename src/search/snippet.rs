//! Snippets: about 160 characters of a section around where the query occurs.

/// Runs of one script (Han, kana, Latin/digits) of the query: what a snippet looks for when
/// the whole query does not occur verbatim. Not search terms (those are
/// [`crate::ingest::terms::query_terms`]): only places to centre a snippet on.
fn needles(query: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Han,
        Hiragana,
        Katakana,
        Word,
        Other,
    }
    let class = |c: char| match c {
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '々' => Class::Han,
        '\u{3040}'..='\u{309F}' => Class::Hiragana,
        '\u{30A0}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}' => Class::Katakana,
        c if c.is_alphanumeric() || c == '_' => Class::Word,
        _ => Class::Other,
    };
    let mut found: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_class = Class::Other;
    for c in query.chars() {
        let k = class(c);
        if k != cur_class || k == Class::Other {
            if cur_class != Class::Other && cur_class != Class::Hiragana && !cur.is_empty() {
                found.push(cur.to_lowercase());
            }
            cur.clear();
        }
        if k != Class::Other {
            cur.push(c);
        }
        cur_class = k;
    }
    if cur_class != Class::Other && cur_class != Class::Hiragana && !cur.is_empty() {
        found.push(cur.to_lowercase());
    }
    found.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
    found.dedup();
    found
}

/// About `max_chars` of `text` around the first place the query (or its longest needle)
/// occurs, on one line, with "…" where it was cut.
pub fn snippet(text: &str, query: &str, max_chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = flat.to_lowercase();
    // Lowercasing can change byte lengths outside ASCII; only trust positions when it did not.
    let same_len = lower.len() == flat.len();
    let needle = query.trim().to_lowercase();
    let pos = if same_len {
        lower
            .find(&needle)
            .or_else(|| needles(query).iter().find_map(|t| lower.find(t.as_str())))
    } else {
        None
    };
    let chars: Vec<(usize, char)> = flat.char_indices().collect();
    let total = chars.len();
    if total <= max_chars {
        return flat;
    }
    let hit_char = pos
        .map(|p| chars.partition_point(|(i, _)| *i < p))
        .unwrap_or(0);
    let start = hit_char
        .saturating_sub(max_chars / 5)
        .min(total - max_chars);
    let end = (start + max_chars).min(total);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(chars[start..end].iter().map(|(_, c)| c));
    if end < total {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_split_by_script() {
        let t = needles("RFQ ケース 仕入先の設定、Commerce");
        assert!(t.contains(&"rfq".to_string()));
        assert!(t.contains(&"ケース".to_string()));
        assert!(t.contains(&"仕入先".to_string()));
        assert!(t.contains(&"設定".to_string()));
        assert!(t.contains(&"commerce".to_string()));
        assert!(!t.iter().any(|x| x == "の"), "particles are not needles");
    }

    #[test]
    fn snippet_centres_on_the_match() {
        let text = format!(
            "{}目的の文はここです。{}",
            "前置き。".repeat(100),
            "後書き。".repeat(100)
        );
        let s = snippet(&text, "目的の文", 60);
        assert!(s.contains("目的の文はここです"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert!(s.chars().count() <= 62);
        assert_eq!(snippet("短い\n本文", "x", 60), "短い 本文");
    }
}
