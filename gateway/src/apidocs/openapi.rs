//! `/openapi.json`: an OpenAPI 3.1 description of every route Tollgate serves, built once from
//! the route tables (`routes::table::SERVED` and the management table, `admin::spec`), so it cannot
//! list a route or a management field the gateway does not know. The OpenAI routes use
//! schemas named as OpenAI's own (`CreateChatCompletionRequest`, …) holding the fields
//! Tollgate reads or relays, each with OpenAI's type (checked against OpenAI's published
//! description by tests/e2e/docs.rs); unknown request fields are passed to the provider.

use serde_json::{json, Map, Value};

use crate::admin::spec::{self, Access, RouteSpec, Support};
use crate::routes::table::{Auth, Served};

/// OpenAI's shapes, the part Tollgate documents.
fn openai_schemas() -> Value {
    let num_or_null = json!({"type": ["number", "null"]});
    json!({
        "CreateChatCompletionRequest": {
            "type": "object",
            "required": ["model", "messages"],
            "additionalProperties": true,
            "properties": {
                "model": {"type": "string", "description": "A model group of the config (`model_name`), an alias, or a name a wildcard group serves."},
                "messages": {"type": "array", "items": {"type": "object"}},
                "stream": {"type": "boolean"},
                "stream_options": {"type": ["object", "null"]},
                "max_tokens": {"type": "integer", "description": "Bounds the reserved worst-case cost (docs/keys-and-budgets.md)."},
                "max_completion_tokens": {"type": "integer"},
                "n": {"type": "integer"},
                "temperature": num_or_null,
                "top_p": num_or_null,
                "stop": {"type": ["string", "array"]},
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"type": ["string", "object"]},
                "response_format": {"type": "object"},
                "seed": {"type": "integer"},
                "user": {"type": "string", "description": "The end user (budgets per end user)."},
                "metadata": {"type": ["object", "null"]},
                "prediction": {"type": "object"},
                "reasoning_effort": {"type": ["string", "null"]},
            }
        },
        "CreateChatCompletionResponse": {
            "type": "object",
            "required": ["id", "object", "created", "model", "choices"],
            "properties": {
                "id": {"type": "string", "description": "Also the spend log's `request_id`."},
                "object": {"type": "string"},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": "object"},
                "system_fingerprint": {"type": "string"},
            }
        },
        "CreateCompletionRequest": {
            "type": "object",
            "required": ["model", "prompt"],
            "additionalProperties": true,
            "properties": {
                "model": {"type": "string"},
                "prompt": {"type": ["string", "array"]},
                "max_tokens": {"type": "integer"},
                "n": {"type": "integer"},
                "best_of": {"type": "integer"},
                "stream": {"type": "boolean"},
                "echo": {"type": "boolean"},
                "temperature": num_or_null,
                "user": {"type": "string"},
            }
        },
        "CreateCompletionResponse": {
            "type": "object",
            "required": ["id", "object", "created", "model", "choices"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string"},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": "object"},
            }
        },
        "CreateEmbeddingRequest": {
            "type": "object",
            "required": ["model", "input"],
            "additionalProperties": true,
            "properties": {
                "model": {"type": "string"},
                "input": {"type": ["string", "array"]},
                "encoding_format": {"type": "string"},
                "dimensions": {"type": "integer"},
                "user": {"type": "string"},
            }
        },
        "CreateEmbeddingResponse": {
            "type": "object",
            "required": ["object", "data", "model", "usage"],
            "properties": {
                "object": {"type": "string"},
                "data": {"type": "array", "items": {"type": "object"}},
                "model": {"type": "string"},
                "usage": {"type": "object"},
            }
        },
        "Model": {
            "type": "object",
            "required": ["id", "object", "created", "owned_by"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string"},
                "created": {"type": "integer"},
                "owned_by": {"type": "string"},
            }
        },
        "ListModelsResponse": {
            "type": "object",
            "required": ["object", "data"],
            "properties": {
                "object": {"type": "string"},
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
            }
        },
        "Error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            }
        },
        "ErrorResponse": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"$ref": "#/components/schemas/Error"}}
        },
    })
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// The request and response schemas of a non-management route, by its path.
fn io(path: &str) -> (Option<Value>, Value) {
    let object = || json!({"type": "object"});
    // The Azure-style door takes the OpenAI bodies.
    let path = match path.strip_prefix("/openai/deployments/{model:path}") {
        Some(endpoint) => endpoint,
        None => path,
    };
    match path {
        "/chat/completions" => (
            Some(schema_ref("CreateChatCompletionRequest")),
            schema_ref("CreateChatCompletionResponse"),
        ),
        "/completions" => (
            Some(schema_ref("CreateCompletionRequest")),
            schema_ref("CreateCompletionResponse"),
        ),
        "/embeddings" => (
            Some(schema_ref("CreateEmbeddingRequest")),
            schema_ref("CreateEmbeddingResponse"),
        ),
        "/rerank" | "/v2/rerank" => (
            Some(
                json!({"type": "object", "required": ["model", "query", "documents"],
                "properties": {"model": {"type": "string"}, "query": {"type": "string"},
                    "documents": {"type": "array", "items": {"type": ["string", "object"]}},
                    "top_n": {"type": "integer", "minimum": 1},
                    "return_documents": {"type": "boolean"},
                    "rank_fields": {"type": "array", "items": {"type": "string"}},
                    "max_chunks_per_doc": {"type": "integer"},
                    "max_tokens_per_doc": {"type": "integer"}}}),
            ),
            json!({"type": "object", "required": ["id", "results", "meta"],
                "properties": {"id": {"type": "string"}, "results": {"type": "array", "items":
                    {"type": "object", "required": ["index", "relevance_score"], "properties": {
                        "index": {"type": "integer"}, "relevance_score": {"type": "number"},
                        "document": {"type": "object"}}}},
                    "meta": {"type": "object"}}}),
        ),
        "/moderations" => (
            Some(
                json!({"type": "object", "required": ["input"], "properties": {
                "model": {"type": "string"}, "input": {}}}),
            ),
            object(),
        ),
        "/models" => (None, schema_ref("ListModelsResponse")),
        "/messages" | "/messages/count_tokens" | "/responses" => (Some(object()), object()),
        "/audio/speech" => (
            Some(json!({"type": "object", "required": ["model", "input", "voice"]})),
            json!({"type": "string", "format": "binary"}),
        ),
        "/health/liveliness" | "/health/liveness" => (None, json!({"type": "string"})),
        "/ui/login" => (
            Some(
                json!({"type": "object", "required": ["key"], "properties": {"key": {"type": "string"}}}),
            ),
            object(),
        ),
        _ => (None, object()),
    }
}

