//! Provider settings that come from a cloud's own conventions: Amazon Bedrock's region and
//! credentials (`aws_*` params or the standard `AWS_*` environment variables) and Vertex AI's
//! project, location and service-account key. Resolved at load so a missing piece is a clear
//! error naming the path, not a failure at the first request.

use adapters::provider::Provider;
use serde_json::{Map, Value};

use crate::diag::{join, Diag};
use crate::raw::Env;

/// The `api_base` a cloud provider derives from its settings, after filling `internal` with the
/// resolved values the adapters and the gateway read (`aws_region_name`, `aws_access_key_id`,
/// `aws_secret_access_key`, `aws_session_token`; `vertex_project`, `vertex_location`,
/// `vertex_credentials_json`). `None` for other providers, or when something is missing (the
/// error is recorded).
///
/// A rerank model (`model` names one: `amazon.rerank-v1:0`, `cohere.rerank-v3-5:0`, or an ARN
/// of one; `semantic-ranker-*`) is served by another endpoint of the cloud: Bedrock's agent
/// runtime (`bedrock-agent-runtime.{region}`, as LiteLLM calls it) and Vertex AI's Discovery
/// Engine (`discoveryengine.googleapis.com`).
pub(crate) fn derive(
    provider: Provider,
    model: &str,
    internal: &mut Map<String, Value>,
    env: &Env,
    params_path: &str,
    d: &mut Diag,
) -> Option<String> {
    match provider {
        Provider::Bedrock => bedrock(internal, env, params_path, d).map(|base| {
            if model.contains("rerank") {
                base.replacen("bedrock-runtime.", "bedrock-agent-runtime.", 1)
            } else {
                base
            }
        }),
        Provider::VertexAi => vertex(internal, env, params_path, d).map(|base| {
            if model.starts_with("semantic-ranker") {
                "https://discoveryengine.googleapis.com".to_string()
            } else {
                base
            }
        }),
        _ => None,
    }
}

/// A string param, else the first set environment variable.
fn setting(internal: &Map<String, Value>, key: &str, env: &Env, vars: &[&str]) -> Option<String> {
    match internal.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => vars.iter().find_map(|v| env.non_empty(v)),
    }
}

fn bedrock(
    internal: &mut Map<String, Value>,
    env: &Env,
    path: &str,
    d: &mut Diag,
) -> Option<String> {
    let region = setting(
        internal,
        "aws_region_name",
        env,
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
    );
    let key_id = setting(internal, "aws_access_key_id", env, &["AWS_ACCESS_KEY_ID"]);
    let secret = setting(
        internal,
        "aws_secret_access_key",
        env,
        &["AWS_SECRET_ACCESS_KEY"],
    );
    let token = setting(internal, "aws_session_token", env, &["AWS_SESSION_TOKEN"]);
    let Some(region) = region else {
        d.error(
            &join(path, "aws_region_name"),
            "required for bedrock (or set AWS_REGION)",
        );
        return None;
    };
    let (Some(key_id), Some(secret)) = (key_id, secret) else {
        d.error(
            &join(path, "aws_access_key_id"),
            "bedrock needs aws_access_key_id and aws_secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        );
        return None;
    };
    internal.insert("aws_region_name".into(), Value::String(region.clone()));
    internal.insert("aws_access_key_id".into(), Value::String(key_id));
    internal.insert("aws_secret_access_key".into(), Value::String(secret));
    if let Some(t) = token {
        internal.insert("aws_session_token".into(), Value::String(t));
    }
    Some(format!("https://bedrock-runtime.{region}.amazonaws.com"))
}

fn vertex(
    internal: &mut Map<String, Value>,
    env: &Env,
    path: &str,
    d: &mut Diag,
) -> Option<String> {
    let creds_path = join(path, "vertex_credentials");
    // A path to the key file, the key's JSON as a string, or the key as a YAML map.
    let key_json = match internal.get("vertex_credentials") {
        Some(Value::Object(o)) => Some(Value::Object(o.clone()).to_string()),
        Some(Value::String(s)) if s.trim_start().starts_with('{') => Some(s.clone()),
        Some(Value::String(file)) => read_key(file, &creds_path, d)?.into(),
        Some(_) => {
            d.error(
                &creds_path,
                "expected a path to a service-account key file, or the key's JSON",
            );
            return None;
        }
        None => match env.non_empty("GOOGLE_APPLICATION_CREDENTIALS") {
            Some(file) => Some(read_key(&file, "GOOGLE_APPLICATION_CREDENTIALS", d)?),
            None => None,
        },
    };
    let Some(key_json) = key_json else {
        d.error(&creds_path, "vertex_ai needs a service-account key (vertex_credentials, or GOOGLE_APPLICATION_CREDENTIALS)");
        return None;
    };
    let key: Value = match serde_json::from_str(&key_json) {
        Ok(v) => v,
        Err(e) => {
            d.error(
                &creds_path,
                format_args!("not a JSON service-account key: {e}"),
            );
            return None;
        }
    };
    for field in ["client_email", "private_key"] {
        if key.get(field).and_then(Value::as_str).is_none() {
            d.error(
                &creds_path,
                format_args!("the service-account key has no {field}"),
            );
            return None;
        }
    }
    let project = setting(
        internal,
        "vertex_project",
        env,
        &["VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT"],
    )
    .or_else(|| {
        key.get("project_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let Some(project) = project else {
        d.error(
            &join(path, "vertex_project"),
            "required for vertex_ai (or VERTEXAI_PROJECT, or project_id in the key)",
        );
        return None;
    };
    let location = setting(internal, "vertex_location", env, &["VERTEXAI_LOCATION"])
        .unwrap_or_else(|| "us-central1".into());
    internal.insert("vertex_project".into(), Value::String(project));
    internal.insert("vertex_location".into(), Value::String(location.clone()));
    internal.insert("vertex_credentials_json".into(), Value::String(key_json));
    Some(format!("https://{location}-aiplatform.googleapis.com"))
}

fn read_key(file: &str, path: &str, d: &mut Diag) -> Option<String> {
    match std::fs::read_to_string(file) {
        Ok(s) => Some(s),
        Err(e) => {
            d.error(
                path,
                format_args!("cannot read service-account key {file:?}: {e}"),
            );
            None
        }
    }
}
