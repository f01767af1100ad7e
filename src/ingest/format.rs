//! Which parser reads a file: chosen by its extension, among the formats an index was asked
//! to hold (`--types`). Markdown is the only default; a file an extra `--glob` brings in with
//! an extension of no known format (`*.mdx`) is read as Markdown.

use std::fmt;

use anyhow::{bail, Result};

use super::decode::{decode, SkipReason};
use super::document::{Document, SplitOptions};
use super::{adoc, html, markdown, org, rst, text};

/// A document format sagasu reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Text,
    Rst,
    AsciiDoc,
    Org,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Markdown,
        Format::Html,
        Format::Text,
        Format::Rst,
        Format::AsciiDoc,
        Format::Org,
    ];

    /// The name `--types` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Text => "txt",
            Format::Rst => "rst",
            Format::AsciiDoc => "adoc",
            Format::Org => "org",
        }
    }

    /// File name extensions of the format (lowercase).
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Markdown => &["md", "markdown"],
            Format::Html => &["html", "htm", "xhtml"],
            Format::Text => &["txt", "text"],
            Format::Rst => &["rst", "rest"],
            Format::AsciiDoc => &["adoc", "asciidoc"],
            Format::Org => &["org"],
        }
    }

    /// The format of a file by its extension (case ignored); Markdown when none matches.
    pub fn of_path(path: &str) -> Format {
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        ext.and_then(|ext| {
            Format::ALL
                .into_iter()
                .find(|f| f.extensions().contains(&ext.as_str()))
        })
        .unwrap_or(Format::Markdown)
    }

    /// Bytes → text: a page's declared charset is honoured (HTML); otherwise, and when it
    /// declares none, the detection of [`decode`].
    pub fn decode(self, bytes: &[u8]) -> Result<String, SkipReason> {
        if self == Format::Html && !has_bom(bytes) {
            if let Some(enc) = html::declared_encoding(bytes).filter(|e| *e != encoding_rs::UTF_8) {
                if bytes.contains(&0) {
                    return Err(SkipReason::Binary);
                }
                let (text, had_errors) = enc.decode_without_bom_handling(bytes);
                if had_errors {
                    return Err(SkipReason::Undecodable {
                        encoding: enc.name(),
                    });
                }
                return Ok(text.into_owned());
            }
        }
        decode(bytes)
    }

    /// Text → sections, by this format's parser.
    pub fn parse(self, text: &str, opts: SplitOptions) -> Document {
        match self {
            Format::Markdown => markdown::split(text, opts),
            Format::Html => html::parse(text, opts),
            Format::Text => text::parse(text, opts),
            Format::Rst => rst::parse(text, opts),
            Format::AsciiDoc => adoc::parse(text, opts),
            Format::Org => org::parse(text, opts),
        }
    }
}

fn has_bom(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\xEF\xBB\xBF")
        || bytes.starts_with(b"\xFF\xFE")
        || bytes.starts_with(b"\xFE\xFF")
}

/// The formats an index holds (`--types md,html` or `all`); Markdown alone by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Types(u8);

impl Default for Types {
    fn default() -> Types {
        Types::of(&[Format::Markdown])
    }
}

impl Types {
    pub fn of(formats: &[Format]) -> Types {
        Types(formats.iter().fold(0, |m, f| m | Types::bit(*f)))
    }

    fn bit(f: Format) -> u8 {
        1 << Format::ALL.iter().position(|x| *x == f).unwrap_or(0)
    }

    /// `md,html,txt,rst,adoc,org` (any of them, comma-separated) or `all`.
    pub fn parse(s: &str) -> Result<Types> {
        let mut formats = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name.eq_ignore_ascii_case("all") {
                return Ok(Types::of(&Format::ALL));
            }
            let known = Format::ALL.into_iter().find(|f| {
                f.name().eq_ignore_ascii_case(name)
                    || f.extensions().contains(&name.to_ascii_lowercase().as_str())
            });
            match known {
                Some(f) => formats.push(f),
                None => bail!(
                    "unknown type {name:?} in --types {s:?}: give some of md, html, txt, rst, adoc, org (comma-separated), or all"
                ),
            }
        }
        if formats.is_empty() {
            bail!(
                "--types {s:?} names no type: give some of md, html, txt, rst, adoc, org, or all"
            );
        }
        Ok(Types::of(&formats))
    }

    pub fn contains(self, f: Format) -> bool {
        self.0 & Types::bit(f) != 0
    }

    pub fn formats(self) -> impl Iterator<Item = Format> {
        Format::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The walk's include globs: every extension of every format held.
    pub fn globs(self) -> Vec<String> {
        self.formats()
            .flat_map(|f| f.extensions().iter().map(|e| format!("*.{e}")))
            .collect()
    }

    /// The names, as recorded in `sagasu.json` (`["md", "html"]`).
    pub fn names(self) -> Vec<String> {
        self.formats().map(|f| f.name().to_string()).collect()
    }

    /// From recorded names; none recorded (an index made before `--types`): Markdown.
    pub fn from_names(names: &[String]) -> Result<Types> {
        if names.is_empty() {
            return Ok(Types::default());
        }
        Types::parse(&names.join(","))
    }
}

impl fmt::Display for Types {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension_and_types_by_name() {
        assert_eq!(Format::of_path("a/b.HTM"), Format::Html);
        assert_eq!(Format::of_path("notes/x.org"), Format::Org);
        assert_eq!(Format::of_path("x.mdx"), Format::Markdown);
        assert_eq!(Format::of_path("v1.2/README"), Format::Markdown);
        let t = Types::parse("md, html,TXT").unwrap();
        assert!(t.contains(Format::Html) && t.contains(Format::Text) && !t.contains(Format::Org));
        assert_eq!(t.to_string(), "md,html,txt");
        assert_eq!(Types::from_names(&t.names()).unwrap(), t);
        assert_eq!(Types::parse("all").unwrap().formats().count(), 6);
        assert_eq!(Types::from_names(&[]).unwrap(), Types::default());
        assert!(t.globs().contains(&"*.htm".to_string()));
        let err = Types::parse("md,docx").unwrap_err().to_string();
        assert!(
            err.contains("\"docx\"") && err.contains("md, html"),
            "{err}"
        );
        assert!(Types::parse(",").is_err());
    }

    #[test]
    fn a_declared_shift_jis_page_decodes_and_a_lying_one_is_refused() {
        let (sjis, _, _) =
            encoding_rs::SHIFT_JIS.encode("<meta charset=\"shift_jis\"><h1>日本語の見出し</h1>");
        let text = Format::Html.decode(&sjis).expect("decodes");
        assert!(text.contains("日本語の見出し"));
        let doc = Format::Html.parse(&text, SplitOptions::default());
        assert_eq!(doc.title.as_deref(), Some("日本語の見出し"));
        // Declared Shift_JIS, but bytes that are not: refused, naming the encoding.
        let bad = b"<meta charset=\"shift_jis\"><p>\x81\xff\xff</p>";
        assert_eq!(
            Format::Html.decode(bad),
            Err(SkipReason::Undecodable {
                encoding: "Shift_JIS"
            })
        );
    }
}
