//! Tests of the store through its own API, on real LanceDB tables in temporary directories.

mod ann;
mod embed_input;
mod filters;
mod text_index;

use crate::store::{Access, Store, StoreOptions};

/// A writer's store on the index in `dir`.
fn writer(rt: &tokio::runtime::Runtime, dir: &std::path::Path, options: StoreOptions) -> Store {
    rt.block_on(Store::open(&dir.into(), Access::Write, options))
        .expect("open for writing")
}
