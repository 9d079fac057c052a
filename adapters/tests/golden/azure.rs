//! The Azure OpenAI adapter (`azure/`, tests/fixtures/azure/): client request → Azure request
//! (deployment URL, `api-version`, `api-key` or Entra ID bearer header, OpenAI body), Azure
//! error replies → client errors. Azure responses and streams are OpenAI's and are relayed
//! unchanged.

use adapters::openai::wire::ResponseMeta;

use crate::provider::{golden_cases, StreamInput, Suite};

const SUITE: Suite = Suite {
    dir: "azure",
    provider: "azure",
    model: "",
    api_key: None,
    meta: ResponseMeta {
        id: "chatcmpl-test",
        created: 1_700_000_000,
        model: "azure",
    },
    default_request: None,
    stream: StreamInput::Raw("provider_stream.txt"),
    parse_json_strings: false,
    every_request_checked: true,
    extra: None,
};

golden_cases!(SUITE;
    chat_api_key,
    chat_entra_stream,
    embeddings_default_version,
    completions,
    error_content_filter,
    error_content_filter_innererror_only,
    error_context_length,
    error_unauthorized,
    error_deployment_not_found,
);
