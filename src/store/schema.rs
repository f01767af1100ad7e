//! The on-disk format: the two tables' Arrow schemas, their names and indexes, and the
//! format version recorded in `sagasu.json`. Change anything here and bump
//! [`FORMAT_VERSION`]; readers refuse an index whose layout is not this one, and `index`
//! rebuilds it (sections from the tree; vectors are kept where their key, the hash of the
//! model's input, still occurs: none across format 5, which changed what the key is of).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// The format this sagasu writes and reads. 1: the `sections` table with its `terms` column,
/// the `vectors` table keyed by text hash. 2: `sections.link_share`, and `title` falls back to
/// the first level-1 heading. 3: `sections.raw`, each file's bytes (zstd) on its first
/// section, so that an index serves documents without the tree. 4: `sections.collection`
/// (several roots in one index) and the front matter's typed properties (`fm_*`). 5:
/// `text_hash` is of the model's input (the section's place, then its text), `body_hash` of
/// the text alone. 6: the first section's `terms` start with its file path's
/// ([`crate::ingest::terms::path_terms`]).
pub const FORMAT_VERSION: u32 = 6;

pub const SECTIONS_TABLE: &str = "sections";
pub const VECTORS_TABLE: &str = "vectors";
/// The full-text index, on `terms`.
pub const FTS_INDEX: &str = "text_idx";
/// The ANN index, on `vectors.vector`.
pub const VECTOR_INDEX: &str = "vector_idx";
/// A B-tree on `sections.text_hash`: vector hits are joined back to sections by it.
pub const HASH_INDEX: &str = "text_hash_idx";
/// A bitmap on `sections.collection`, once the table holds several: `-c NAME` is a lookup,
/// not a scan.
pub const COLLECTION_INDEX: &str = "collection_idx";
/// A B-tree on `sections.page`: a search restricted to the pages that front-matter
/// conditions selected (`page IN (…)`, or `NOT` that) looks them up rather than testing
/// every row.
pub const PAGE_INDEX: &str = "page_idx";
/// The label list on `sections.fm_pairs` that earlier builds made: a writer drops it (see
/// `maintain::refresh_filter_indexes`).
pub const PAIRS_INDEX: &str = "fm_pairs_idx";

/// Column names, the one place they are spelled: every query and decoder names them through
/// these.
pub mod columns {
    pub const ID: &str = "id";
    pub const COLLECTION: &str = "collection";
    pub const PATH: &str = "path";
    pub const PAGE: &str = "page";
    pub const ORDINAL: &str = "ordinal";
    pub const HEADING_PATH: &str = "heading_path";
    pub const LEVEL: &str = "level";
    pub const START_LINE: &str = "start_line";
    pub const END_LINE: &str = "end_line";
    pub const LINK_SHARE: &str = "link_share";
    pub const TITLE: &str = "title";
    pub const DESCRIPTION: &str = "description";
    pub const TAGS: &str = "tags";
    pub const FM_KEYS: &str = "fm_keys";
    pub const FM_PAIRS: &str = "fm_pairs";
    pub const FM_NUMBERS: &str = "fm_numbers";
    pub const FM_TIMES: &str = "fm_times";
    pub const TEXT: &str = "text";
    pub const TERMS: &str = "terms";
    pub const TEXT_HASH: &str = "text_hash";
    pub const BODY_HASH: &str = "body_hash";
    pub const FILE_HASH: &str = "file_hash";
    pub const FILE_SIZE: &str = "file_size";
    pub const MTIME_NS: &str = "mtime_ns";
    pub const RAW: &str = "raw";
    pub const VECTOR: &str = "vector";
}

