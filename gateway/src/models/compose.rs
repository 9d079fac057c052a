//! The configuration the gateway serves when models are stored in the database: the file's
//! (`Base`, as last read) with the stored models added to its `model_list`.
//!
//! **The merge rule.** Stored models come after the file's own entries and join their
//! `model_name` group like any deployment. A stored model whose `model_id` equals the
//! `model_info.id` of a file entry is left out (the file wins: the file is what an operator
//! reviews and deploys, and the API refuses to create or edit a model under a file entry's id),
//! as is one that is blocked, that does not decrypt with this config's key, or that fails
//! validation on its own; each is logged. One bad stored model never stops the others.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use store::{ModelRow, Store};

use super::params::decrypt_params;

/// Held while a configuration is composed from the base and swapped in (by a stored-model
/// refresh, `models::refresh`, and by a file reload, `reload::from_files`): a refresh composed
/// from an older base never lands after a reload, nor a reload's after a newer refresh.
pub static SWAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The configuration file as last read, what stored models are merged into.
#[derive(Debug, Clone)]
pub struct Base {
    /// The file (`None`: the embedded default configuration).
    pub path: Option<PathBuf>,
    /// The file's text parsed as YAML, `include:` not yet applied.
    pub file: Value,
    pub opts: conf::LoadOptions,
    /// The `model_info.id`s of the file's own deployments (stored models may not take them).
    pub file_ids: HashSet<String>,
    /// The credential key (`LITELLM_SALT_KEY`, else the master key), SHA-256'd.
    pub key: Option<[u8; 32]>,
    /// `store_model_in_db` (file) or `STORE_MODEL_IN_DB` (environment).
    pub enabled: bool,
}

/// Whether stored models are served: `general_settings.store_model_in_db` in the file, or the
/// `STORE_MODEL_IN_DB` environment variable (LiteLLM's switch), true.
fn enabled(file: &Value) -> bool {
    let truthy = |v: &Value| match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        _ => false,
    };
    std::env::var("STORE_MODEL_IN_DB").is_ok_and(|v| truthy(&Value::String(v)))
        || file
            .get("general_settings")
            .and_then(|g| g.get("store_model_in_db"))
            .is_some_and(truthy)
}

impl Base {
    /// The base of `loaded`, the configuration read from `path` (else the embedded default).
    pub fn of(
        path: Option<&Path>,
        loaded: &conf::Loaded,
        opts: conf::LoadOptions,
    ) -> Result<Base, String> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
            None => conf::EMBEDDED_DEFAULT.to_string(),
        };
        // The config loaded already, with the same parser; a file it reads differently has no
        // stored models rather than stopping the start.
        let file: Value = serde_norway::from_str(&text).unwrap_or(Value::Null);
        Ok(Base {
            path: path.map(Path::to_path_buf),
            enabled: enabled(&file),
            file,
            opts,
            file_ids: loaded
                .config
                .model_list
                .iter()
                .map(|d| d.id.clone())
                .collect(),
            key: loaded.config.general.credential_encryption_key(),
        })
    }

    /// The configuration with `rows` added (the module comment's rule), and what to log.
    pub fn compose(&self, rows: &[ModelRow]) -> Result<(conf::Loaded, Vec<String>), String> {
        let (entries, mut notes) = self.entries(rows);
        let mut file = self.file.clone();
        if !entries.is_empty() {
            notes.push(format!(
                "{} stored models added to the config's model_list",
                entries.len()
            ));
            let list = file
                .as_object_mut()
                .ok_or("the config file is not a mapping")?
                .entry("model_list")
                .or_insert(json!([]));
            match list {
                Value::Array(a) => a.extend(entries),
                other => *other = Value::Array(entries),
            }
        }
        let merged = serde_norway::to_string(&file).map_err(|e| e.to_string())?;
        let dir = self
            .path
            .as_deref()
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = self
            .path
            .as_ref()
            .map_or("embedded default config".into(), |p| {
                p.display().to_string()
            });
        let mut out =
            conf::load_str(&merged, Some(dir), self.opts).map_err(|e| format!("{name}: {e}"))?;
        out.config.source = self.path.clone();
        Ok((out, notes))
    }

    /// The `model_list` entries of the rows that may be served, and why others are not.
    fn entries(&self, rows: &[ModelRow]) -> (Vec<Value>, Vec<String>) {
        let mut notes = Vec::new();
        let mut entries = Vec::new();
        for m in rows {
            match self.entry(m) {
                Ok(e) => entries.push(e),
                Err(why) => notes.push(format!(
                    "stored model {} ({}): {why}: not served",
                    m.model_id, m.model_name
                )),
            }
        }
        (entries, notes)
    }

    /// One stored model as a `model_list` entry, checked on its own.
    pub fn entry(&self, m: &ModelRow) -> Result<Value, String> {
        if m.blocked {
            return Err("blocked".into());
        }
        if self.file_ids.contains(&m.model_id) {
            return Err("a config file entry has its id, and the file's is used".into());
        }
        let key = self
            .key
            .ok_or("no LITELLM_SALT_KEY or master key to decrypt it with")?;
        let params = serde_json::from_str::<Map<String, Value>>(&m.litellm_params)
            .map_err(|e| e.to_string())
            .and_then(|p| decrypt_params(&p, &key))?
            .0;
        let entry = plain_entry(&m.model_id, &m.model_name, params, &m.model_info);
        check_entry(&entry)?;
        Ok(entry)
    }
}

/// A `model_list` entry from a stored model's parts (`params` in clear).
pub fn plain_entry(id: &str, name: &str, params: Map<String, Value>, info: &str) -> Value {
    let mut info = serde_json::from_str::<Map<String, Value>>(info).unwrap_or_default();
    info.insert("id".into(), json!(id));
    info.insert("db_model".into(), json!(true));
    json!({"model_name": name, "litellm_params": params, "model_info": info})
}

/// Validates one `model_list` entry alone, as the config loader would.
pub fn check_entry(entry: &Value) -> Result<(), String> {
    let alone =
        serde_norway::to_string(&json!({ "model_list": [entry] })).map_err(|e| e.to_string())?;
    conf::load_str(&alone, None, conf::LoadOptions::default())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// At start: `loaded` with the stored models added when `store_model_in_db` is on, what to
/// log about them, and the base later changes are merged into (kept by `models::set_base`).
pub fn with_db_models(
    path: Option<&Path>,
    loaded: conf::Loaded,
    opts: conf::LoadOptions,
) -> Result<(conf::Loaded, Vec<String>), String> {
    let base = Base::of(path, &loaded, opts)?;
    if !base.enabled {
        super::set_base(base);
        return Ok((loaded, Vec::new()));
    }
    let target = crate::control::database_target(&loaded.config);
    // The version first: a change between the two reads is seen again by the first poll.
    let (version, rows) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(async move {
            let s = Store::open(&target).await?;
            let read = async {
                Ok::<_, store::StoreError>((s.models_version().await?, s.load_models().await?))
            }
            .await;
            s.close().await;
            read
        })
        .map_err(|e| format!("stored models: {e}"))?;
    let out = base.compose(&rows)?;
    super::set_base(base);
    super::started_at(version);
    Ok(out)
}
