//! The command line, as clap reads it. Defaults are the library's constants: each is defined
//! once, where it is used.

use std::path::PathBuf;

use crate::budget::MemoryBudget;
use crate::index::options::DEFAULT_BATCH_ROWS;
use crate::index::{Root, Shard};
use crate::ingest::format::Types;
use crate::search::{Fusion, Mode, DEFAULT_K};
use crate::store::{DEFAULT_LEASE, SUPERSEDED_GRACE};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sagasu",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SAGASU_COMMIT"), ")"),
    about = "探す — fast keyword and semantic search over Markdown trees, Japanese first"
)]
#[command(
    long_about = "Index a Markdown tree once (`sagasu index DIR`), then search it from anywhere inside \
                  the tree (`sagasu search QUERY`). The index lives in DIR/.sagasu and is updated \
                  incrementally: re-running `index` reads only new and changed files. Several \
                  trees can share one index as collections (`sagasu index ~/notes ~/docs --db DIR`)."
)]
pub struct Cli {
    /// Threads for every pool (readers, LanceDB, index builds). Default: the number of cores.
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Memory budget in MiB for what grows with the data read at once: LanceDB's read-ahead
    /// (1/16), the full-text index build (1/4) and LanceDB's cache (1/4).
    #[arg(long, global = true, value_name = "MIB", default_value_t = MemoryBudget::DEFAULT_MIB,
          value_parser = clap::value_parser!(u64).range(64..))]
    pub memory_limit: u64,
    /// Seconds a superseded version of the index stays readable before a run prunes it:
    /// searches that opened it finish on it (see ARCHITECTURE.md, "Readers and pruning").
    #[arg(long, global = true, value_name = "SECONDS",
          default_value_t = SUPERSEDED_GRACE.as_secs())]
    pub keep_superseded: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Index (or re-index incrementally) the Markdown files under each ROOT, one collection
    /// per ROOT; with no ROOT, every collection the index records.
    Index(IndexArgs),
    /// Drop a collection from the index (its tree is not touched).
    Remove(RemoveArgs),
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
    /// Time a reranker on random token ids (for bench/rerank_latency.sh).
    #[command(hide = true)]
    BenchRerank(BenchRerankArgs),
    /// Write the man page or a shell's completion script (for packagers).
    Generate(GenerateArgs),
}

/// What `sagasu generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generated {
    /// The man page, sagasu(1), in roff.
    Man,
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub what: Generated,
    /// Write into this directory instead of stdout (the man page: one page per command,
    /// sagasu.1 and sagasu-COMMAND.1).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

impl Command {
    /// The `--db` the command was given, if any.
    pub fn db(&self) -> Option<&str> {
        match self {
            Command::Index(a) | Command::Watch(a) => a.db.as_deref(),
            Command::Remove(a) => a.db.db.as_deref(),
            Command::Search(a) => a.db.db.as_deref(),
            Command::Stats(a) => a.db.db.as_deref(),
            Command::Eval(a) => a.db.db.as_deref(),
            Command::Optimize(a) => a.db.as_deref(),
            Command::Serve(a) => a.db.db.as_deref(),
            Command::BenchEmbed(_) | Command::BenchRerank(_) | Command::Generate(_) => None,
        }
    }
}

#[derive(Args)]
pub struct BenchRerankArgs {
    /// A reranker directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Candidates per query.
    #[arg(long, default_value_t = 20)]
    pub candidates: usize,
    /// Tokens of each (query, candidate) pair.
    #[arg(long, default_value_t = 256)]
    pub len: usize,
    /// Queries timed.
    #[arg(long, default_value_t = 20)]
    pub reps: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BenchEmbedArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 128)]
    pub len: usize,
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Also watch the indexed root and re-index on changes.
    #[arg(long)]
    pub watch: bool,
    /// Look for a newer index version at most this often, in seconds (0: before every
    /// request). Default: 0 for a local index, 1 on object storage.
    #[arg(long, value_name = "SECONDS")]
    pub refresh: Option<f64>,
    #[command(flatten)]
    pub rerank: RerankArg,
}

