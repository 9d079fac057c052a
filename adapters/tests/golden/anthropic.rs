//! The Anthropic provider adapter (`anthropic/`, tests/fixtures/anthropic/): client request →
//! Messages request, Messages reply and SSE stream → client reply and stream (text, thinking,
//! tools, JSON mode, prompt caching, in-stream errors), provider errors → client errors.

use adapters::openai::wire::ResponseMeta;

use crate::provider::{golden_cases, StreamInput, Suite};

const SUITE: Suite = Suite {
    dir: "anthropic",
    provider: "anthropic",
    model: "claude-sonnet-4-5-20250929",
    api_key: Some("sk-ant-test"),
    meta: ResponseMeta {
        id: "chatcmpl-test",
        created: 1_700_000_000,
        model: "claude",
    },
    default_request: Some(r#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#),
    stream: StreamInput::Raw("provider_stream.txt"),
    parse_json_strings: true,
    every_request_checked: false,
    extra: None,
};

golden_cases!(SUITE;
    simple_chat,
    system_multi_turn_merge,
    images_base64_and_url,
    tools_request_tool_use_response,
    tool_result_round_trip,
    stream_text,
    stream_tool_use,
    stream_include_usage,
    stream_truncated,
    stream_error_event,
    stream_thinking,
    overloaded_error,
    context_length_error,
    rate_limit_error,
    non_json_error,
    drop_params_drop,
    drop_params_refuse,
    embeddings_refused,
    invalid_tool_arguments,
    response_format_json_schema,
    tool_use_only_response,
    refusal_response,
    prompt_caching_and_pdf,
);
