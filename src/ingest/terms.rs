//! Search terms: the words the full-text index holds, made on sagasu's reader threads.
//!
//! The terms are exactly those of LanceDB's `icu` analyzer with its default filters: ICU word
//! segmentation (dictionary-based for Japanese), then per word: drop if over 40 bytes,
//! lower-case, English stemming, stop words of every language, ASCII folding. sagasu runs it
//! while reading files and stores each section's terms, joined by spaces, in the `terms`
//! column; the index then only splits that column on whitespace.
//!
//! Why not let LanceDB tokenize: its index build tokenizes on one thread, after the walk, and
//! tokenizing was two thirds of that build (10,000 files: 9.7 s with `icu`, 3.2 s for the same
//! build splitting on whitespace). Here it runs on every reader thread, beside reading and
//! splitting. Queries go through the same analyzer ([`query_terms`]), so documents and queries
//! agree term for term, as when LanceDB tokenized both.
//!
//! The filters act on each word alone, so their result is remembered per word: words follow
//! Zipf's law and most are seen many times. The filters are LanceDB's own (lance-tokenizer),
//! and a test checks the whole against LanceDB's analyzer.

use std::cell::RefCell;
use std::collections::HashMap;

use lance_tokenizer::{
    AsciiFoldingFilter, IcuTokenizer, Language, LowerCaser, RawTokenizer, RemoveLongFilter,
    Stemmer, StopWordFilter, TextAnalyzer, TokenStream,
};

/// The tokenizer the full-text index applies to the `terms` column: whitespace, nothing else.
pub const INDEX_TOKENIZER: &str = "whitespace";

/// LanceDB's default `max_token_length`: longer words are not indexed.
const MAX_WORD_BYTES: usize = 40;

/// Words whose filtered form is remembered, per thread, before the memo starts over
/// (a few MiB: bounded, whatever the corpus).
const MEMO_WORDS: usize = 32_768;

struct Analyzer {
    /// ICU word segmentation, no filters.
    words: TextAnalyzer,
    /// The filters of LanceDB's `icu` analyzer, over one word at a time.
    filters: TextAnalyzer,
    /// word -> its term, or None when the filters drop it.
    memo: HashMap<Box<str>, Option<Box<str>>>,
}

impl Analyzer {
    fn new() -> Analyzer {
        // Same filters, same order, as lance-index's InvertedIndexParams::build for `icu`
        // (stop words: every language's list, as it uses for `icu`).
        let filters = TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
            .filter(LowerCaser)
            .filter(Stemmer::new(Language::English))
            .filter(StopWordFilter::all())
            .filter(AsciiFoldingFilter)
            .build();
        Analyzer {
            words: TextAnalyzer::builder(IcuTokenizer::default()).build(),
            filters,
            memo: HashMap::new(),
        }
    }

    /// Appends the terms of `text` to `out`, separated by single spaces.
    fn push_terms(&mut self, text: &str, out: &mut String) {
        let mut words = self.words.token_stream(text);
        while words.advance() {
            let word = words.token().text.as_str();
            let term = match self.memo.get(word) {
                Some(term) => term.as_deref(),
                None => {
                    if self.memo.len() >= MEMO_WORDS {
                        self.memo.clear();
                    }
                    let term = filter_word(&mut self.filters, word);
                    self.memo
                        .entry(word.into())
                        .or_insert(term.map(String::into_boxed_str))
                        .as_deref()
                }
            };
            // A term never holds ASCII whitespace, the index's separator: ICU makes no such
            // word, and were one to appear it would become several terms, in documents and
            // queries alike.
            if let Some(term) = term.filter(|t| !t.is_empty()) {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(term);
            }
        }
    }
}

/// The filters' output for one word: its term, or None when dropped.
fn filter_word(filters: &mut TextAnalyzer, word: &str) -> Option<String> {
    let mut stream = filters.token_stream(word);
    if stream.advance() {
        Some(stream.token().text.clone())
    } else {
        None
    }
}

thread_local! {
    static ANALYZER: RefCell<Analyzer> = RefCell::new(Analyzer::new());
}

/// The terms of a section's text, as the full-text index stores them.
pub fn document_terms(text: &str) -> String {
    let mut out = String::with_capacity(text.len() / 2);
    ANALYZER.with(|a| a.borrow_mut().push_terms(text, &mut out));
    out
}

