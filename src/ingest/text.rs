//! Plain text → sections. The first non-blank line is the title (a level-1 heading) when it is
//! short enough to be one; blank lines separate blocks, which are grouped into sections of the
//! usual size ([`super::document::assemble`]). Common for Japanese internal documents, which
//! are often `.txt` with a title line.

use super::document::{assemble, line_spans, Document, FrontMatter, Outline, SplitOptions};

/// A first line longer than this (in characters) is a paragraph, not a title.
pub const TITLE_MAX_CHARS: usize = 100;

/// Splits one plain-text document. Never fails.
pub fn parse(source: &str, opts: SplitOptions) -> Document {
    let mut outline = Outline::new();
    let mut titled = false;
    for (start, end, line) in line_spans(source) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            outline.end_block();
            continue;
        }
        if !titled {
            titled = true;
            if trimmed.chars().count() <= TITLE_MAX_CHARS {
                outline.heading(1, trimmed, start, end);
                continue;
            }
        }
        outline.text(start, end, line.trim_end(), 0, '\n');
    }
    let (raw, title) = outline.finish();
    assemble(source, FrontMatter::default(), 0, raw, title, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_title_and_blocks_group_into_sections_of_the_usual_size() {
        let mut src = String::from("議事録 2024年3月 定例会\n\n");
        for i in 0..30 {
            src.push_str(&format!(
                "議題{i}について検討した。担当者は次回までに資料を準備する。\n\n"
            ));
        }
        let doc = parse(
            &src,
            SplitOptions {
                max_section_chars: 200,
            },
        );
        assert_eq!(doc.title.as_deref(), Some("議事録 2024年3月 定例会"));
        assert!(doc.sections.len() > 3, "{} sections", doc.sections.len());
        for s in &doc.sections {
            assert_eq!(s.heading_path, vec!["議事録 2024年3月 定例会".to_string()]);
            assert!(s.text.chars().count() <= 200 + 30, "{}", s.text);
        }
        // Line numbers follow the file: the title on line 1, block i on line 3 + 2i.
        assert_eq!(doc.sections[0].start_line, 1);
        assert_eq!(doc.sections[1].start_line % 2, 1);
        let last = doc.sections.last().unwrap();
        assert_eq!(last.end_line, 3 + 2 * 29);
        assert!(last.text.contains("議題29"));
    }

    #[test]
    fn a_long_first_line_is_a_paragraph() {
        let long = "あ".repeat(TITLE_MAX_CHARS + 1);
        let doc = parse(&format!("{long}\n続き\n"), SplitOptions::default());
        assert_eq!(doc.title, None);
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].level, 0);
        assert_eq!(
            (doc.sections[0].start_line, doc.sections[0].end_line),
            (1, 2)
        );
    }
}
