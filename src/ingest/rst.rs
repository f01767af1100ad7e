//! reStructuredText → sections.
//!
//! Headings are a title line with an underline (and optionally an overline) of one repeated
//! punctuation character; as in docutils, a level is given to each adornment style in the
//! order styles first appear. A field list before the body (`:description:`, `:tags:`) and
//! `.. meta::` fields are the front matter. Comments, link targets, and the bodies of
//! `toctree`, `include`, `raw` and `only` directives are dropped; other directives keep
//! their content (a `note`'s text, a `code-block`'s code). Hyperlinks and roles keep their
//! text, which counts as link text.

use super::document::{assemble, line_spans, Document, FrontMatter, Outline, SplitOptions};

/// Directives whose body is not the document's text.
const DROPPED_DIRECTIVES: [&str; 6] = ["toctree", "include", "raw", "only", "meta", "contents"];

/// Splits one reStructuredText document. Never fails.
pub fn parse(source: &str, opts: SplitOptions) -> Document {
    let lines = line_spans(source);
    let mut outline = Outline::new();
    let mut front = FrontMatter::default();
    let mut styles: Vec<(char, bool)> = Vec::new();
    let mut body_seen = false;
    let mut i = 0;
    while i < lines.len() {
        let (start, end, line) = lines[i];
        let trimmed = line.trim();
        if trimmed.is_empty() {
            outline.end_block();
            i += 1;
            continue;
        }
        // Overlined title: adornment, title, the same adornment.
        if let Some(c) = adornment(line) {
            if let (Some(&(_, t_end, title)), Some(&(_, u_end, under))) =
                (lines.get(i + 1), lines.get(i + 2))
            {
                if !title.trim().is_empty() && adornment(under) == Some(c) {
                    let level = level_of(&mut styles, (c, true));
                    outline.heading(level, title.trim(), start, u_end.max(t_end));
                    i += 3;
                    continue;
                }
            }
            // A transition (a lone adornment line) or a table border: no text.
            i += 1;
            continue;
        }
        // Underlined title.
        if !line.starts_with([' ', '\t']) {
            if let Some(&(_, u_end, under)) = lines.get(i + 1) {
                if let Some(c) = adornment(under) {
                    let width: usize = trimmed.chars().map(display_width).sum();
                    if under.trim().len() >= width.min(3) {
                        let level = level_of(&mut styles, (c, false));
                        outline.heading(level, trimmed, start, u_end);
                        i += 2;
                        continue;
                    }
                }
            }
        }
        // Explicit markup: comments, targets, directives.
        if let Some(rest) = trimmed.strip_prefix("..") {
            if line.starts_with("..") && (rest.is_empty() || rest.starts_with(' ')) {
                let rest = rest.trim();
                let body_end = indented_block_end(&lines, i + 1);
                let directive = rest.split_once("::").map(|(name, _)| name.trim());
                match directive {
                    Some(name) if is_directive_name(name) => {
                        if name == "meta" {
                            for &(_, _, l) in &lines[i + 1..body_end] {
                                field(l.trim(), &mut front);
                            }
                        }
                        if DROPPED_DIRECTIVES.contains(&name) {
                            i = body_end;
                        } else {
                            // The body is kept; its option lines (`:linenos:`) are not text.
                            outline.end_block();
                            i += 1;
                            while i < body_end && lines[i].2.trim().starts_with(':') {
                                i += 1;
                            }
                        }
                    }
                    // A comment or a link target, with what is indented under it.
                    _ => i = body_end,
                }
                continue;
            }
        }
        // A field list before the body is the document's front matter.
        if !body_seen && trimmed.starts_with(':') && field(trimmed, &mut front) {
            i += 1;
            continue;
        }
        body_seen = true;
        if is_table_border(trimmed) || trimmed == "::" {
            i += 1;
            continue;
        }
        let (text, links) = inline(trimmed.trim_end_matches("::").trim_end());
        let text = if trimmed.ends_with("::") && !text.is_empty() {
            format!("{text}:")
        } else {
            text
        };
        outline.text(start, end, &text, links, '\n');
        i += 1;
    }
    let (raw, first_h1) = outline.finish();
    // The document title is the first heading, whatever its adornment.
    let title = front.title.clone().or(first_h1);
    assemble(source, front, 0, raw, title, opts)
}

/// The character of an adornment line (one punctuation character repeated, at least 3),
/// or `None`.
fn adornment(line: &str) -> Option<char> {
    let t = line.trim_end();
    let c = t.chars().next()?;
    let ok = t.chars().count() >= 3
        && !line.starts_with([' ', '\t'])
        && c.is_ascii_punctuation()
        && t.chars().all(|x| x == c);
    ok.then_some(c)
}

/// The level of an adornment style: styles are numbered in the order they first appear.
fn level_of(styles: &mut Vec<(char, bool)>, style: (char, bool)) -> u8 {
    let i = match styles.iter().position(|s| *s == style) {
        Some(i) => i,
        None => {
            styles.push(style);
            styles.len() - 1
        }
    };
    u8::try_from(i + 1).unwrap_or(6).min(6)
}

/// Columns a character takes: East Asian wide characters two, as docutils counts them.
fn display_width(c: char) -> usize {
    let wide = matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6);
    if wide {
        2
    } else {
        1
    }
}

/// The first line at or after `from` that is neither blank nor indented (the end of an
/// explicit markup block's body).
fn indented_block_end(lines: &[(usize, usize, &str)], from: usize) -> usize {
    let mut i = from;
    while i < lines.len() {
        let l = lines[i].2;
        if !l.trim().is_empty() && !l.starts_with([' ', '\t']) {
            break;
        }
        i += 1;
    }
    i
}

fn is_directive_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
}

