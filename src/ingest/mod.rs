//! Files → sections, before anything is stored: [`discover`] finds the Markdown files of a
//! tree (ripgrep's ignore rules), [`decode`] turns their bytes into text, [`markdown`] splits
//! the text into heading sections, and [`terms`] makes each section's search terms with
//! LanceDB's own analyzer. Nothing here knows about the index.

pub mod decode;
pub mod discover;
pub mod document;
pub mod markdown;
pub mod terms;

#[cfg(test)]
mod properties;
