//! Markdown → sections (the model and the cutting to size: [`super::document`]).
//!
//! A section runs from one heading to the next (any level); the text before the first heading
//! is a section of its own. Headings come from pulldown-cmark's event stream, so a `#` line
//! inside a code fence is never a heading and setext headings work. Sections longer than a
//! budget are cut at top-level block (paragraph) boundaries, then at sentence ends.
//!
//! Each section carries plain text (Markdown syntax removed, code kept): that is what is
//! searched, shown as a snippet and, later, embedded. Line numbers refer to the source file.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::document::{
    assemble, collapse_ws, visible_chars, Block, Document, FrontMatter, RawSection, SplitOptions,
    TAGS_KEY,
};
use super::front_matter::{push_toml, push_yaml};

/// Splits one Markdown document. Never fails: any byte string that decoded to text is Markdown.
pub fn split(source: &str, opts: SplitOptions) -> Document {
    let (front_matter, body_start) = front_matter(source);
    let body = &source[body_start..];

    let mut parser_opts = Options::empty();
    parser_opts.insert(Options::ENABLE_TABLES);
    parser_opts.insert(Options::ENABLE_STRIKETHROUGH);
    parser_opts.insert(Options::ENABLE_TASKLISTS);
    parser_opts.insert(Options::ENABLE_FOOTNOTES);

    let mut raw: Vec<RawSection> = vec![RawSection {
        heading_path: Vec::new(),
        level: 0,
        blocks: Vec::new(),
    }];
    // (level, title) of open headings.
    let mut stack: Vec<(u8, String)> = Vec::new();
    let mut depth = 0usize; // nesting of open container tags
    let mut block_start = 0usize;
    let mut text = String::new();
    let mut link_chars = 0usize;
    let mut link_depth = 0usize;
    let mut heading: Option<(u8, String)> = None;
    let mut first_h1: Option<String> = None;
    let mut in_code_block = false;
    let mut front_matter = front_matter;

    for (event, range) in Parser::new_ext(body, parser_opts).into_offset_iter() {
        let (start, end) = (range.start + body_start, range.end + body_start);
        let is_text = matches!(&event, Event::Text(_));
        match event {
            Event::Start(tag) => {
                if depth == 0 {
                    block_start = start;
                    text.clear();
                    link_chars = 0;
                }
                depth += 1;
                match tag {
                    Tag::CodeBlock(_) => in_code_block = true,
                    Tag::Heading { level, .. } => {
                        heading = Some((heading_level(level), String::new()));
                    }
                    Tag::Link { .. } => link_depth += 1,
                    _ => {}
                }
            }
            Event::End(tag_end) => {
                depth = depth.saturating_sub(1);
                match tag_end {
                    TagEnd::Link => link_depth = link_depth.saturating_sub(1),
                    TagEnd::CodeBlock => in_code_block = false,
                    _ => {}
                }
                if is_block_end(&tag_end) {
                    push_break(&mut text);
                }
                if let TagEnd::Heading(_) = tag_end {
                    if let Some((level, title)) = heading.take() {
                        let title = collapse_ws(&title);
                        if level == 1 && first_h1.is_none() && !title.is_empty() {
                            first_h1 = Some(title.clone());
                        }
                        while stack.last().is_some_and(|(l, _)| *l >= level) {
                            stack.pop();
                        }
                        stack.push((level, title));
                        raw.push(RawSection {
                            heading_path: stack.iter().map(|(_, t)| t.clone()).collect(),
                            level,
                            blocks: Vec::new(),
                        });
                    }
                }
                if depth == 0 {
                    let block_text = std::mem::take(&mut text);
                    if let Some(section) = raw.last_mut() {
                        section.blocks.push(Block {
                            start: block_start,
                            end,
                            text: block_text,
                            link_chars: std::mem::take(&mut link_chars),
                        });
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if is_text && !in_code_block {
                    front_matter.tags.extend(body_tags(&t));
                }
                if let Some((_, title)) = heading.as_mut() {
                    title.push_str(&t);
                }
                if link_depth > 0 {
                    link_chars += visible_chars(&t);
                }
                text.push_str(&t);
            }
            Event::SoftBreak => text.push(' '),
            Event::HardBreak => text.push('\n'),
            Event::InlineMath(t) | Event::DisplayMath(t) => text.push_str(&t),
            Event::FootnoteReference(_) | Event::TaskListMarker(_) | Event::Rule => {}
            // Raw HTML (anchors such as `<a name="x"></a>`, comments) is markup, not content.
            Event::Html(_) | Event::InlineHtml(_) => {}
        }
    }

    let title = front_matter
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or(first_h1);
    assemble(source, front_matter, body_start, raw, title, opts)
}

/// Obsidian's body tags in a run of text: `#` at the start or after a space, then letters,
/// digits, `_`, `-` or `/`, not digits only (`#1` is an issue number). A heading's `# ` never
/// reaches here (it is markup), nor does code.
fn body_tags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c == '#' && prev.is_none_or(char::is_whitespace) {
            let rest = &text[i + 1..];
            let len: usize = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/'))
                .map(char::len_utf8)
                .sum();
            let tag = rest[..len].trim_end_matches(['/', '-']);
            if !tag.is_empty() && !tag.chars().all(|c| c.is_ascii_digit()) {
                out.push(tag.to_string());
            }
        }
        prev = Some(c);
    }
    out
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

fn is_block_end(tag: &TagEnd) -> bool {
    matches!(
        tag,
        TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::CodeBlock
            | TagEnd::Item
            | TagEnd::TableRow
            | TagEnd::TableHead
            | TagEnd::BlockQuote(_)
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::TableCell
    )
}

fn push_break(text: &mut String) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
}

