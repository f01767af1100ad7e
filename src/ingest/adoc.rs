//! AsciiDoc → sections.
//!
//! `= Title` is the document title (level 1), `==` … `======` sections below it. The header's
//! attribute entries (`:description:`, `:keywords:`, `:tags:`) are the front matter; attribute
//! entries elsewhere, comments (`//`, `////` blocks), block attribute lines (`[source,java]`,
//! `[[anchor]]`), block delimiters (`----`, `====`, `|===` …) and preprocessor or block macros
//! (`include::`, `image::`, `ifdef::`) are not text; the content of delimited blocks is.
//! Links (`https://…[text]`, `link:…[text]`, `xref:…[text]`, `<<id,text>>`) keep their text,
//! which counts as link text.

use super::document::{assemble, line_spans, Document, FrontMatter, Outline, SplitOptions};

/// Splits one AsciiDoc document. Never fails.
pub fn parse(source: &str, opts: SplitOptions) -> Document {
    let lines = line_spans(source);
    let mut outline = Outline::new();
    let mut front = FrontMatter::default();
    // The header: the title line and the lines after it up to the first blank line.
    let mut in_header = false;
    let mut comment_block = false;
    for (n, &(start, end, line)) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed == "////" {
            comment_block = !comment_block;
            continue;
        }
        if comment_block || (trimmed.starts_with("//") && !trimmed.starts_with("///")) {
            continue;
        }
        if trimmed.is_empty() {
            in_header = false;
            outline.end_block();
            continue;
        }
        if let Some((level, title)) = heading(line) {
            outline.heading(level, title, start, end);
            in_header = level == 1 && n == first_content_line(&lines);
            continue;
        }
        if let Some((key, value)) = attribute_entry(trimmed) {
            if in_header || n < first_content_line(&lines) {
                attribute(key, value, &mut front);
            }
            continue;
        }
        if in_header {
            // The author and revision lines of the header.
            continue;
        }
        if is_delimiter(trimmed) || is_block_attribute(trimmed) || is_macro_line(trimmed) {
            outline.end_block();
            continue;
        }
        // A block title (`.Example`) reads as a line of its own.
        let text = match trimmed.strip_prefix('.') {
            Some(t) if t.starts_with(|c: char| !c.is_whitespace() && c != '.') => t,
            _ => trimmed,
        };
        let text = text.trim_start_matches('|').replace(" |", " ");
        let (text, links) = inline(&text);
        outline.text(start, end, &text, links, '\n');
    }
    let (raw, first_h1) = outline.finish();
    let title = front.title.clone().or(first_h1);
    assemble(source, front, 0, raw, title, opts)
}

