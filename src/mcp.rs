//! `sagasu serve`: the index as an MCP server on stdio (rmcp), for coding agents.
//!
//! Four tools over the [`Engine`]: `search`, `get_document`, `stats`, `reindex`. stdout
//! carries the protocol only; everything else goes to stderr. Bad arguments (a missing query,
//! k out of range, an unknown mode) and failures (a path outside the root, a missing model)
//! are tool results with `isError` and a message naming the problem: the current MCP spec
//! asks for input errors as tool errors, so the agent sees the message and can correct the
//! call, and rmcp reports undecodable arguments that way too. Unknown tools and malformed
//! JSON-RPC get JSON-RPC errors. The server keeps serving after any of them.

use std::sync::Arc;

use anyhow::{Context, Result};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{
    CallToolResult, ContentBlock, ErrorData, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::{tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::engine::Engine;
use crate::search::conditions::where_from_json;
use crate::search::{parse_since, Mode, SearchOptions, Unit};
use crate::watch::IndexWorker;

/// The most results one `search` call returns.
pub const MCP_MAX_K: i64 = 100;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// What to look for: keywords, a sentence or a question, in Japanese or English.
    pub query: String,
    /// How many results to return (pages; sections with `sections`), 1 to 100. Default 10.
    pub k: Option<i64>,
    /// "text" (keyword, BM25), "vector" (semantic) or "hybrid" (both, fused). Default: hybrid
    /// when the index has embeddings, else text.
    pub mode: Option<Mode>,
    /// Only sections of files whose path (relative to their collection's root) starts with
    /// this, e.g. "docs/api/".
    pub path_prefix: Option<String>,
    /// Only these collections (indexed roots, by name as `stats` lists them). Default: all.
    pub collections: Option<Vec<String>>,
    /// Only pages whose front matter passes: a condition "KEY OP VALUE" (OP one of = != < <=
    /// > >=), a list of them (all must hold), or an object {"tags": "rust", "date":
    /// {">=": "2024-03-01"}, "draft": {"!=": true}}. `=` on a list key means it contains the
    /// value; body #tags count as tags; `!=` passes pages without the key.
    #[serde(rename = "where")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub conditions: Option<serde_json::Value>,
    /// Only files modified at or after this: a date ("2024-03-01"), a time
    /// ("2024-03-01T10:00:00Z") or a span back from now ("7d", "12h", "30m").
    pub changed_after: Option<String>,
    /// true: one result per matching section. Default false: one result per page, its best
    /// section, with the page's other matching sections (heading path and lines) attached.
    pub sections: Option<bool>,
    /// true: each result carries the parts of its score (field matches, keyword and vector
    /// ranks, demotions, fused score, rerank score).
    pub explain: Option<bool>,
    /// true: a cross-encoder reorders the top 20 candidates (better order, up to about a
    /// second). Default: on when the server has a reranker (`serve --reranker MODEL`, or one
    /// recorded by `index --reranker MODEL`).
    pub rerank: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetDocumentParams {
    /// Path of an indexed file relative to its collection's root, as `search` returns it.
    pub path: String,
    /// The collection `search` returned with the path. May be left out when only one
    /// collection holds the path.
    pub collection: Option<String>,
    /// First line to return (1-based). Default: 1.
    pub start_line: Option<i64>,
    /// Last line to return (inclusive). Default: the last line.
    pub end_line: Option<i64>,
}

/// The server: one engine for reads (calls run side by side: the engine is read through
/// `&self`), one background worker for re-index runs.
#[derive(Clone)]
pub struct SagasuServer {
    engine: Arc<Engine>,
    worker: Arc<IndexWorker>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl SagasuServer {
    pub fn new(engine: Engine, worker: IndexWorker) -> Self {
        SagasuServer {
            engine: Arc::new(engine),
            worker: Arc::new(worker),
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Search the indexed documents (Japanese and English). Returns ranked sections with collection, path, heading path, line range, score and snippet; read more with get_document. Filter by collection, front matter (where) or modification time (changed_after)."
    )]
    async fn search(
        &self,
        params: Parameters<Bounded<SearchParams>>,
    ) -> Result<CallToolResult, ErrorData> {
        let p = params.0 .0;
        if p.query.trim().is_empty() {
            return Ok(bad_arguments("query must not be empty".into()));
        }
        let k = p.k.unwrap_or(crate::search::DEFAULT_K as i64);
        if !(1..=MCP_MAX_K).contains(&k) {
            return Ok(bad_arguments(format!(
                "k must be between 1 and {MCP_MAX_K}, got {k}"
            )));
        }
        let conditions = match p.conditions.as_ref().map(where_from_json).transpose() {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => return Ok(bad_arguments(format!("{e:#}"))),
        };
        let changed_since = match p
            .changed_after
            .as_deref()
            .map(|w| parse_since(w, chrono::Utc::now()))
            .transpose()
        {
            Ok(t) => t,
            Err(e) => return Ok(bad_arguments(format!("{e:#}"))),
        };
        let opts = SearchOptions {
            k: k as usize,
            mode: p.mode,
            path_prefix: p.path_prefix.filter(|s| !s.is_empty()),
            collections: p.collections.unwrap_or_default(),
            conditions,
            changed_since,
            unit: if p.sections.unwrap_or(false) {
                Unit::Section
            } else {
                Unit::Page
            },
            explain: p.explain.unwrap_or(false),
            rerank: false,
            ..SearchOptions::default()
        };
        let engine = &self.engine;
        let opts = SearchOptions {
            rerank: p.rerank.unwrap_or(engine.has_reranker()),
            ..opts
        };
        if let Err(e) = engine.refresh().await {
            return Ok(tool_error(e));
        }
        let results = match engine.search(&p.query, &opts).await {
            Ok(results) => results,
            Err(e) => return Ok(tool_error(e)),
        };
        // How fresh the answer is: the index version read, and whether a re-index is running
        // or has changes waiting (`serve --watch`, or a `reindex` call).
        let mut index = match engine.freshness().await {
            Ok(f) => json!(f),
            Err(e) => return Ok(tool_error(e)),
        };
        let status = self.worker.status();
        index["reindex_running"] = json!(status.running);
        index["reindex_pending"] = json!(status.pending);
        let mut answer = json!({ "results": results, "index": index });
        if results.is_empty() {
            match engine.keys_no_page_has(&opts.conditions).await {
                Ok(keys) if !keys.is_empty() => {
                    answer["note"] = json!(format!(
                        "no page of this index has the front-matter key(s) {}",
                        keys.join(", ")
                    ))
                }
                Ok(_) => {}
                Err(e) => return Ok(tool_error(e)),
            }
        }
        Ok(CallToolResult::structured(answer))
    }

    #[tool(
        description = "Read an indexed document, whole or a line range (1-based, inclusive), by the path search returned."
    )]
    async fn get_document(
        &self,
        params: Parameters<Bounded<GetDocumentParams>>,
    ) -> Result<CallToolResult, ErrorData> {
        let p = params.0 .0;
        for (name, v) in [("start_line", p.start_line), ("end_line", p.end_line)] {
            if let Some(n) = v.filter(|n| *n < 1) {
                return Ok(bad_arguments(format!("{name} must be 1 or more, got {n}")));
            }
        }
        let start = p.start_line.map(|n| n as usize);
        let end = p.end_line.map(|n| n as usize);
        let engine = &self.engine;
        if let Err(e) = engine.refresh().await {
            return Ok(tool_error(e));
        }
        match engine
            .get_document(p.collection.as_deref(), &p.path, start, end)
            .await
        {
            Ok(doc) => Ok(CallToolResult::structured(json!(doc))),
            Err(e) => Ok(tool_error(e)),
        }
    }

    #[tool(
        description = "Index statistics: collections (root, documents, sections, last run), documents, sections, vectors, model, fragments, versions, and the state of a background re-index."
    )]
    async fn stats(&self) -> Result<CallToolResult, ErrorData> {
        let engine = &self.engine;
        if let Err(e) = engine.refresh().await {
            return Ok(tool_error(e));
        }
        match engine.stats().await {
            Ok(stats) => {
                let mut value = json!(stats);
                value["reindex"] = json!(self.worker.status());
                Ok(CallToolResult::structured(value))
            }
            Err(e) => Ok(tool_error(e)),
        }
    }

    #[tool(
        description = "Start an incremental re-index of every indexed root (collection) in the background and return at once; progress shows in stats."
    )]
    async fn reindex(&self) -> Result<CallToolResult, ErrorData> {
        let before = self.worker.status();
        self.worker.request();
        let message = if before.running {
            "a re-index is running; another will follow it"
        } else {
            "re-index started"
        };
        Ok(CallToolResult::structured(
            json!({ "message": message, "reindex": before }),
        ))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SagasuServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sagasu", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "sagasu searches indexed document trees (Japanese first), each a named \
                 collection. Use `search` with keywords or a question (narrow it with \
                 `collections`, front-matter `where` conditions or `changed_after`); results \
                 name a collection, a file and a line range; read it with `get_document`. \
                 `stats` lists the collections; `reindex` picks up changes.",
            )
    }
}

