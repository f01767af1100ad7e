//! Links the `sagasu` binary as a non-PIE executable on Linux.
//!
//! The binary carries ~390,000 relative relocations (LanceDB, DataFusion and candle are big):
//! as a PIE, the loader applies them all at every start, writing ~6.6 MB of pages, which is a
//! large share of a one-shot `sagasu search`. A fixed-address executable has none to apply.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && arch == "x86_64" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
