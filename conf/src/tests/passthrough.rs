//! `general_settings.pass_through_endpoints`: every LiteLLM field read, header values with
//! `os.environ/` anywhere in them, the Langfuse pair, and the errors naming their path.

use super::{assert_error, errors, ok};

const BASE: &str =
    "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      api_key: sk-x\n";

#[test]
fn an_endpoint_with_every_field_is_read() {
    let l = ok(&format!(
        "{BASE}environment_variables:
  TOLLGATE_T_PTE_KEY: sk-target
general_settings:
  pass_through_endpoints:
    - path: /v1/rerank-custom/
      target: https://api.example.com:8443/v1/rerank?api-version=2024-01
      headers:
        Authorization: bearer os.environ/TOLLGATE_T_PTE_KEY
        content-type: application/json
        x-count: 3
      forward_headers: true
      merge_query_params: true
      auth: true
      include_subpath: true
      cost_per_request: 0.25
      methods: [post, GET]
      timeout: 30
      id: my-endpoint
    - path: /bria
      target: http://127.0.0.1:9/
"
    ));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let e = &l.config.general.pass_through_endpoints;
    assert_eq!(e.len(), 2);
    let a = &e[0];
    assert_eq!(a.path, "/v1/rerank-custom");
    assert_eq!(a.target.host, "api.example.com");
    assert_eq!(a.target.port, 8443);
    assert!(a.target.tls);
    assert_eq!(a.target.path, "/v1/rerank");
    assert_eq!(a.target_query, "api-version=2024-01");
    let headers: Vec<(&str, &str)> = a
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    assert_eq!(
        headers,
        [
            ("authorization", "bearer sk-target"),
            ("content-type", "application/json"),
            ("x-count", "3")
        ]
    );
    assert!(a.forward_headers && a.merge_query_params && a.auth && a.include_subpath);
    assert_eq!(a.cost_per_request, 0.25);
    assert_eq!(a.methods, ["POST", "GET"]);
    assert_eq!(a.timeout, Some(std::time::Duration::from_secs(30)));
    // LiteLLM's defaults: everything off, no price, any method.
    let b = &e[1];
    assert_eq!((b.target.path.as_str(), b.target_query.as_str()), ("", ""));
    assert!(!b.forward_headers && !b.merge_query_params && !b.auth && !b.include_subpath);
    assert_eq!(b.cost_per_request, 0.0);
    assert!(b.methods.is_empty() && b.timeout.is_none());
    // The header values are secrets: never in Debug output.
    assert!(!format!("{:?}", l.config).contains("sk-target"));
}

#[test]
fn the_langfuse_pair_is_one_basic_credential() {
    let l = ok(&format!(
        "{BASE}general_settings:
  pass_through_endpoints:
    - path: /langfuse
      target: https://cloud.langfuse.com
      include_subpath: true
      headers:
        LANGFUSE_PUBLIC_KEY: pk-lf-1
        LANGFUSE_SECRET_KEY: sk-lf-2
"
    ));
    let h = &l.config.general.pass_through_endpoints[0].headers;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].0, "authorization");
    // base64("pk-lf-1:sk-lf-2")
    assert_eq!(h[0].1.expose(), "Basic cGstbGYtMTpzay1sZi0y");
    assert_error(
        &format!(
            "{BASE}general_settings:
  pass_through_endpoints:
    - path: /langfuse
      target: https://cloud.langfuse.com
      headers:
        LANGFUSE_PUBLIC_KEY: pk-lf-1
"
        ),
        "general_settings.pass_through_endpoints[0].headers: LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY go together (they make one Basic Authorization header)",
    );
}

#[test]
fn bad_endpoints_are_errors_naming_their_path() {
    let errs = errors(&format!(
        "{BASE}general_settings:
  pass_through_endpoints:
    - target: https://x.example.com
    - path: no-slash
      target: https://x.example.com
    - path: /a
    - path: /b
      target: custom_callbacks.anthropic_adapter
    - path: /c
      target: ftp://x.example.com
    - path: /d
      target: https://x.example.com
      headers:
        Authorization: Bearer os.environ/TOLLGATE_T_PTE_UNSET_VAR
    - path: /e
      target: https://x.example.com
      methods: [FETCH]
      auth: maybe
      cost_per_request: -1
    - path: /
      target: https://x.example.com
    - path: /f
      target: https://x.example.com
    - path: /f/
      target: https://y.example.com
"
    ));
    for want in [
        "general_settings.pass_through_endpoints[0].path: required (the route on the gateway, e.g. /bria)",
        "general_settings.pass_through_endpoints[1].path: must start with /, got \"no-slash\"",
        "general_settings.pass_through_endpoints[2].target: required (the URL requests go to)",
        "general_settings.pass_through_endpoints[3].target: invalid URL \"custom_callbacks.anthropic_adapter\": relative URL without a base (Tollgate relays to URLs only; LiteLLM's Python adapter targets are not supported)",
        "general_settings.pass_through_endpoints[4].target: unsupported scheme \"ftp\" in \"ftp://x.example.com\" (use http or https)",
        "general_settings.pass_through_endpoints[5].headers.Authorization: environment variable TOLLGATE_T_PTE_UNSET_VAR is not set (os.environ/TOLLGATE_T_PTE_UNSET_VAR)",
        "general_settings.pass_through_endpoints[6].methods[0]: unknown HTTP method \"FETCH\" (one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS)",
        "general_settings.pass_through_endpoints[6].auth: expected true or false, got \"maybe\"",
        "general_settings.pass_through_endpoints[6].cost_per_request: expected a cost in USD (0 or more), got -1",
        "general_settings.pass_through_endpoints[7].path: must not be / (every route of the gateway is under it), got \"/\"",
        "general_settings.pass_through_endpoints[9].path: \"/f\" is already an endpoint above",
    ] {
        assert!(errs.iter().any(|e| e == want), "wanted {want:?} among {errs:#?}");
    }
    assert_error(
        &format!("{BASE}general_settings:\n  pass_through_endpoints: {{path: /x}}\n"),
        "general_settings.pass_through_endpoints: expected a list, got a map",
    );
}

#[test]
fn unknown_keys_and_guardrails_are_warnings() {
    let l = ok(&format!(
        "{BASE}general_settings:
  pass_through_endpoints:
    - path: /x
      target: https://x.example.com
      guardrails: {{pii: null}}
      tagert: oops
"
    ));
    assert!(
        l.warnings.iter().any(|w| w
            == "general_settings.pass_through_endpoints[0].guardrails: not supported yet, ignored (no guardrail runs on this route)"),
        "{:?}",
        l.warnings
    );
    assert!(
        l.warnings
            .iter()
            .any(|w| w == "general_settings.pass_through_endpoints[0].tagert: unknown key, ignored"),
        "{:?}",
        l.warnings
    );
}
