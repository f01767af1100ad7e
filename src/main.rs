//! The `sagasu` command line: a thin shell over the library.
//!
//! Exit codes, as grep and ripgrep: 0 success (search: something found), 1 search found
//! nothing, 2 error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use sagasu::embed::resolve::DEFAULT_MODEL;
use sagasu::embed::{EmbedOptions, Embedder};
use sagasu::engine::Engine;
use sagasu::eval::{ann_recall, evaluate, read_queries, QuerySelection};
use sagasu::index::{run_index, EmbedConfig, IndexOptions};
use sagasu::mcp::serve_stdio;
use sagasu::progress::Progress;
use sagasu::search::{Mode, SearchOptions, SearchResult};
use sagasu::store::{Store, StoreLimits};
use sagasu::watch::{watch_tree, IndexWorker, WorkerOptions};
use sagasu::{find_index_dir, runtime, MemoryBudget, ThreadBudget, INDEX_DIR_NAME};

#[derive(Parser)]
#[command(
    name = "sagasu",
    version,
    about = "探す — fast keyword and semantic search over Markdown trees, Japanese first"
)]
#[command(
    long_about = "Index a Markdown tree once (`sagasu index DIR`), then search it from anywhere inside \
                  the tree (`sagasu search QUERY`). The index lives in DIR/.sagasu and is updated \
                  incrementally: re-running `index` reads only new and changed files."
)]
struct Cli {
    /// Threads for every pool (readers, LanceDB, index builds). Default: the number of cores.
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Memory budget in MiB for what grows with the data read at once: LanceDB's read-ahead
    /// (1/16), the full-text index build (1/4) and LanceDB's cache (1/4).
    #[arg(long, global = true, value_name = "MIB", default_value_t = MemoryBudget::DEFAULT_MIB,
          value_parser = clap::value_parser!(u64).range(64..))]
    memory_limit: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index (or re-index incrementally) the Markdown files under ROOT.
    Index(IndexArgs),
    /// Search the index: ranked sections with path, heading path, lines and a snippet.
    Search(SearchArgs),
    /// Show what the index holds: documents, sections, fragments, versions, indexes.
    Stats(StatsArgs),
    /// Measure search quality on known-item queries (JSONL with "query" and "path").
    Eval(EvalArgs),
    /// Compact the table, prune old versions and bring indexes up to date.
    Optimize(DbArg),
    /// Index ROOT, then keep the index up to date as files change (until interrupted).
    Watch(IndexArgs),
    /// Serve the index to MCP clients (coding agents) over stdio.
    Serve(ServeArgs),
    /// Time the encoder on random token ids (for bench/embed_speed.py).
    #[command(hide = true)]
    BenchEmbed(BenchEmbedArgs),
}

#[derive(Args)]
struct BenchEmbedArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 128)]
    len: usize,
    #[arg(long, default_value_t = 3)]
    reps: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArg,
    /// Also watch the indexed root and re-index on changes.
    #[arg(long)]
    watch: bool,
}

#[derive(Args)]
struct DbArg {
    /// Index directory. Default: the nearest .sagasu from the current directory upwards.
    #[arg(long)]
    db: Option<PathBuf>,
}

