//! Who gets in, and what is held back: the master key and salt key from the config or the
//! environment (LiteLLM's precedence), misspelled sections and keys named with a suggestion, and
//! `litellm_params` keys that must never reach the provider.

use serde_json::json;

use super::{errors, errors_opts, ok, with_env, ONE_MOCK};
use crate::{load_str, LoadOptions, MasterKeySource};

fn master(yaml: &str, env: &[(&str, &str)]) -> Option<(String, MasterKeySource)> {
    with_env(env, || {
        let g = ok(yaml).config.general;
        g.master_key
            .map(|k| (k.expose().to_string(), g.master_key_source.unwrap()))
    })
}

#[test]
fn master_key_from_config_wins_over_litellm_master_key() {
    let env = [
        ("LITELLM_MASTER_KEY", "sk-from-env"),
        ("MY_KEY", "sk-via-ref"),
    ];
    let cfg = |general: &str| format!("{ONE_MOCK}{general}");
    // The config's own key, literal or by reference, wins.
    assert_eq!(
        master(&cfg("general_settings: {master_key: sk-literal}\n"), &env),
        Some(("sk-literal".into(), MasterKeySource::Config))
    );
    assert_eq!(
        master(
            &cfg("general_settings: {master_key: os.environ/MY_KEY}\n"),
            &env
        ),
        Some(("sk-via-ref".into(), MasterKeySource::Config))
    );
    // No master_key in the config (no section, an empty one, one with other keys, or the key
    // with no value): the environment variable.
    for general in [
        "",
        "general_settings:\n",
        "general_settings: {max_request_size_mb: 5}\n",
        "general_settings: {master_key: }\n",
    ] {
        assert_eq!(
            master(&cfg(general), &env),
            Some(("sk-from-env".into(), MasterKeySource::Env)),
            "{general:?}"
        );
    }
    // Neither: no auth.
    assert_eq!(master(ONE_MOCK, &[]), None);
    // `environment_variables:` count as the environment, as in LiteLLM.
    assert_eq!(
        master(
            &cfg("environment_variables: {LITELLM_MASTER_KEY: sk-from-file}\n"),
            &[]
        ),
        Some(("sk-from-file".into(), MasterKeySource::Env))
    );
}

#[test]
fn litellm_master_key_is_checked_like_the_config_key() {
    let errs = with_env(&[("LITELLM_MASTER_KEY", "")], || errors(ONE_MOCK));
    assert_eq!(
        errs,
        vec!["LITELLM_MASTER_KEY: must not be empty (unset the variable to run without auth)"]
    );
    let l = with_env(&[("LITELLM_MASTER_KEY", "admin-s3cret")], || ok(ONE_MOCK));
    assert_eq!(
        l.warnings,
        vec!["LITELLM_MASTER_KEY: does not start with \"sk-\" (LiteLLM requires it; Tollgate accepts it)"]
    );
    assert!(!format!("{:?}", l.config).contains("s3cret"));
    // An unset os.environ/ reference is an error, never a silent fallback to no auth.
    let errs = with_env(&[("LITELLM_MASTER_KEY", "sk-x")], || {
        errors(&format!(
            "{ONE_MOCK}general_settings: {{master_key: os.environ/NOT_SET_ANYWHERE}}\n"
        ))
    });
    assert_eq!(
        errs,
        vec!["general_settings.master_key: environment variable NOT_SET_ANYWHERE is not set (os.environ/NOT_SET_ANYWHERE)"]
    );
}

#[test]
fn salt_key_is_read_and_keys_the_credential_encryption() {
    let hex = |k: [u8; 32]| k.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let yaml = format!("{ONE_MOCK}general_settings: {{master_key: sk-master}}\n");
    let g = with_env(&[("LITELLM_SALT_KEY", "sk-salt")], || {
        ok(&yaml).config.general
    });
    assert_eq!(g.salt_key.as_ref().unwrap().expose(), "sk-salt");
    assert!(!format!("{g:?}").contains("sk-salt"));
    // SHA-256 of the salt key, else of the master key, as LiteLLM derives its encryption key.
    assert_eq!(
        hex(g.credential_encryption_key().unwrap()),
        "9f8a2aaccb70ffae6bb4c95ff77f7970c9e91a5b2df3d15ec1a9135201b5c58e"
    );
    let g = with_env(&[], || ok(&yaml).config.general);
    assert!(g.salt_key.is_none());
    assert_eq!(
        hex(g.credential_encryption_key().unwrap()),
        "3b69a285cbd23f85131f55dfcac89d7d58835845072500d7d408898ad9c39e93"
    );
    assert!(with_env(&[], || ok(ONE_MOCK)
        .config
        .general
        .credential_encryption_key())
    .is_none());
}

