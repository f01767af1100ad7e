//! The `sagasu` command line: a thin shell over the library's [`sagasu::cli`].
//!
//! This file holds the process set-up that must happen before any thread starts, and so the
//! only `unsafe` code of the binary: glibc's malloc settings, SIGPIPE's default action, and
//! the environment that LanceDB and candle read their pool sizes from.

#![deny(unsafe_code)]

use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sagasu::cli::main(before_threads)
}

/// Process settings that are only sound while the process has one thread. `env`: variables
/// to set where the environment does not set them already (a value given by the user wins).
#[allow(clippy::disallowed_methods)]
fn before_threads(env: &[(&'static str, String)]) {
    tune_malloc();
    quiet_broken_pipe();
    for (var, value) in env {
        if std::env::var_os(var).is_none() {
            // Sound here: no other thread exists yet to read the environment concurrently.
            std::env::set_var(var, value);
        }
    }
}

/// Like other Unix filters, end quietly when the reader goes away (`sagasu eval … | head -1`):
/// Rust ignores SIGPIPE, so each print would fail instead, with a panic from `println!`.
#[allow(unsafe_code)]
fn quiet_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Two glibc settings that keep the heap from holding memory it no longer uses.
/// - Arenas: glibc gives each thread that allocates its own arena (up to 8 per core) and
///   returns little of it: on cpp-docs-ja that was 251 MiB peak RSS against 211 MiB with two
///   arenas, for ~10% more wall time.
/// - The mmap threshold: glibc raises it (up to 32 MiB) each time a large block is freed,
///   after which Arrow's and LanceDB's buffers of a few MiB come from the arenas and their
///   freed space stays there. Fixed at 1 MiB, they are mapped and unmapped whole: 102,893
///   files indexed keyword-only peaked at 220 MiB instead of 325 (no change in wall time).
///
/// `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` in the environment still win.
#[allow(unsafe_code)]
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (var, param, value) in [
        ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, 2),
        ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 1 << 20),
    ] {
        if std::env::var_os(var).is_none() {
            // SAFETY: called first thing in main, before any other thread exists.
            unsafe {
                libc::mallopt(param, value);
            }
        }
    }
}
