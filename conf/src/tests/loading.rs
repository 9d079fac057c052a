//! The raw stage: YAML parsing, `os.environ/`, `environment_variables`, `include:`.

use serde_json::json;

use super::{assert_error, errors, ok, temp_dir, write, ONE_MOCK};
use crate::{load_file, load_str, LoadOptions};

#[test]
fn empty_and_comment_only_files_are_defaults_with_a_warning() {
    for yaml in ["", "# nothing here\n", "model_list:\n", "model_list: []\n"] {
        let l = ok(yaml);
        assert!(l.config.model_list.is_empty());
        assert_eq!(l.config.tollgate.port, 4000);
        assert_eq!(l.config.general.max_request_size_mb, 10.0);
        assert!(l.config.general.master_key.is_none());
        assert_eq!(
            l.warnings,
            vec!["model_list: no model_list entries; every model request will fail"],
            "{yaml:?}"
        );
    }
}

#[test]
fn yaml_syntax_errors_and_wrong_top_level() {
    let errs = errors("model_list:\n  - model_name: a\n   bad: [\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("YAML syntax error: "), "{errs:?}");
    assert!(errs[0].contains("line"), "{errs:?}");
    assert_error(
        "- a\n- b\n",
        "(top level): expected a map of sections, got a list",
    );
    assert_error(
        "model_list: {a: 1}\n",
        "model_list: expected a list of deployments, got a map",
    );
}

#[test]
fn anchors_and_merge_keys_work() {
    let yaml = "
x-defaults: &defaults
  api_key: k
  timeout: 30
model_list:
  - model_name: a
    litellm_params:
      <<: *defaults
      model: groq/llama
";
    let l = ok(yaml);
    let d = &l.config.model_list[0];
    assert_eq!(d.api_key.as_ref().unwrap().expose(), "k");
    assert_eq!(d.timeout, Some(std::time::Duration::from_secs(30)));
    assert_eq!(l.warnings, vec!["x-defaults: unknown key, ignored"]);
}

#[test]
fn os_environ_resolves_in_any_string() {
    std::env::set_var("TOLLGATE_T_RESOLVE_KEY", "sk-resolved");
    std::env::set_var("TOLLGATE_T_RESOLVE_BASE", "http://10.1.2.3:9000/v1");
    std::env::set_var("TOLLGATE_T_RESOLVE_TEMP", "0.3");
    std::env::set_var("TOLLGATE_T_RESOLVE_PORT", "8081");
    let yaml = "
model_list:
  - model_name: a
    litellm_params:
      model: hosted_vllm/m
      api_base: os.environ/TOLLGATE_T_RESOLVE_BASE
      api_key: os.environ/TOLLGATE_T_RESOLVE_KEY
      stop: [os.environ/TOLLGATE_T_RESOLVE_TEMP]
general_settings:
  master_key: os.environ/TOLLGATE_T_RESOLVE_KEY
router_settings:
  redis_password: os.environ/TOLLGATE_T_RESOLVE_KEY
tollgate_settings:
  port: os.environ/TOLLGATE_T_RESOLVE_PORT
";
    let l = ok(yaml);
    let d = &l.config.model_list[0];
    assert_eq!(d.api_base.as_ref().unwrap().port, 9000);
    assert_eq!(d.api_key.as_ref().unwrap().expose(), "sk-resolved");
    assert_eq!(d.extra_params["stop"], json!(["0.3"]));
    assert_eq!(
        l.config.general.master_key.as_ref().unwrap().expose(),
        "sk-resolved"
    );
    assert_eq!(
        l.config.router_settings["redis_password"],
        json!("sk-resolved")
    );
    assert_eq!(l.config.tollgate.port, 8081);
}

#[test]
fn unset_os_environ_is_an_error_per_path() {
    let yaml = "
model_list:
  - model_name: a
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/TOLLGATE_T_UNSET_1
      api_base: os.environ/TOLLGATE_T_UNSET_2
general_settings:
  master_key: os.environ/
";
    let errs = errors(yaml);
    let mut sorted = errs.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            "general_settings.master_key: os.environ/ needs a variable name (os.environ/NAME)",
            "model_list[0].litellm_params.api_base: environment variable TOLLGATE_T_UNSET_2 is not set (os.environ/TOLLGATE_T_UNSET_2)",
            "model_list[0].litellm_params.api_key: environment variable TOLLGATE_T_UNSET_1 is not set (os.environ/TOLLGATE_T_UNSET_1)",
        ],
        "one error per path: the unresolved api_base is not also reported as a bad URL"
    );
}

