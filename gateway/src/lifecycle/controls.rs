//! Per-request controls a client sets with LiteLLM's request fields and headers: timeouts,
//! retries, `drop_params`, fallbacks, the mock hooks LiteLLM users test their fallback configs
//! with (`mock_response`, `mock_testing_*`, `mock_timeout`) and `include_cost_in_streaming_usage`.
//! Read once, before routing, and taken out of the body: none of them reaches the provider.
//! What a client may ask is bounded by the configuration (see docs/routing.md).
//!
//! The common request carries none of them; finding that out is one pass over the body's
//! top-level keys and one over the header names.

use std::time::Duration;

use adapters::ApiError;
use pingora::http::RequestHeader;
use serde_json::{Map, Value};

use crate::error::GatewayError;

/// The most retries a request may ask for (as `router_settings.num_retries` allows at most).
pub const MAX_CLIENT_RETRIES: u32 = 10;

/// What one request asks of routing, forwarding and relaying.
#[derive(Debug, Default)]
pub struct Controls {
    /// `timeout` / `request_timeout` (body), `x-litellm-timeout` (header): each attempt's
    /// deadline, instead of the deployment's `timeout`; at most `request_timeout`.
    pub timeout: Option<Duration>,
    /// `stream_timeout`, `x-litellm-stream-timeout`: a stream's first byte deadline.
    pub stream_timeout: Option<Duration>,
    /// `num_retries`, `x-litellm-num-retries` (or `x-litellm-max-retries`): instead of
    /// `router_settings.num_retries`; at most [`MAX_CLIENT_RETRIES`].
    pub num_retries: Option<u32>,
    /// `drop_params: true`: drop what the provider cannot take instead of refusing the request.
    pub drop_params: bool,
    /// `fallbacks`: the fallback groups for this request, instead of the configured ones.
    pub fallbacks: Option<Vec<String>>,
    /// `disable_fallbacks: true`.
    pub disable_fallbacks: bool,
    /// `mock_response`: every attempt answers with it instead of calling the provider.
    pub mock: Option<Mock>,
    /// `mock_testing_fallbacks` & co.: the requested group fails this way before any call.
    pub fail_group: Option<GroupFailure>,
    /// `mock_timeout: true`: every attempt in the requested group times out (after its
    /// timeout) without calling the provider.
    pub mock_timeout: bool,
    /// `include_cost_in_streaming_usage: true` (or the `litellm_settings` key): a stream's usage
    /// chunk carries `cost` in USD.
    pub include_cost: bool,
}

/// A `mock_response`.
#[derive(Debug, Clone)]
pub enum Mock {
    /// The answer's content.
    Content(String),
    /// A whole response object (not streamable).
    Object(Map<String, Value>),
    /// One of LiteLLM's error strings (`litellm.RateLimitError`, …): every attempt fails so.
    Fail(ApiError),
}

/// How `mock_testing_*` fails the requested group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupFailure {
    /// `mock_testing_fallbacks`: a 500, so `fallbacks` fire.
    Fallbacks,
    /// `mock_testing_context_fallbacks`: a context-window error, so `context_window_fallbacks`.
    ContextWindow,
    /// `mock_testing_content_policy_fallbacks`: a content-policy refusal.
    ContentPolicy,
}

impl GroupFailure {
    /// LiteLLM's mock exception for `group` (`Router._handle_mock_testing_fallbacks`).
    pub fn error(self, group: &str) -> GatewayError {
        let msg = |what: &str| {
            format!("This is a mock exception for model={group}, to trigger a fallback. {what}")
        };
        GatewayError::Upstream(match self {
            GroupFailure::Fallbacks => ApiError::new(
                500,
                "internal_server_error",
                msg("(mock_testing_fallbacks)"),
            )
            .with_code("500"),
            GroupFailure::ContextWindow => ApiError::new(
                400,
                "invalid_request_error",
                msg("(mock_testing_context_fallbacks)"),
            )
            .with_code("context_length_exceeded"),
            GroupFailure::ContentPolicy => ApiError::new(
                400,
                "invalid_request_error",
                msg("(mock_testing_content_policy_fallbacks)"),
            )
            .with_code("content_policy_violation"),
        })
    }
}

/// The body fields read here, in the bit order of [`field_bit`].
const FIELDS: [&str; 13] = [
    "timeout",
    "request_timeout",
    "stream_timeout",
    "num_retries",
    "drop_params",
    "fallbacks",
    "disable_fallbacks",
    "mock_response",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "mock_timeout",
    "include_cost_in_streaming_usage",
];