/// The index of the first line that is not blank and not a comment.
fn first_content_line(lines: &[(usize, usize, &str)]) -> usize {
    lines
        .iter()
        .position(|(_, _, l)| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .unwrap_or(0)
}

/// `== Title` → (2, "Title"); `=` alone is the document title (level 1).
fn heading(line: &str) -> Option<(u8, &str)> {
    let marks = line.chars().take_while(|&c| c == '=').count();
    if !(1..=6).contains(&marks) {
        return None;
    }
    let title = line[marks..].strip_prefix(' ')?.trim();
    (!title.is_empty()).then_some((u8::try_from(marks).unwrap_or(6), title))
}

/// `:name: value` (also `:name!:`) → (name, value).
fn attribute_entry(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(':')?;
    let (name, value) = rest.split_once(':')?;
    let name = name.trim_end_matches('!');
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_'));
    ok.then_some((name, value.trim()))
}

fn attribute(key: &str, value: &str, front: &mut FrontMatter) {
    front.set_text(key, value);
    match key.to_ascii_lowercase().as_str() {
        "description" if !value.is_empty() => front.description = Some(value.to_string()),
        "keywords" | "tags" => front.add_tags(value, &[',']),
        _ => {}
    }
}

/// A delimited block's fence: 4 or more of one of `-.=*_+/`, or a table's `|===`.
fn is_delimiter(t: &str) -> bool {
    if t.starts_with("|===") || t == "--" || t == "```" || t.starts_with("```") && !t.contains(' ')
    {
        return true;
    }
    let Some(c) = t.chars().next() else {
        return false;
    };
    t.len() >= 4 && matches!(c, '-' | '.' | '=' | '*' | '_' | '+') && t.chars().all(|x| x == c)
}

/// `[source,java]`, `[NOTE]`, `[[anchor]]`, `[#id.role]`.
fn is_block_attribute(t: &str) -> bool {
    t.starts_with('[') && t.ends_with(']') && !t.contains("](")
}

/// `include::file[]`, `image::a.png[…]`, `ifdef::x[]`, `toc::[]`: a line that is a macro.
fn is_macro_line(t: &str) -> bool {
    match t.split_once("::") {
        Some((name, rest)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && rest.ends_with(']')
        }
        None => false,
    }
}

/// Links → their text (counted as link text): `<<id,text>>`, `<<id>>`, and `scheme:target[text]`
/// for `http(s)`, `link`, `xref`, `mailto`. Backticks of monospace go.
fn inline(line: &str) -> (String, usize) {
    let mut out = String::with_capacity(line.len());
    let mut links = 0;
    let mut rest = line;
    loop {
        let cross = rest.find("<<");
        let url = ["https://", "http://", "link:", "xref:", "mailto:"]
            .iter()
            .filter_map(|p| rest.find(p))
            .min();
        match (cross, url) {
            (Some(c), u) if u.is_none_or(|u| c < u) => {
                out.push_str(&rest[..c]);
                let body = &rest[c + 2..];
                let Some(close) = body.find(">>") else {
                    out.push_str(&rest[c..]);
                    rest = "";
                    break;
                };
                let inner = &body[..close];
                let text = inner.split_once(',').map_or(inner, |(_, t)| t.trim());
                links += text.chars().filter(|c| !c.is_whitespace()).count();
                out.push_str(text);
                rest = &body[close + 2..];
            }
            (_, Some(u)) => {
                out.push_str(&rest[..u]);
                let target = &rest[u..];
                let stop = target
                    .find(|c: char| c.is_whitespace() || c == '[')
                    .unwrap_or(target.len());
                if target[stop..].starts_with('[') {
                    let after = &target[stop + 1..];
                    match after.find(']') {
                        Some(close) => {
                            let text = &after[..close];
                            let shown = if text.is_empty() {
                                &target[..stop]
                            } else {
                                text
                            };
                            links += shown.chars().filter(|c| !c.is_whitespace()).count();
                            out.push_str(shown);
                            rest = &after[close + 1..];
                        }
                        None => {
                            out.push_str(target);
                            rest = "";
                        }
                    }
                } else {
                    // A bare URL: kept as written (it is what the reader sees).
                    out.push_str(&target[..stop]);
                    rest = &target[stop..];
                }
            }
            _ => break,
        }
    }
    out.push_str(rest);
    (out.replace('`', ""), links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::heading_paths;

    const SRC: &str = "\
= 運用ガイド
山田 太郎 <taro@example.com>
:description: 本番環境の運用手順
:keywords: 運用, 監視
:toc:

// この行はコメント

== 監視

アラートは xref:alerts.adoc[アラート一覧] と <<escalation,エスカレーション>> を見る。

[source,bash]
----
sagasu stats --json
----

////
ブロックコメント
////

=== ダッシュボード

.重要
NOTE: https://grafana.example.com[Grafana] で確認する。

image::dashboard.png[ダッシュボード]

[[escalation]]
== エスカレーション

|===
|担当 |連絡先
|一次 |オンコール
|===
";

    #[test]
    fn header_attributes_sections_blocks_and_links() {
        let doc = parse(SRC, SplitOptions::default());
        assert_eq!(doc.title.as_deref(), Some("運用ガイド"));
        assert_eq!(
            doc.front_matter.description.as_deref(),
            Some("本番環境の運用手順")
        );
        assert_eq!(doc.front_matter.tags, vec!["運用", "監視"]);
        let paths = heading_paths(&doc);
        assert_eq!(
            paths,
            vec![
                vec!["運用ガイド", "監視"],
                vec!["運用ガイド", "監視", "ダッシュボード"],
                vec!["運用ガイド", "エスカレーション"],
            ]
        );
        let watch = &doc.sections[0];
        assert!(
            watch
                .text
                .contains("アラートは アラート一覧 と エスカレーション を見る。"),
            "{}",
            watch.text
        );
        assert!(
            watch.text.contains("sagasu stats --json"),
            "listing content is kept"
        );
        assert!(
            !watch.text.contains("----") && !watch.text.contains("[source"),
            "{}",
            watch.text
        );
        assert!(!watch.text.contains("コメント"), "{}", watch.text);
        assert!(
            !watch.text.contains("taro@"),
            "the author line is not text: {}",
            watch.text
        );
        assert!(watch.link_share > 0.0);
        assert_eq!((watch.start_line, watch.end_line), (9, 15));
        let dash = &doc.sections[1];
        assert!(dash.text.contains("重要"), "{}", dash.text);
        assert!(
            dash.text.contains("NOTE: Grafana で確認する。"),
            "{}",
            dash.text
        );
        assert!(!dash.text.contains("dashboard.png"), "{}", dash.text);
        let esc = &doc.sections[2];
        assert!(
            esc.text.contains("一次") && esc.text.contains("オンコール"),
            "{}",
            esc.text
        );
        assert!(!esc.text.contains("|==="), "{}", esc.text);
    }
}