#[test]
fn environment_variables_feed_references_and_provider_keys_then_the_process() {
    std::env::remove_var("TOLLGATE_T_ENVVARS_KEY");
    std::env::remove_var("TOLLGATE_T_ENVVARS_PORT");
    // The provider default key: perplexity reads PERPLEXITYAI_API_KEY; only this test sets it.
    std::env::remove_var("PERPLEXITYAI_API_KEY");
    let yaml = "
environment_variables:
  TOLLGATE_T_ENVVARS_KEY: sk-from-config
  TOLLGATE_T_ENVVARS_PORT: 7000
  PERPLEXITYAI_API_KEY: pk-from-config
model_list:
  - model_name: a
    litellm_params:
      model: groq/llama
      api_key: os.environ/TOLLGATE_T_ENVVARS_KEY
  - model_name: b
    litellm_params:
      model: perplexity/sonar
tollgate_settings:
  port: os.environ/TOLLGATE_T_ENVVARS_PORT
";
    let l = ok(yaml);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(
        l.config.model_list[0].api_key.as_ref().unwrap().expose(),
        "sk-from-config"
    );
    assert_eq!(
        l.config.model_list[1].api_key.as_ref().unwrap().expose(),
        "pk-from-config"
    );
    assert_eq!(l.config.tollgate.port, 7000);
    assert_eq!(
        std::env::var("TOLLGATE_T_ENVVARS_KEY").unwrap(),
        "sk-from-config"
    );
    assert_eq!(std::env::var("TOLLGATE_T_ENVVARS_PORT").unwrap(), "7000");
    std::env::remove_var("PERPLEXITYAI_API_KEY");
}

#[test]
fn environment_variables_are_not_applied_when_the_config_fails() {
    std::env::remove_var("TOLLGATE_T_ENVFAIL");
    let yaml = "
environment_variables:
  TOLLGATE_T_ENVFAIL: set
tollgate_settings:
  port: high
";
    assert_error(
        yaml,
        "tollgate_settings.port: expected a non-negative integer, got \"high\"",
    );
    assert!(std::env::var("TOLLGATE_T_ENVFAIL").is_err());
}

#[test]
fn environment_variables_must_be_plain_values() {
    let yaml = "
environment_variables:
  A_REF: os.environ/HOME
  A_LIST: [1]
  A_NULL:
  'BAD=NAME': x
";
    let mut errs = errors(yaml);
    errs.sort();
    assert_eq!(
        errs,
        vec![
            "environment_variables.A_LIST: expected a string, got a list",
            "environment_variables.A_NULL: expected a string, got null",
            "environment_variables.A_REF: os.environ/ references are not allowed here; give a plain value",
            "environment_variables.BAD=NAME: not a valid environment variable name",
        ]
    );
}

#[test]
fn include_appends_models_and_the_including_file_wins() {
    let dir = temp_dir("include");
    write(
        &dir,
        "models/extra.yaml",
        "model_list:
  - model_name: from-include
    litellm_params: {model: openai/x, mock_response: included}
general_settings:
  master_key: sk-from-include
  max_request_size_mb: 3
litellm_settings:
  drop_params: true
",
    );
    let main = write(
        &dir,
        "config.yaml",
        "include:
  - models/extra.yaml
model_list:
  - model_name: own
    litellm_params: {model: openai/y, mock_response: own}
general_settings:
  master_key: sk-own
",
    );
    let l = load_file(&main, LoadOptions::default()).unwrap();
    let c = &l.config;
    assert_eq!(c.model_groups(), vec!["own", "from-include"]);
    assert_eq!(c.general.master_key.as_ref().unwrap().expose(), "sk-own");
    assert_eq!(
        c.general.max_request_size_mb, 3.0,
        "keys only the include sets are merged in"
    );
    assert!(c.litellm.drop_params);
    assert_eq!(c.source.as_deref(), Some(main.as_path()));

    // load_str resolves includes against base_dir.
    let text = std::fs::read_to_string(&main).unwrap();
    let l2 = load_str(&text, Some(&dir), LoadOptions::default()).unwrap();
    assert_eq!(l2.config.model_list.len(), 2);
    assert!(l2.config.source.is_none());
}