#[derive(Args)]
struct IndexArgs {
    /// The tree to index.
    root: PathBuf,
    /// Index directory. Default: ROOT/.sagasu
    #[arg(long)]
    db: Option<PathBuf>,
    /// Extra glob to include (e.g. '*.mdx') or, with a leading '!', exclude (e.g. '!drafts/**').
    /// Repeatable. Markdown (*.md, *.markdown) is always included.
    #[arg(long = "glob", short = 'g')]
    globs: Vec<String>,
    /// Follow symbolic links (loops are detected and reported).
    #[arg(long)]
    follow: bool,
    /// Skip files larger than this many bytes.
    #[arg(long, default_value_t = 8 << 20)]
    max_file_size: u64,
    /// Cut sections longer than this many characters at paragraph, then sentence, boundaries.
    #[arg(long, default_value_t = 1200)]
    max_section_chars: usize,
    /// Commit after this many sections (commits grow with data, never with file count; each
    /// commit is one fragment).
    #[arg(long, default_value_t = 250_000)]
    batch_rows: usize,
    /// Embedding model: a directory (config.json, tokenizer.json, model.safetensors) or a
    /// Hugging Face hub id, looked up in the local cache, then downloaded.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Keyword index only: no embedding model is loaded.
    #[arg(long)]
    no_embed: bool,
    /// Override the model's query prefix (Ruri: "検索クエリ: ").
    #[arg(long)]
    query_prefix: Option<String>,
    /// Override the model's document prefix (Ruri: "検索文書: ").
    #[arg(long)]
    doc_prefix: Option<String>,
    /// Truncate each section to this many tokens before embedding (at most the model's maximum).
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    /// No progress bar and no warnings.
    #[arg(long, short)]
    quiet: bool,
    /// Print the run summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SearchArgs {
    query: String,
    #[command(flatten)]
    db: DbArg,
    /// text (keyword, BM25), vector or hybrid. Default: the best the index supports.
    #[arg(long)]
    mode: Option<Mode>,
    /// Number of results.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Only sections of files whose path (relative to the root) starts with this.
    #[arg(long)]
    path_prefix: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StatsArgs {
    #[command(flatten)]
    db: DbArg,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// JSONL file, one {"query", "path", "heading"?, "line"?} per line.
    queries: PathBuf,
    #[command(flatten)]
    db: DbArg,
    #[arg(long)]
    mode: Option<Mode>,
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Only queries whose "type" is this (e.g. section_sentence).
    #[arg(long = "type")]
    kind: Option<String>,
    /// Use each line's "query_core" instead of "query" where present.
    #[arg(long)]
    core: bool,
    /// Only the first N selected queries.
    #[arg(long)]
    limit: Option<usize>,
    /// Instead: recall@k of the vector index against exact search, on the queries' embeddings.
    #[arg(long)]
    ann: bool,
    #[arg(long)]
    json: bool,
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tune_malloc();
    quiet_broken_pipe();
    let cli = Cli::parse();
    let threads = cli.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let budget = ThreadBudget::new(threads);
    budget.apply_to_env();
    let memory = MemoryBudget {
        mib: cli.memory_limit,
    };
    memory.apply_to_env();
    match run(cli.command, budget, memory) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Like other Unix filters, end quietly when the reader goes away (`sagasu eval … | head -1`):
/// Rust ignores SIGPIPE, so each print would fail instead, with a panic from `println!`.
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
/// - The mmap threshold: glibc raises it (up to 32 MiB) each time a large block is freed, after
///   which Arrow's and LanceDB's buffers of a few MiB come from the arenas and their freed
///   space stays there. Fixed at 1 MiB, they are mapped and unmapped whole: 102,893 files
///   indexed keyword-only peaked at 220 MiB instead of 325 (no change in wall time).
///
/// `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` in the environment still win.
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

fn run(command: Command, budget: ThreadBudget, memory: MemoryBudget) -> Result<ExitCode> {
    // The MCP server's stdin reader holds a blocking thread for good: two more for file I/O.
    let blocking = match &command {
        Command::Serve(_) => budget.blocking + 2,
        _ => budget.blocking,
    };
    let rt = runtime(blocking)?;
    let threads = budget.compute;
    let limits = StoreLimits {
        threads: budget.lance,
        cache_bytes: memory.cache_bytes(),
        index_memory_mb: memory.index_build_mib(),
        ..StoreLimits::default()
    };
    match command {
        Command::Index(args) => {
            let opts = index_options(&args, threads, limits);
            let progress = Progress::new(!args.quiet && !args.json, args.quiet);
            let summary = run_index(&opts, rt.handle(), &progress);
            progress.finish();
            let summary = summary?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                eprintln!(
                    "indexed {} in {:.1}s: {} files read, {} unchanged, {} removed, {} skipped; {} sections written in {} commits",
                    args.root.display(),
                    summary.seconds,
                    summary.files_indexed,
                    summary.files_unchanged,
                    summary.files_removed,
                    summary.files_skipped,
                    summary.sections_written,
                    summary.commits
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search(args) => {
            let db = resolve_db(args.db.db.as_deref())?;
            let mut engine = open_engine(&rt, &db, limits, args.mode)?;
            let opts = SearchOptions {
                k: args.k,
                mode: args.mode,
                path_prefix: args.path_prefix,
            };
            let results = rt.block_on(engine.search(&args.query, &opts))?;
            let mut out = std::io::stdout().lock();
            if args.json {
                serde_json::to_writer(&mut out, &json!({ "results": results }))?;
                writeln!(out)?;
            } else {
                print_results(&mut out, &results)?;
            }
            Ok(if results.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Stats(args) => {
            let db = resolve_db(args.db.db.as_deref())?;
            let engine = rt.block_on(Engine::open(&db, limits, Some(Mode::Text)))?;
            let stats = rt.block_on(engine.stats())?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                println!("index      {}", db.display());
                if let Some(root) = &stats.root {
                    println!("root       {}", root.display());
                }
                println!("documents  {}", stats.documents);
                println!("sections   {}", stats.sections);
                println!("fragments  {}", stats.fragments);
                println!("versions   {}", stats.versions);
                println!(
                    "on disk    {:.1} MiB",
                    stats.bytes_on_disk as f64 / (1 << 20) as f64
                );
                match &stats.model {
                    Some(m) => println!(
                        "vectors    {} of {} distinct section texts embedded by {} ({} dims)",
                        stats.vectors, stats.texts, m.id, m.dim
                    ),
                    None => println!("vectors    none (keyword search only)"),
                }
                for i in &stats.indexes {
                    println!(
                        "index      {} on {} ({}): {} rows indexed, {} not yet{}",
                        i.name,
                        i.columns.join(","),
                        i.index_type,
                        i.indexed_rows.unwrap_or(0),
                        i.unindexed_rows.unwrap_or(0),
                        match i.segments {
                            Some(n) if n > 1 => format!(", {n} segments"),
                            _ => String::new(),
                        }
                    );
                }
                if let Some(run) = &stats.last_run {
                    println!(
                        "last run   {} ({:.1}s, {} files read, {} removed)",
                        run.finished_at, run.seconds, run.files_indexed, run.files_removed
                    );
                }
                println!("skipped    {}", stats.skipped.len());
                for s in &stats.skipped {
                    println!("  {}: {}", s.path, s.reason);
                }
                for w in &stats.warnings {
                    println!("warning: {w}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(args) => {
            let db = resolve_db(args.db.db.as_deref())?;
            let engine = open_engine(&rt, &db, limits, args.mode)?;
            let sel = QuerySelection {
                kind: args.kind,
                use_core: args.core,
                limit: args.limit,
            };
            let queries = read_queries(&args.queries, &sel)?;
            let opts = SearchOptions {
                k: args.k,
                mode: args.mode,
                path_prefix: None,
            };
            if args.ann {
                let embedder = engine.embedder().with_context(|| {
                    engine
                        .embedder_error()
                        .unwrap_or("this index has no vectors")
                        .to_string()
                })?;
                let report = rt.block_on(ann_recall(engine.store(), embedder, &queries, args.k))?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!(
                        "{} queries: recall@{} of the vector index against exact search {:.3}  (p50 {:.1} ms, exact {:.1} ms)",
                        report.queries, report.k, report.recall, report.ann_ms_p50, report.exact_ms_p50
                    );
                    if report.indexed.is_none() {
                        println!("no vector index yet (fewer vectors than it needs): every search is exact");
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let report =
                rt.block_on(evaluate(engine.store(), engine.embedder(), &queries, &opts))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} queries: hits@1 {:.3}  hits@5 {:.3}  hits@10 {:.3}  MRR@10 {:.3}  (empty {}; p50 {:.1} ms, p95 {:.1} ms)",
                    report.queries,
                    report.hits_at_1,
                    report.hits_at_5,
                    report.hits_at_10,
                    report.mrr_at_10,
                    report.empty,
                    report.latency_ms_p50,
                    report.latency_ms_p95
                );
                if let Some(s) = &report.section {
                    println!(
                        "section level ({} queries): hits@1 {:.3}  hits@5 {:.3}  hits@10 {:.3}  MRR@10 {:.3}",
                        s.queries, s.hits_at_1, s.hits_at_5, s.hits_at_10, s.mrr_at_10
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchEmbed(args) => {
            let opts = EmbedOptions {
                max_tokens: Some(args.len),
                batch_tokens: args.batch * args.len,
                ..Default::default()
            };
            let e = Embedder::load(&args.model, "bench", &opts)?;
            // Deterministic pseudo-random ids in the vocabulary's upper range (no specials).
            let mut seed = 0x9E37_79B9_7F4A_7C15u64;
            let rows: Vec<Vec<u32>> = (0..args.batch)
                .map(|_| {
                    (0..args.len)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            5 + (seed % 1000) as u32
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
            e.encode_ids(&refs)?; // warm-up
            let mut times = Vec::new();
            for _ in 0..args.reps.max(1) {
                let t = std::time::Instant::now();
                e.encode_ids(&refs)?;
                times.push(t.elapsed().as_secs_f64());
            }
            let best = times.iter().copied().fold(f64::MAX, f64::min);
            let tokens_per_s = (args.batch * args.len) as f64 / best;
            if args.json {
                println!(
                    "{}",
                    json!({ "best_s": best, "times_s": times, "tokens_per_s": tokens_per_s })
                );
            } else {
                println!(
                    "{}x{}: best {best:.3} s/batch, {tokens_per_s:.0} tokens/s",
                    args.batch, args.len
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch(args) => {
            let opts = index_options(&args, threads, limits);
            let quiet = args.quiet;
            let json = args.json;
            let worker = IndexWorker::spawn(
                opts.clone(),
                rt.handle().clone(),
                WorkerOptions::default(),
                Box::new(move |r| report_run(r, quiet, json)),
            )?;
            let _watcher = watch_tree(&opts.root, &opts.db_dir, worker.requests())?;
            worker.request();
            if !quiet {
                eprintln!(
                    "watching {} (index {}); Ctrl-C stops",
                    opts.root.display(),
                    opts.db_dir.display()
                );
            }
            worker.join();
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let db = resolve_db(args.db.db.as_deref())?;
            let limits = StoreLimits {
                fresh_reads: true,
                ..limits
            };
            let engine = rt.block_on(Engine::open(&db, limits, None))?;
            let opts = IndexOptions::from_index(&db, threads, limits)?;
            let worker = IndexWorker::spawn(
                opts.clone(),
                rt.handle().clone(),
                WorkerOptions::default(),
                Box::new(|r| report_run(r, false, false)),
            )?;
            let _watcher = if args.watch {
                let w = watch_tree(&opts.root, &db, worker.requests())?;
                worker.request();
                Some(w)
            } else {
                None
            };
            rt.block_on(serve_stdio(engine, worker))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Optimize(args) => {
            let db = resolve_db(args.db.as_deref())?;
            let _lock = sagasu::index::WriterLock::acquire(&db)?;
            let mut store = rt.block_on(Store::open(&db, false, limits))?;
            rt.block_on(store.maintain(true))?;
            let stats = rt.block_on(store.table_stats())?;
            eprintln!(
                "optimized {}: {} fragments, {} versions",
                db.display(),
                stats.fragments,
                stats.versions
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the index for reading; a model that cannot be loaded is a note when no mode was
/// asked for (keyword search goes on) and an error when vector or hybrid was.
fn open_engine(
    rt: &tokio::runtime::Runtime,
    db: &Path,
    limits: StoreLimits,
    mode: Option<Mode>,
) -> Result<Engine> {
    let engine = rt.block_on(Engine::open(db, limits, mode))?;
    if let Some(e) = engine.embedder_error() {
        match mode {
            None => eprintln!("note: keyword search only: {e}"),
            Some(Mode::Text) => {}
            Some(_) => anyhow::bail!("{e}"),
        }
    }
    Ok(engine)
}

fn index_options(args: &IndexArgs, threads: usize, limits: StoreLimits) -> IndexOptions {
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| args.root.join(INDEX_DIR_NAME));
    let mut opts = IndexOptions::new(args.root.clone(), db);
    opts.globs = args.globs.clone();
    opts.follow_links = args.follow;
    opts.max_file_bytes = args.max_file_size;
    opts.split.max_section_chars = args.max_section_chars;
    opts.batch_rows = args.batch_rows.max(1);
    opts.threads = threads;
    opts.store = limits;
    if !args.no_embed {
        let mut cfg = EmbedConfig::new(&args.model);
        cfg.options.query_prefix = args.query_prefix.clone();
        cfg.options.doc_prefix = args.doc_prefix.clone();
        cfg.options.max_tokens = Some(args.max_tokens);
        opts.embed = Some(cfg);
    }
    opts
}

/// One line per watch run on stderr (JSON on stdout with `--json`).
fn report_run(result: &Result<sagasu::store::RunSummary>, quiet: bool, json: bool) {
    match result {
        Ok(s) if json => println!("{}", serde_json::to_string(s).unwrap_or_default()),
        Ok(s) if quiet || (s.files_indexed == 0 && s.files_removed == 0 && s.commits == 0) => {}
        Ok(s) => eprintln!(
            "{}: {} files read, {} removed, {} skipped; {} sections, {} vectors in {} commits ({:.2}s)",
            s.finished_at,
            s.files_indexed,
            s.files_removed,
            s.files_skipped,
            s.sections_written,
            s.vectors_written,
            s.commits,
            s.seconds
        ),
        Err(e) => eprintln!("error: {e:#}"),
    }
}

fn resolve_db(db: Option<&Path>) -> Result<PathBuf> {
    match db {
        Some(d) => Ok(d.to_path_buf()),
        None => find_index_dir(&std::env::current_dir().context("no current directory")?),
    }
}

fn print_results(out: &mut impl Write, results: &[SearchResult]) -> Result<()> {
    for r in results {
        let heading = if r.heading_path.is_empty() {
            String::new()
        } else {
            format!("  {}", r.heading_path.join(" > "))
        };
        writeln!(
            out,
            "{}:{}-{}{}  [{:.2}]",
            r.path, r.start_line, r.end_line, heading, r.score
        )?;
        writeln!(out, "    {}", r.snippet)?;
    }
    Ok(())
}
