//! One function per command: read the arguments, call the library, print.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crate::embed::resolve::downloads_allowed;
use crate::embed::{Embedder, LoadOptions, RerankOptions, Reranker, DEFAULT_MODEL};
use crate::engine::{load_reranker, Engine, RerankChoice};
use crate::eval::{ann_recall, evaluate, read_queries, QuerySelection};
use crate::index::options::recorded_roots;
use crate::index::options::{no_model_recorded, DEFAULT_MAX_FILE_BYTES};
use crate::index::{default_db, IndexOptions, Indexer, ModelChoice, Root};
use crate::ingest::document::DEFAULT_MAX_SECTION_CHARS;
use crate::ingest::format::Types;
use crate::mcp::serve_stdio;
use crate::progress::Progress;
use crate::search::{parse_since, parse_where, Mode, SearchOptions, Unit};
use crate::store::{
    default_refresh, read_meta, Access, Location, Maintenance, Meta, Reads, RerankerSetting, Store,
    StoreOptions, WriterLock, DEFAULT_LEASE,
};
use crate::watch::{watch_roots, IndexWorker, WorkerOptions};
use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::runtime::Runtime;

use super::args::{
    BenchEmbedArgs, BenchRerankArgs, Cli, DbArg, EvalArgs, FilterArgs, GenerateArgs, Generated,
    IndexArgs, RemoveArgs, RerankArg, SearchArgs, ServeArgs, StatsArgs,
};
use super::{print, resolve_db, Settings};

