//! The model every format's parser produces: a [`Document`] of [`Section`]s with line ranges
//! in the source file, and the one place sections are cut to size.
//!
//! A parser (Markdown, HTML, plain text, reStructuredText, AsciiDoc, Org) finds headings and
//! top-level blocks ([`RawSection`], [`Block`]: byte ranges and plain text); [`assemble`]
//! cuts long sections at block, then sentence boundaries, folds the title and description
//! into the first section and gives every section its lines. So everything that holds for
//! Markdown (sizes, line numbers, link shares, title folding) holds for every format.

use serde::Serialize;

use super::front_matter::Value;

/// Fields read from the front matter (YAML `---` or TOML `+++`, or what a format has in its
/// place: HTML's `<meta>`, an Org file's `#+` keywords …).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub description: Option<String>,
    /// The front matter's tags, and a Markdown body's `#tags` (Obsidian's).
    pub tags: Vec<String>,
    /// Every key as declared, typed, one entry per list element (`tags` among them only as
    /// the front matter wrote it: [`FrontMatter::filterable`] merges the body's).
    pub properties: Vec<(String, Value)>,
}

/// The key under which a page's tags (front matter and body) are filtered.
pub const TAGS_KEY: &str = "tags";

impl FrontMatter {
    /// Records `key: value` as written in a format without types (its type inferred).
    pub(crate) fn set_text(&mut self, key: &str, value: &str) {
        let (key, value) = (key.trim(), value.trim());
        if !key.is_empty() && !value.is_empty() {
            self.properties.push((key.to_string(), Value::infer(value)));
        }
    }

