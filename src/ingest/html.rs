//! HTML → sections.
//!
//! `h1`–`h6` open sections; block elements (`p`, `li`, `tr`, `pre`, `div` …) end blocks; the
//! text of `script`, `style`, `template`, `noscript` and `svg` is dropped, and so is that of
//! `nav`, and of `header` and `footer` outside `article`/`main`/`section` (a site's bar and
//! footer, not the page's own header holding its `h1`). `<title>` is the page's title and
//! `<meta name="description">` / `keywords` its front matter. Text inside `<a href>` counts
//! as link text; `pre` keeps its lines. The declared charset (`<meta charset>`) is honoured
//! when the file is decoded ([`declared_encoding`]).
//!
//! A tolerant scanner, not a tree builder: unclosed tags, stray `<` and unknown entities are
//! read as a browser shows them, never an error.

use super::document::{assemble, visible_chars, Document, FrontMatter, Outline, SplitOptions};

/// Elements whose text is never the page's.
const DROPPED: [&str; 7] = [
    "script", "style", "template", "noscript", "svg", "nav", "iframe",
];
/// Dropped outside the page's content (a site's bar and footer).
const CHROME: [&str; 2] = ["header", "footer"];
/// Elements that hold the page's content: a `header` inside one is the content's.
const CONTENT: [&str; 3] = ["article", "main", "section"];
/// Elements whose start and end end the current block.
const BLOCKS: [&str; 34] = [
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "tr",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "pre",
    "blockquote",
    "section",
    "article",
    "main",
    "aside",
    "figure",
    "figcaption",
    "details",
    "summary",
    "hr",
    "caption",
    "address",
    "body",
    "head",
    "html",
    "form",
    "fieldset",
    "legend",
    "header",
    "footer",
];

/// Splits one HTML document. Never fails.
pub fn parse(source: &str, opts: SplitOptions) -> Document {
    let mut p = Scanner {
        outline: Outline::new(),
        front: FrontMatter::default(),
        open: Vec::new(),
        block: None,
        heading: None,
        title: None,
        links: 0,
        pre: 0,
    };
    let bytes = source.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] != b'<' {
            let end = source[pos..].find('<').map_or(source.len(), |i| pos + i);
            p.text(pos, end, &source[pos..end]);
            pos = end;
            continue;
        }
        let rest = &source[pos..];
        if rest.starts_with("<!--") {
            pos = rest.find("-->").map_or(source.len(), |i| pos + i + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            pos = rest.find('>').map_or(source.len(), |i| pos + i + 1);
            continue;
        }
        let Some(tag) = Tag::read(rest) else {
            // A `<` that starts no tag is text.
            p.text(pos, pos + 1, "<");
            pos += 1;
            continue;
        };
        let end = pos + tag.len;
        if !tag.closing && matches!(tag.name.as_str(), "script" | "style" | "textarea") {
            // Raw text: everything up to the matching end tag.
            let close = format!("</{}", tag.name);
            let after = &source[end..];
            let stop = find_ascii_ci(after, &close).map_or(source.len(), |i| end + i);
            if tag.name == "textarea" {
                p.text(end, stop, &source[end..stop]);
            }
            pos = source[stop..]
                .find('>')
                .map_or(source.len(), |i| stop + i + 1);
            continue;
        }
        p.tag(&tag, pos, end);
        pos = end;
    }
    p.flush();
    let Scanner {
        outline,
        mut front,
        title,
        ..
    } = p;
    let (raw, first_h1) = outline.finish();
    front.title = title.filter(|t| !t.is_empty()).or(front.title);
    let title = front.title.clone().or(first_h1);
    assemble(source, front, 0, raw, title, opts)
}

