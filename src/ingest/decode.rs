//! Bytes → text. Japanese trees still hold Shift_JIS and EUC-JP files next to UTF-8 ones, so
//! the encoding is detected per file: UTF-8 (BOM stripped) first, UTF-16 by BOM, else
//! chardetng's guess among the legacy encodings of East Asian text ([`LEGACY`]). A file that
//! is binary, or valid in none of these, is skipped with a reason that names what its bytes
//! look like, never indexed as mojibake: any byte string decodes "cleanly" in some
//! single-byte code page (stray `\x80\x81` bytes read as Cyrillic in windows-1251), so a
//! clean decode alone proves nothing.

use std::fmt;

/// Why a file was not indexed. Shown to the user and kept in `stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    TooLarge {
        size: u64,
        limit: u64,
    },
    Binary,
    Undecodable {
        encoding: &'static str,
    },
    Unreadable(String),
    /// Nothing to search: an empty file, or one of blank lines and markup only.
    NoText,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::TooLarge { size, limit } => {
                write!(f, "file is {size} bytes, over the {limit}-byte size limit")
            }
            SkipReason::Binary => write!(f, "binary content (NUL bytes)"),
            SkipReason::Undecodable { encoding } => write!(
                f,
                "not valid UTF-8, UTF-16, Shift_JIS, EUC-JP, ISO-2022-JP, GBK, Big5 or EUC-KR \
                 text (its bytes look most like {encoding}); convert it to UTF-8 to index it"
            ),
            SkipReason::Unreadable(e) => write!(f, "cannot read: {e}"),
            SkipReason::NoText => write!(f, "no text to index"),
        }
    }
}

/// Decodes a whole file's bytes.
pub fn decode(bytes: &[u8]) -> Result<String, SkipReason> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest);
    }
    for (bom, encoding) in [
        (&b"\xFF\xFE"[..], encoding_rs::UTF_16LE),
        (&b"\xFE\xFF"[..], encoding_rs::UTF_16BE),
    ] {
        if bytes.starts_with(bom) {
            let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[2..]);
            if had_errors {
                return Err(SkipReason::Undecodable {
                    encoding: encoding.name(),
                });
            }
            return Ok(text.into_owned());
        }
    }
    if bytes.contains(&0) {
        return Err(SkipReason::Binary);
    }
    if let Ok(decoded) = utf8(bytes) {
        return Ok(decoded);
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    // The "jp" hint tilts close calls toward Japanese legacy encodings.
    let encoding = detector.guess(Some(b"jp"), true);
    let (text, _, had_errors) = encoding.decode(bytes);
    if had_errors || !LEGACY.contains(&encoding) {
        return Err(SkipReason::Undecodable {
            encoding: encoding.name(),
        });
    }
    Ok(text.into_owned())
}

/// The legacy encodings a file without a BOM that is not UTF-8 may be read as: Japanese first,
/// then the other East Asian ones, whose multi-byte structure a clean decode does test.
const LEGACY: [&encoding_rs::Encoding; 6] = [
    encoding_rs::SHIFT_JIS,
    encoding_rs::EUC_JP,
    encoding_rs::ISO_2022_JP,
    encoding_rs::GBK,
    encoding_rs::BIG5,
    encoding_rs::EUC_KR,
];

fn utf8(bytes: &[u8]) -> Result<String, SkipReason> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(SkipReason::Undecodable { encoding: "UTF-8" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JA: &str = "# 見出し\n\n日本語の本文です。検索できるはずです。ソフトウェアの設定について説明します。\n";

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(decode(JA.as_bytes()).ok().as_deref(), Some(JA));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(JA.as_bytes());
        assert_eq!(decode(&bom).ok().as_deref(), Some(JA));
    }

    #[test]
    fn shift_jis_and_euc_jp() {
        for enc in [encoding_rs::SHIFT_JIS, encoding_rs::EUC_JP] {
            let (bytes, _, _) = enc.encode(JA);
            assert_eq!(decode(&bytes).as_deref(), Ok(JA), "{}", enc.name());
        }
    }

    #[test]
    fn utf16_with_bom() {
        let mut le = vec![0xFF, 0xFE];
        le.extend(JA.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode(&le).ok().as_deref(), Some(JA));
        let mut be = vec![0xFE, 0xFF];
        be.extend(JA.encode_utf16().flat_map(|u| u.to_be_bytes()));
        assert_eq!(decode(&be).ok().as_deref(), Some(JA));
    }

    #[test]
    fn bytes_valid_in_no_supported_encoding_are_refused_not_read_as_mojibake() {
        let mut bytes = b"# Notes\n\nplain ascii text ".to_vec();
        bytes.extend_from_slice(b"\xc3\x28 more \xa0\xa1 text \x80\x81 end\n");
        match decode(&bytes) {
            Err(SkipReason::Undecodable { encoding }) => {
                let reason = SkipReason::Undecodable { encoding }.to_string();
                assert!(reason.contains("convert it to UTF-8"), "{reason}");
            }
            other => panic!("read as {other:?}"),
        }
        // Latin-1 text is not an encoding sagasu reads either: skipped with the same reason.
        let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("Café déjà vu, naïve résumé.\n");
        assert!(matches!(
            decode(&latin),
            Err(SkipReason::Undecodable { .. })
        ));
    }

    #[test]
    fn binary_is_refused() {
        assert_eq!(
            decode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap_err(),
            SkipReason::Binary
        );
    }
}