/// The `sections` table: one row per section of every indexed file.
pub fn sections_schema() -> SchemaRef {
    let list_of =
        |name: &str, item: DataType| Field::new_list(name, Field::new("item", item, true), false);
    let list = |name: &str| list_of(name, DataType::Utf8);
    Arc::new(Schema::new(vec![
        // "{collection}:{path}#{ordinal}"
        Field::new(columns::ID, DataType::Utf8, false),
        // The root the file was found under, by its name (several roots share one index).
        Field::new(columns::COLLECTION, DataType::Utf8, false),
        Field::new(columns::PATH, DataType::Utf8, false),
        // The page's number (hash.rs `page_key` of collection and path): what front-matter
        // conditions select sections by.
        Field::new(columns::PAGE, DataType::UInt64, false),
        Field::new(columns::ORDINAL, DataType::UInt32, false),
        list(columns::HEADING_PATH),
        Field::new(columns::LEVEL, DataType::UInt8, false),
        Field::new(columns::START_LINE, DataType::UInt32, false),
        Field::new(columns::END_LINE, DataType::UInt32, false),
        // Share of the section's body that is link text (markdown.rs): ranks link lists lower.
        Field::new(columns::LINK_SHARE, DataType::Float32, false),
        // The page's title: front matter `title`, else the first level-1 heading.
        Field::new(columns::TITLE, DataType::Utf8, true),
        Field::new(columns::DESCRIPTION, DataType::Utf8, true),
        list(columns::TAGS),
        // The front matter, on a page's first section only (empty lists on the others):
        // `fm_pairs` holds each key, and "key\u{1f}canonical value" for
        // each value (a list key: each element), for equality and presence; `fm_keys` the
        // keys that have numbers or times, and for each, in order, the least and greatest
        // number (`fm_numbers`) and time in seconds since 1970 (`fm_times`), null where it
        // has none, for order comparisons. Filters (filter.rs) read them.
        list(columns::FM_KEYS),
        list(columns::FM_PAIRS),
        list_of(columns::FM_NUMBERS, DataType::Float64),
        list_of(columns::FM_TIMES, DataType::Int64),
        Field::new(columns::TEXT, DataType::Utf8, false),
        // The text's search terms, space-separated: what the full-text index holds (terms.rs).
        Field::new(columns::TERMS, DataType::Utf8, false),
        // The hash of what the model embeds (ingest::document::embedding_input): the vectors'
        // key.
        Field::new(columns::TEXT_HASH, DataType::Utf8, false),
        // The hash of the text alone: one for the same text on several pages (boilerplate).
        Field::new(columns::BODY_HASH, DataType::Utf8, false),
        Field::new(columns::FILE_HASH, DataType::Utf8, false),
        Field::new(columns::FILE_SIZE, DataType::UInt64, false),
        Field::new(columns::MTIME_NS, DataType::Int64, false),
        // The file as read, zstd-compressed; on ordinal 0 only (null on the others). Already
        // compressed: Lance is told not to compress it again (it would, per value, for files
        // over 32 KiB).
        Field::new(columns::RAW, DataType::LargeBinary, true)
            .with_metadata([("lance-encoding:compression".to_string(), "none".to_string())].into()),
    ]))
}

/// The `vectors` table: one row per distinct section text, keyed by its hash. Kept apart from
/// `sections` so that adding vectors never rewrites text rows and keyword search works before
/// any vector exists (ARCHITECTURE.md).
pub fn vectors_schema(dim: usize) -> SchemaRef {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    Arc::new(Schema::new(vec![
        Field::new(columns::TEXT_HASH, DataType::Utf8, false),
        Field::new(
            columns::VECTOR,
            DataType::FixedSizeList(item, dim as i32),
            false,
        ),
    ]))
}

/// How a table found on disk differs from the layout expected, or `None` when it does not:
/// names, order, types and nullability of every column (metadata aside).
pub fn layout_difference(found: &Schema, expected: &Schema) -> Option<String> {
    let describe = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}{}",
                    f.name(),
                    f.data_type(),
                    if f.is_nullable() { "?" } else { "" }
                )
            })
            .collect::<Vec<_>>()
    };
    let (found, expected) = (describe(found), describe(expected));
    if found == expected {
        return None;
    }
    let first = found
        .iter()
        .zip(&expected)
        .find(|(a, b)| a != b)
        .map(|(a, b)| format!("column {a}, expected {b}"))
        .unwrap_or_else(|| format!("{} columns, expected {}", found.len(), expected.len()));
    Some(first)
}

/// Whether a vectors table on disk has this sagasu's layout (any dimension).
pub fn vectors_layout_difference(found: &Schema) -> Option<String> {
    let dim = match found
        .field_with_name(columns::VECTOR)
        .map(|f| f.data_type())
    {
        Ok(DataType::FixedSizeList(_, n)) => *n as usize,
        _ => return Some("no fixed-size vector column".into()),
    };
    layout_difference(found, &vectors_schema(dim))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_differ_by_type_and_nullability_not_only_names() {
        let expected = sections_schema();
        assert_eq!(layout_difference(&expected, &expected), None);
        let mut fields: Vec<Field> = expected
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[4] = Field::new(columns::ORDINAL, DataType::UInt64, false);
        let d = layout_difference(&Schema::new(fields.clone()), &expected).expect("type differs");
        assert!(d.contains(columns::ORDINAL), "{d}");
        fields[4] = Field::new(columns::ORDINAL, DataType::UInt32, true);
        assert!(layout_difference(&Schema::new(fields.clone()), &expected).is_some());
        fields.remove(11);
        assert!(layout_difference(&Schema::new(fields), &expected).is_some());
        assert_eq!(vectors_layout_difference(&vectors_schema(384)), None);
    }
}