/// Parses the front matter, returning it and the byte offset where the body starts.
fn front_matter(source: &str) -> (FrontMatter, usize) {
    let mut lines = source.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return (FrontMatter::default(), 0);
    };
    let fence = first.trim_end();
    if fence != "---" && fence != "+++" {
        return (FrontMatter::default(), 0);
    }
    let mut offset = first.len();
    let body_start = offset;
    for line in lines {
        let trimmed = line.trim_end();
        if trimmed == fence || (fence == "---" && trimmed == "...") {
            let raw = &source[body_start..offset];
            let fm = if fence == "---" {
                parse_yaml(raw)
            } else {
                parse_toml(raw)
            };
            return (fm, offset + line.len());
        }
        offset += line.len();
    }
    // No closing fence: not front matter (e.g. a document that starts with a thematic break).
    (FrontMatter::default(), 0)
}

fn parse_yaml(raw: &str) -> FrontMatter {
    match serde_yaml::from_str::<serde_yaml::Value>(raw) {
        Ok(serde_yaml::Value::Mapping(map)) => {
            let get = |key: &str| map.get(serde_yaml::Value::String(key.into()));
            let mut properties = Vec::new();
            push_yaml(
                &mut properties,
                "",
                &serde_yaml::Value::Mapping(map.clone()),
            );
            FrontMatter {
                title: get("title").and_then(yaml_scalar),
                description: get("description").and_then(yaml_scalar),
                tags: get(TAGS_KEY).map(yaml_list).unwrap_or_default(),
                properties,
            }
        }
        _ => FrontMatter::default(),
    }
}

