//! `POST /config/reload`: re-reads `config.yaml` (its `include:` files and, with
//! `store_model_in_db`, the stored models), validates it and swaps it in (reload.rs). Answers
//! what the reload did — counts, warnings, the settings that need a restart — or a 400 with
//! every validation error, the previous configuration still serving.

use std::sync::Arc;

use serde_json::{json, Value};

use super::error::AdminError;
use crate::state::AppState;

pub async fn reload(state: &Arc<AppState>) -> Result<Value, AdminError> {
    match crate::reload::from_files_async(state.clone(), "POST /config/reload").await {
        Ok(report) => Ok(json!({
            "status": "reloaded",
            "deployments": report.deployments,
            "model_groups": report.model_groups,
            "kept": report.kept,
            "added": report.added,
            "removed": report.removed,
            "warnings": report.warnings,
            "needs_restart": report.needs_restart,
        })),
        Err(e) => Err(AdminError::bad(
            "config",
            format!(
                "configuration not reloaded ({} errors; the previous configuration keeps serving): {}",
                e.0.len(),
                e.0.join("; ")
            ),
        )),
    }
}