/// Reads a `:key: value` field into the front matter; false when the line is not a field.
fn field(line: &str, front: &mut FrontMatter) -> bool {
    let Some(rest) = line.strip_prefix(':') else {
        return false;
    };
    let Some((key, value)) = rest
        .split_once(": ")
        .or_else(|| rest.strip_suffix(':').map(|k| (k, "")))
    else {
        return false;
    };
    if key.is_empty() || key.contains('`') {
        return false;
    }
    let value = value.trim();
    front.set_text(key, value);
    match key.to_ascii_lowercase().as_str() {
        "title" if !value.is_empty() => front.title = Some(value.to_string()),
        "description" | "abstract" | "summary" if !value.is_empty() => {
            front.description = Some(value.to_string())
        }
        "tags" | "keywords" => front.add_tags(value, &[',']),
        _ => {}
    }
    true
}

/// A grid or simple table's border line (`+---+---+`, `=====  =====`).
fn is_table_border(t: &str) -> bool {
    t.len() >= 3
        && t.chars().all(|c| matches!(c, '+' | '-' | '=' | '|' | ' '))
        && t.chars().any(|c| matches!(c, '+' | '='))
        && t.contains([' ', '+'])
}

/// Inline markup → text: `` `text <url>`_ ``, `` `text`_ `` and roles (`` :ref:`text` ``)
/// keep their text, counted as link text; ``` ``literal`` ``` keeps its text; table cell
/// bars become spaces. Returns the text and its link characters.
fn inline(line: &str) -> (String, usize) {
    let line = line.strip_prefix('|').unwrap_or(line);
    let mut out = String::with_capacity(line.len());
    let mut links = 0;
    let mut rest = line;
    while let Some(tick) = rest.find('`') {
        let (before, from_tick) = rest.split_at(tick);
        // A role before the backtick (`:doc:`): dropped, its text counts as a link.
        let word_start = before
            .rfind(|c: char| c.is_whitespace() || c == '(')
            .map_or(0, |p| {
                p + before[p..].chars().next().map_or(1, char::len_utf8)
            });
        let word = &before[word_start..];
        let role = word.len() > 2 && word.starts_with(':') && word.ends_with(':');
        let before = if role { &before[..word_start] } else { before };
        out.push_str(&before.replace(" |", " ").replace("| ", " "));
        if let Some(body) = from_tick.strip_prefix("``") {
            if let Some(close) = body.find("``") {
                out.push_str(&body[..close]);
                rest = &body[close + 2..];
                continue;
            }
        }
        let body = &from_tick[1..];
        let Some(close) = body.find('`') else {
            out.push_str(from_tick);
            rest = "";
            break;
        };
        let inner = &body[..close];
        let mut after = &body[close + 1..];
        let reference = after.starts_with('_');
        after = after.trim_start_matches('_');
        // `text <target>`: the text.
        let text = match inner.rfind(" <") {
            Some(p) if inner.ends_with('>') => &inner[..p],
            _ if inner.starts_with('<') && inner.ends_with('>') => &inner[1..inner.len() - 1],
            _ => inner,
        };
        if reference || role {
            links += text.chars().filter(|c| !c.is_whitespace()).count();
        }
        out.push_str(text);
        rest = after;
    }
    out.push_str(&rest.replace(" |", " ").replace("| ", " "));
    let out = out.trim_end_matches('|').trim().to_string();
    (out, links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::heading_paths;

    const SRC: &str = "\
=============
 インストール
=============

:description: sagasu を導入する手順
:tags: setup, 導入

.. contents::
   :local:

概要
====

まず `公式サイト <https://example.com>`_ から取得します。
詳しくは :doc:`設定ガイド <config>` を参照::

    $ sagasu index docs

.. note::
   Windows では WSL を使います。

前提条件
--------

Rust 1.94 以降。

.. _target:

.. これはコメントです。
   続きもコメント。

手順
====

+------+------+
| 名前 | 値   |
+======+======+
| a    | 1    |
+------+------+
";

    #[test]
    fn overlined_titles_underlines_fields_and_directives() {
        let doc = parse(SRC, SplitOptions::default());
        assert_eq!(doc.title.as_deref(), Some("インストール"));
        assert_eq!(
            doc.front_matter.description.as_deref(),
            Some("sagasu を導入する手順")
        );
        assert_eq!(doc.front_matter.tags, vec!["setup", "導入"]);
        let paths = heading_paths(&doc);
        assert_eq!(
            paths,
            vec![
                vec!["インストール", "概要"],
                vec!["インストール", "概要", "前提条件"],
                vec!["インストール", "手順"],
            ]
        );
        let overview = &doc.sections[0];
        assert!(
            overview.text.contains("公式サイト から取得します"),
            "{}",
            overview.text
        );
        assert!(
            overview.text.contains("設定ガイド を参照:"),
            "{}",
            overview.text
        );
        assert!(
            overview.text.contains("$ sagasu index docs"),
            "code is kept"
        );
        assert!(
            overview.text.contains("WSL を使います"),
            "a note's body is kept"
        );
        assert!(!overview.text.contains("https://"), "{}", overview.text);
        assert!(
            !overview.text.contains("local"),
            "directive options are not text"
        );
        assert!(overview.link_share > 0.0);
        assert_eq!((overview.start_line, overview.end_line), (11, 20));
        let prereq = &doc.sections[1];
        assert!(!prereq.text.contains("コメント"), "{}", prereq.text);
        assert!(!prereq.text.contains("target"), "{}", prereq.text);
        let steps = &doc.sections[2];
        assert!(steps.text.contains("名前"), "{}", steps.text);
        assert!(!steps.text.contains("+----"), "{}", steps.text);
    }
}
