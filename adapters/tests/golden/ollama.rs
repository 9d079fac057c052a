//! The Ollama adapter (`ollama_chat/` → `/api/chat`, `ollama/` → `/api/generate`,
//! tests/fixtures/ollama/): client request → Ollama request, replies and NDJSON streams →
//! client replies and streams (thinking, tool calls, `/v1/completions`), errors → client errors.

use adapters::openai::wire::ResponseMeta;

use crate::provider::{golden_cases, StreamInput, Suite};

const SUITE: Suite = Suite {
    dir: "ollama",
    provider: "ollama_chat",
    model: "llama3.1",
    api_key: None,
    meta: ResponseMeta {
        id: "chatcmpl-golden",
        created: 1_700_000_000,
        model: "llama3.1",
    },
    // Error-only cases: any request of the endpoint will do.
    default_request: Some(r#"{"model":"m","messages":[],"prompt":"p","input":"i"}"#),
    stream: StreamInput::Raw("provider_stream.ndjson"),
    parse_json_strings: false,
    every_request_checked: false,
    extra: None,
};

golden_cases!(SUITE;
    chat_simple,
    chat_image,
    chat_image_http_url,
    chat_tools,
    chat_tool_result_round_trip,
    chat_stream_text,
    chat_stream_usage,
    chat_stream_tool_call,
    chat_stream_error,
    chat_json_schema,
    chat_json_object,
    chat_unsupported_param,
    chat_n_greater_than_one,
    chat_drop_params,
    generate_chat,
    generate_chat_stream,
    completions,
    completions_stream,
    completions_batch_prompt,
    embeddings,
    embeddings_tokens_input,
    error_model_not_found,
    error_context_length,
    error_server,
    chat_stream_thinking,
    chat_thinking,
    chat_stream_truncated,
    generate_tools_unsupported,
    chat_tool_choice_none,
);