/// The encoding a page declares in its first 1024 bytes (`<meta charset="…">` or
/// `<meta http-equiv="Content-Type" content="…; charset=…">`), as the HTML standard's
/// prescan finds it. UTF-16 labels mean UTF-8 there (the bytes were read as ASCII).
pub fn declared_encoding(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &bytes[..bytes.len().min(1024)];
    let lower: Vec<u8> = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = find_bytes(&lower[from..], b"<meta") {
        let start = from + i;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = find_bytes(tag, b"charset=") {
            let value: Vec<u8> = tag[c + 8..]
                .iter()
                .copied()
                .skip_while(|&b| b == b'"' || b == b'\'' || b == b' ')
                .take_while(|&b| !matches!(b, b'"' | b'\'' | b' ' | b';' | b'/' | b'>'))
                .collect();
            if let Some(enc) = encoding_rs::Encoding::for_label(&value) {
                return Some(
                    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
                        encoding_rs::UTF_8
                    } else {
                        enc
                    },
                );
            }
        }
        from = end;
    }
    None
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `needle` (ASCII) in `hay`, ASCII case ignored.
fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    (0..h.len().saturating_sub(n.len() - 1)).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// A start or end tag as read: its lowercase name and attributes.
struct Tag {
    name: String,
    closing: bool,
    attrs: Vec<(String, String)>,
    /// Bytes from `<` to `>` inclusive.
    len: usize,
}

impl Tag {
    /// Reads the tag at the start of `s` (which starts with `<`); `None` when it is no tag.
    fn read(s: &str) -> Option<Tag> {
        let b = s.as_bytes();
        let mut i = 1;
        let closing = b.get(1) == Some(&b'/');
        if closing {
            i += 1;
        }
        if !b.get(i)?.is_ascii_alphabetic() {
            return None;
        }
        let name_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b':')) {
            i += 1;
        }
        let name = s[name_start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() {
                return Some(Tag {
                    name,
                    closing,
                    attrs,
                    len: b.len(),
                });
            }
            if b[i] == b'>' {
                return Some(Tag {
                    name,
                    closing,
                    attrs,
                    len: i + 1,
                });
            }
            let a = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            let key = s[a..i].to_ascii_lowercase();
            let mut value = String::new();
            if b.get(i) == Some(&b'=') {
                i += 1;
                match b.get(i) {
                    Some(&q) if q == b'"' || q == b'\'' => {
                        let v = i + 1;
                        let stop = s[v..].find(q as char).map_or(b.len(), |e| v + e);
                        value = decode_entities(&s[v..stop]);
                        i = (stop + 1).min(b.len());
                    }
                    _ => {
                        let v = i;
                        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                            i += 1;
                        }
                        value = decode_entities(&s[v..i]);
                    }
                }
            }
            if !key.is_empty() {
                attrs.push((key, value));
            } else {
                i += 1;
            }
        }
    }

    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The scanner's state: the outline being built and what is open.
struct Scanner {
    outline: Outline,
    front: FrontMatter,
    /// Open elements that matter: dropped ones, content containers, `a`, `pre`, `title`.
    open: Vec<String>,
    /// The current block: byte range, text, link characters.
    block: Option<(usize, usize, String, usize)>,
    /// An open heading: level, start byte, text.
    heading: Option<(u8, usize, String)>,
    title: Option<String>,
    links: usize,
    pre: usize,
}

impl Scanner {
    fn dropping(&self) -> bool {
        let mut in_content = false;
        for e in &self.open {
            if CONTENT.contains(&e.as_str()) {
                in_content = true;
            }
            if DROPPED.contains(&e.as_str()) || (CHROME.contains(&e.as_str()) && !in_content) {
                return true;
            }
        }
        false
    }

    fn text(&mut self, start: usize, end: usize, raw: &str) {
        if self.dropping() {
            return;
        }
        let decoded = decode_entities(raw);
        if self.open.iter().any(|e| e == "title") {
            let t = self.title.get_or_insert_with(String::new);
            t.push_str(&decoded);
            *t = super::document::collapse_ws(t);
            return;
        }
        let text = if self.pre > 0 {
            decoded
        } else {
            collapse_keeping_edges(&decoded)
        };
        if let Some((_, _, h)) = &mut self.heading {
            h.push_str(&text);
            return;
        }
        if text.trim().is_empty() && self.block.is_none() {
            return;
        }
        let links = if self.links > 0 {
            visible_chars(&text)
        } else {
            0
        };
        let block = self.block.get_or_insert((start, end, String::new(), 0));
        if block.2.ends_with(' ') && text.starts_with(' ') {
            block.2.push_str(&text[1..]);
        } else {
            block.2.push_str(&text);
        }
        if !text.trim().is_empty() {
            block.1 = start + raw.trim_end().len();
        }
        block.3 += links;
    }

