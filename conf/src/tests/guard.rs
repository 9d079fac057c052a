//! Guardrail settings: the content filter's `blocked_words_file` (read from another file) and
//! its built-in `categories`.

use super::*;
use crate::guard::{Action, GuardKind};

fn filter(file: &str) -> String {
    format!(
        "{ONE_MOCK}guardrails:\n  - guardrail_name: words\n    litellm_params:\n      guardrail: litellm_content_filter\n      mode: pre_call\n      blocked_words_file: {file}\n"
    )
}

#[test]
fn blocked_words_file_is_read_relative_to_the_config_file() {
    let dir = temp_dir("words");
    write(
        &dir,
        "lists/words.yaml",
        "blocked_words:\n  - keyword: project-alpha\n    action: BLOCK\n    description: codename\n  - {keyword: internal, action: MASK}\n  - plainword\n",
    );
    let cfg = write(&dir, "config.yaml", &filter("lists/words.yaml"));
    let l = crate::load_file(&cfg, LoadOptions::default()).unwrap();
    let GuardKind::Local(rules) = &l.config.guardrails[0].kind else {
        panic!("a content filter")
    };
    let got: Vec<(&str, Action)> = rules
        .words
        .iter()
        .map(|w| (w.keyword.as_str(), w.action))
        .collect();
    assert_eq!(
        got,
        [
            ("project-alpha", Action::Block),
            ("internal", Action::Mask),
            ("plainword", Action::Block)
        ]
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn blocked_words_file_problems_are_errors() {
    let dir = temp_dir("words-bad");
    let missing = write(&dir, "a.yaml", &filter("nope.yaml"));
    let e = crate::load_file(&missing, LoadOptions::default()).unwrap_err();
    assert!(
        e.errors
            .iter()
            .any(|e| e.contains("blocked_words_file") && e.contains("cannot read")),
        "{e:?}"
    );
    write(&dir, "big.yaml", &"x".repeat(2 << 20));
    let big = write(&dir, "b.yaml", &filter("big.yaml"));
    let e = crate::load_file(&big, LoadOptions::default()).unwrap_err();
    assert!(e.errors.iter().any(|e| e.contains("limit")), "{e:?}");
    write(
        &dir,
        "act.yaml",
        "blocked_words:\n  - {keyword: x, action: SHOUT}\n",
    );
    let act = write(&dir, "c.yaml", &filter("act.yaml"));
    let e = crate::load_file(&act, LoadOptions::default()).unwrap_err();
    assert!(e.errors.iter().any(|e| e.contains("SHOUT")), "{e:?}");
}

fn categories(entries: &str) -> String {
    format!(
        "{ONE_MOCK}guardrails:\n  - guardrail_name: cats\n    litellm_params:\n      guardrail: litellm_content_filter\n      mode: pre_call\n      categories:\n{entries}"
    )
}

#[test]
fn categories_are_built_in_with_severity_thresholds() {
    let dir = temp_dir("cats");
    let cfg = write(
        &dir,
        "c.yaml",
        &categories("        - {category: harmful_violence, action: MASK}\n        - {category: harmful_self_harm, severity_threshold: high}\n        - {category: bias_racial, enabled: false}\n"),
    );
    let l = crate::load_file(&cfg, LoadOptions::default()).unwrap();
    let GuardKind::Local(rules) = &l.config.guardrails[0].kind else {
        panic!("a content filter")
    };
    let of = |source: &str| -> Vec<&crate::guard::WordRule> {
        rules.words.iter().filter(|w| w.source == source).collect()
    };
    // Medium (the default threshold) and up: no bare "murder" (low).
    let violence = of("harmful_violence");
    assert!(violence.iter().any(|w| w.keyword == "hire a hitman"));
    assert!(!violence.iter().any(|w| w.keyword == "murder"));
    assert!(violence.iter().all(|w| w.action == Action::Mask));
    // High only: "i want to die" (medium) is left out.
    let self_harm = of("harmful_self_harm");
    assert!(self_harm.iter().any(|w| w.keyword == "painless way to die"));
    assert!(!self_harm.iter().any(|w| w.keyword == "i want to die"));
    assert!(self_harm.iter().all(|w| w.action == Action::Block));
    assert!(of("bias_racial").is_empty(), "enabled: false");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn unknown_categories_bad_thresholds_and_category_files_are_errors() {
    let dir = temp_dir("cats-bad");
    for (entry, said) in [
        ("{category: harmful_everything}", "not built into Tollgate"),
        (
            "{category: claims_medical_advice, enabled: false}",
            "not built into Tollgate",
        ),
        (
            "{category: harmful_violence, severity_threshold: extreme}",
            "extreme",
        ),
        (
            "{category: my_own, category_file: cats.yaml}",
            "category_file",
        ),
    ] {
        let cfg = write(&dir, "c.yaml", &categories(&format!("        - {entry}\n")));
        let e = crate::load_file(&cfg, LoadOptions::default()).unwrap_err();
        assert!(e.errors.iter().any(|e| e.contains(said)), "{entry}: {e:?}");
    }
}
