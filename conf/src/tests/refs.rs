//! Fallbacks, aliases and tag rules that can never take effect are warnings naming their path.

use super::ok;

const GROUPS: &str = "model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, mock_response: a}
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-sonnet, mock_response: b}
  - model_name: \"groq/*\"
    litellm_params: {model: \"groq/*\", mock_response: c}
";

fn warnings(rest: &str) -> Vec<String> {
    let mut w = ok(&format!("{GROUPS}{rest}")).warnings;
    w.sort();
    w
}

#[test]
fn dangling_fallbacks_and_aliases_are_reported_with_their_path() {
    let w = warnings(
        "router_settings:
  fallbacks:
    - gpt-4o: [claude, cluade, groq/llama3-8b-8192, fast]
    - gpt4o: [claude]
    - fast: [claude]
    - groq/llama3-8b-8192: [gpt-4o]
  context_window_fallbacks: [{claude: [gpt-4o-long]}]
  default_fallbacks: [claude, nope]
  model_group_alias: {fast: gpt-4o, broken: gpt-5}
",
    );
    let groups = "(groups: gpt-4o, claude, groq/*)";
    assert_eq!(
        w,
        vec![
            format!("router_settings.context_window_fallbacks[0].claude[0]: fallback \"gpt-4o-long\" names no model group, alias or wildcard group that serves it {groups}: it is never tried"),
            format!("router_settings.default_fallbacks[1]: fallback \"nope\" names no model group, alias or wildcard group that serves it {groups}: it is never tried"),
            format!("router_settings.fallbacks[0].gpt-4o[1]: fallback \"cluade\" names no model group, alias or wildcard group that serves it {groups}: it is never tried"),
            format!("router_settings.fallbacks[1].gpt4o: \"gpt4o\" names no model group, alias or wildcard group that serves it {groups}: these fallbacks never fire"),
            "router_settings.fallbacks[2].fast: \"fast\" is not a model group but is served by \"gpt-4o\": fallbacks are looked up by the group that failed, so these never fire; key them by \"gpt-4o\"".to_string(),
            "router_settings.fallbacks[3].groq/llama3-8b-8192: \"groq/llama3-8b-8192\" is not a model group but is served by \"groq/*\": fallbacks are looked up by the group that failed, so these never fire; key them by \"groq/*\"".to_string(),
            format!("router_settings.model_group_alias.broken: \"gpt-5\" names no model group, alias or wildcard group that serves it {groups}: requests for \"broken\" fail"),
        ]
    );
}

#[test]
fn references_that_routing_serves_are_quiet() {
    // Wildcard-served targets, aliases as targets, a group of `model: "*"` deployments.
    let w = warnings(
        "  - model_name: any
    litellm_params: {model: \"*\", api_key: k}
litellm_settings:
  fallbacks: [{gpt-4o: [broken]}]
router_settings:
  fallbacks: [{gpt-4o: [groq/mixtral, fast, any]}, {any: [claude]}]
  default_fallbacks: [claude]
  model_group_alias: {fast: {model: claude, hidden: true}, slow: groq/llama}
",
    );
    // litellm_settings.fallbacks is overridden by router_settings.fallbacks: not checked.
    assert!(w.is_empty(), "{w:#?}");
}

#[test]
fn tags_without_tag_filtering_and_filtering_without_tags() {
    let w = ok("model_list:
  - model_name: a
    litellm_params: {model: openai/a, mock_response: x}
  - model_name: a
    litellm_params: {model: openai/b, mock_response: x, tags: [eu]}
  - model_name: a
    litellm_params: {model: openai/c, mock_response: x, tags: [us]}
")
    .warnings;
    assert_eq!(
        w,
        vec!["model_list[1].litellm_params.tags: tags take no effect without router_settings.enable_tag_filtering: true (and 1 more deployments)"]
    );
    let w = ok("model_list:
  - model_name: a
    litellm_params: {model: openai/a, mock_response: x}
router_settings: {enable_tag_filtering: true}
")
    .warnings;
    assert_eq!(
        w,
        vec!["router_settings.enable_tag_filtering: no deployment has litellm_params.tags, so tag filtering never filters"]
    );
}

#[test]
fn a_star_group_serves_only_the_providers_it_has() {
    let w = ok("model_list:
  - model_name: \"*\"
    litellm_params: {model: \"*\", api_key: k}
  - model_name: main
    litellm_params: {model: openai/gpt-4o, api_key: k}
router_settings:
  fallbacks: [{main: [hosted_vllm/qwen, groq/llama3, some-bare-name]}]
")
    .warnings;
    assert_eq!(
        w,
        vec!["router_settings.fallbacks[0].main[0]: fallback \"hosted_vllm/qwen\" is served by no deployment: wildcard group \"*\" has none for provider hosted_vllm: it is never tried"]
    );
}
