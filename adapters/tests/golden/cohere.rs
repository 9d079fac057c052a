//! The Cohere v2 adapter (`cohere/`, tests/fixtures/cohere/): client request → `/v2/chat` or
//! `/v2/embed` request, replies and SSE streams → client replies and streams (tool plans and
//! calls, thinking, `ERROR` finishes, `/v1/completions`), errors → client errors.

use adapters::openai::wire::ResponseMeta;

use crate::provider::{golden_cases, StreamInput, Suite};

const SUITE: Suite = Suite {
    dir: "cohere",
    provider: "cohere",
    model: "command-a-03-2025",
    api_key: Some("co-test-key"),
    meta: ResponseMeta {
        id: "chatcmpl-golden",
        created: 1_700_000_000,
        model: "command-a",
    },
    // Error-only cases: any request of the endpoint will do.
    default_request: Some(r#"{"model":"m","messages":[],"prompt":"p","input":"i"}"#),
    stream: StreamInput::Raw("provider_stream.sse"),
    parse_json_strings: false,
    every_request_checked: false,
    extra: None,
};

golden_cases!(SUITE;
    chat_simple,
    system_images,
    tools_tool_call_response,
    tool_result_round_trip,
    tool_choice_named_function,
    response_format_json_schema,
    max_tokens_finish,
    stream_text,
    stream_include_usage,
    stream_tool_call,
    stream_thinking,
    stream_error_finish,
    stream_error_event,
    stream_truncated,
    completions,
    completions_stream,
    embeddings,
    embeddings_tokens_refused,
    rate_limit_error,
    context_length_error,
    drop_params,
    unsupported_param_refused,
    finish_error_response,
);