/// The form of a multipart media route (`media`): the file part and the text fields.
fn multipart(path: &str) -> Option<Value> {
    let path = path
        .strip_prefix("/openai/deployments/{model:path}")
        .unwrap_or(path);
    let (file, required): (&str, &[&str]) = match path {
        "/audio/transcriptions" | "/audio/translations" => ("file", &["file", "model"]),
        "/images/edits" => ("image", &["image", "prompt", "model"]),
        _ => return None,
    };
    Some(json!({
        "type": "object",
        "required": required,
        "properties": {
            file: {"type": "string", "format": "binary"},
            "model": {"type": "string", "description": "The model group; it must come before the file when the upload is over 1 MiB"},
        },
    }))
}

fn security(auth: Auth) -> Value {
    match auth {
        Auth::None => json!([]),
        _ => json!([{"bearer": []}]),
    }
}

fn errors(op: &mut Map<String, Value>) {
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for (status, why) in [
        (
            "400",
            "Bad request: a field is missing, unknown or invalid (`param` names it)",
        ),
        (
            "401",
            "No key, an unknown key, or a model the key may not use",
        ),
        ("403", "The key may not call this route"),
        ("404", "Not found"),
    ] {
        responses.insert(
            status.into(),
            json!({"description": why, "content": json_content(schema_ref("ErrorResponse"))}),
        );
    }
}

fn served_op(s: &Served) -> Value {
    let (request, response) = io(s.path);
    let mut op = Map::new();
    op.insert("summary".into(), json!(s.summary));
    op.insert("tags".into(), json!([s.tag]));
    op.insert("security".into(), security(s.auth));
    let params: Vec<Value> = s
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| p.strip_suffix(":path").unwrap_or(p))
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    if let Some(r) = request {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": json_content(r)}),
        );
    } else if let Some(form) = multipart(s.path) {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"multipart/form-data": {"schema": form}}}),
        );
    }
    op.insert(
        "responses".into(),
        json!({"200": {"description": "OK", "content": json_content(response)}}),
    );
    if s.auth != Auth::None {
        errors(&mut op);
    }
    Value::Object(op)
}