fn field_bit(key: &str) -> Option<u16> {
    // A `match` on the text: compiled to a dispatch on the length, then one comparison.
    let i = match key {
        "timeout" => 0,
        "request_timeout" => 1,
        "stream_timeout" => 2,
        "num_retries" => 3,
        "drop_params" => 4,
        "fallbacks" => 5,
        "disable_fallbacks" => 6,
        "mock_response" => 7,
        "mock_testing_fallbacks" => 8,
        "mock_testing_context_fallbacks" => 9,
        "mock_testing_content_policy_fallbacks" => 10,
        "mock_timeout" => 11,
        "include_cost_in_streaming_usage" => 12,
        // Not controls: where the request's tags may be (read by routing, see `TagSources`).
        "tags" => return Some(TAGS_FIELD),
        "metadata" => return Some(METADATA_FIELD),
        _ => return None,
    };
    debug_assert_eq!(FIELDS[i], key);
    Some(1 << i)
}

const TAGS_FIELD: u16 = 1 << 13;
const METADATA_FIELD: u16 = 1 << 14;
const CONTROL_FIELDS: u16 = (1 << FIELDS.len()) - 1;

/// Where a request's tags may be, as the same pass over its keys and headers found it: body
/// `tags`, `metadata` (for `metadata.tags`), the `x-litellm-tags` header. Routing reads only
/// what is there.
#[derive(Debug, Clone, Copy, Default)]
pub struct TagSources<'h> {
    pub body: bool,
    pub metadata: bool,
    pub header: Option<&'h http::HeaderValue>,
}

impl TagSources<'_> {
    /// Every source possible (for a body scanned elsewhere).
    pub fn any(headers: &RequestHeader) -> TagSources<'_> {
        TagSources {
            body: true,
            metadata: true,
            header: headers.headers.get("x-litellm-tags"),
        }
    }
}

impl Controls {
    /// What a request without controls asks: nothing.
    pub const NONE: Controls = Controls {
        timeout: None,
        stream_timeout: None,
        num_retries: None,
        drop_params: false,
        fallbacks: None,
        disable_fallbacks: false,
        mock: None,
        fail_group: None,
        mock_timeout: false,
        include_cost: false,
    };