#[test]
fn misspelled_sections_and_keys_name_the_key_they_meant() {
    let yaml = "
model_list:
  - model_name: a
    litellm_params: {model: openai/a, mock_response: x}
    model_infos: {id: x}
genral_settings:
  master_key: sk-lost
general_settings:
  max_request_size_mb: 5
  mastr_key: sk-also-lost
litellm_settings:
  request_timout: 10
router_settings:
  num_retires: 2
tollgate_settings:
  hots: 0.0.0.0
";
    let l = with_env(&[], || ok(yaml));
    let mut w = l.warnings.clone();
    w.sort();
    assert_eq!(
        w,
        vec![
            "general_settings.mastr_key: unknown key (did you mean `master_key`?), ignored",
            "genral_settings: unknown section (did you mean `general_settings`?) — none of its settings apply, ignored",
            "litellm_settings.request_timout: unknown key (did you mean `request_timeout`?), ignored",
            "model_list[0].model_infos: unknown key (did you mean `model_info`?), ignored",
            "router_settings.num_retires: unknown key (did you mean `num_retries`?), ignored",
            "tollgate_settings.hots: unknown key (did you mean `host`?), ignored",
        ]
    );
    assert!(l.config.general.master_key.is_none());
    assert!(w.iter().all(|w| !w.contains("lost")), "{w:?}");
    let errs = with_env(&[], || errors_opts(yaml, LoadOptions { strict: true }));
    assert!(
        errs.contains(
            &"genral_settings: unknown section (did you mean `general_settings`?) — none of its settings apply (not allowed with --strict)"
                .to_string()
        ),
        "{errs:#?}"
    );
    assert_eq!(errs.len(), 6, "{errs:#?}");
}

const PARAMS: &str = "
model_list:
  - model_name: a
    litellm_params:
      model: openai/a
      api_key: sk-real
      api_kye: sk-typo-0123456789abcdef
      ttl: 60
      priority: 1
      temperature: 0.2
      temprature: 0.3
      custom_flag: true
      vendor_opt: sk-looks-like-a-key-0123
  - model_name: b
    litellm_params:
      model: openai/b
      ttl: 30
      custom_flag: false
      top_k: 5
";

#[test]
fn litellm_params_secrets_and_litellm_settings_never_reach_the_provider() {
    let l = with_env(&[], || ok(PARAMS));
    let a = &l.config.model_list[0];
    let mut sent: Vec<&str> = a.extra_params.keys().map(String::as_str).collect();
    sent.sort_unstable();
    assert_eq!(sent, ["custom_flag", "temperature", "temprature"]);
    assert_eq!(a.extra_params["temperature"], json!(0.2));
    assert!(!a.internal_params.contains_key("api_kye"));
    assert!(!a.internal_params.contains_key("vendor_opt"));
    assert_eq!(a.internal_params["ttl"], json!(60));
    let b = &l.config.model_list[1];
    let mut sent: Vec<&str> = b.extra_params.keys().map(String::as_str).collect();
    sent.sort_unstable();
    assert_eq!(sent, ["custom_flag", "top_k"]);

    // One warning per key name, however many deployments carry it; never the value.
    let mut w = l.warnings.clone();
    w.sort();
    assert_eq!(
        w,
        vec![
            "model_list[0].litellm_params.api_kye: unknown key (did you mean `api_key`?); its name looks like a credential, so it is never sent to the provider (ignored)",
            "model_list[0].litellm_params.custom_flag: unknown key; sent to the provider as a request parameter, as LiteLLM does (and in 1 more deployment)",
            "model_list[0].litellm_params.priority: a LiteLLM setting Tollgate does not implement, ignored (not sent upstream)",
            "model_list[0].litellm_params.temprature: unknown key (did you mean `temperature`?); sent to the provider as a request parameter, as LiteLLM does",
            "model_list[0].litellm_params.ttl: a LiteLLM setting Tollgate does not implement, ignored (not sent upstream) (and in 1 more deployment)",
            "model_list[0].litellm_params.vendor_opt: unknown key; its value looks like a credential, so it is never sent to the provider (ignored)",
        ]
    );
    let all = w.join("\n");
    assert!(
        !all.contains("sk-typo") && !all.contains("sk-looks"),
        "{all}"
    );

    let errs = with_env(&[], || errors_opts(PARAMS, LoadOptions { strict: true }));
    assert_eq!(errs.len(), 6, "{errs:#?}");
    assert!(errs.iter().all(|e| !e.contains("sk-")), "{errs:#?}");
}

#[test]
fn a_clean_drop_in_config_still_loads_without_warnings() {
    let l = load_str(
        &format!("{ONE_MOCK}general_settings: {{master_key: sk-x}}\n"),
        None,
        LoadOptions { strict: true },
    )
    .unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}
