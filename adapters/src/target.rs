//! What a provider translation takes and gives besides the request itself: the deployment being
//! called (`Target`) and the HTTP request built for it (`ProviderRequest`). A leaf module: every
//! provider adapter imports it, and it imports no adapter.

use serde_json::{Map, Value};

use crate::provider::Provider;

/// What translation needs to know about the deployment being called.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub provider: Provider,
    /// The upstream model name (`litellm_params.model` without the prefix).
    pub model: &'a str,
    /// Path prefix of `api_base` without a trailing slash (`/v1`, or empty).
    pub base_path: &'a str,
    /// The credential to send (API key, or an OAuth access token for Vertex).
    pub api_key: Option<&'a str>,
    /// `api_version` (Azure) where the provider has one.
    pub api_version: Option<&'a str>,
    /// Deployment defaults from `litellm_params`; client values win.
    pub defaults: &'a Map<String, Value>,
    /// `drop_params`: silently drop parameters the provider cannot take (else a 400 names them).
    pub drop_params: bool,
    /// LiteLLM-internal `litellm_params` never sent as body fields (`vertex_project`,
    /// `vertex_location`, `aws_region_name`, `azure_ad_token`, …).
    pub internal: &'a Map<String, Value>,
}

/// The HTTP request to send to the provider (the gateway adds `Host` and `Content-Length`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRequest {
    /// Path and query below the host, e.g. `/v1/messages`.
    pub path: String,
    /// Headers besides `Host`/`Content-Length` (credentials included; never logged).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}