fn field_schema(f: &spec::Field) -> Value {
    let mut s = spec::schema(f.ty);
    let note = match f.support {
        Support::Acted => None,
        Support::Ignored(why) => Some(format!("Accepted without effect: {why}.")),
        Support::Empty => Some("LiteLLM field not supported yet: accepted only empty.".into()),
        Support::Only(v) => Some(format!("Accepted only as \"{v}\" (Tollgate's behaviour).")),
    };
    if let (Some(n), Some(o)) = (note, s.as_object_mut()) {
        o.insert("description".into(), json!(n));
    }
    s
}

fn who(access: Access) -> &'static str {
    match access {
        Access::Admin => "Proxy admins (viewers: if it only reads).",
        Access::Own => "Any key: its own key, user or team; proxy admins: any.",
        Access::InternalUser => "Proxy admins, and internal users for their own keys.",
        Access::AnyKey => "Any key (limited to the models it may use).",
    }
}

fn admin_op(r: &RouteSpec, method: &str) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), json!(r.summary));
    op.insert("description".into(), json!(who(r.access)));
    op.insert(
        "tags".into(),
        json!([r
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("management")]),
    );
    op.insert("security".into(), security(Auth::Key));
    let fields = r.fields();
    let mut params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if method == "GET" {
        params.extend(fields.iter().map(|f| {
            json!({"name": f.name, "in": "query", "required": false, "schema": field_schema(f)})
        }));
    } else {
        let props: Map<String, Value> = fields
            .iter()
            .map(|f| (f.name.to_string(), field_schema(f)))
            .collect();
        op.insert(
            "requestBody".into(),
            json!({"content": json_content(json!({
                "type": "object",
                "additionalProperties": false,
                "properties": props,
            }))}),
        );
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    op.insert(
        "responses".into(),
        json!({"200": {"description": "OK (LiteLLM's shape)", "content": json_content(json!({}))}}),
    );
    errors(&mut op);
    Value::Object(op)
}

/// The whole document.
pub fn document(served: &[Served]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for s in served {
        let path = s.listed_path();
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[s.method.to_ascii_lowercase()] = served_op(s);
    }
    for r in spec::all() {
        for m in r.methods {
            let item = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
            item[m.to_ascii_lowercase()] = admin_op(r, m);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tollgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An OpenAI-compatible LLM gateway that reads LiteLLM configs and serves LiteLLM's management API. OpenAI routes are also served without the /v1 prefix; /end_user/* is served as /customer/*.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The master key or a virtual key (also accepted as x-api-key, api-key, x-litellm-api-key)."},
            },
            "schemas": openai_schemas(),
        },
        "paths": paths,
    })
}

/// Adds a custom pass-through route (`general_settings.pass_through_endpoints`) to `doc`: its
/// path (and `{path}/{subpath}` under `include_subpath`), each method it serves, any body, any
/// answer (the target's).
pub fn add_custom(doc: &mut Value, conf: &conf::PassThroughEndpoint) {
    let mut op = Map::new();
    op.insert("summary".into(), json!(super::custom_summary(conf)));
    op.insert("tags".into(), json!(["pass-through"]));
    let auth = if conf.auth { Auth::Key } else { Auth::None };
    op.insert("security".into(), security(auth));
    op.insert(
        "responses".into(),
        json!({"default": {"description": "The target's answer, relayed as it is"}}),
    );
    if conf.auth {
        errors(&mut op);
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let mut listed = vec![(conf.path.clone(), Value::Object(op.clone()))];
    if conf.include_subpath {
        let mut below = op;
        below.insert(
            "parameters".into(),
            json!([{"name": "subpath", "in": "path", "required": true,
                    "description": "Any path below the route's, appended to the target's",
                    "schema": {"type": "string"}}]),
        );
        listed.push((format!("{}/{{subpath}}", conf.path), Value::Object(below)));
    }
    for (path, op) in listed {
        let item = paths.entry(path).or_insert_with(|| json!({}));
        for m in super::custom_methods(conf) {
            item[m.to_ascii_lowercase()] = op.clone();
        }
    }
}
