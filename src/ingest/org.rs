//! Org → sections.
//!
//! `*` headings (the number of stars is the level), with their TODO keyword, priority and
//! tags taken off the title (the tags join the document's). `#+TITLE:`, `#+DESCRIPTION:`,
//! `#+FILETAGS:` and the property drawer before the first heading are the front matter;
//! other keyword lines, comments, drawers (`:PROPERTIES:` … `:END:`, `:LOGBOOK:` …) and
//! planning lines (`SCHEDULED:`) are not text; the content of `#+BEGIN_…` blocks is. Links
//! (`[[target][text]]`, `[[target]]`) keep their text, which counts as link text.

use super::document::{assemble, line_spans, Document, FrontMatter, Outline, SplitOptions};

/// TODO keywords taken off heading titles (Org's defaults and the most common additions).
const TODO_KEYWORDS: [&str; 6] = ["TODO", "DONE", "NEXT", "WAITING", "HOLD", "CANCELLED"];

/// Splits one Org document. Never fails.
pub fn parse(source: &str, opts: SplitOptions) -> Document {
    let mut outline = Outline::new();
    let mut front = FrontMatter::default();
    let mut drawer = false;
    let mut seen_heading = false;
    for (start, end, line) in line_spans(source) {
        let trimmed = line.trim();
        if drawer {
            if trimmed.eq_ignore_ascii_case(":END:") {
                drawer = false;
            } else if !seen_heading {
                if let Some((key, value)) = property(trimmed) {
                    keyword(key, value, &mut front);
                }
            }
            continue;
        }
        if trimmed.is_empty() {
            outline.end_block();
            continue;
        }
        if let Some((level, title)) = heading(line) {
            let (title, tags) = clean_heading(title);
            front.tags.extend(tags);
            outline.heading(level, &title, start, end);
            seen_heading = true;
            continue;
        }
        if is_drawer_start(trimmed) {
            drawer = true;
            outline.end_block();
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("#+") {
            if let Some((key, value)) = rest.split_once(':') {
                if !key.to_ascii_uppercase().starts_with("BEGIN") {
                    keyword(key, value.trim(), &mut front);
                }
            }
            outline.end_block();
            continue;
        }
        if trimmed == "#" || trimmed.starts_with("# ") || is_planning(trimmed) {
            continue;
        }
        if trimmed.starts_with("|-") {
            continue;
        }
        let text = trimmed.trim_matches('|').replace('|', " ");
        let (text, links) = inline(text.trim());
        outline.text(start, end, &text, links, '\n');
    }
    let (raw, first_h1) = outline.finish();
    let title = front.title.clone().or(first_h1);
    assemble(source, front, 0, raw, title, opts)
}

/// `** Title` → (2, "Title").
fn heading(line: &str) -> Option<(u8, &str)> {
    let stars = line.chars().take_while(|&c| c == '*').count();
    if stars == 0 {
        return None;
    }
    let title = line[stars..].strip_prefix(' ')?;
    Some((u8::try_from(stars).unwrap_or(6).min(6), title))
}

/// A heading's title without its TODO keyword, priority cookie and tags; and the tags.
fn clean_heading(title: &str) -> (String, Vec<String>) {
    let mut t = title.trim();
    if let Some((first, rest)) = t.split_once(' ') {
        if TODO_KEYWORDS.contains(&first) {
            t = rest.trim_start();
        }
    }
    if t.starts_with("[#") && t.get(3..4) == Some("]") {
        t = t[4..].trim_start();
    }
    let mut tags = Vec::new();
    if let Some(p) = t.rfind(char::is_whitespace) {
        let last = &t[p + 1..];
        if last.len() > 2 && last.starts_with(':') && last.ends_with(':') && !last.contains(' ') {
            tags = last
                .split(':')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            t = t[..p].trim_end();
        }
    }
    let (t, _) = inline(t);
    (t, tags)
}

/// `:PROPERTIES:`, `:LOGBOOK:` … (`:END:` closes them).
fn is_drawer_start(t: &str) -> bool {
    t.len() > 2
        && t.starts_with(':')
        && t.ends_with(':')
        && t[1..t.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// `:KEY: value` inside a property drawer.
fn property(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix(':')?;
    let (key, value) = rest.split_once(':')?;
    Some((key.trim_end_matches('+'), value.trim()))
}

fn keyword(key: &str, value: &str, front: &mut FrontMatter) {
    front.set_text(&key.to_lowercase(), value);
    match key.to_ascii_uppercase().as_str() {
        "TITLE" if !value.is_empty() => front.title = Some(value.to_string()),
        "DESCRIPTION" if !value.is_empty() => front.description = Some(value.to_string()),
        "FILETAGS" | "TAGS" | "KEYWORDS" => front.add_tags(value, &[':', ',', ' ']),
        _ => {}
    }
}

fn is_planning(t: &str) -> bool {
    ["SCHEDULED:", "DEADLINE:", "CLOSED:"]
        .iter()
        .any(|p| t.starts_with(p))
}

/// `[[target][text]]` → text, `[[target]]` → target; both counted as link text.
fn inline(line: &str) -> (String, usize) {
    let mut out = String::with_capacity(line.len());
    let mut links = 0;
    let mut rest = line;
    while let Some(open) = rest.find("[[") {
        out.push_str(&rest[..open]);
        let body = &rest[open + 2..];
        let Some(close) = body.find("]]") else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &body[..close];
        let text = inner.split_once("][").map_or(inner, |(_, t)| t);
        links += text.chars().filter(|c| !c.is_whitespace()).count();
        out.push_str(text);
        rest = &body[close + 2..];
    }
    out.push_str(rest);
    (out, links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::heading_paths;

    const SRC: &str = "\
#+TITLE: 読書メモ
#+DESCRIPTION: 2024年に読んだ本の記録
#+FILETAGS: :読書:メモ:
:PROPERTIES:
:ID: 1234-abcd
:CATEGORY: 趣味
:END:

* TODO [#A] 技術書 :rust:tech:
:PROPERTIES:
:CUSTOM_ID: tech
:END:
SCHEDULED: <2024-03-01 Fri>

[[https://doc.rust-lang.org/book/][The Rust Programming Language]] を読んだ。
所有権の章が良かった。

#+BEGIN_SRC rust
fn main() {}
#+END_SRC

** 感想
# 非公開のコメント
| 章 | 評価 |
|----+------|
| 1  | 良い |
";

    #[test]
    fn keywords_drawers_headings_and_links() {
        let doc = parse(SRC, SplitOptions::default());
        assert_eq!(doc.title.as_deref(), Some("読書メモ"));
        assert_eq!(
            doc.front_matter.description.as_deref(),
            Some("2024年に読んだ本の記録")
        );
        assert_eq!(doc.front_matter.tags, vec!["読書", "メモ", "rust", "tech"]);
        let paths = heading_paths(&doc);
        assert_eq!(paths, vec![vec!["技術書"], vec!["技術書", "感想"]]);
        let book = &doc.sections[0];
        // The title and description are folded into the first section.
        assert!(
            book.text
                .starts_with("読書メモ\n2024年に読んだ本の記録\n技術書"),
            "{}",
            book.text
        );
        assert!(
            book.text
                .contains("The Rust Programming Language を読んだ。"),
            "{}",
            book.text
        );
        assert!(book.text.contains("fn main() {}"), "{}", book.text);
        for gone in [
            "CUSTOM_ID",
            "SCHEDULED",
            "BEGIN_SRC",
            "https://",
            "1234-abcd",
        ] {
            assert!(!book.text.contains(gone), "{gone}: {}", book.text);
        }
        assert!(book.link_share > 0.0);
        assert_eq!((book.start_line, book.end_line), (9, 19));
        let notes = &doc.sections[1];
        assert!(!notes.text.contains("非公開"), "{}", notes.text);
        assert!(notes.text.contains("良い"), "{}", notes.text);
        assert!(!notes.text.contains("|--"), "{}", notes.text);
    }
}
