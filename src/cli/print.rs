//! What the commands print for people (`--json` prints the library's types as they are).

use std::io::Write;

use crate::engine::Stats;
use crate::eval::{AnnReport, EvalReport};
use crate::search::Explain;
use crate::search::SearchResult;
use crate::store::{Location, RunSummary};
use anyhow::Result;

/// One result per two lines: `path:start-end  heading > path  [score]`, then the snippet;
/// `[collection] ` first when the index holds several.
pub fn results(
    out: &mut impl Write,
    results: &[SearchResult],
    show_collection: bool,
) -> Result<()> {
    for r in results {
        let heading = if r.heading_path.is_empty() {
            String::new()
        } else {
            format!("  {}", r.heading_path.join(" > "))
        };
        if show_collection {
            write!(out, "[{}] ", r.collection)?;
        }
        writeln!(
            out,
            "{}:{}-{}{}  [{:.2}]",
            r.path, r.start_line, r.end_line, heading, r.score
        )?;
        writeln!(out, "    {}", r.snippet)?;
        for o in &r.other_sections {
            let heading = if o.heading_path.is_empty() {
                String::new()
            } else {
                format!("  {}", o.heading_path.join(" > "))
            };
            writeln!(out, "    also :{}-{}{}", o.start_line, o.end_line, heading)?;
        }
        if let Some(e) = &r.explain {
            writeln!(out, "    why  {}", explain_line(e))?;
        }
    }
    Ok(())
}

/// The parts of a score on one line: only those that apply.
fn explain_line(e: &Explain) -> String {
    let mut parts = Vec::new();
    if let Some(b) = e.bm25 {
        parts.push(format!("bm25 {b:.2}"));
    }
    if let Some(r) = e.keyword_rank {
        parts.push(format!(
            "keyword #{r} (tier {}, title {:.2}, headings {:.2}, links {:.2}, on {} pages)",
            e.tier, e.title_match, e.heading_match, e.link_share, e.repeated_on
        ));
    }
    if let (Some(r), Some(d)) = (e.vector_rank, e.vector_distance) {
        parts.push(format!("vector #{r} (distance {d:.3})"));
    }
    if let Some(f) = e.fused {
        let w = e.keyword_weight.unwrap_or(1.0);
        let phrase = e
            .phrase
            .map_or(String::new(), |p| format!(", phrase {p:.2}"));
        parts.push(format!("fused {f:.4} (keyword weight {w:.2}{phrase})"));
    }
    if let Some(s) = e.rerank {
        parts.push(format!("rerank {s:.3}"));
    }
    parts.join(", ")
}

pub fn stats(db: &Location, stats: &Stats) {
    println!("index      {db}");
    for c in &stats.collections {
        println!(
            "collection {}  {}  {} documents, {} sections, last run {}",
            c.name,
            c.root.display(),
            c.documents,
            c.sections,
            c.last_run
                .as_ref()
                .map_or("never".to_string(), |r| r.finished_at.clone())
        );
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
    if let Some(r) = &stats.reranker {
        println!("reranker   {}", r.id);
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
        println!("  {}: {}: {}", s.collection, s.path, s.reason);
    }
    for w in &stats.warnings {
        println!("warning: {w}");
    }
}

pub fn eval(report: &EvalReport) {
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

pub fn ann(report: &AnnReport) {
    println!(
        "{} queries: recall@{} of the vector index against exact search {:.3}  (p50 {:.1} ms, exact {:.1} ms)",
        report.queries, report.k, report.recall, report.ann_ms_p50, report.exact_ms_p50
    );
    if report.indexed.is_none() {
        println!("no vector index yet (fewer vectors than it needs): every search is exact");
    }
}

/// The one line `index` ends with.
/// What a `--shard` run without a tree did.
pub fn shard_summary(db: &Location, s: &RunSummary) {
    eprintln!(
        "embedded a share of {db} in {:.1}s: {} vectors written in {} commits",
        s.seconds, s.vectors_written, s.commits
    );
}

pub fn index_summary(db: &Location, s: &RunSummary) {
    eprintln!(
        "indexed into {db} in {:.1}s: {} files read, {} unchanged, {} removed, {} skipped; {} sections written in {} commits",
        s.seconds,
        s.files_indexed,
        s.files_unchanged,
        s.files_removed,
        s.files_skipped,
        s.sections_written,
        s.commits
    );
}

/// One line per watch run on stderr (JSON on stdout with `--json`).
pub fn watch_run(result: &Result<RunSummary>, quiet: bool, json: bool) {
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
