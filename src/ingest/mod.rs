//! Files → sections, before anything is stored: [`discover`] finds the files of a tree
//! (ripgrep's ignore rules), [`format`] picks each file's parser by its extension, [`decode`]
//! turns bytes into text, a parser per format ([`markdown`], [`html`], [`text`], [`rst`],
//! [`adoc`], [`org`]) finds headings and blocks, [`document`] cuts them into sections, and
//! [`terms`] makes each section's search terms with LanceDB's own analyzer. Nothing here
//! knows about the index.

pub mod adoc;
pub mod decode;
pub mod discover;
pub mod document;
pub mod format;
pub mod front_matter;
pub mod html;
pub mod markdown;
pub mod org;
pub mod rst;
pub mod terms;
pub mod text;

#[cfg(test)]
mod properties;
