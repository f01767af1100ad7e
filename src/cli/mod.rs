//! The command line: flags parsed once ([`args`]) into [`Settings`], one function per command
//! ([`commands`]), and what they print ([`print`]).

mod args;
mod commands;
mod print;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::budget::{default_threads, MemoryBudget, ThreadBudget};
use crate::store::location::names_object_storage;
use crate::store::{Location, StoreBudget, StoreOptions, META_FILE};
use crate::INDEX_DIR_NAME;
use anyhow::{bail, Context, Result};

use args::{Cli, Command};
use clap::Parser;

/// Parses the command line, lets `before_threads` set up the process while it has one thread
/// (given the environment variables the thread and memory budgets ask for), and runs the
/// command. Exit codes as grep and ripgrep: 0 success (search: something found), 1 search
/// found nothing, 2 error.
pub fn main(before_threads: impl FnOnce(&[(&'static str, String)])) -> ExitCode {
    let args = Cli::parse();
    let settings = Settings::new(&args);
    before_threads(&settings.env());
    run(args.command, settings).unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        ExitCode::from(2)
    })
}

/// What every command shares, decided once from the global flags.
#[derive(Debug, Clone, Copy)]
struct Settings {
    pub threads: ThreadBudget,
    pub memory: MemoryBudget,
    /// How long a superseded version stays readable.
    pub keep_superseded: std::time::Duration,
}

impl Settings {
    pub fn new(cli: &Cli) -> Settings {
        let threads = ThreadBudget::new(cli.threads.unwrap_or_else(default_threads));
        let remote = cli.command.db().is_some_and(names_object_storage);
        Settings {
            threads: if remote {
                threads.for_object_storage()
            } else {
                threads
            },
            memory: MemoryBudget {
                mib: cli.memory_limit,
            },
            keep_superseded: std::time::Duration::from_secs(cli.keep_superseded),
        }
    }

    /// The variables LanceDB and candle read their pool and buffer sizes from.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut vars = self.threads.env();
        vars.extend(self.memory.env());
        vars
    }

    pub fn store(&self) -> StoreOptions {
        StoreOptions {
            budget: StoreBudget {
                threads: self.threads.lance,
                cache_bytes: self.memory.cache_bytes(),
                index_memory_mib: self.memory.index_build_mib(),
            },
            keep_superseded: self.keep_superseded,
            ..StoreOptions::default()
        }
    }
}

/// Runs one command.
fn run(command: Command, settings: Settings) -> Result<ExitCode> {
    settings.threads.start_compute_pool()?;
    // The MCP server's stdin reader holds a blocking thread for good: two more for file I/O.
    let blocking = match &command {
        Command::Serve(_) => settings.threads.blocking + 2,
        _ => settings.threads.blocking,
    };
    let rt = crate::budget::runtime(blocking)?;
    match command {
        Command::Index(args) => commands::index(&rt, args, settings),
        Command::Remove(args) => commands::remove(&rt, args, settings),
        Command::Search(args) => commands::search(&rt, args, settings),
        Command::Stats(args) => commands::stats(&rt, args, settings),
        Command::Eval(args) => commands::eval(&rt, args, settings),
        Command::Optimize(args) => commands::optimize(&rt, args, settings),
        Command::Watch(args) => commands::watch(&rt, args, settings),
        Command::Serve(args) => commands::serve(&rt, args, settings),
        Command::BenchEmbed(args) => commands::bench_embed(args),
        Command::BenchRerank(args) => commands::bench_rerank(args),
        Command::Generate(args) => commands::generate(args),
    }
}

/// `--db`, or the nearest index from the current directory upwards.
fn resolve_db(db: Option<&str>) -> Result<Location> {
    match db {
        Some(d) => Ok(Location::parse(d)?),
        None => find_index_dir(&std::env::current_dir().context("no current directory")?)
            .map(Location::Dir),
    }
}

/// The nearest `.sagasu` holding an index, from `start` upwards, as git finds `.git`.
fn find_index_dir(start: &Path) -> Result<PathBuf> {
    let start = start
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", start.display()))?;
    for dir in start.ancestors() {
        let candidate = dir.join(INDEX_DIR_NAME);
        if candidate.join(META_FILE).is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no sagasu index found in {} or any parent directory; run `sagasu index ROOT` first, or pass --db DIR",
        start.display()
    )
}
