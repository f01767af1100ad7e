//! Markdown → sections.
//!
//! A section runs from one heading to the next (any level); the text before the first heading
//! is a section of its own. Headings come from pulldown-cmark's event stream, so a `#` line
//! inside a code fence is never a heading and setext headings work. Sections longer than a
//! budget are cut at top-level block (paragraph) boundaries, then at sentence ends.
//!
//! Each section carries plain text (Markdown syntax removed, code kept): that is what is
//! searched, shown as a snippet and, later, embedded. Line numbers refer to the source file.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::Serialize;

/// Fields read from the front matter (YAML `---` or TOML `+++`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
}

/// One searchable unit of a document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Titles of the enclosing headings, outermost first, this section's own heading last.
    pub heading_path: Vec<String>,
    /// Heading level 1–6; 0 for text before the first heading.
    pub level: u8,
    /// 1-based, inclusive, in the source file (front matter counted).
    pub start_line: u32,
    pub end_line: u32,
    /// Plain text: the heading line, then the body.
    pub text: String,
    /// Share of the body's characters (heading line aside) that are link text, 0–1: near 1
    /// for a list of links ("See also", a table of contents, navigation), which search ranks
    /// below the pages it links to.
    pub link_share: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Document {
    pub front_matter: FrontMatter,
    /// The page's title: the front matter's, else the text of the first level-1 heading.
    pub title: Option<String>,
    pub sections: Vec<Section>,
}

/// How sections are cut.
#[derive(Debug, Clone, Copy)]
pub struct SplitOptions {
    /// Longest plain text of one section, in characters, before it is cut into chunks.
    pub max_section_chars: usize,
}

/// The default [`SplitOptions::max_section_chars`]: ~512 tokens of Japanese for a
/// Ruri-class tokenizer; small enough for a good snippet.
pub const DEFAULT_MAX_SECTION_CHARS: usize = 1200;

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            max_section_chars: DEFAULT_MAX_SECTION_CHARS,
        }
    }
}

/// A top-level block (paragraph, list, code block, table, heading…) of a section.
struct Block {
    start: usize,
    end: usize,
    text: String,
    /// Characters of `text` (whitespace aside) inside links.
    link_chars: usize,
}

struct RawSection {
    heading_path: Vec<String>,
    level: u8,
    blocks: Vec<Block>,
}

impl RawSection {
    /// Whether anything but the heading line has text.
    fn has_body(&self) -> bool {
        let skip = usize::from(self.level > 0);
        self.blocks
            .iter()
            .skip(skip)
            .any(|b| !b.text.trim().is_empty())
    }
}