/// The terms of a file's path (relative to its collection's root, extension dropped), which
/// the page's first section holds before its text's: the path names the page as its title
/// does, often in other words (`reference/set-errno.md` over a page titled in Japanese, a
/// note saved as `2024-03-standup.md`), and a query naming the file finds it. Directories
/// count too: they name the topic (`mfc/`, `guide/`) and, shared by many pages, weigh little.
pub fn path_terms(path: &str) -> String {
    let stem = match path.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => stem,
        _ => path,
    };
    // ICU keeps `set_errno` (an underscore joins words) and `v1.2` as one word each, which no
    // query of `errno` would match: the separators become spaces first.
    let words: String = stem
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '-' | '_' | '.') {
                ' '
            } else {
                c
            }
        })
        .collect();
    document_terms(&words)
}

/// The terms of a query: what the full-text query matches against `terms`. Empty when the
/// query holds no word (only punctuation or stop words).
pub fn query_terms(query: &str) -> String {
    let mut out = String::new();
    ANALYZER.with(|a| a.borrow_mut().push_terms(query, &mut out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lance_index::scalar::InvertedIndexParams;

    /// LanceDB's own analyzer for `icu` (what the index used before sagasu tokenized).
    fn lancedb_terms(text: &str) -> String {
        let mut analyzer = InvertedIndexParams::default()
            .base_tokenizer("icu".to_string())
            .build()
            .expect("LanceDB's icu analyzer");
        let mut stream = analyzer.token_stream_for_doc(text);
        let mut terms = Vec::new();
        while stream.advance() {
            terms.push(stream.token().text.clone());
        }
        terms.join(" ")
    }

    const SAMPLE: &str = "# 設定ファイルの読み込み\n\n東京都の天気を調べる。これは、その\
        テストです。Running Tests QUICKLY with the Café's naïve résumé; it's 2024年11月27日、\
        ＡＢＣ１２３ とｶﾀｶﾅ。std::vector<int>::push_back(x) が呼ばれる。\
        Supercalifragilisticexpialidocious-and-then-some-more-words-joined-together \
        Ünïcödé ÆØÅ straße İstanbul ΑΒΓ Москва 한국어 中文的文本 كتاب\n\
        - list item\n\n```cpp\nint main() { return 0; }\n```\n";

    #[test]
    fn terms_are_lancedbs_icu_terms() {
        for text in SAMPLE.split('\n').chain([SAMPLE]) {
            assert_eq!(document_terms(text), lancedb_terms(text), "text: {text:?}");
        }
    }

    #[test]
    fn terms_are_lancedbs_icu_terms_when_the_memo_starts_over() {
        let words: String = (0..MEMO_WORDS + 10)
            .map(|i| format!("word{i} 語{i} "))
            .collect();
        assert_eq!(document_terms(&words), lancedb_terms(&words));
        assert_eq!(document_terms(SAMPLE), lancedb_terms(SAMPLE));
    }

    #[test]
    fn a_path_gives_the_words_of_its_directories_and_name_not_its_extension() {
        assert_eq!(
            path_terms("docs/c-runtime-library/reference/set_errno.md"),
            query_terms("docs c runtime library reference set errno")
        );
        assert_eq!(
            path_terms("notes/例外処理.org"),
            query_terms("notes 例外処理")
        );
        assert_eq!(path_terms("v1.2/README"), query_terms("v1 2 README"));
        assert_eq!(
            path_terms("a.d/b"),
            query_terms("a d b"),
            "a dot in a directory"
        );
        assert!(!path_terms("x.html").contains("html"));
    }

    #[test]
    fn japanese_is_split_into_words_and_english_is_normalised() {
        let terms = document_terms("東京都の天気を調べる。Running Tests quickly");
        let words: Vec<&str> = terms.split(' ').collect();
        assert!(words.contains(&"天気"), "{words:?}");
        assert!(words.contains(&"run"), "{words:?}");
        assert!(words.contains(&"test"), "{words:?}");
        assert!(!terms.contains('。'), "punctuation is not a term: {terms}");
    }

    #[test]
    fn queries_and_documents_agree() {
        let doc = document_terms("設定ファイルを読み込む");
        let query = query_terms("設定ファイル");
        assert!(!query.is_empty());
        for word in query.split(' ') {
            assert!(doc.split(' ').any(|w| w == word), "{word} not in {doc}");
        }
    }

    #[test]
    fn terms_never_hold_the_separator() {
        let terms = document_terms("alpha\u{3000}beta\tgamma\u{a0}delta epsilon\r\nzeta");
        assert!(!terms.is_empty());
        for w in terms.split(' ') {
            assert!(
                !w.is_empty() && !w.contains(|c: char| c.is_ascii_whitespace()),
                "{terms:?}"
            );
        }
    }
}