fn yaml_scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.trim().to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn yaml_list(v: &serde_yaml::Value) -> Vec<String> {
    match v {
        serde_yaml::Value::Sequence(items) => items.iter().filter_map(yaml_scalar).collect(),
        // `tags: a, b` is common in hand-written front matter.
        other => yaml_scalar(other)
            .map(|s| {
                s.split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn parse_toml(raw: &str) -> FrontMatter {
    match raw.parse::<toml::Table>() {
        Ok(table) => {
            let scalar = |key: &str| {
                table
                    .get(key)
                    .and_then(|v| v.as_str())
                    .map(|s| s.trim().to_string())
            };
            let tags = match table.get("tags") {
                Some(toml::Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            let mut properties = Vec::new();
            push_toml(&mut properties, "", &toml::Value::Table(table.clone()));
            FrontMatter {
                title: scalar("title"),
                description: scalar("description"),
                tags,
                properties,
            }
        }
        Err(_) => FrontMatter::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::Section;

    fn sections(src: &str) -> Vec<Section> {
        split(src, SplitOptions::default()).sections
    }

    #[test]
    fn japanese_headings_and_paths() {
        let src = "# 設定\n\n概要です。\n\n## 前提条件\n\nRust が必要です。\n\n### 詳細\n\n詳しく。\n\n## 手順\n\n実行する。\n";
        let s = sections(src);
        let paths: Vec<Vec<String>> = s.iter().map(|x| x.heading_path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                vec!["設定".to_string()],
                vec!["設定".into(), "前提条件".into()],
                vec!["設定".into(), "前提条件".into(), "詳細".into()],
                vec!["設定".into(), "手順".into()],
            ]
        );
        assert_eq!((s[0].start_line, s[0].end_line), (1, 3));
        assert_eq!((s[1].start_line, s[1].end_line), (5, 7));
        assert_eq!((s[3].start_line, s[3].end_line), (13, 15));
        assert_eq!(s[1].level, 2);
        assert_eq!(s[1].text, "前提条件\nRust が必要です。");
    }

    #[test]
    fn setext_headings() {
        let s = sections("タイトル\n========\n\n本文。\n\n小見出し\n--------\n\nもっと本文。\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].heading_path, vec!["タイトル"]);
        assert_eq!(s[0].level, 1);
        assert_eq!(s[1].heading_path, vec!["タイトル", "小見出し"]);
        assert_eq!((s[1].start_line, s[1].end_line), (6, 9));
    }

    #[test]
    fn headings_inside_code_fences_are_not_headings() {
        let src = "# 本物\n\n```bash\n# コメント\necho hi\n```\n\n~~~\n## これも違う\n~~~\n";
        let s = sections(src);
        assert_eq!(s.len(), 1);
        assert!(s[0].text.contains("# コメント"));
        assert!(s[0].text.contains("## これも違う"));
        assert_eq!((s[0].start_line, s[0].end_line), (1, 10));
    }

    #[test]
    fn text_before_first_heading_is_a_section_and_empty_ones_are_dropped() {
        let s = sections("前書きです。\n\n# 空\n\n# 見出し\n\n本文\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].level, 0);
        assert!(s[0].heading_path.is_empty());
        assert_eq!(s[0].text, "前書きです。");
        assert_eq!(s[1].heading_path, vec!["見出し"]);
    }

    #[test]
    fn yaml_front_matter_is_parsed_and_lines_count_it() {
        let src = "---\ntitle: \"設定ガイド\"\ndescription: 設定の方法を説明します。\ntags: [rust, 検索]\nms.date: 12/06/2019\n---\n# <a name=\"setup\"></a>設定\n\n本文。\n";
        let doc = split(src, SplitOptions::default());
        assert_eq!(doc.front_matter.title.as_deref(), Some("設定ガイド"));
        assert_eq!(
            doc.front_matter.description.as_deref(),
            Some("設定の方法を説明します。")
        );
        assert_eq!(doc.front_matter.tags, vec!["rust", "検索"]);
        assert_eq!(doc.sections.len(), 1);
        let s = &doc.sections[0];
        assert_eq!(
            s.heading_path,
            vec!["設定"],
            "HTML anchors are not part of the title"
        );
        assert_eq!((s.start_line, s.end_line), (7, 9));
        assert!(s
            .text
            .starts_with("設定ガイド\n設定の方法を説明します。\n設定"));
    }

    #[test]
    fn link_share_measures_the_body_not_the_heading() {
        let src = "# [リンクの見出し](a.md)\n\n本文だけの段落です。\n\n## 関連項目\n\n- [例外処理](b.md)\n- [エラー処理の基本](c.md)\n\n## 混在\n\n詳しくは [例外処理](b.md) を参照。\n";
        let doc = split(src, SplitOptions::default());
        let shares: Vec<f32> = doc.sections.iter().map(|s| s.link_share).collect();
        assert_eq!(shares.len(), 3, "{:#?}", doc.sections);
        assert_eq!(
            shares[0], 0.0,
            "a linked heading is not link text of the body"
        );
        assert_eq!(shares[1], 1.0, "a list of links");
        // 詳しくは(4) + 例外処理(4) + を参照。(4): 4 of 12 visible characters.
        assert!((shares[2] - 4.0 / 12.0).abs() < 1e-6, "{}", shares[2]);
    }

    #[test]
    fn the_title_is_the_front_matters_else_the_first_h1() {
        let doc = split(
            "---\ntitle: 表題\n---\n# 見出し\n\n本文\n",
            SplitOptions::default(),
        );
        assert_eq!(doc.title.as_deref(), Some("表題"));
        let doc = split(
            "## 二\n\n本文\n\n# <a name=\"x\"></a>最初の H1\n\n# 次\n\n本文\n",
            SplitOptions::default(),
        );
        assert_eq!(doc.title.as_deref(), Some("最初の H1"));
        assert_eq!(split("本文だけ\n", SplitOptions::default()).title, None);
    }

    #[test]
    fn a_file_of_only_front_matter_is_one_section_of_its_title() {
        for src in [
            "---\ntitle: 前書きだけの文書\ndescription: 説明文\n---\n",
            "+++\ntitle = \"前書きだけの文書\"\ndescription = \"説明文\"\n+++\n\n",
        ] {
            let doc = split(src, SplitOptions::default());
            assert_eq!(doc.sections.len(), 1, "{src:?}");
            let s = &doc.sections[0];
            assert_eq!((s.start_line, s.end_line), (1, 4), "{src:?}");
            assert_eq!(s.text, "前書きだけの文書\n説明文");
        }
        // Nothing at all: no section (the reader reports the file as empty).
        assert!(split("", SplitOptions::default()).sections.is_empty());
        assert!(split("---\n---\n", SplitOptions::default())
            .sections
            .is_empty());
    }

    #[test]
    fn body_tags_count_as_tags_and_every_key_is_kept() {
        let src = "---\ntags: [rust]\ndraft: true\nms.topic: conceptual\n---\n# 見出し #見出しではない\n\n本文 #メモ と #project/sagasu、#1 は番号。a#b も違う。\n\n```\n#コード\n```\n\n`#inline`\n";
        let doc = split(src, SplitOptions::default());
        assert_eq!(
            doc.front_matter.tags,
            ["rust", "見出しではない", "メモ", "project/sagasu"]
        );
        let filterable = doc.front_matter.filterable();
        let keys: Vec<&str> = filterable.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["draft", "ms.topic", "tags", "tags", "tags", "tags"]);
    }

    #[test]
    fn toml_front_matter() {
        let doc = split(
            "+++\ntitle = \"T\"\ntags = [\"a\", \"b\"]\n+++\n本文\n",
            SplitOptions::default(),
        );
        assert_eq!(doc.front_matter.title.as_deref(), Some("T"));
        assert_eq!(doc.front_matter.tags, vec!["a", "b"]);
        assert_eq!(doc.sections[0].start_line, 5);
    }

    #[test]
    fn unclosed_front_matter_is_body() {
        let doc = split("---\nnot closed\n", SplitOptions::default());
        assert_eq!(doc.front_matter, FrontMatter::default());
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].start_line, 2);
    }

    #[test]
    fn crlf_line_endings() {
        let s = sections("# 見出し\r\n\r\n本文。\r\n\r\n## 次\r\n\r\nもう一つ。\r\n");
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].start_line, s[0].end_line), (1, 3));
        assert_eq!((s[1].start_line, s[1].end_line), (5, 7));
        assert!(!s[0].text.contains('\r'));
        assert_eq!(s[1].text, "次\nもう一つ。");
    }

    #[test]
    fn long_sections_split_at_paragraphs_then_sentences() {
        let para = "これは長い段落の文です。".repeat(10); // 120 chars
        let src = format!("# 長い\n\n{para}\n\n{para}\n\n{para}\n");
        let doc = split(
            &src,
            SplitOptions {
                max_section_chars: 150,
            },
        );
        let s = &doc.sections;
        assert!(s.len() >= 3, "got {} chunks", s.len());
        for chunk in s {
            assert!(chunk.text.chars().count() <= 150 + "長い\n".chars().count());
            assert_eq!(chunk.heading_path, vec!["長い"]);
        }
        // The paragraphs sit on lines 3, 5 and 7: each chunk points at its own lines.
        let ranges: Vec<(u32, u32)> = s.iter().map(|c| (c.start_line, c.end_line)).collect();
        assert_eq!(ranges.first().map(|r| r.0), Some(1));
        assert_eq!(ranges.last().map(|r| r.1), Some(7));
        assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0));

        // One paragraph longer than the budget is cut at 。
        let long = "短い文です。".repeat(50); // 300 chars
        let doc = split(
            &format!("# 文\n\n{long}\n"),
            SplitOptions {
                max_section_chars: 100,
            },
        );
        let body: Vec<&Section> = doc.sections.iter().filter(|c| c.text != "文").collect();
        assert!(body.len() >= 3);
        for c in &body {
            assert!(c.text.chars().count() <= 100);
            assert!(
                c.text.ends_with('。'),
                "cut at a sentence end: {:?}",
                c.text
            );
            assert_eq!((c.start_line, c.end_line), (3, 3));
        }
    }

    #[test]
    fn plain_text_drops_markup_keeps_link_text_and_code() {
        let s = sections("# 参照\n\n詳細は [MASM](masm.md) と `ml64.exe` を参照。<br/>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(
            s[0].text.contains("詳細は MASM と ml64.exe を参照。"),
            "{}",
            s[0].text
        );
        assert!(!s[0].text.contains("masm.md"));
        assert!(!s[0].text.contains("<br/>"));
        assert!(s[0].text.contains('1') && s[0].text.contains('2'));
    }

    #[test]
    fn heading_only_document_keeps_its_heading() {
        let s = sections("# だけ\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].text, "だけ");
    }

    #[test]
    fn empty_document_has_no_sections() {
        assert!(sections("").is_empty());
        assert!(sections("\n\n  \n").is_empty());
    }
}
