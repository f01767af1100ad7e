//! What the embed stage reads: each section's model input (its place, then its text) under the
//! hash that keys its vector, so one text on two pages of other titles is two vectors.

use futures::TryStreamExt;

use super::page;
use crate::hash::content_hash;
use crate::store::{FileRows, SectionText, StoreOptions};

#[test]
fn the_same_text_under_two_titles_is_read_as_two_inputs_each_under_its_own_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = crate::budget::runtime(2).expect("runtime");
    let mut store = super::writer(&rt, dir.path(), StoreOptions::default());
    let files = [
        page(
            "a.md",
            0,
            "# 再試行\n\n上限は三回。\n\n## 解説\n\n共通の注意です。\n",
        ),
        page(
            "b.md",
            0,
            "# 首都\n\n東京です。\n\n## 解説\n\n共通の注意です。\n",
        ),
    ];
    let bytes = files.iter().map(FileRows::approx_bytes).sum();
    let mut append = store.begin_append(rt.handle(), "docs").expect("append");
    append.send(&files, bytes).expect("send");
    rt.block_on(append.commit(&mut store, &[])).expect("commit");

    let read: Vec<SectionText> = rt
        .block_on(async {
            let stream = store.section_texts(None).await?;
            stream.try_concat().await
        })
        .expect("section texts");
    assert_eq!(read.len(), 4);
    for s in &read {
        assert_eq!(
            s.hash,
            content_hash(s.text.as_bytes()),
            "keyed by the input"
        );
    }
    let mut notes: Vec<&str> = read
        .iter()
        .filter(|s| s.text.ends_with("共通の注意です。"))
        .map(|s| s.text.as_str())
        .collect();
    notes.sort_unstable();
    assert_eq!(notes.len(), 2);
    assert!(
        notes[0].starts_with("再試行\n") || notes[0].starts_with("首都\n"),
        "{notes:?}"
    );
    assert_ne!(notes[0], notes[1], "each under its page's title");
    // A first section already holds its title: it is read as it is.
    assert!(read
        .iter()
        .any(|s| s.text.starts_with("再試行") && s.text.contains("上限は三回")));
}
