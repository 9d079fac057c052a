//! The import of LiteLLM's `LiteLLM_ProxyModelTable` into `tollgate_models`: credentials
//! decrypted with LiteLLM's key and re-encrypted with Tollgate's (`models::params`). How stored
//! models are served is `models/`'s.

use serde_json::{json, Map, Value};
use store::{LiteLlmSource, ModelRow, Store};

use super::map::{str_of, time_of, Row};
use super::report::Report;
use crate::models::params::{decrypt_params, encrypt_params};

const T: &str = "LiteLLM_ProxyModelTable";

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
