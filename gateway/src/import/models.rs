//! Models stored in the database (`tollgate_models`, LiteLLM's `LiteLLM_ProxyModelTable`): the
//! import (decrypt with LiteLLM's key, re-encrypt with Tollgate's) and the load at start.
//!
//! **At start** (`general_settings.store_model_in_db: true` or `STORE_MODEL_IN_DB=True`), the
//! stored models join the config file's `model_list`, after the file's own entries: a stored
//! model joins its `model_name` group like any deployment. A stored model whose `model_id`
//! equals the `model_info.id` of a file entry is left out (the file wins), as is one that is
//! blocked, that does not decrypt with this config's key, or that fails validation on its own;
//! each is logged. Changes while running (`/model/new`, reload) are not read here.

use std::path::Path;

use serde_json::{json, Map, Value};
use store::{LiteLlmSource, ModelRow, Store};

use super::crypto::{decrypt, encrypt, Undecryptable};
use super::map::{str_of, time_of, Row};
use super::report::Report;

const T: &str = "LiteLLM_ProxyModelTable";

/// The string values of `params` decrypted with `key`; values that are not ciphertext are
/// kept as they are (LiteLLM stores a few in clear). `Err` names a value that is ciphertext
/// under another key, or says nothing decrypted at all.
fn decrypt_params(
    params: &Map<String, Value>,
    key: &[u8; 32],
) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let mut clear = Vec::new();
    let mut decrypted = 0;
    for (k, v) in params {
        match v {
            Value::String(s) => match decrypt(s, key) {
                Ok(p) => {
                    decrypted += 1;
                    out.insert(k.clone(), Value::String(p));
                }
                // Not ciphertext, or ciphertext under another key: a long API key in clear is
                // valid base64 too, so only "nothing decrypts" condemns the key (below).
                Err(
                    Undecryptable::NotCiphertext | Undecryptable::WrongKey | Undecryptable::NotText,
                ) => {
                    clear.push(k.clone());
                    out.insert(k.clone(), v.clone());
                }
            },
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    let strings = params.values().filter(|v| v.is_string()).count();
    if strings > 0 && decrypted == 0 {
        return Err(format!(
            "none of the {strings} litellm_params values decrypts with this key (is LITELLM_SALT_KEY the one LiteLLM used?)"
        ));
    }
    Ok((out, clear))
}

fn encrypt_params(params: &Map<String, Value>, key: &[u8; 32]) -> String {
    let enc: Map<String, Value> = params
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k.clone(), Value::String(encrypt(s, key))),
            other => (k.clone(), other.clone()),
        })
        .collect();
    Value::Object(enc).to_string()
}