pub fn index(rt: &Runtime, args: IndexArgs, settings: Settings) -> Result<ExitCode> {
    let opts = index_options(rt, &args, settings)?;
    // A shard without a tree embeds only; anything else reads trees (those given, or every
    // recorded one).
    let embed_only = opts.roots.is_empty() && args.shard.is_some();
    let progress = Progress::new(!args.quiet && !args.json, args.quiet);
    let summary = Indexer::new(opts.clone(), rt.handle(), &progress).and_then(|indexer| {
        if embed_only {
            indexer.embed_share(rt.handle(), &progress)
        } else {
            indexer.run(rt.handle(), &progress)
        }
    });
    progress.finish();
    let summary = summary?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if embed_only {
        print::shard_summary(&opts.db, &summary);
    } else {
        print::index_summary(&opts.db, &summary);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn remove(rt: &Runtime, args: RemoveArgs, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.db.as_deref())?;
    let mut opts = IndexOptions::new(Vec::new(), db.clone());
    opts.store = settings.store();
    let progress = Progress::new(false, true);
    let summary = Indexer::new(opts, rt.handle(), &progress)?.remove(&args.name, rt.handle())?;
    eprintln!(
        "removed collection {} from {db}: {} files",
        args.name, summary.files_removed
    );
    Ok(ExitCode::SUCCESS)
}

/// The search options the filter flags ask for, on top of `opts`.
fn with_filters(mut opts: SearchOptions, args: &FilterArgs) -> Result<SearchOptions> {
    opts.collections = args.collections.clone();
    opts.conditions = args
        .conditions
        .iter()
        .map(|w| parse_where(w))
        .collect::<Result<_>>()?;
    opts.changed_since = args
        .changed_after
        .as_deref()
        .map(|w| parse_since(w, chrono::Utc::now()))
        .transpose()?;
    opts.path_prefix = args.path_prefix.clone();
    Ok(opts)
}

pub fn search(rt: &Runtime, args: SearchArgs, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.db.as_deref())?;
    let engine = open_engine(rt, &db, settings.store(), args.mode)?;
    let opts = SearchOptions {
        k: args.k,
        mode: args.mode,
        unit: if args.sections {
            Unit::Section
        } else {
            Unit::Page
        },
        explain: args.explain,
        rerank: use_reranker(rt, &engine, &args.rerank)?,
        ..SearchOptions::default()
    };
    let opts = with_filters(opts, &args.filters)?;
    let results = rt.block_on(engine.search(&args.query, &opts))?;
    if results.is_empty() {
        // A filter on a key no page has is why nothing was found: say so.
        for key in rt.block_on(engine.keys_no_page_has(&opts.conditions))? {
            eprintln!("note: no page of this index has the front-matter key {key:?}");
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let index = rt.block_on(engine.freshness())?;
        serde_json::to_writer(&mut out, &json!({ "results": results, "index": index }))?;
        writeln!(out)?;
    } else {
        print::results(&mut out, &results, engine.collections().len() > 1)?;
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
    let rerank = use_reranker(rt, &engine, &args.rerank)?;
    let view = engine.view();
    let sel = QuerySelection {
        kind: args.kind,
        use_core: args.core,
        limit: args.limit,
    };
    let queries = read_queries(&args.queries, &sel)?;
    if args.ann {
        let embedder = view.embedder().with_context(|| {
            view.embedder_error()
                .unwrap_or("this index has no vectors")
                .to_string()
        })?;
        let report = rt.block_on(ann_recall(
            view.store(),
            embedder,
            view.models().vector_mean,
            &queries,
            args.k,
        ))?;
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
        rerank,
        fusion: args.fusion.unwrap_or_default(),
        proximity: args.proximity.unwrap_or(SearchOptions::default().proximity),
        ..SearchOptions::default()
    };
    let opts = with_filters(opts, &args.filters)?;
    let report = rt.block_on(evaluate(view.store(), view.models(), &queries, &opts))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print::eval(&report);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn optimize(rt: &Runtime, args: DbArg, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.as_deref())?;
    let stats = rt.block_on(async {
        let lock = WriterLock::acquire(&db, DEFAULT_LEASE).await?;
        let mut store = Store::open(&db, Access::Read, settings.store()).await?;
        store.hold(lock);
        store.maintain(Maintenance::Full).await?;
        if store.has_vectors() {
            store.maintain_vectors().await?;
            let mut meta = store.read_meta().await?;
            if store.refresh_vector_mean(&mut meta, 0).await? {
                store.write_meta(&meta).await?;
            }
        }
        let stats = store.table_stats().await?;
        store.release().await;
        Ok::<_, crate::store::StoreError>(stats)
    })?;
    eprintln!(
        "optimized {db}: {} fragments, {} versions",
        stats.fragments, stats.versions
    );
    Ok(ExitCode::SUCCESS)
}

pub fn watch(rt: &Runtime, args: IndexArgs, settings: Settings) -> Result<ExitCode> {
    if args.shard.is_some() {
        bail!("watch takes no --shard");
    }
    let mut opts = index_options(rt, &args, settings)?;
    if opts.roots.is_empty() {
        // Every recorded collection: watched as recorded.
        let meta = rt.block_on(read_meta(&opts.db))?;
        opts.roots = recorded_roots(&meta);
        if opts.roots.is_empty() {
            bail!("watch needs ROOT: {} records no collection yet", opts.db);
        }
    }
    let (quiet, json) = (args.quiet, args.json);
    let worker = IndexWorker::spawn(
        opts.clone(),
        rt.handle().clone(),
        WorkerOptions::default(),
        Box::new(move |r| print::watch_run(r, quiet, json)),
    )?;
    let _watchers = watch_roots(&opts, worker.requests())?;
    worker.request();
    if !quiet {
        eprintln!(
            "watching {} (index {}); Ctrl-C stops",
            opts.roots
                .iter()
                .map(|r| r.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            opts.db
        );
    }
    worker.join();
    Ok(ExitCode::SUCCESS)
}

pub fn serve(rt: &Runtime, args: ServeArgs, settings: Settings) -> Result<ExitCode> {
    let db = resolve_db(args.db.db.as_deref())?;
    let refresh = match args.refresh {
        Some(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s),
        Some(s) => bail!("--refresh {s}: give seconds, 0 or more"),
        None => default_refresh(&db),
    };
    let store = StoreOptions {
        reads: Reads::Within(refresh),
        ..settings.store()
    };
    let engine = rt.block_on(Engine::open(&db, store, None))?;
    use_reranker(rt, &engine, &args.rerank)?;
    let opts = rt.block_on(IndexOptions::from_index(
        &db,
        settings.threads.compute,
        store,
    ))?;
    let worker = IndexWorker::spawn(
        opts.clone(),
        rt.handle().clone(),
        WorkerOptions::default(),
        Box::new(|r| print::watch_run(r, false, false)),
    )?;
    let _watcher = if args.watch {
        let w = watch_roots(&opts, worker.requests())?;
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
    let rows = pseudo_random_ids(args.batch, args.len);
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

/// `rows` sequences of `len` deterministic pseudo-random token ids in the vocabulary's low
/// range, past the special tokens: the benchmarks' input.
fn pseudo_random_ids(rows: usize, len: usize) -> Vec<Vec<u32>> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    (0..rows)
        .map(|_| {
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    5 + (seed % 1000) as u32
                })
                .collect()
        })
        .collect()
}

/// Loads the reranker the flags ask for (by default the one the index records) and says
/// whether searches rerank.
fn use_reranker(rt: &Runtime, engine: &Engine, args: &RerankArg) -> Result<bool> {
    let choice = match (&args.reranker, args.no_rerank) {
        (_, true) => RerankChoice::Off,
        (Some(m), _) => RerankChoice::Model(m.clone()),
        (None, _) => RerankChoice::Recorded,
    };
    rt.block_on(engine.load_reranker(&choice))?;
    if args.rerank && !engine.has_reranker() {
        bail!("--rerank: the index records no reranker; give one with --reranker MODEL");
    }
    Ok(engine.has_reranker())
}

/// Times a reranker on pseudo-random token ids: `candidates` pairs of `len` tokens per query,
/// as search would score them (for bench/rerank_latency.sh).
pub fn bench_rerank(args: BenchRerankArgs) -> Result<ExitCode> {
    let opts = RerankOptions {
        max_tokens: args.len,
        ..RerankOptions::default()
    };
    let r = Reranker::load(&args.model, &opts)?;
    let rows = pseudo_random_ids(args.candidates, args.len);
    // A query of 16 tokens, then the candidate: the segments a pair has.
    let types: Vec<Vec<u32>> = (0..args.candidates)
        .map(|_| (0..args.len).map(|i| u32::from(i >= 16)).collect())
        .collect();
    let ids: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let tys: Vec<&[u32]> = types.iter().map(Vec::as_slice).collect();
    r.score_ids(&ids, &tys)?; // warm-up
    let mut times = Vec::new();
    for _ in 0..args.reps.max(1) {
        let t = std::time::Instant::now();
        r.score_ids(&ids, &tys)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let (p50, p95) = (pct(0.5), pct(0.95));
    if args.json {
        println!(
            "{}",
            json!({ "candidates": args.candidates, "len": args.len, "p50_ms": p50, "p95_ms": p95, "times_ms": times })
        );
    } else {
        println!(
            "{} candidates x {} tokens: p50 {p50:.0} ms, p95 {p95:.0} ms",
            args.candidates, args.len
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the index for reading; a model that cannot be loaded is a note when no mode was
/// asked for (keyword search goes on) and an error when vector or hybrid was.
fn open_engine(
    rt: &Runtime,
    db: &Location,
    store: StoreOptions,
    mode: Option<Mode>,
) -> Result<Engine> {
    let engine = rt.block_on(Engine::open(db, store, mode))?;
    if let Some(e) = engine.view().embedder_error() {
        match mode {
            None => eprintln!("note: keyword search only: {e}"),
            Some(Mode::Text) => {}
            Some(_) => anyhow::bail!("{e}"),
        }
    }
    Ok(engine)
}

fn index_options(rt: &Runtime, args: &IndexArgs, settings: Settings) -> Result<IndexOptions> {
    let roots: Vec<Root> = args
        .roots
        .iter()
        .map(|p| Root::new(p.clone()))
        .chain(args.named.iter().cloned())
        .collect();
    let db = match (&args.db, roots.as_slice()) {
        (Some(db), _) => Location::parse(db)?,
        (None, [one]) => default_db(&one.path),
        (None, []) => resolve_db(None)?,
        (None, _) => bail!(
            "{} roots: say where their one index goes with --db DIR (or s3://BUCKET/PREFIX)",
            roots.len()
        ),
    };
    let mut opts = IndexOptions::new(roots, db);
    opts.shard = args.shard;
    opts.lease = Duration::from_secs(args.lease);
    opts.record_reranker = match args.reranker.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(m) => {
            // Loaded once here: a model that is not a cross-encoder fails before any writing.
            let (dir, _) = load_reranker(m, downloads_allowed(), rt.handle())?;
            let dir = dir.canonicalize().unwrap_or(dir);
            Some(Some(RerankerSetting {
                id: m.to_string(),
                dir,
            }))
        }
    };
    // What is not given is what the index records: a re-run walks and splits as the last
    // one did (and as `watch` and `serve --watch` do), so it removes no file the flags of
    // the first run took in.
    let recorded_meta = recorded_meta(rt, &opts.db)?;
    let recorded = recorded_meta.as_ref().and_then(|m| m.settings.clone());
    opts.types = match args.types {
        Some(types) => types,
        None => Types::from_names(
            &recorded
                .as_ref()
                .map(|s| s.types.clone())
                .unwrap_or_default(),
        )?,
    };
    opts.globs = match (&args.globs[..], &recorded) {
        _ if args.no_glob => Vec::new(),
        ([], Some(r)) => r.globs.clone(),
        (given, _) => given.to_vec(),
    };
    opts.follow_links = args
        .follow
        .or(recorded.as_ref().map(|r| r.follow_links))
        .unwrap_or(false);
    opts.max_file_bytes = args
        .max_file_size
        .or(recorded.as_ref().map(|r| r.max_file_bytes))
        .unwrap_or(DEFAULT_MAX_FILE_BYTES);
    opts.split.max_section_chars = args
        .max_section_chars
        .or(recorded.as_ref().map(|r| r.max_section_chars))
        .unwrap_or(DEFAULT_MAX_SECTION_CHARS);
    opts.batch_rows = args.batch_rows;
    opts.threads = settings.threads.compute;
    opts.store = settings.store();
    if args.no_embed {
        return Ok(opts);
    }
    // No --model: the model the index records, as for every other setting (a re-run of
    // `index ROOT` must not switch an index made with `--model X` to the default and embed
    // every section again); a new index, or one without vectors, gets the default, or none
    // when the run names no root (it repeats what the index records; a shard must have one).
    let recorded_model = recorded_meta.as_ref().and_then(ModelChoice::recorded);
    let mut choice = match (&args.model, recorded_model) {
        (Some(model), _) => ModelChoice::new(model),
        (None, Some(mut recorded)) => {
            // A writer may fetch it again (a cleared Hugging Face cache), as it fetched it first.
            recorded.download = downloads_allowed();
            recorded
        }
        (None, None) if opts.roots.is_empty() && args.shard.is_some() => {
            return Err(no_model_recorded(&opts.db))
        }
        (None, None) if opts.roots.is_empty() => return Ok(opts),
        (None, None) => ModelChoice::new(DEFAULT_MODEL),
    };
    // Given flags override what the model (or the index) says.
    if args.query_prefix.is_some() {
        choice.load.query_prefix = args.query_prefix.clone();
    }
    if args.doc_prefix.is_some() {
        choice.load.doc_prefix = args.doc_prefix.clone();
    }
    if let Some(max_tokens) = args.max_tokens {
        choice.load.max_tokens = max_tokens;
    }
    opts.model = Some(choice);
    Ok(opts)
}

/// What an existing index records (settings, model); empty for a new index, none for one
/// whose `sagasu.json` is unreadable (the run repairs it). Any other failure to read it stops
/// the run: guessing would drop the files of every other format from the index.
fn recorded_meta(rt: &Runtime, db: &Location) -> Result<Option<Meta>> {
    match rt.block_on(read_meta(db)) {
        Ok(meta) => Ok(Some(meta)),
        Err(crate::store::StoreError::File { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes the man page or a completion script, from the one clap definition of the flags.
pub fn generate(args: GenerateArgs) -> Result<ExitCode> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let mut cli = Cli::command();
    let mut out = std::io::stdout().lock();
    let shell = match (args.what, &args.out) {
        (Generated::Man, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cli, dir)
                .with_context(|| format!("writing the man pages into {}", dir.display()))?;
            return Ok(ExitCode::SUCCESS);
        }
        (Generated::Man, None) => {
            clap_mangen::Man::new(cli)
                .render(&mut out)
                .context("writing the man page")?;
            return Ok(ExitCode::SUCCESS);
        }
        (Generated::Bash, _) => Shell::Bash,
        (Generated::Zsh, _) => Shell::Zsh,
        (Generated::Fish, _) => Shell::Fish,
        (Generated::Elvish, _) => Shell::Elvish,
        (Generated::Powershell, _) => Shell::PowerShell,
    };
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_complete::generate_to(shell, &mut cli, "sagasu", dir)
                .with_context(|| format!("writing the completion into {}", dir.display()))?;
        }
        None => clap_complete::generate(shell, &mut cli, "sagasu", &mut out),
    }
    Ok(ExitCode::SUCCESS)
}