    /// Takes the controls out of a request `body` and its `headers` (a header wins over the
    /// body field, as in LiteLLM); `request_timeout` bounds the timeouts. A malformed value is
    /// a 400 naming it. `None` for the common request that sets none (nothing allocated; the
    /// request context stays small).
    pub fn take<'h>(
        body: &mut Map<String, Value>,
        headers: &'h RequestHeader,
        request_timeout: Duration,
    ) -> Result<(Option<Box<Controls>>, TagSources<'h>), GatewayError> {
        let found = body
            .keys()
            .filter_map(|k| field_bit(k))
            .fold(0u16, |acc, b| acc | b);
        let mut tags = TagSources {
            body: found & TAGS_FIELD != 0,
            metadata: found & METADATA_FIELD != 0,
            header: None,
        };
        let mut c: Option<Box<Controls>> = None;
        if found & CONTROL_FIELDS != 0 {
            c.get_or_insert_default()
                .read_body(body, found, request_timeout)?;
        }
        for (name, value) in headers.headers.iter() {
            let Some(rest) = name.as_str().strip_prefix("x-litellm-") else {
                continue;
            };
            let header = name.as_str();
            let text = || value.to_str().map_err(|_| bad(header, "not text"));
            match rest {
                "tags" => tags.header = Some(value),
                "timeout" => {
                    c.get_or_insert_default().timeout =
                        Some(seconds(header, &text()?.into(), request_timeout)?)
                }
                "stream-timeout" => {
                    c.get_or_insert_default().stream_timeout =
                        Some(seconds(header, &text()?.into(), request_timeout)?)
                }
                "num-retries" | "max-retries" => {
                    c.get_or_insert_default().num_retries = Some(retries(header, &text()?.into())?)
                }
                _ => {}
            }
        }
        Ok((c, tags))
    }

    fn read_body(
        &mut self,
        body: &mut Map<String, Value>,
        found: u16,
        request_timeout: Duration,
    ) -> Result<(), GatewayError> {
        for (i, field) in FIELDS.iter().enumerate() {
            if found & (1 << i) == 0 {
                continue;
            }
            let Some(v) = body.remove(*field) else {
                continue;
            };
            if v.is_null() {
                continue;
            }
            match *field {
                "timeout" | "request_timeout" => {
                    self.timeout = Some(seconds(field, &v, request_timeout)?)
                }
                "stream_timeout" => {
                    self.stream_timeout = Some(seconds(field, &v, request_timeout)?)
                }
                "num_retries" => self.num_retries = Some(retries(field, &v)?),
                "drop_params" => self.drop_params = flag(field, &v)?,
                "fallbacks" => {
                    self.fallbacks = Some(match v {
                        Value::Array(items) => items
                            .iter()
                            .filter_map(|g| g.as_str().map(str::to_string))
                            .collect(),
                        Value::String(g) => vec![g],
                        _ => Vec::new(),
                    })
                }
                "disable_fallbacks" => self.disable_fallbacks = flag(field, &v)?,
                "mock_response" => self.mock = Some(mock(v)?),
                "mock_testing_fallbacks" if flag(field, &v)? => {
                    self.fail_group.get_or_insert(GroupFailure::Fallbacks);
                }
                "mock_testing_context_fallbacks" if flag(field, &v)? => {
                    self.fail_group.get_or_insert(GroupFailure::ContextWindow);
                }
                "mock_testing_content_policy_fallbacks" if flag(field, &v)? => {
                    self.fail_group.get_or_insert(GroupFailure::ContentPolicy);
                }
                "mock_timeout" => self.mock_timeout = flag(field, &v)?,
                "include_cost_in_streaming_usage" => self.include_cost = flag(field, &v)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether attempts are answered locally (`mock_response`), so nothing is fetched for them.
    pub fn mocks(&self) -> bool {
        self.mock.is_some()
    }
}

fn bad(param: &str, what: &str) -> GatewayError {
    GatewayError::Invalid(
        ApiError::new(
            400,
            "invalid_request_error",
            format!("Invalid value for '{param}': {what}"),
        )
        .with_param(param.to_string())
        .with_code("400"),
    )
}

/// A number of seconds > 0 (a JSON number or numeric text), at most `max`.
fn seconds(param: &str, v: &Value, max: Duration) -> Result<Duration, GatewayError> {
    let secs = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s > 0.0)
    .ok_or_else(|| bad(param, "expected a number of seconds greater than 0"))?;
    Ok(Duration::from_secs_f64(secs.min(max.as_secs_f64())))
}

/// A retry count ≥ 0 (a JSON integer or integer text), at most [`MAX_CLIENT_RETRIES`].
fn retries(param: &str, v: &Value) -> Result<u32, GatewayError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| bad(param, "expected a whole number of retries, 0 or more"))?;
    Ok(n.min(MAX_CLIENT_RETRIES as u64) as u32)
}

/// `true`/`false`, or LiteLLM's text forms (`"true"`, `"False"`).
fn flag(param: &str, v: &Value) -> Result<bool, GatewayError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(bad(param, "expected true or false")),
    }
}