    /// What filters see: every property but `tags`, then each of [`FrontMatter::tags`] under
    /// `tags` (front matter and body, once each), sorted by key so that a key's values are
    /// adjacent (the store relies on it).
    pub fn filterable(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = self
            .properties
            .iter()
            .filter(|(k, _)| k.as_str() != TAGS_KEY)
            .cloned()
            .collect();
        let mut seen = std::collections::HashSet::new();
        for t in &self.tags {
            if seen.insert(t.to_lowercase()) {
                out.push((TAGS_KEY.to_string(), Value::Text(t.clone())));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Adds the tags of a written list (`a, b`, `:a:b:`), split at any of `separators`.
    pub(crate) fn add_tags(&mut self, list: &str, separators: &[char]) {
        self.tags.extend(
            list.split(separators)
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        );
    }
}

/// Each section's heading path, for tests that compare a document's outline.
#[cfg(test)]
pub(crate) fn heading_paths(doc: &Document) -> Vec<Vec<&str>> {
    doc.sections
        .iter()
        .map(|s| s.heading_path.iter().map(String::as_str).collect())
        .collect()
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
pub(crate) struct Block {
    /// Byte offsets of the block in the source.
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
    /// Characters of `text` (whitespace aside) inside links.
    pub(crate) link_chars: usize,
}

/// A heading's section as a parser found it: its heading line (the first block, when
/// `level` > 0) and the blocks under it, before they are cut to size.
pub(crate) struct RawSection {
    pub(crate) heading_path: Vec<String>,
    pub(crate) level: u8,
    pub(crate) blocks: Vec<Block>,
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

/// Turns a parser's raw sections into the document: sections with a body are cut to size;
/// a heading with nothing under it adds nothing (its title is in the heading path of the
/// sections below) unless the document has nothing else; the front matter's title and
/// description are folded into the first section, so that a document is found by them.
/// `body_start`: the byte where the body starts (after front matter); `title`: the page's.
pub(crate) fn assemble(
    source: &str,
    front_matter: FrontMatter,
    body_start: usize,
    raw: Vec<RawSection>,
    title: Option<String>,
    opts: SplitOptions,
) -> Document {
    let lines = LineIndex::new(source);
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
    Document {
        front_matter,
        title,
        sections,
    }
}

/// What the embedding model reads for a section: where the section sits (the page title and
/// the headings above it, those its text does not already hold), then its text. Embedded
/// alone, a short section ("解説", "See also", a one-line remark) looks like every other page's
/// and comes first for questions it does not answer; with its place it stands for its page.
/// The title and the section's own heading are usually in the text already (the first
/// section holds the folded title; a heading section starts with its heading line).
pub fn embedding_input(title: Option<&str>, heading_path: &[String], text: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in title
        .into_iter()
        .chain(heading_path.iter().map(String::as_str))
    {
        let part = part.trim();
        if !part.is_empty() && !parts.contains(&part) && !text.contains(part) {
            parts.push(part);
        }
    }
    if parts.is_empty() {
        text.to_string()
    } else {
        format!("{}\n{text}", parts.join(" > "))
    }
}

/// Characters that show (whitespace aside): what link shares are measured in.
pub(crate) fn visible_chars(s: &str) -> usize {
    s.chars().filter(|c| !c.is_whitespace()).count()
}

pub(crate) fn collapse_ws(s: &str) -> String {
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

/// Builds the raw sections of a format whose parser walks its source in order: headings open
/// sections (nested by level, as in Markdown), text joins the current block, and a block ends
/// at a blank line or a block-level boundary. The parsers of the formats beside Markdown all
/// go through it, so they nest and cut headings the same way.
pub(crate) struct Outline {
    raw: Vec<RawSection>,
    /// (level, title) of the open headings.
    stack: Vec<(u8, String)>,
    block: Option<Block>,
    first_h1: Option<String>,
}

impl Outline {
    pub(crate) fn new() -> Outline {
        Outline {
            raw: vec![RawSection {
                heading_path: Vec::new(),
                level: 0,
                blocks: Vec::new(),
            }],
            stack: Vec::new(),
            block: None,
            first_h1: None,
        }
    }

    /// A heading of `level` (1–6) spanning bytes `start..end`: a new section under the open
    /// headings of lower level. An empty title is no heading.
    pub(crate) fn heading(&mut self, level: u8, title: &str, start: usize, end: usize) {
        let title = collapse_ws(title);
        if title.is_empty() {
            return;
        }
        self.end_block();
        let level = level.clamp(1, 6);
        if level == 1 && self.first_h1.is_none() {
            self.first_h1 = Some(title.clone());
        }
        while self.stack.last().is_some_and(|(l, _)| *l >= level) {
            self.stack.pop();
        }
        self.stack.push((level, title.clone()));
        self.raw.push(RawSection {
            heading_path: self.stack.iter().map(|(_, t)| t.clone()).collect(),
            level,
            blocks: vec![Block {
                start,
                end,
                text: title,
                link_chars: 0,
            }],
        });
    }

    /// Text of the current block at bytes `start..end` (`link_chars` of it inside links),
    /// after `sep` when the block has text already.
    pub(crate) fn text(
        &mut self,
        start: usize,
        end: usize,
        text: &str,
        link_chars: usize,
        sep: char,
    ) {
        if text.trim().is_empty() {
            return;
        }
        match &mut self.block {
            Some(b) => {
                if !b.text.is_empty() && !b.text.ends_with(sep) && !b.text.ends_with('\n') {
                    b.text.push(sep);
                }
                b.text.push_str(text);
                b.end = b.end.max(end);
                b.link_chars += link_chars;
            }
            None => {
                self.block = Some(Block {
                    start,
                    end,
                    text: text.to_string(),
                    link_chars,
                })
            }
        }
    }

    /// Ends the current block (a blank line, a paragraph's end).
    pub(crate) fn end_block(&mut self) {
        if let Some(b) = self.block.take() {
            if let Some(section) = self.raw.last_mut() {
                section.blocks.push(b);
            }
        }
    }

    /// The raw sections and the first level-1 heading's title.
    pub(crate) fn finish(mut self) -> (Vec<RawSection>, Option<String>) {
        self.end_block();
        (self.raw, self.first_h1)
    }
}

/// Each line of `source` as (byte start, byte end without the line break, text).
pub(crate) fn line_spans(source: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in source.split_inclusive('\n') {
        let text = line.trim_end_matches(['\n', '\r']);
        out.push((start, start + text.len(), text));
        start += line.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_section_is_embedded_under_the_parts_of_its_place_that_its_text_lacks() {
        // A short section says which page and heading it belongs to.
        assert_eq!(
            embedding_input(
                Some("WeakReference クラス"),
                &path(&["WeakReference クラス", "IncrementStrongReference", "解説"]),
                "解説\n強参照の数を増やします。"
            ),
            "WeakReference クラス > IncrementStrongReference\n解説\n強参照の数を増やします。"
        );
        // The first section holds the folded title, a heading section its heading line:
        // nothing is said twice.
        assert_eq!(
            embedding_input(Some("概要"), &path(&["概要"]), "概要\n本文"),
            "概要\n本文"
        );
        assert_eq!(embedding_input(None, &[], "本文"), "本文");
        // The same text under two titles is two inputs (two vectors).
        assert_ne!(
            embedding_input(Some("A"), &path(&["A", "See also"]), "See also\nx"),
            embedding_input(Some("B"), &path(&["B", "See also"]), "See also\nx")
        );
    }
}