#[test]
fn nested_includes_are_relative_to_their_file_and_errors_name_the_file() {
    let dir = temp_dir("nested");
    write(
        &dir,
        "a/b/deep.yaml",
        "model_list:\n  - model_name: deep\n    litellm_params: {model: anthropc/x}\n",
    );
    write(
        &dir,
        "a/mid.yaml",
        "include: b/deep.yaml\nmodel_list:\n  - model_name: mid\n    litellm_params: {model: openai/m, mock_response: x}\n",
    );
    let main = write(
        &dir,
        "main.yaml",
        &format!("include: [a/mid.yaml]\n{ONE_MOCK}"),
    );
    let err = load_file(&main, LoadOptions::default()).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    let label = format!("a{0}b{0}deep.yaml", std::path::MAIN_SEPARATOR);
    assert!(
        err.errors[0].starts_with(&format!(
            "{label}: model_list[0].litellm_params.model: unknown provider \"anthropc\""
        )),
        "{err}"
    );

    write(
        &dir,
        "a/b/deep.yaml",
        "model_list:\n  - model_name: deep\n    litellm_params: {model: openai/d, mock_response: x}\n",
    );
    let l = load_file(&main, LoadOptions::default()).unwrap();
    assert_eq!(l.config.model_groups(), vec!["m", "mid", "deep"]);
}

#[test]
fn missing_include_is_an_error_naming_it() {
    let dir = temp_dir("missing");
    let main = write(
        &dir,
        "main.yaml",
        &format!("include:\n  - nope.yaml\n{ONE_MOCK}"),
    );
    let err = load_file(&main, LoadOptions::default()).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert!(
        err.errors[0].starts_with("include[0]: cannot read included file \""),
        "{err}"
    );
    assert!(err.errors[0].contains("nope.yaml"), "{err}");
}

#[test]
fn include_cycles_are_errors() {
    let dir = temp_dir("cycle");
    write(&dir, "a.yaml", "include: [b.yaml]\n");
    write(&dir, "b.yaml", "include: [a.yaml]\n");
    let main = write(&dir, "main.yaml", &format!("include: [a.yaml]\n{ONE_MOCK}"));
    let err = load_file(&main, LoadOptions::default()).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(
        err.errors[0],
        "b.yaml: include[0]: include cycle: a.yaml → b.yaml → a.yaml"
    );

    // A file including itself, through the main file.
    let selfish = write(
        &dir,
        "self.yaml",
        &format!("include: [self.yaml]\n{ONE_MOCK}"),
    );
    let err = load_file(&selfish, LoadOptions::default()).unwrap_err();
    assert_eq!(
        err.errors[0],
        "include[0]: include cycle: self.yaml → self.yaml"
    );
}

#[test]
fn unreadable_main_file_is_an_error() {
    let err = load_file(
        std::path::Path::new("/nonexistent/tollgate.yaml"),
        LoadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert!(err.errors[0].starts_with("/nonexistent/tollgate.yaml: cannot read config file: "));
}

#[test]
fn broken_included_files_are_each_reported() {
    let dir = temp_dir("broken");
    write(&dir, "syntax.yaml", "model_list: [\n");
    write(&dir, "syntax2.yaml", "a: b: c\n");
    write(&dir, "list.yaml", "- 1\n");
    let main = write(
        &dir,
        "main.yaml",
        &format!("include: [syntax.yaml, syntax2.yaml, list.yaml, 7]\n{ONE_MOCK}"),
    );
    let err = load_file(&main, LoadOptions::default()).unwrap_err();
    assert_eq!(err.errors.len(), 4, "{err}");
    assert!(
        err.errors[0].starts_with("syntax.yaml: YAML syntax error: "),
        "{err}"
    );
    assert!(
        err.errors[1].starts_with("syntax2.yaml: YAML syntax error: "),
        "{err}"
    );
    assert_eq!(
        err.errors[2],
        "list.yaml: expected a map of sections, got a list"
    );
    assert_eq!(err.errors[3], "include[3]: expected a file path, got 7");
}
