//! Guardrail settings read from other files: the content filter's `blocked_words_file`.

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
