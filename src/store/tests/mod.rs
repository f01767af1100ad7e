//! Tests of the store through its own API, on real LanceDB tables in temporary directories.

mod ann;
mod filters;
mod text_index;