/// Reranking by a cross-encoder, for `search`, `eval` and `serve`.
#[derive(Args)]
pub struct RerankArg {
    /// Rerank the top 20 candidates with a cross-encoder. Default: on when the index records
    /// a reranker (`index --reranker MODEL`).
    #[arg(long, conflicts_with = "no_rerank")]
    pub rerank: bool,
    /// Do not rerank, even with a recorded reranker.
    #[arg(long)]
    pub no_rerank: bool,
    /// The cross-encoder: a directory or a Hugging Face hub id (a *ForSequenceClassification
    /// checkpoint: ModernBERT such as the Ruri v3 rerankers, BERT or XLM-R). Implies --rerank.
    #[arg(long, value_name = "MODEL", conflicts_with = "no_rerank")]
    pub reranker: Option<String>,
}

#[derive(Args)]
pub struct DbArg {
    /// Index: a directory, or s3://BUCKET/PREFIX (also gs://, az://). Default: the nearest
    /// .sagasu from the current directory upwards.
    #[arg(long)]
    pub db: Option<String>,
}

#[derive(Args)]
pub struct RemoveArgs {
    /// The collection's name (as `stats` lists it).
    pub name: String,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Args)]
pub struct IndexArgs {
    /// The trees to index, each a collection named after its directory. None: every
    /// collection the index records (with --shard: only embed that share of its texts).
    pub roots: Vec<PathBuf>,
    /// A tree to index under a name of your choice, NAME=ROOT (repeatable).
    #[arg(long = "name", value_name = "NAME=ROOT", value_parser = parse_root)]
    pub named: Vec<Root>,
    /// Index: a directory, or s3://BUCKET/PREFIX (also gs://, az://; credentials, region and
    /// endpoint from the AWS_*, GOOGLE_* or AZURE_* environment). Default: ROOT/.sagasu for
    /// one ROOT; with several, give it.
    #[arg(long)]
    pub db: Option<String>,
    /// Embed only share I of N of the texts that lack a vector (e.g. 2/4), beside the other
    /// shares running on other hosts. With ROOT this run also writes the sections.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// On object storage: seconds the writer lease lasts without renewal (how long a crashed
    /// writer blocks the next).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LEASE.as_secs(),
          value_parser = clap::value_parser!(u64).range(3..))]
    pub lease: u64,
    /// Formats to index, by extension: md (.md .markdown), html (.html .htm .xhtml),
    /// txt (.txt .text), rst (.rst .rest), adoc (.adoc .asciidoc), org (.org); comma-separated,
    /// or all. Recorded in the index: later runs, watch and serve use it unless given again.
    /// Default: md, or what the index records.
    #[arg(long, value_name = "LIST", value_parser = Types::parse)]
    pub types: Option<Types>,
    /// Extra glob to include (e.g. '*.mdx', read as Markdown) or, with a leading '!', exclude
    /// (e.g. '!drafts/**'). Repeatable. The --types formats' extensions are always included.
    /// Recorded like --types: later runs use the recorded globs unless some are given.
    #[arg(long = "glob", short = 'g')]
    pub globs: Vec<String>,
    /// Forget the recorded globs: this run and later ones use none (only the --types
    /// formats' extensions).
    #[arg(long, conflicts_with = "globs")]
    pub no_glob: bool,
    /// Follow symbolic links (loops are detected and reported); --follow=false stops.
    /// Default: false, or what the index records.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub follow: Option<bool>,
    /// Skip files larger than this many bytes. Default: 8388608, or what the index records.
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Cut sections longer than this many characters at paragraph, then sentence, boundaries.
    /// Default: 1200, or what the index records.
    #[arg(long, value_name = "CHARS")]
    pub max_section_chars: Option<usize>,
    /// Commit after this many sections (commits grow with data, never with file count; each
    /// commit is one fragment).
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS, value_parser = at_least_one)]
    pub batch_rows: usize,
    /// Embedding model: a directory (config.json, tokenizer.json, model.safetensors) or a
    /// Hugging Face hub id, looked up in the local cache, then downloaded. Default: the model
    /// the index records, else cl-nagoya/ruri-v3-30m.
    #[arg(long)]
    pub model: Option<String>,
    /// Keyword index only: no embedding model is loaded.
    #[arg(long)]
    pub no_embed: bool,
    /// Record this cross-encoder (a directory or hub id) as the index's reranker: `search`
    /// and `serve` then rerank with it by default. "none" removes it.
    #[arg(long, value_name = "MODEL")]
    pub reranker: Option<String>,
    /// Override the model's query prefix (Ruri: "検索クエリ: ").
    #[arg(long)]
    pub query_prefix: Option<String>,
    /// Override the model's document prefix (Ruri: "検索文書: ").
    #[arg(long)]
    pub doc_prefix: Option<String>,
    /// Truncate each section to this many tokens before embedding (at most the model's
    /// maximum). Default: what the index records, else 512 (`DEFAULT_MAX_TOKENS`).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// No progress bar and no warnings.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the run summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct SearchArgs {
    pub query: String,
    #[command(flatten)]
    pub db: DbArg,
    /// text (keyword, BM25), vector or hybrid. Default: the best the index supports.
    #[arg(long)]
    pub mode: Option<Mode>,
    /// Number of results (pages; sections with --sections).
    #[arg(short, default_value_t = DEFAULT_K)]
    pub k: usize,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// One result per section instead of per page (a page's best section, with its other
    /// matching sections listed under it).
    #[arg(long)]
    pub sections: bool,
    /// Show why each result ranks where it does: field matches, keyword and vector ranks,
    /// demotions, fused score, rerank score.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub rerank: RerankArg,
    #[arg(long)]
    pub json: bool,
}

