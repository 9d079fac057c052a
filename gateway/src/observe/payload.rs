//! LiteLLM's `StandardLoggingPayload` (field names as LiteLLM's `litellm/types/utils.py`), the
//! body the generic webhook sends, serialized straight from the event: no `serde_json::Value`
//! tree is built and no field is cloned (the tree cost the callback sender ~55k instructions
//! per event). Keys come out in the order a `serde_json::Map` (sorted) gave them, so the bytes
//! are those of the earlier tree (a test holds the two together).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::event::{error_class, Event};

/// The payload of one event, serialized on demand.
pub struct StandardPayload<'a>(pub &'a Event);

/// A JSON object whose entries are written in the given (already sorted) order.
macro_rules! object {
    ($s:expr, $($k:literal => $v:expr),+ $(,)?) => {{
        let mut m = $s.serialize_map(None)?;
        $(m.serialize_entry($k, &$v)?;)+
        m.end()
    }};
}

/// `{}` (an empty object).
struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

/// An empty string as `null`, as LiteLLM's optional ids.
struct NonEmpty<'a>(&'a str);

impl Serialize for NonEmpty<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            s.serialize_none()
        } else {
            s.serialize_str(self.0)
        }
    }
}

/// The first choice of a whole answer: `{"choices":[{"index":0,"message":{…}}]}`.
struct Response<'a>(&'a str);

impl Serialize for Response<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Message<'a>(&'a str);
        impl Serialize for Message<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                object!(s, "content" => self.0, "role" => "assistant")
            }
        }
        struct Choice<'a>(&'a str);
        impl Serialize for Choice<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                object!(s, "index" => 0, "message" => Message(self.0))
            }
        }
        object!(s, "choices" => [Choice(self.0)])
    }
}

/// The `metadata` object.
struct Metadata<'a>(&'a Event);

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (e, l) = (self.0, &self.0.log);
        struct Requester<'a>(&'a Event);
        impl Serialize for Requester<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let c = &self.0.capture;
                object!(s,
                    "generation_name" => c.generation_name,
                    "session_id" => c.session_id,
                    "trace_id" => c.langfuse_trace_id,
                )
            }
        }
        object!(s,
            "requester_ip_address" => None::<()>,
            "requester_metadata" => Requester(e),
            "spend_logs_metadata" => None::<()>,
            "user_api_key_alias" => e.key_alias,
            "user_api_key_end_user_id" => l.end_user,
            "user_api_key_hash" => NonEmpty(&l.api_key),
            "user_api_key_org_id" => l.organization_id,
            "user_api_key_team_alias" => e.team_alias,
            "user_api_key_team_id" => l.team_id,
            "user_api_key_user_id" => l.user,
        )
    }
}

/// `error_information` of a failed request.
struct ErrorInformation<'a>(&'a Event);

impl Serialize for ErrorInformation<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        object!(s,
            "error_class" => error_class(e.status),
            "error_code" => e.upstream_status.unwrap_or(e.status).to_string(),
            "error_message" => e.error.as_deref().unwrap_or_default(),
            "llm_provider" => e.log.custom_llm_provider,
        )
    }
}

impl Serialize for StandardPayload<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let l = &e.log;
        let api_base = crate::logging::redact::text(&l.api_base);
        let status = if e.ok { "success" } else { "failure" };
        let completion_start = e
            .capture
            .first_byte_ms
            .map(Event::secs)
            .unwrap_or(Event::secs(l.end_time));
        let messages = match (&e.capture.messages, e.text) {
            (Some(m), true) => Some(m),
            _ => None,
        };
        let response = match e.response_text() {
            Some(t) => Some(Ok(Response(t))),
            None if !e.ok => None,
            None => Some(Err(Empty)),
        };
        struct Either<A, B>(Option<Result<A, B>>);
        impl<A: Serialize, B: Serialize> Serialize for Either<A, B> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match &self.0 {
                    Some(Ok(a)) => a.serialize(s),
                    Some(Err(b)) => b.serialize(s),
                    None => s.serialize_none(),
                }
            }
        }
        struct Fields<'a>(&'a str);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                object!(s, "llm_api_status" => self.0)
            }
        }
        struct ModelMap<'a>(&'a str);
        impl Serialize for ModelMap<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                object!(s, "model_map_key" => self.0, "model_map_value" => None::<()>)
            }
        }
        struct Hidden<'a>(&'a Event, &'a str);
        impl Serialize for Hidden<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let l = &self.0.log;
                object!(s,
                    "api_base" => self.1,
                    "attempted_fallbacks" => l.metadata.get("attempted_fallbacks"),
                    "attempted_retries" => l.metadata.get("attempted_retries"),
                    "cache_key" => None::<()>,
                    "litellm_call_id" => l.request_id,
                    "model_id" => l.model_id,
                    "response_cost" => f(l.spend),
                    "response_id" => l.response_id,
                )
            }
        }
        object!(s,
            "api_base" => &*api_base,
            "cache_hit" => l.cache_hit,
            "cache_key" => None::<()>,
            "call_type" => l.call_type,
            "completionStartTime" => f(completion_start),
            "completion_tokens" => l.completion_tokens,
            "custom_llm_provider" => l.custom_llm_provider,
            "endTime" => f(Event::secs(l.end_time)),
            "end_user" => l.end_user.as_deref().unwrap_or_default(),
            "error_information" => Either(if e.ok { None } else { Some(Ok::<_, Empty>(ErrorInformation(e))) }),
            "error_str" => e.error.as_deref().filter(|_| !e.ok),
            "guardrail_information" => l.metadata.get("guardrail_information").unwrap_or(&Value::Null),
            "hidden_params" => Hidden(e, &api_base),
            "id" => l.request_id,
            "messages" => messages,
            "metadata" => Metadata(e),
            "model" => l.model,
            "model_group" => l.model_group,
            "model_id" => NonEmpty(&l.model_id),
            "model_map_information" => ModelMap(&l.model),
            "model_parameters" => e.capture.params,
            "prompt_tokens" => l.prompt_tokens,
            "request_tags" => l.request_tags,
            "requester_ip_address" => None::<()>,
            "response" => Either(response),
            "response_cost" => f(l.spend),
            "response_time" => f((l.end_time - l.start_time) as f64 / 1000.0),
            "saved_cache_cost" => 0.0,
            "startTime" => f(Event::secs(l.start_time)),
            "status" => status,
            "status_fields" => Fields(status),
            "stream" => e.stream,
            "total_tokens" => l.total_tokens,
            "trace_id" => e.trace_id_hex(),
        )
    }
}

/// A float as a `Value` tree held it: a number, or `null` when not finite.
fn f(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