/// Imports `LiteLLM_ProxyModelTable`: credentials decrypted with `src_key` (LiteLLM's) and
/// re-encrypted with `dst_key` (Tollgate's). A stored model whose decrypted values and other
/// columns already match is left alone (a fresh nonce would change the bytes for nothing).
pub async fn import_models(
    src: &LiteLlmSource,
    dst: &Store,
    src_key: Option<[u8; 32]>,
    dst_key: Option<[u8; 32]>,
    dry_run: bool,
    rep: &mut Report,
) -> Result<(), String> {
    if !src.has_table(T).await.map_err(|e| e.to_string())? {
        return Ok(());
    }
    let mut rows: Vec<Row> = Vec::new();
    src.for_each_row(T, None, "model_id", |text| {
        match serde_json::from_str::<Row>(&text) {
            Ok(r) => rows.push(r),
            Err(e) => rep.skip(T, "?", format!("unreadable row: {e}")),
        }
        Ok::<(), String>(())
    })
    .await
    .map_err(|e| e.to_string())??;
    rep.counts(T).read += rows.len() as u64;
    if rows.is_empty() {
        return Ok(());
    }
    let existing: std::collections::HashMap<String, ModelRow> = dst
        .load_models()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|m| (m.model_id.clone(), m))
        .collect();
    let mut writes = Vec::new();
    for row in rows {
        let id = str_of(&row, "model_id").unwrap_or_else(|| "?".into());
        let (Some(src_key), Some(dst_key)) = (src_key, dst_key) else {
            rep.skip(
                T,
                &id,
                "no encryption key: set LITELLM_SALT_KEY (or the master key) as LiteLLM had it",
            );
            continue;
        };
        let Some(name) = str_of(&row, "model_name") else {
            rep.skip(T, &id, "no model_name");
            continue;
        };
        let params = match row.get("litellm_params") {
            Some(Value::Object(p)) => p.clone(),
            _ => {
                rep.skip(T, &id, "litellm_params is not an object");
                continue;
            }
        };
        let (plain, clear) = match decrypt_params(&params, &src_key) {
            Ok(x) => x,
            Err(e) => {
                rep.skip(T, &id, e);
                continue;
            }
        };
        if !clear.is_empty() {
            rep.note(
                T,
                &id,
                "values that did not decrypt, kept as stored (clear text in LiteLLM, or encrypted under another key) and encrypted now",
                clear.join(", "),
            );
        }
        let want = ModelRow {
            model_id: id.clone(),
            model_name: name,
            litellm_params: String::new(),
            model_info: row
                .get("model_info")
                .filter(|v| v.is_object())
                .cloned()
                .unwrap_or(json!({}))
                .to_string(),
            blocked: row.get("blocked").and_then(Value::as_bool).unwrap_or(false),
            created_at: time_of(&row, "created_at").unwrap_or(0),
            updated_at: time_of(&row, "updated_at").unwrap_or(0),
            created_by: str_of(&row, "created_by"),
            updated_by: str_of(&row, "updated_by"),
        };
        let same = existing.get(&id).is_some_and(|have| {
            let have_plain = serde_json::from_str::<Map<String, Value>>(&have.litellm_params)
                .ok()
                .and_then(|p| decrypt_params(&p, &dst_key).ok())
                .map(|(p, _)| p);
            have_plain.as_ref() == Some(&plain)
                && ModelRow {
                    litellm_params: String::new(),
                    ..have.clone()
                } == want
        });
        let c = rep.counts(T);
        if same {
            c.unchanged += 1;
            continue;
        }
        if existing.contains_key(&id) {
            c.updated += 1;
        } else {
            c.created += 1;
        }
        writes.push(ModelRow {
            litellm_params: encrypt_params(&plain, &dst_key),
            ..want
        });
    }
    if !dry_run && !writes.is_empty() {
        dst.put_models(&writes).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Whether stored models are loaded at start: `general_settings.store_model_in_db` in the
/// file, or the `STORE_MODEL_IN_DB` environment variable (LiteLLM's switch), true.
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

/// The config with the stored models added (see the module comment), and what to log about
/// them. Without `store_model_in_db`, or without a config file, `loaded` comes back as is.
pub fn with_db_models(
    path: Option<&Path>,
    loaded: conf::Loaded,
    opts: conf::LoadOptions,
) -> Result<(conf::Loaded, Vec<String>), String> {
    let Some(path) = path else {
        return Ok((loaded, Vec::new()));
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // The config loaded already, with the same parser; a file it reads differently has no
    // stored models rather than stopping the start.
    let mut file: Value = serde_norway::from_str(&text).unwrap_or(Value::Null);
    if !enabled(&file) {
        return Ok((loaded, Vec::new()));
    }
    let mut notes = Vec::new();
    let target = crate::control::database_target(&loaded.config);
    let rows = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(async move {
            let s = Store::open(&target).await?;
            let rows = s.load_models().await;
            s.close().await;
            rows
        })
        .map_err(|e| format!("stored models: {e}"))?;
    let key = loaded.config.general.credential_encryption_key();
    let ids: std::collections::HashSet<&str> = loaded
        .config
        .model_list
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    let mut entries = Vec::new();
    for m in &rows {
        if m.blocked {
            notes.push(format!(
                "stored model {} ({}) is blocked: not loaded",
                m.model_id, m.model_name
            ));
            continue;
        }
        if ids.contains(m.model_id.as_str()) {
            notes.push(format!(
                "stored model {} has the id of a config entry: the config's is used",
                m.model_id
            ));
            continue;
        }
        let Some(key) = key else {
            notes.push(format!(
                "stored model {}: no LITELLM_SALT_KEY or master key to decrypt it with: not loaded",
                m.model_id
            ));
            continue;
        };
        let params = serde_json::from_str::<Map<String, Value>>(&m.litellm_params)
            .map_err(|e| e.to_string());
        let params = match params.and_then(|p| decrypt_params(&p, &key)) {
            Ok((p, _)) => p,
            Err(e) => {
                notes.push(format!("stored model {}: {e}: not loaded", m.model_id));
                continue;
            }
        };
        let mut info =
            serde_json::from_str::<Map<String, Value>>(&m.model_info).unwrap_or_default();
        info.insert("id".into(), json!(m.model_id));
        info.insert("db_model".into(), json!(true));
        let entry =
            json!({"model_name": m.model_name, "litellm_params": params, "model_info": info});
        let alone = serde_norway::to_string(&json!({"model_list": [entry.clone()]}))
            .map_err(|e| e.to_string())?;
        if let Err(e) = conf::load_str(&alone, None, conf::LoadOptions::default()) {
            notes.push(format!(
                "stored model {} ({}): {e}: not loaded",
                m.model_id, m.model_name
            ));
            continue;
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Ok((loaded, notes));
    }
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
    let merged = serde_norway::to_string(&file).map_err(|e| e.to_string())?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out =
        conf::load_str(&merged, Some(dir), opts).map_err(|e| format!("{}: {e}", path.display()))?;
    out.config.source = Some(path.to_path_buf());
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::super::crypto::key_from_secret;
    use super::*;

    #[test]
    fn params_round_trip_and_a_wrong_key_is_refused() {
        let k = key_from_secret("salt");
        let Value::Object(plain) = json!({"model": "openai/gpt-4o", "api_key": "sk-x", "rpm": 5})
        else {
            panic!()
        };
        let stored: Map<String, Value> = serde_json::from_str(&encrypt_params(&plain, &k)).unwrap();
        assert_ne!(stored["api_key"], "sk-x");
        assert_eq!(stored["rpm"], 5);
        assert_eq!(decrypt_params(&stored, &k).unwrap().0, plain);
        assert!(decrypt_params(&stored, &key_from_secret("other")).is_err());
        // A value LiteLLM left in clear stays as it is.
        let mut mixed = stored.clone();
        mixed.insert("api_base".into(), json!("http://127.0.0.1:9/v1"));
        let (p, clear) = decrypt_params(&mixed, &k).unwrap();
        assert_eq!(
            (p["api_base"].as_str(), clear),
            (Some("http://127.0.0.1:9/v1"), vec!["api_base".to_string()])
        );
    }
}