/// What a search may return, applied before ranking (`search`, `eval`).
#[derive(Args, Default)]
pub struct FilterArgs {
    /// Only this collection (repeatable: any of them).
    #[arg(long = "collection", short = 'c', value_name = "NAME")]
    pub collections: Vec<String>,
    /// Only pages whose front matter passes KEY OP VALUE, OP one of = != < <= > >=
    /// (repeatable: all of them). `tags=rust` (a list contains it; body #tags count),
    /// `draft!=true` (pages without the key pass), `date>=2024-03-01`, `order<10`.
    #[arg(long = "where", value_name = "KEY OP VALUE")]
    pub conditions: Vec<String>,
    /// Only files modified at or after this: a date (2024-03-01), a time
    /// (2024-03-01T10:00:00Z) or a span back from now (7d, 12h, 30m).
    #[arg(long, value_name = "WHEN")]
    pub changed_after: Option<String>,
    /// Only files whose path (relative to their root) starts with this.
    #[arg(long)]
    pub path_prefix: Option<String>,
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub db: DbArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    /// JSONL file, one {"query", "path", "heading"?, "line"?} per line.
    pub queries: PathBuf,
    #[command(flatten)]
    pub db: DbArg,
    #[arg(long)]
    pub mode: Option<Mode>,
    #[arg(short, default_value_t = DEFAULT_K)]
    pub k: usize,
    /// Only queries whose "type" is this (e.g. section_sentence).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Use each line's "query_core" instead of "query" where present.
    #[arg(long)]
    pub core: bool,
    /// Only the first N selected queries.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Instead: recall@k of the vector index against exact search, on the queries' embeddings.
    #[arg(long)]
    pub ann: bool,
    /// Hybrid fusion to measure instead of the default (bench/fusion.sh): `rrf` or
    /// `cc:ALPHA`, then `,tier`/`,tier=STEP`/`,notier`, `,pow=N`, `,z`/`,minmax`,
    /// `,fill`/`,nofill` and `,page=SHARE`/`,nopage`.
    #[arg(long, hide = true, value_name = "SPEC")]
    pub fusion: Option<Fusion>,
    /// Weight of phrase proximity to measure instead of the default (bench/relevance.sh).
    #[arg(long, hide = true, value_name = "WEIGHT")]
    pub proximity: Option<f32>,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub rerank: RerankArg,
    #[arg(long)]
    pub json: bool,
}

fn parse_root(s: &str) -> Result<Root, String> {
    Root::parse_named(s).map_err(|e| e.to_string())
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s).map_err(|e| e.to_string())
}

/// A count of 1 or more.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be 1 or more".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::DEFAULT_MAX_TOKENS;
    use crate::index::options::DEFAULT_MAX_FILE_BYTES;
    use crate::ingest::document::DEFAULT_MAX_SECTION_CHARS;
    use clap::CommandFactory;

    /// The defaults of the flags a run records are applied in `commands::index_options`, not
    /// by clap: their help states them, and says the constants' values.
    #[test]
    fn recorded_flags_state_their_defaults() {
        let mut cli = Cli::command();
        let index = cli.find_subcommand_mut("index").expect("index");
        let help = index.render_long_help().to_string();
        for default in [
            DEFAULT_MAX_FILE_BYTES.to_string(),
            DEFAULT_MAX_SECTION_CHARS.to_string(),
            DEFAULT_MAX_TOKENS.to_string(),
        ] {
            assert!(help.contains(&default), "{default} not in: {help}");
        }
    }
}
