//! One function per command: read the arguments, call the library, print.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sagasu::embed::{Embedder, LoadOptions};
use sagasu::engine::Engine;
use sagasu::eval::{ann_recall, evaluate, read_queries, QuerySelection};
use sagasu::index::{default_db_dir, run_index, IndexOptions, ModelChoice};
use sagasu::mcp::serve_stdio;
use sagasu::progress::Progress;
use sagasu::search::{Mode, SearchOptions, Unit};
use sagasu::store::{Access, Maintenance, Reads, Store, StoreOptions, WriterLock};
use sagasu::watch::{watch_tree, IndexWorker, WorkerOptions};
use serde_json::json;
use tokio::runtime::Runtime;

use super::args::{BenchEmbedArgs, DbArg, EvalArgs, IndexArgs, SearchArgs, ServeArgs, StatsArgs};
use super::{print, resolve_db, Settings};

pub fn index(rt: &Runtime, args: IndexArgs, settings: Settings) -> Result<ExitCode> {
    let opts = index_options(&args, settings);
    let progress = Progress::new(!args.quiet && !args.json, args.quiet);
    let summary = run_index(&opts, rt.handle(), &progress);
    progress.finish();
    let summary = summary?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print::index_summary(&args.root, &summary);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn search(rt: &Runtime, args: SearchArgs, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.db.as_deref())?;
    let mut engine = open_engine(rt, &db, settings.store(), args.mode)?;
    let opts = SearchOptions {
        k: args.k,
        mode: args.mode,
        path_prefix: args.path_prefix,
        unit: if args.sections {
            Unit::Section
        } else {
            Unit::Page
        },
        explain: args.explain,
    };
    let results = rt.block_on(engine.search(&args.query, &opts))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &json!({ "results": results }))?;
        writeln!(out)?;
    } else {
        print::results(&mut out, &results)?;
    }
    Ok(if results.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn stats(rt: &Runtime, args: StatsArgs, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.db.as_deref())?;
    let engine = rt.block_on(Engine::open(&db, settings.store(), Some(Mode::Text)))?;
    let stats = rt.block_on(engine.stats())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print::stats(&db, &stats);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn eval(rt: &Runtime, args: EvalArgs, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.db.as_deref())?;
    let engine = open_engine(rt, &db, settings.store(), args.mode)?;
    let sel = QuerySelection {
        kind: args.kind,
        use_core: args.core,
        limit: args.limit,
    };
    let queries = read_queries(&args.queries, &sel)?;
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
            print::ann(&report);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let opts = SearchOptions {
        k: args.k,
        mode: args.mode,
        ..SearchOptions::default()
    };
    let report = rt.block_on(evaluate(engine.store(), engine.embedder(), &queries, &opts))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print::eval(&report);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn optimize(rt: &Runtime, args: DbArg, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.as_deref())?;
    let _lock = WriterLock::acquire(&db)?;
    let mut store = rt.block_on(Store::open(&db, Access::Read, settings.store()))?;
    rt.block_on(store.maintain(Maintenance::Full))?;
    let stats = rt.block_on(store.table_stats())?;
    eprintln!(
        "optimized {}: {} fragments, {} versions",
        db.display(),
        stats.fragments,
        stats.versions
    );
    Ok(ExitCode::SUCCESS)
}

pub fn watch(rt: &Runtime, args: IndexArgs, settings: Settings) -> Result<ExitCode> {
    let opts = index_options(&args, settings);
    let (quiet, json) = (args.quiet, args.json);
    let worker = IndexWorker::spawn(
        opts.clone(),
        rt.handle().clone(),
        WorkerOptions::default(),
        Box::new(move |r| print::watch_run(r, quiet, json)),
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

pub fn serve(rt: &Runtime, args: ServeArgs, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.db.as_deref())?;
    let store = StoreOptions {
        reads: Reads::Latest,
        ..settings.store()
    };
    let engine = rt.block_on(Engine::open(&db, store, None))?;
    let opts = IndexOptions::from_index(&db, settings.threads.compute, store)?;
    let worker = IndexWorker::spawn(
        opts.clone(),
        rt.handle().clone(),
        WorkerOptions::default(),
        Box::new(|r| print::watch_run(r, false, false)),
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

/// Times the encoder on pseudo-random token ids (for bench/embed_speed.py).
pub fn bench_embed(args: BenchEmbedArgs) -> Result<ExitCode> {
    let opts = LoadOptions {
        max_tokens: args.len,
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

/// Opens the index for reading; a model that cannot be loaded is a note when no mode was
/// asked for (keyword search goes on) and an error when vector or hybrid was.
fn open_engine(rt: &Runtime, db: &Path, store: StoreOptions, mode: Option<Mode>) -> Result<Engine> {
    let engine = rt.block_on(Engine::open(db, store, mode))?;
    if let Some(e) = engine.embedder_error() {
        match mode {
            None => eprintln!("note: keyword search only: {e}"),
            Some(Mode::Text) => {}
            Some(_) => anyhow::bail!("{e}"),
        }
    }
    Ok(engine)
}

fn index_options(args: &IndexArgs, settings: Settings) -> IndexOptions {
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| default_db_dir(&args.root));
    let mut opts = IndexOptions::new(args.root.clone(), db);
    opts.globs = args.globs.clone();
    opts.follow_links = args.follow;
    opts.max_file_bytes = args.max_file_size;
    opts.split.max_section_chars = args.max_section_chars;
    opts.batch_rows = args.batch_rows;
    opts.threads = settings.threads.compute;
    opts.store = settings.store();
    if !args.no_embed {
        let mut choice = ModelChoice::new(&args.model);
        choice.load.query_prefix = args.query_prefix.clone();
        choice.load.doc_prefix = args.doc_prefix.clone();
        choice.load.max_tokens = args.max_tokens;
        opts.model = Some(choice);
    }
    opts
}
