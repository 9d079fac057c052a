//! Every shipped config loads: the embedded default and each `conf/examples/*.yaml` (globbed at
//! test time, so a new example is covered without touching this file).

use std::path::PathBuf;

use crate::{load_file, load_str, LoadOptions, EMBEDDED_DEFAULT};

fn conf_dir() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
}

/// Sets every `os.environ/NAME` the text references that is not set already, to a dummy key.
fn set_referenced_env(text: &str) {
    for (i, _) in text.match_indices("os.environ/") {
        let name: String = text[i + "os.environ/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && std::env::var_os(&name).is_none() {
            std::env::set_var(&name, format!("sk-test-{name}"));
        }
    }
}

#[test]
fn embedded_default_runs_without_provider_keys() {
    let l = load_str(EMBEDDED_DEFAULT, None, LoadOptions { strict: true })
        .unwrap_or_else(|e| panic!("embedded default: {e}"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    assert_eq!(
        c.general.master_key.as_ref().unwrap().expose(),
        "sk-tollgate-dev"
    );
    assert_eq!(c.model_groups(), vec!["tollgate-demo", "tollgate-echo"]);
    assert!(
        c.model_list.iter().all(|d| d.mock_response.is_some()),
        "every default deployment answers without a provider"
    );
    assert!(c.model_list[0]
        .mock_response
        .as_deref()
        .unwrap()
        .starts_with("Hello from Tollgate!"));
    assert_eq!(c.tollgate.port, 4000);
    // The demo config, with its well-known key, serves this machine only.
    assert_eq!(c.tollgate.host, "127.0.0.1");

    // The file on disk is the same text.
    let on_disk = std::fs::read_to_string(conf_dir().join("config.yaml")).unwrap();
    assert_eq!(on_disk, EMBEDDED_DEFAULT);
    let from_file = load_file(&conf_dir().join("config.yaml"), LoadOptions::default()).unwrap();
    assert_eq!(from_file.config.model_list.len(), c.model_list.len());
}

fn examples() -> Vec<PathBuf> {
    let dir = conf_dir().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
}

/// Example files include each other: set the variables of all of them first.
fn prepare_env(files: &[PathBuf]) {
    for f in files {
        set_referenced_env(&std::fs::read_to_string(f).unwrap());
    }
}

#[test]
fn every_example_loads() {
    let files = examples();
    assert!(
        files.len() >= 4,
        "expected the shipped examples, found {files:?}"
    );
    prepare_env(&files);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        let l = load_file(f, LoadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!l.config.model_list.is_empty(), "{name}: no deployments");
        // Drop-in examples show LiteLLM settings Tollgate does not implement yet; every other
        // example must be clean enough for --strict.
        if name.contains("dropin") {
            assert!(
                !l.warnings.is_empty(),
                "{name}: expected not-supported-yet warnings"
            );
        } else {
            let strict = load_file(f, LoadOptions { strict: true });
            assert!(
                strict.is_ok(),
                "{name} under --strict: {}",
                strict.unwrap_err()
            );
        }
    }
}

#[test]
fn example_specifics() {
    let files = examples();
    prepare_env(&files);
    let load = |name: &str| {
        load_file(
            &conf_dir().join("examples").join(name),
            LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .config
    };

    let openai = load("openai.yaml");
    let groups = openai.model_groups();
    assert!(groups.contains(&"o3-mini"), "include merged: {groups:?}");
    let mini: Vec<_> = openai
        .model_list
        .iter()
        .filter(|d| d.model_name == "gpt-4o-mini")
        .collect();
    assert_eq!(mini.len(), 2, "one group, two deployments");
    assert_eq!(mini[0].id, "gpt-4o-mini-primary");

    let vllm = load("vllm.yaml");
    let lm = vllm
        .model_list
        .iter()
        .find(|d| d.model_name == "local-llama")
        .unwrap();
    assert_eq!(
        lm.api_base.as_ref().unwrap().url,
        "http://localhost:1234/v1"
    );
    let qwen = &vllm.model_list[0];
    assert_eq!(qwen.model, "Qwen/Qwen2.5-7B-Instruct");
    assert!(
        qwen.extra_params.is_empty() && qwen.internal_params.contains_key("max_parallel_requests")
    );

    let dropin_path = conf_dir().join("examples/litellm-dropin.yaml");
    let dropin = load_file(&dropin_path, LoadOptions::default()).unwrap();
    assert_eq!(
        dropin.config.router.routing_strategy,
        crate::Strategy::UsageBased
    );
    assert!(load_file(&dropin_path, LoadOptions { strict: true }).is_err());
}

#[test]
fn shipped_configs_use_unique_test_env_names() {
    // Tests that assert on unset variables rely on examples never referencing them.
    for f in examples() {
        let text = std::fs::read_to_string(&f).unwrap();
        for var in ["CEREBRAS_API_KEY", "PERPLEXITYAI_API_KEY", "TOLLGATE_T_"] {
            assert!(!text.contains(var), "{} references {var}", f.display());
        }
    }
}

#[test]
fn docs_provider_table_matches_providers() {
    let docs = std::fs::read_to_string(conf_dir().join("../docs/config.md")).unwrap();
    for spec in adapters::provider::PROVIDERS {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", spec.prefix)))
            .unwrap_or_else(|| panic!("docs/config.md has no row for {}", spec.prefix));
        if let Some(base) = spec.default_api_base {
            assert!(row.contains(&format!("`{base}`")), "{row}");
        }
        for var in spec.api_key_env.iter().chain(spec.api_base_env) {
            assert!(row.contains(&format!("`{var}`")), "{row}");
        }
        let build = if spec.implemented {
            "| yes |"
        } else {
            "| not yet |"
        };
        assert!(row.ends_with(build), "{row}");
    }
}