    /// Ends the current block.
    fn flush(&mut self) {
        if let Some((start, end, text, links)) = self.block.take() {
            let text = text.trim();
            if !text.is_empty() {
                self.outline.text(start, end, text, links, '\n');
            }
            self.outline.end_block();
        }
    }

    fn tag(&mut self, tag: &Tag, start: usize, end: usize) {
        let name = tag.name.as_str();
        if let Some(level) = heading_level(name) {
            if tag.closing {
                if let Some((level, h_start, text)) = self.heading.take() {
                    self.outline.heading(level, &text, h_start, end);
                }
            } else if !self.dropping() {
                self.flush();
                self.heading = Some((level, start, String::new()));
            }
            return;
        }
        if name == "html" && !tag.closing {
            if let Some(lang) = tag.attr("lang") {
                self.front.set_text("lang", lang);
            }
        }
        if name == "meta" && !tag.closing {
            let content = tag.attr("content").unwrap_or("").trim();
            if let Some(key) = tag.attr("name").or_else(|| tag.attr("property")) {
                self.front.set_text(&key.to_ascii_lowercase(), content);
            }
            match tag.attr("name").map(str::to_ascii_lowercase).as_deref() {
                Some("description") if !content.is_empty() => {
                    self.front.description = Some(content.to_string())
                }
                Some("keywords") => self.front.add_tags(content, &[',', '、']),
                _ => {}
            }
            return;
        }
        if name == "br" {
            if let Some(b) = &mut self.block {
                b.2.push('\n');
            }
            return;
        }
        if matches!(name, "td" | "th") && !tag.closing {
            if let Some(b) = &mut self.block {
                b.2.push(' ');
            }
        }
        let tracked = DROPPED.contains(&name)
            || CHROME.contains(&name)
            || CONTENT.contains(&name)
            || matches!(name, "a" | "pre" | "title");
        if BLOCKS.contains(&name) && self.heading.is_none() {
            self.flush();
        }
        if !tracked {
            return;
        }
        if tag.closing {
            if let Some(i) = self.open.iter().rposition(|e| e == name) {
                // Elements left open inside it close with it (tolerant of missing end tags).
                for e in self.open.drain(i..) {
                    match e.as_str() {
                        "a" => self.links = self.links.saturating_sub(1),
                        "pre" => self.pre = self.pre.saturating_sub(1),
                        _ => {}
                    }
                }
            }
        } else {
            match name {
                "a" if tag.attr("href").is_some() => self.links += 1,
                "a" => return,
                "pre" => self.pre += 1,
                _ => {}
            }
            self.open.push(name.to_string());
        }
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name.as_bytes() {
        [b'h', d @ b'1'..=b'6'] => Some(d - b'0'),
        _ => None,
    }
}

/// Whitespace runs become one space; a leading or trailing run stays as one space, so that
/// `a <b>b</b>` reads "a b" and `a<b>b</b>` "ab".
fn collapse_keeping_edges(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    if space {
        out.push(' ');
    }
    out
}

/// Character references: numeric ones, and the named ones that occur in documents (an
/// unknown name stays as written, as browsers show it).
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').filter(|&i| i <= 32);
        let decoded = semi.and_then(|i| {
            let name = &after[..i];
            let c = if let Some(num) = name.strip_prefix('#') {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                };
                code.and_then(char::from_u32)
            } else {
                named_entity(name)
            };
            c.map(|c| (c, i))
        });
        match decoded {
            Some((c, i)) => {
                out.push(c);
                rest = &after[i + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "middot" => '·',
        "bull" => '•',
        "times" => '×',
        "divide" => '÷',
        "yen" => '¥',
        "euro" => '€',
        "pound" => '£',
        "cent" => '¢',
        "sect" => '§',
        "para" => '¶',
        "deg" => '°',
        "plusmn" => '±',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "harr" => '↔',
        "rArr" => '⇒',
        "hArr" => '⇔',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "shy" => '\u{ad}',
        "zwj" => '\u{200d}',
        "zwnj" => '\u{200c}',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::heading_paths;

    const PAGE: &str = r#"<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<title>例外処理 &mdash; C++ ガイド</title>
<meta name="description" content="C++ の例外処理の基本">
<meta name="keywords" content="C++, 例外">
<style>h1 { color: red; }</style>
<script>var x = "<h2>not a heading</h2>";</script>
</head>
<body>
<header><nav><a href="/">ホーム</a> | <a href="/docs">ドキュメント</a></nav></header>
<article>
<header><h1>例外処理</h1></header>
<p>例外は <code>throw</code> で送出し、<a href="try.html">try ブロック</a>で捕捉します。
改行は空白になります。</p>
<h2 id="best">ベスト&nbsp;プラクティス</h2>
<ul><li>値で投げる</li><li>参照で捕捉する</li></ul>
<pre>try {
    f();
} catch (const std::exception&amp; e) {}</pre>
<table><tr><th>型</th><th>用途</th></tr><tr><td>std::runtime_error</td><td>実行時</td></tr></table>
</article>
<footer>&copy; 2024 Example</footer>
</body>
</html>
"#;

    #[test]
    fn headings_blocks_links_and_dropped_chrome() {
        let doc = parse(PAGE, SplitOptions::default());
        assert_eq!(doc.title.as_deref(), Some("例外処理 — C++ ガイド"));
        assert_eq!(
            doc.front_matter.description.as_deref(),
            Some("C++ の例外処理の基本")
        );
        assert_eq!(doc.front_matter.tags, vec!["C++", "例外"]);
        let paths = heading_paths(&doc);
        assert_eq!(
            paths,
            vec![vec!["例外処理"], vec!["例外処理", "ベスト プラクティス"]]
        );
        let intro = &doc.sections[0];
        assert!(
            intro.text.contains(
                "例外は throw で送出し、try ブロックで捕捉します。 改行は空白になります。"
            ),
            "{}",
            intro.text
        );
        assert!(
            intro.link_share > 0.0 && intro.link_share < 0.5,
            "{}",
            intro.link_share
        );
        for gone in ["ホーム", "color", "not a heading", "2024 Example"] {
            assert!(
                doc.sections.iter().all(|s| !s.text.contains(gone)),
                "{gone}"
            );
        }
        assert_eq!((intro.start_line, intro.end_line), (14, 16));
        let best = &doc.sections[1];
        assert!(
            best.text.contains("値で投げる\n参照で捕捉する"),
            "{}",
            best.text
        );
        assert!(
            best.text
                .contains("try {\n    f();\n} catch (const std::exception& e) {}"),
            "{}",
            best.text
        );
        assert!(
            best.text.contains("std::runtime_error 実行時"),
            "{}",
            best.text
        );
        assert_eq!((best.start_line, best.end_line), (17, 22));
    }

    #[test]
    fn the_declared_charset_is_found_in_either_form() {
        let a = b"<html><head><meta charset=\"Shift_JIS\"></head>";
        assert_eq!(declared_encoding(a), Some(encoding_rs::SHIFT_JIS));
        let b = b"<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=euc-jp\">";
        assert_eq!(declared_encoding(b), Some(encoding_rs::EUC_JP));
        assert_eq!(
            declared_encoding(b"<meta charset=utf-16>"),
            Some(encoding_rs::UTF_8)
        );
        assert_eq!(declared_encoding(b"<p>no declaration</p>"), None);
    }

    #[test]
    fn broken_markup_is_read_as_a_browser_shows_it() {
        let doc = parse(
            "<p>1 < 2 &unknown; &#x3042;<b>太字",
            SplitOptions::default(),
        );
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].text, "1 < 2 &unknown; あ太字");
    }
}
