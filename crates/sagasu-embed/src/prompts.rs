//! The prefixes a model expects before queries and documents ("prompts" in
//! sentence-transformers): Ruri v3 wants `検索クエリ: ` / `検索文書: `, multilingual-e5 wants
//! `query: ` / `passage: `. A wrong prefix silently costs quality, so they are decided only
//! from what names the model itself, never from where it happens to be stored:
//! 1. the model's `config_sentence_transformers.json` prompts;
//! 2. else the model's own name: the hub repo name (`cl-nagoya/ruri-v3-30m` → `ruri-v3-30m`),
//!    `config.json`'s `_name_or_path`, or the model directory's own name, unless that
//!    directory is a hub cache snapshot (named by a commit hash);
//! 3. else no prefix.
//!
//! Names are compared word by word (`multilingual-e5-small` holds the word `e5`), so a
//! snapshot hash holding "e5" or a home directory called `ruri` decides nothing.

use std::path::Path;

use anyhow::{Context, Result};

/// (query prefix, document prefix).
pub type Prefixes = (String, String);

/// The model families whose prefixes are known without a sentence-transformers config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Ruri,
    E5,
}

impl Family {
    fn prefixes(self) -> Prefixes {
        match self {
            Family::Ruri => ("検索クエリ: ".into(), "検索文書: ".into()),
            Family::E5 => ("query: ".into(), "passage: ".into()),
        }
    }

    /// The family a model name says, word by word.
    fn of_name(name: &str) -> Option<Family> {
        let lower = name.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.contains(&"ruri") {
            Some(Family::Ruri)
        } else if words.contains(&"e5") {
            Some(Family::E5)
        } else {
            None
        }
    }
}

/// The prefixes of the model in `dir`, named `id` by the user (a hub id or a path).
/// `config_text`: the model's `config.json`.
pub fn prefixes(dir: &Path, id: &str, config_text: &str) -> Result<Prefixes> {
    if let Some(p) = sentence_transformers_prompts(dir)? {
        return Ok(p);
    }
    let family = model_names(dir, id, config_text)
        .iter()
        .find_map(|n| Family::of_name(n));
    Ok(family.map(Family::prefixes).unwrap_or_default())
}

/// The query and document prompts of `config_sentence_transformers.json`, if it has any.
fn sentence_transformers_prompts(dir: &Path) -> Result<Option<Prefixes>> {
    let path = dir.join("config_sentence_transformers.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let Some(prompts) = v.get("prompts").and_then(|p| p.as_object()) else {
        return Ok(None);
    };
    let get = |k: &str| prompts.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let q = get("query");
    let d = get("document").or_else(|| get("passage"));
    Ok((q.is_some() || d.is_some()).then(|| (q.unwrap_or_default(), d.unwrap_or_default())))
}

/// What names the model, best first: the hub repo name, `_name_or_path`'s last part, the
/// directory's own name (not a hub snapshot's hash).
fn model_names(dir: &Path, id: &str, config_text: &str) -> Vec<String> {
    let mut names = Vec::new();
    if is_hub_id(id) {
        if let Some((_, repo)) = id.split_once('/') {
            names.push(repo.to_string());
        }
    }
    let name_or_path = serde_json::from_str::<serde_json::Value>(config_text)
        .ok()
        .and_then(|v| v.get("_name_or_path")?.as_str().map(str::to_string));
    if let Some(n) = name_or_path {
        if let Some(last) = n.trim_end_matches('/').rsplit('/').next() {
            names.push(last.to_string());
        }
    }
    let in_snapshot = dir
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|p| p == "snapshots");
    if !in_snapshot {
        if let Some(own) = dir.file_name() {
            names.push(own.to_string_lossy().into_owned());
        }
    }
    names
}

/// `org/name`, and not a path that exists.
fn is_hub_id(id: &str) -> bool {
    !id.starts_with(['.', '/'])
        && id.split('/').count() == 2
        && id.split('/').all(|p| !p.is_empty())
        && !Path::new(id).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruri() -> Prefixes {
        Family::Ruri.prefixes()
    }
    fn e5() -> Prefixes {
        Family::E5.prefixes()
    }

    #[test]
    fn hub_ids_and_directory_names_decide_word_by_word() {
        let nowhere = Path::new("/nonexistent/models/x");
        assert_eq!(
            prefixes(nowhere, "cl-nagoya/ruri-v3-30m", "{}").unwrap(),
            ruri()
        );
        assert_eq!(
            prefixes(nowhere, "intfloat/multilingual-e5-small", "{}").unwrap(),
            e5()
        );
        let dir = Path::new("/nonexistent/models/multilingual-e5-small");
        assert_eq!(
            prefixes(dir, &dir.display().to_string(), "{}").unwrap(),
            e5()
        );
        assert_eq!(
            prefixes(nowhere, "org/plain-bert", "{}").unwrap(),
            Prefixes::default()
        );
    }

    #[test]
    fn parent_directories_and_snapshot_hashes_decide_nothing() {
        // A home directory named ruri, a model directory named neutrally.
        let dir = Path::new("/home/ruri/models/my-encoder");
        assert_eq!(
            prefixes(dir, &dir.display().to_string(), "{}").unwrap(),
            Prefixes::default()
        );
        // A hub snapshot whose commit hash holds "e5": the repo name decides.
        let snap =
            Path::new("/root/.cache/huggingface/hub/models--org--plain/snapshots/a1e5f00ddeadbeef");
        assert_eq!(
            prefixes(snap, "org/plain", "{}").unwrap(),
            Prefixes::default()
        );
        assert_eq!(
            prefixes(snap, &snap.display().to_string(), "{}").unwrap(),
            Prefixes::default()
        );
        // ...and a hash made only of "e5" with separators is still not the word e5 inside a name
        assert_eq!(Family::of_name("4e5a"), None);
        assert_eq!(Family::of_name("ruriko-model"), None);
    }

    #[test]
    fn the_model_config_names_the_model() {
        let snap = Path::new("/x/models--a--b/snapshots/0123abcd");
        let config =
            r#"{"_name_or_path": "intfloat/multilingual-e5-base", "model_type": "xlm-roberta"}"#;
        assert_eq!(
            prefixes(snap, &snap.display().to_string(), config).unwrap(),
            e5()
        );
    }

    #[test]
    fn sentence_transformers_prompts_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join("ruri-v3-30m");
        std::fs::create_dir_all(&model).expect("mkdir");
        std::fs::write(
            model.join("config_sentence_transformers.json"),
            r#"{"prompts": {"query": "Q: ", "document": "D: "}}"#,
        )
        .expect("write");
        let p = prefixes(&model, "cl-nagoya/ruri-v3-30m", "{}").unwrap();
        assert_eq!(p, ("Q: ".to_string(), "D: ".to_string()));
        std::fs::write(model.join("config_sentence_transformers.json"), "{not json")
            .expect("write");
        let err = format!("{:#}", prefixes(&model, "x", "{}").expect_err("bad json"));
        assert!(err.contains("config_sentence_transformers.json"), "{err}");
    }
}
