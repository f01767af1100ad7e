//! Property tests of the bytes → sections path: for arbitrary bytes, and for real Markdown
//! from ../shared/corpora with random edits, decoding and splitting never panic, and every
//! section's line range lies inside the file and in order (chunks cut inside one paragraph
//! share its lines), and its text comes from those lines. `PROPTEST_CASES` sets the number of cases (CI: the defaults below;
//! `bench/properties.sh` runs many more).

use std::path::PathBuf;

use crate::ingest::decode::decode;
use crate::ingest::document::SplitOptions;
use crate::ingest::markdown::split;
use proptest::prelude::*;

/// Checks what becomes of one file's bytes: bytes that decode give sections that hold (see
/// [`check_text`]); bytes that do not are refused with a reason. `Err` says what broke.
fn check(bytes: &[u8]) -> Result<(), String> {
    match decode(bytes) {
        Ok(text) => check_text(&text),
        Err(reason) if reason.to_string().trim().is_empty() => {
            Err("refused without a reason".into())
        }
        Err(_) => Ok(()),
    }
}

/// Checks one file's sections against its text; `Err` says what broke.
fn check_text(text: &str) -> Result<(), String> {
    // Small sections, so that cutting at paragraphs and sentences is exercised too.
    let doc = split(
        text,
        SplitOptions {
            max_section_chars: 120,
        },
    );
    let lines: Vec<&str> = text.split('\n').collect();
    let total = lines.len() as u32;
    let lead: Vec<&str> = [
        doc.front_matter.title.as_deref(),
        doc.front_matter.description.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect();
    let mut previous: Option<(u32, u32)> = None;
    for (i, s) in doc.sections.iter().enumerate() {
        if !(1 <= s.start_line && s.start_line <= s.end_line && s.end_line <= total) {
            return Err(format!(
                "section {i}: lines {}-{} outside 1-{total}",
                s.start_line, s.end_line
            ));
        }
        if !(0.0..=1.0).contains(&s.link_share) {
            return Err(format!("section {i}: link share {}", s.link_share));
        }
        // In order. Chunks cut inside one paragraph carry the paragraph's lines, so they may
        // share them; sections never go back.
        if let Some((start, end)) = previous {
            if s.start_line < start || s.end_line < end {
                return Err(format!(
                    "section {i}: lines {}-{} go back before the previous {start}-{end}",
                    s.start_line, s.end_line
                ));
            }
        }
        previous = Some((s.start_line, s.end_line));
        let source = lines[(s.start_line - 1) as usize..s.end_line as usize].join("\n");
        // The first section starts with the front matter's title and description.
        let mut body = s.text.as_str();
        if i == 0 && !lead.is_empty() {
            let prefix = lead.join("\n");
            body = match body.strip_prefix(prefix.as_str()) {
                Some(rest) => rest.strip_prefix('\n').unwrap_or(rest),
                None => return Err(format!("section 0 does not start with the title: {body:?}")),
            };
        }
        // Its letters and digits appear in its lines, in the same order (markup, spacing and
        // punctuation aside); a continuation chunk of a long section repeats its heading line
        // first.
        let continued = s
            .heading_path
            .last()
            .and_then(|t| body.strip_prefix(t.as_str()))
            .map(|rest| rest.strip_prefix('\n').unwrap_or(rest));
        if !from_lines(body, &source) && !continued.is_some_and(|b| from_lines(b, &source)) {
            return Err(format!(
                "section {i} (lines {}-{}): its text is not from its lines: {body:?}",
                s.start_line, s.end_line
            ));
        }
    }
    Ok(())
}

/// `PROPTEST_CASES`, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether the letters and digits of `text` appear in `source` in the same order.
fn from_lines(text: &str, source: &str) -> bool {
    let mut source_chars = source.chars().filter(|c| c.is_alphanumeric());
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .all(|c| source_chars.any(|x| x == c))
}

/// Markdown-ish bytes: runs of text, headings, fences, lists, front matter markers, entities,
/// invalid UTF-8.
fn markdownish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"# ".to_vec()),
        Just(b"## ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"---\n".to_vec()),
        Just(b"+++\n".to_vec()),
        Just(b"```\n".to_vec()),
        Just(b"- ".to_vec()),
        Just(b"title: ".to_vec()),
        Just("日本語の文です。".as_bytes().to_vec()),
        Just(b"word ".to_vec()),
        Just(b"<a name=\"x\"></a>".to_vec()),
        Just(b"[link](http://x)".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..64).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(2000), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert_eq!(check(&bytes), Ok(()));
    }

    #[test]
    fn markdown_like_bytes(bytes in markdownish()) {
        prop_assert_eq!(check(&bytes), Ok(()));
    }

    /// Most random bytes are refused by decoding (above); any text is split and checked here:
    /// valid UTF-8 without NUL (NUL marks a binary file) always decodes.
    #[test]
    fn arbitrary_text(text in any::<String>()) {
        let text = text.replace('\0', "");
        let decoded = decode(text.as_bytes());
        prop_assert!(decoded.is_ok(), "UTF-8 text refused: {:?}", decoded.err().map(|r| r.to_string()));
        prop_assert_eq!(check_text(&decoded.unwrap_or_default()), Ok(()));
    }
}

/// A few hundred files of cpp-docs-ja, unpacked once per test run.
fn corpus_sample() -> Vec<Vec<u8>> {
    let archive = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../shared/corpora/cpp-docs-ja.tar.zst");
    assert!(archive.is_file(), "no corpus at {}", archive.display());
    let dir = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("run tar");
    assert!(status.success(), "unpacking {}", archive.display());
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .iter()
        .step_by((files.len() / 300).max(1))
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

#[test]
#[ignore = "needs ../shared/corpora (the project's data); scripts/test.sh runs it"]
fn mutated_real_markdown() {
    let sample = corpus_sample();
    assert!(sample.len() >= 250, "{} files", sample.len());
    for (i, original) in sample.iter().enumerate() {
        assert_eq!(check(original), Ok(()), "file {i} as it is");
    }
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases(3000)));
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            0u8..4,
            any::<u8>(),
            markdownish(),
        ),
        1..8,
    );
    runner
        .run(&(any::<prop::sample::Index>(), edits), |(which, edits)| {
            let mut bytes = which.get(&sample).clone();
            for (at, kind, byte, insert) in edits {
                let pos = if bytes.is_empty() {
                    0
                } else {
                    at.index(bytes.len())
                };
                match kind {
                    0 => bytes.insert(pos, byte),
                    1 if !bytes.is_empty() => {
                        bytes.remove(pos.min(bytes.len() - 1));
                    }
                    2 => {
                        bytes.splice(pos..pos, insert);
                    }
                    _ => bytes.truncate(pos),
                };
            }
            prop_assert_eq!(check(&bytes), Ok(()));
            Ok(())
        })
        .expect("mutated Markdown keeps the section invariants");
}