/// A `mock_response`: content, a response object, or one of LiteLLM's error strings
/// (`main.py::_handle_mock_potential_exceptions`).
fn mock(v: Value) -> Result<Mock, GatewayError> {
    let text = match v {
        Value::String(s) => s,
        Value::Object(o) => return Ok(Mock::Object(o)),
        _ => {
            return Err(bad(
                "mock_response",
                "expected a string or a response object",
            ))
        }
    };
    let fail = |status: u16, kind: &str, msg: &str, code: &str| {
        Ok(Mock::Fail(
            ApiError::new(status, kind, msg.to_string()).with_code(code.to_string()),
        ))
    };
    match text.as_str() {
        "litellm.RateLimitError" => fail(
            429,
            "rate_limit_error",
            "this is a mock rate limit error",
            "429",
        ),
        "litellm.InternalServerError" => fail(
            500,
            "internal_server_error",
            "this is a mock internal server error",
            "500",
        ),
        "litellm.ContextWindowExceededError" => fail(
            400,
            "invalid_request_error",
            "this is a mock context window exceeded error",
            "context_length_exceeded",
        ),
        t if t.starts_with("Exception: content_filter_policy") => {
            fail(400, "invalid_request_error", t, "content_filter")
        }
        _ => Ok(Mock::Content(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn take(body: Value, headers: &[(&str, &str)]) -> Result<(Controls, Value), GatewayError> {
        let Value::Object(mut body) = body else {
            panic!()
        };
        let mut h = RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        for (k, v) in headers {
            h.insert_header(k.to_string(), v.to_string()).unwrap();
        }
        let (c, _) = Controls::take(&mut body, &h, Duration::from_secs(60))?;
        Ok((*c.unwrap_or_default(), Value::Object(body)))
    }

    #[test]
    fn a_request_without_controls_is_left_as_it_is() {
        let body = json!({"model": "m", "messages": [], "temperature": 0.2, "metadata": {"a": 1}});
        let Value::Object(mut map) = body.clone() else {
            panic!()
        };
        let mut h = RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        h.insert_header("x-litellm-tags", "a").unwrap();
        let (c, tags) = Controls::take(&mut map, &h, Duration::from_secs(60)).unwrap();
        // The tags' sources are noted on the way.
        assert!(!tags.body && tags.metadata && tags.header.is_some());
        assert!(
            c.is_none(),
            "nothing allocated for a request without controls"
        );
        assert_eq!(Value::Object(map), body);
    }

    #[test]
    fn every_control_is_read_bounded_and_taken_out() {
        let (c, left) = take(
            json!({"model": "m", "messages": [], "timeout": 2.5, "stream_timeout": "1",
                   "num_retries": 100, "drop_params": true, "fallbacks": ["b"],
                   "disable_fallbacks": false, "mock_response": "hi",
                   "mock_testing_fallbacks": "True", "mock_timeout": true,
                   "include_cost_in_streaming_usage": true}),
            &[],
        )
        .unwrap();
        assert_eq!(left, json!({"model": "m", "messages": []}));
        assert_eq!(c.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.stream_timeout, Some(Duration::from_secs(1)));
        assert_eq!(c.num_retries, Some(MAX_CLIENT_RETRIES));
        assert!(c.drop_params && c.mock_timeout && c.include_cost && !c.disable_fallbacks);
        assert_eq!(c.fallbacks.as_deref(), Some(&["b".to_string()][..]));
        assert!(matches!(c.mock, Some(Mock::Content(ref s)) if s == "hi"));
        assert_eq!(c.fail_group, Some(GroupFailure::Fallbacks));
        // A timeout above request_timeout is cut to it; headers win over the body.
        let (c, _) = take(
            json!({"timeout": 3600, "num_retries": 1}),
            &[
                ("x-litellm-num-retries", "3"),
                ("x-litellm-stream-timeout", "7"),
            ],
        )
        .unwrap();
        assert_eq!(c.timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.num_retries, Some(3));
        assert_eq!(c.stream_timeout, Some(Duration::from_secs(7)));
        let (c, _) = take(
            json!({}),
            &[("x-litellm-max-retries", "2"), ("x-litellm-timeout", "0.5")],
        )
        .unwrap();
        assert_eq!(c.num_retries, Some(2));
        assert_eq!(c.timeout, Some(Duration::from_millis(500)));
    }

    #[test]
    fn malformed_values_are_400s_naming_them() {
        for (body, header, param) in [
            (json!({"timeout": -1}), None, "timeout"),
            (json!({"timeout": "soon"}), None, "timeout"),
            (json!({"num_retries": 1.5}), None, "num_retries"),
            (json!({"drop_params": "yes"}), None, "drop_params"),
            (json!({"mock_response": 3}), None, "mock_response"),
            (
                json!({}),
                Some(("x-litellm-timeout", "abc")),
                "x-litellm-timeout",
            ),
            (
                json!({}),
                Some(("x-litellm-num-retries", "-2")),
                "x-litellm-num-retries",
            ),
        ] {
            let headers: Vec<(&str, &str)> = header.into_iter().collect();
            let e = take(body.clone(), &headers).map(|_| ()).unwrap_err();
            let api = e.to_api_error();
            assert_eq!(
                (api.status, api.param.as_deref()),
                (400, Some(param)),
                "{body}"
            );
        }
    }

    #[test]
    fn litellm_error_strings_become_errors_and_other_text_content() {
        let kind = |s: &str| match mock(json!(s)).unwrap() {
            Mock::Fail(e) => (e.status, e.code.unwrap_or_default()),
            Mock::Content(_) => (200, String::new()),
            Mock::Object(_) => unreachable!(),
        };
        assert_eq!(kind("litellm.RateLimitError"), (429, "429".into()));
        assert_eq!(kind("litellm.InternalServerError"), (500, "500".into()));
        assert_eq!(
            kind("litellm.ContextWindowExceededError"),
            (400, "context_length_exceeded".into())
        );
        assert_eq!(
            kind("Exception: content_filter_policy blocked"),
            (400, "content_filter".into())
        );
        assert_eq!(kind("litellm.Whatever"), (200, String::new()));
        assert!(matches!(mock(json!({"id": "x"})).unwrap(), Mock::Object(_)));
    }
}