/// Splits one Markdown document. Never fails: any byte string that decoded to text is Markdown.
pub fn split(source: &str, opts: SplitOptions) -> Document {
    let lines = LineIndex::new(source);
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

    for (event, range) in Parser::new_ext(body, parser_opts).into_offset_iter() {
        let (start, end) = (range.start + body_start, range.end + body_start);
        match event {
            Event::Start(tag) => {
                if depth == 0 {
                    block_start = start;
                    text.clear();
                    link_chars = 0;
                }
                depth += 1;
                match tag {
                    Tag::Heading { level, .. } => {
                        heading = Some((heading_level(level), String::new()));
                    }
                    Tag::Link { .. } => link_depth += 1,
                    _ => {}
                }
            }
            Event::End(tag_end) => {
                depth = depth.saturating_sub(1);
                if let TagEnd::Link = tag_end {
                    link_depth = link_depth.saturating_sub(1);
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

    let mut sections = Vec::new();
    for section in &raw {
        if section.has_body() {
            emit_chunks(section, &lines, source, opts, &mut sections);
        }
    }
    // A heading with nothing under it adds no content of its own (its title is in the heading
    // path of the sections below), unless the document has nothing else.
    if sections.is_empty() {
        if let Some(section) = raw
            .iter()
            .find(|s| s.blocks.iter().any(|b| !b.text.trim().is_empty()))
        {
            emit_chunks(section, &lines, source, opts, &mut sections);
        }
    }
    // Fold the title/description into the first section so that a document is found by them.
    let lead: Vec<&str> = [
        front_matter.title.as_deref(),
        front_matter.description.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect();
    if !lead.is_empty() {
        match sections.first_mut() {
            Some(first) => first.text = format!("{}\n{}", lead.join("\n"), first.text),
            // A file of front matter only is still found by its title: one section holding
            // the title and description, spanning the front matter's lines.
            None => sections.push(Section {
                heading_path: Vec::new(),
                level: 0,
                start_line: 1,
                end_line: lines.line_of(last_content_byte(source, 0, body_start)),
                text: lead.join("\n"),
                link_share: 0.0,
            }),
        }
    }
    let title = front_matter
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or(first_h1);
    Document {
        front_matter,
        title,
        sections,
    }
}

/// Characters that show (whitespace aside): what link shares are measured in.
fn visible_chars(s: &str) -> usize {
    s.chars().filter(|c| !c.is_whitespace()).count()
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

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Turns one heading section into one or more output sections within the size budget.
fn emit_chunks(
    section: &RawSection,
    lines: &LineIndex,
    source: &str,
    opts: SplitOptions,
    out: &mut Vec<Section>,
) {
    let max = opts.max_section_chars.max(16);
    let make = |start: usize, end: usize, text: String, (links, shown): (usize, usize)| Section {
        heading_path: section.heading_path.clone(),
        level: section.level,
        start_line: lines.line_of(start),
        end_line: lines.line_of(last_content_byte(source, start, end)),
        text: text.trim().to_string(),
        link_share: if shown == 0 {
            0.0
        } else {
            (links as f32 / shown as f32).min(1.0)
        },
    };

    let mut chunk = String::new();
    let mut chunk_start: Option<usize> = None;
    let mut chunk_end = 0usize;
    // (link characters, visible characters) of the chunk's body blocks.
    let mut chunk_links = (0usize, 0usize);
    let emitted_before = out.len();
    // A heading section's first block is its heading line: not part of the body.
    let heading_block = usize::from(section.level > 0);
    for (b, block) in section.blocks.iter().enumerate() {
        let block_text = block.text.trim();
        if block_text.is_empty() {
            continue;
        }
        let links = if b < heading_block {
            (0, 0)
        } else {
            (block.link_chars, visible_chars(block_text))
        };
        let block_chars = block_text.chars().count();
        let chunk_chars = chunk.chars().count();
        if chunk_start.is_some() && chunk_chars + block_chars > max {
            out.push(make(
                chunk_start.unwrap_or(block.start),
                chunk_end,
                std::mem::take(&mut chunk),
                std::mem::take(&mut chunk_links),
            ));
            chunk_start = None;
        }
        if block_chars > max {
            // One oversized block (a long paragraph or code block): cut at sentence ends.
            for piece in split_sentences(block_text, max) {
                out.push(make(block.start, block.end, piece, links));
            }
            continue;
        }
        if chunk_start.is_none() {
            chunk_start = Some(block.start);
            // A continuation chunk repeats the heading line so that it reads on its own.
            if out.len() > emitted_before && section.level > 0 {
                if let Some(title) = section.heading_path.last() {
                    chunk.push_str(title);
                    chunk.push('\n');
                }
            }
        }
        chunk.push_str(block_text);
        chunk.push('\n');
        chunk_end = block.end;
        chunk_links = (chunk_links.0 + links.0, chunk_links.1 + links.1);
    }
    if let Some(start) = chunk_start {
        out.push(make(start, chunk_end, chunk, chunk_links));
    }
}

/// Cuts `text` into pieces of at most `max` characters, at sentence ends where possible.
fn split_sentences(text: &str, max: usize) -> Vec<String> {
    let mut sentences: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let boundary = matches!(c, '。' | '．' | '！' | '？' | '\n')
            || (c.is_whitespace() && matches!(prev, Some('.' | '!' | '?')));
        if boundary {
            let end = i + c.len_utf8();
            sentences.push(&text[start..end]);
            start = end;
        }
        prev = Some(c);
    }
    if start < text.len() {
        sentences.push(&text[start..]);
    }

    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut piece_chars = 0;
    for sentence in sentences {
        let n = sentence.chars().count();
        if piece_chars + n > max && !piece.is_empty() {
            pieces.push(std::mem::take(&mut piece));
            piece_chars = 0;
        }
        if n > max {
            // A "sentence" longer than the budget (minified text, a huge table row): hard cut.
            let chars: Vec<char> = sentence.chars().collect();
            for part in chars.chunks(max) {
                pieces.push(part.iter().collect());
            }
            continue;
        }
        piece.push_str(sentence);
        piece_chars += n;
    }
    if !piece.trim().is_empty() {
        pieces.push(piece);
    }
    pieces
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The offset of the last non-whitespace byte in `source[start..end]` (or `start`).
fn last_content_byte(source: &str, start: usize, end: usize) -> usize {
    let slice = &source[start..end.min(source.len())];
    start + slice.trim_end().len().saturating_sub(1)
}

/// Byte offset → 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> u32 {
        let idx = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        u32::try_from(idx + 1).unwrap_or(u32::MAX)
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
            FrontMatter {
                title: get("title").and_then(yaml_scalar),
                description: get("description").and_then(yaml_scalar),
                tags: get("tags").map(yaml_list).unwrap_or_default(),
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
            FrontMatter {
                title: scalar("title"),
                description: scalar("description"),
                tags,
            }
        }
        Err(_) => FrontMatter::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
