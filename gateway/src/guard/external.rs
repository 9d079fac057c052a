//! The external guardrails: Presidio (`/analyze` on the analyzer, `/anonymize` on the
//! anonymizer, per text) and LiteLLM's generic guardrail webhook (`POST
//! {api_base}/beta/litellm_basic_guardrail_api` with every text at once: `NONE`, `BLOCKED` with
//! a reason, or `GUARDRAIL_INTERVENED` with the modified texts). Each call has the guardrail's
//! timeout; a service that cannot answer is a failure the caller resolves by
//! `unreachable_fallback` (fail closed: refuse; fail open: let the text through, noted).

use bytes::Bytes;
use conf::guard::{Action, Presidio, Webhook};
use pingora::connectors::http::Connector;
use serde_json::{json, Value};

use crate::observe::http::{post_for_answer, Target};

/// What an external guardrail decided about a set of texts.
#[derive(Debug)]
pub enum Verdict {
    /// Nothing to change.
    Pass,
    /// Texts changed in place: how many findings were masked.
    Changed(usize),
    Blocked(String),
}

/// Who calls, for the webhook's `request_data`.
pub struct Who<'a> {
    pub call_id: &'a str,
    pub key_hash: Option<&'a str>,
    pub key_alias: Option<&'a str>,
    pub team_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
}

async fn call(
    connector: &Connector,
    url: &str,
    headers: &[(String, String)],
    body: Value,
    timeout: std::time::Duration,
) -> Result<Value, String> {
    let target = Target::parse(url)?;
    let body = Bytes::from(serde_json::to_vec(&body).expect("JSON values serialize"));
    let (status, answer) = post_for_answer(connector, &target, headers, body, timeout).await?;
    if !(200..300).contains(&status) {
        return Err(format!("answered {status}"));
    }
    serde_json::from_slice(&answer).map_err(|e| format!("answer is not JSON: {e}"))
}

/// Runs Presidio on `texts`: entities configured BLOCK refuse, the rest are anonymized (by the
/// anonymizer, or — with `output_parse_pii` — replaced here by numbered tokens kept in
/// `unmask` so the response can have them back).
pub async fn presidio(
    connector: &Connector,
    p: &Presidio,
    texts: &mut [&mut String],
    unmask: &mut Vec<(String, String)>,
) -> Result<Verdict, String> {
    let mut masked = 0;
    for text in texts.iter_mut() {
        if text.trim().is_empty() {
            continue;
        }
        let mut req = json!({"text": text.as_str(), "language": p.language});
        if !p.entities.is_empty() {
            req["entities"] = p.entities.iter().map(|(e, _)| e.as_str()).collect();
        }
        let found = call(
            connector,
            &format!("{}/analyze", p.analyzer),
            &[],
            req,
            p.ext.timeout,
        )
        .await?;
        let Value::Array(found) = found else {
            return Err("analyzer answer is not a list".into());
        };
        let found: Vec<Value> = found
            .into_iter()
            .filter(|r| r["score"].as_f64().unwrap_or(1.0) >= p.threshold)
            .collect();
        if found.is_empty() {
            continue;
        }
        let action = |entity: &str| {
            p.entities
                .iter()
                .find(|(e, _)| e == entity)
                .map_or(Action::Mask, |(_, a)| *a)
        };
        if let Some(r) = found
            .iter()
            .find(|r| action(r["entity_type"].as_str().unwrap_or("")) == Action::Block)
        {
            return Ok(Verdict::Blocked(format!(
                "{} detected",
                r["entity_type"].as_str().unwrap_or("PII")
            )));
        }
        masked += found.len();
        if p.unmask {
            **text = numbered(text, &found, unmask);
            continue;
        }
        let req = json!({"text": text.as_str(), "analyzer_results": found});
        let out = call(
            connector,
            &format!("{}/anonymize", p.anonymizer),
            &[],
            req,
            p.ext.timeout,
        )
        .await?;
        match out["text"].as_str() {
            Some(t) => **text = t.to_string(),
            None => return Err("anonymizer answer has no text".into()),
        }
    }
    Ok(if masked > 0 {
        Verdict::Changed(masked)
    } else {
        Verdict::Pass
    })
}

/// Replaces Presidio's results (character offsets) with `<ENTITY_n>` tokens, remembering
/// each token's value (the same value keeps its token).
fn numbered(text: &str, found: &[Value], unmask: &mut Vec<(String, String)>) -> String {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte = |c: u64| chars.get(c as usize).map_or(text.len(), |(b, _)| *b);
    let mut spans: Vec<(usize, usize, &str)> = found
        .iter()
        .filter_map(|r| {
            Some((
                byte(r["start"].as_u64()?),
                byte(r["end"].as_u64()?),
                r["entity_type"].as_str()?,
            ))
        })
        .collect();
    spans.sort();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e, entity) in spans {
        if s < at || e <= s {
            continue;
        }
        let value = &text[s..e];
        let token = match unmask.iter().find(|(_, v)| v == value) {
            Some((t, _)) => t.clone(),
            None => {
                let n = unmask
                    .iter()
                    .filter(|(t, _)| t.starts_with(&format!("<{entity}_")))
                    .count()
                    + 1;
                let t = format!("<{entity}_{n}>");
                unmask.push((t.clone(), value.to_string()));
                t
            }
        };
        out.push_str(&text[at..s]);
        out.push_str(&token);
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

/// Runs the generic guardrail webhook on `texts` (`input_type`: `request` or `response`).
pub async fn webhook(
    connector: &Connector,
    w: &Webhook,
    texts: &mut [&mut String],
    input_type: &str,
    who: &Who<'_>,
) -> Result<Verdict, String> {
    let mut headers = Vec::new();
    if let Some(k) = &w.api_key {
        headers.push((
            "authorization".to_string(),
            format!("Bearer {}", k.expose()),
        ));
        headers.push(("x-api-key".to_string(), k.expose().to_string()));
    }
    let body = json!({
        "texts": texts.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "request_data": {
            "user_api_key_hash": who.key_hash,
            "user_api_key_alias": who.key_alias,
            "user_api_key_team_id": who.team_id,
            "user_api_key_user_id": who.user_id,
        },
        "input_type": input_type,
        "litellm_call_id": who.call_id,
        "additional_provider_specific_params": w.params,
    });
    let answer = call(connector, &w.url, &headers, body, w.ext.timeout).await?;
    match answer["action"].as_str() {
        Some("NONE") | None => Ok(Verdict::Pass),
        Some("BLOCKED") => Ok(Verdict::Blocked(
            answer["blocked_reason"]
                .as_str()
                .unwrap_or("blocked by the guardrail service")
                .to_string(),
        )),
        Some("GUARDRAIL_INTERVENED") => {
            let Some(new) = answer["texts"].as_array() else {
                return Ok(Verdict::Changed(0));
            };
            if new.len() != texts.len() {
                return Err(format!(
                    "GUARDRAIL_INTERVENED with {} texts for {} sent",
                    new.len(),
                    texts.len()
                ));
            }
            let mut changed = 0;
            for (t, n) in texts.iter_mut().zip(new) {
                if let Some(n) = n.as_str() {
                    if n != t.as_str() {
                        changed += 1;
                        **t = n.to_string();
                    }
                }
            }
            Ok(Verdict::Changed(changed))
        }
        Some(other) => Err(format!("unknown action {other:?}")),
    }
}
