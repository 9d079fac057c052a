//! The Gemini adapter (AI Studio `gemini/` and Vertex `vertex_ai/`, tests/fixtures/gemini/):
//! client request → `generateContent` / `embedContent` request (API key or bearer, Vertex
//! project and location), replies and `alt=sse` streams → client replies and streams (function
//! calls, safety blocks, in-stream errors, `/v1/completions`), errors → client errors.

use adapters::openai::wire::ResponseMeta;

use crate::provider::{golden_cases, StreamInput, Suite};

const SUITE: Suite = Suite {
    dir: "gemini",
    provider: "gemini",
    model: "gemini-2.0-flash",
    api_key: None,
    meta: ResponseMeta {
        id: "chatcmpl-test",
        created: 1_700_000_000,
        model: "gemini",
    },
    default_request: None,
    stream: StreamInput::Raw("provider_stream.txt"),
    parse_json_strings: false,
    every_request_checked: true,
    extra: None,
};

golden_cases!(SUITE;
    simple_chat,
    vertex_url_bearer,
    system_images,
    tools_function_call,
    tool_result_round_trip,
    stream_text,
    stream_function_call,
    safety_block,
    stream_safety,
    stream_prompt_blocked,
    stream_error,
    embeddings,
    embeddings_vertex,
    rate_limit_error,
    context_length_error,
    drop_params,
    unsupported_param_refused,
    json_schema_defaults,
    completions,
    vertex_missing_location,
);