fn tool_error(e: anyhow::Error) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(bounded(&format!("{e:#}")))])
}

fn bad_arguments(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(bounded(&format!(
        "invalid arguments: {message}"
    )))])
}

/// The most characters an error message sent to a client has: an error may quote what the
/// client sent, and a 5 MB argument must not come back whole.
pub const MAX_ERROR_CHARS: usize = 1000;

/// `text`, cut to [`MAX_ERROR_CHARS`] characters with a note of how much was left out.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}… ({} more characters)",
            &text[..cut],
            text[cut..].chars().count()
        ),
    }
}

/// Tool arguments whose deserialization errors (rmcp sends them to the client) quote at most
/// [`MAX_ERROR_CHARS`] characters of what the client sent. The schema is the inner type's.
pub struct Bounded<T>(pub T);

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Bounded<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        serde_json::from_value(value)
            .map(Bounded)
            .map_err(|e| serde::de::Error::custom(bounded(&e.to_string())))
    }
}

impl<T: JsonSchema> JsonSchema for Bounded<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// Serves MCP on stdin/stdout until the client closes the connection.
pub async fn serve_stdio(engine: Engine, worker: IndexWorker) -> Result<()> {
    let server = SagasuServer::new(engine, worker)
        .serve(rmcp::transport::stdio())
        .await
        .context("starting the MCP server on stdio")?;
    server.waiting().await.context("serving MCP")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quote_a_bounded_part_of_what_was_sent() {
        let big = "x".repeat(5_000_000);
        let err = match serde_json::from_value::<Bounded<SearchParams>>(
            json!({"query": "q", "mode": big}),
        ) {
            Ok(_) => panic!("an unknown mode is refused"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.chars().count() < MAX_ERROR_CHARS + 100,
            "{} chars",
            err.len()
        );
        assert!(err.contains("more characters"), "{}", &err[..200]);
        let ok: Bounded<SearchParams> =
            serde_json::from_value(json!({"query": "q", "k": 3})).expect("valid arguments");
        assert_eq!(ok.0.k, Some(3));
        assert_eq!(bounded("短い"), "短い");
        assert_eq!(
            schemars::schema_for!(Bounded<SearchParams>),
            schemars::schema_for!(SearchParams),
            "clients see the same input schema"
        );
    }
}
