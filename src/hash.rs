//! Content hashes: how files and section texts are recognised across runs (an unchanged file
//! is not re-read, a text seen before is not embedded again).

/// Hex of a 128-bit BLAKE3 digest: content hashes for files and section texts.
pub fn content_hash(bytes: &[u8]) -> String {
    let hash = blake3::hash(bytes);
    hash.as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A page's number: 64 bits of the hash of its collection and path. Filters on front matter
/// select pages by it (an integer set lookup per row, where paths were string comparisons).
pub fn page_key(collection: &str, path: &str) -> u64 {
    let hash = blake3::hash(format!("{collection}\0{path}").as_bytes());
    u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// A section text hash as a number: the sets of hashes the indexer keeps in memory (one
/// entry per distinct text: a million at 100k files) take 16 bytes per entry instead of a
/// heap string.
pub type HashKey = u128;

/// The [`HashKey`] of a hash written by [`content_hash`].
pub fn hash_key(hex: &str) -> HashKey {
    u128::from_str_radix(hex, 16).unwrap_or_else(|_| {
        // Not ours (written by hand?): still a stable key.
        u128::from_le_bytes(
            blake3::hash(hex.as_bytes()).as_bytes()[..16]
                .try_into()
                .unwrap_or([0; 16]),
        )
    })
}

/// The hex form of a [`HashKey`], as stored in the tables.
pub fn hash_hex(key: HashKey) -> String {
    format!("{key:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_keys_round_trip() {
        for text in ["", "本文", "another text"] {
            let hex = content_hash(text.as_bytes());
            assert_eq!(hex.len(), 32);
            assert_eq!(hash_hex(hash_key(&hex)), hex);
        }
        assert_ne!(hash_key("not hex"), hash_key("also not hex"));
    }
}
