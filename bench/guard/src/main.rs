//! Guardrail micro-bench: CPU time of the built-in guardrails a 4 KiB prompt goes through
//! (content filter with prebuilt patterns, keywords, the prompt-injection set and every
//! built-in category at `severity_threshold: low`, i.e. all their phrases; secret
//! detection; PII detection), compiled from a LiteLLM config as the gateway compiles it; then
//! the precision corpus report. The guard engine is the gateway's own source, included by path.

#[path = "../../../gateway/src/guard/checks.rs"]
mod checks;
#[path = "../../../gateway/src/guard/corpus.rs"]
mod corpus;
#[path = "../../../gateway/src/guard/detect.rs"]
mod detect;
#[path = "../../../gateway/src/guard/text.rs"]
mod text;

/// This thread's time on a CPU so far (ns), from the scheduler: the machine may be busy, wall
/// time is not what the bench is about.
fn cpu_ns() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap()
}

use conf::guard::GuardKind;
use detect::Detector;
use serde_json::{json, Map, Value};

const CONFIG: &str = r#"
model_list:
  - model_name: m
    litellm_params: {model: openai/m, api_key: sk-x, api_base: "http://127.0.0.1:9"}
guardrails:
  - guardrail_name: content-filter
    litellm_params:
      guardrail: litellm_content_filter
      mode: pre_call
      default_on: true
      patterns:
        - {pattern_type: prebuilt, pattern_name: us_ssn, action: BLOCK}
        - {pattern_type: prebuilt, pattern_name: email, action: MASK}
        - {pattern_type: prebuilt, pattern_name: credit_card, action: BLOCK}
        - {pattern_type: regex, pattern: 'PROJECT-\d{6}', name: project_code, action: BLOCK}
      blocked_words:
        - {keyword: confidential, action: MASK}
        - {keyword: project apollo, action: BLOCK}
        - {keyword: internal only, action: MASK}
        - {keyword: salary, action: MASK}
        - {keyword: acquisition, action: BLOCK}
      categories:
        - {category: prompt_injection, action: BLOCK}
        - {category: harmful_violence, severity_threshold: low}
        - {category: harmful_self_harm, severity_threshold: low}
        - {category: harmful_illegal_weapons, severity_threshold: low}
        - {category: harmful_child_safety, severity_threshold: low}
        - {category: bias_gender, severity_threshold: low}
        - {category: bias_racial, severity_threshold: low}
        - {category: bias_religious, severity_threshold: low}
        - {category: bias_sexual_orientation, severity_threshold: low}
        - {category: denied_financial_advice, severity_threshold: low}
        - {category: denied_legal_advice, severity_threshold: low}
        - {category: denied_insults, severity_threshold: low}
  - guardrail_name: secrets
    litellm_params: {guardrail: hide-secrets, mode: pre_call, default_on: true}
  - guardrail_name: pii
    litellm_params: {guardrail: tollgate_pii, mode: pre_call, default_on: true}
"#;

/// A 4 KiB chat request: a system prompt, prose, a code snippet, numbers that look like but are
/// not PII (versions, order numbers, dates), and (`with_hit`) one e-mail address.
fn prompt(with_hit: bool) -> Map<String, Value> {
    let prose = "The quarterly report covers revenue, churn and the roadmap for the next two \
        releases. Version 2.4.1 shipped on 2024-03-18 with order 88123 fixes; build 20240318.7 \
        passed 1,204 tests in 93.5 s. Please summarise the risks, list open questions and \
        propose three experiments with their expected impact on retention. ";
    let code = "fn main() { let total: u64 = (1..=100).sum(); println!(\"{total}\"); } ";
    let mut user = String::new();
    while user.len() < 3600 {
        user.push_str(prose);
        user.push_str(code);
    }
    if with_hit {
        user.push_str(" Reply to dana.lee@example.com please.");
    }
    let body = json!({"model": "m", "messages": [
        {"role": "system", "content": "You are a careful analyst. Answer in short bullet points."},
        {"role": "user", "content": user},
    ]});
    let Value::Object(m) = body else {
        unreachable!()
    };
    m
}

fn run(detectors: &[Detector], body: &mut Map<String, Value>) -> usize {
    let mut n = 0;
    for d in detectors {
        for t in text::request_texts(body) {
            if let detect::Outcome::Masked(k) = d.apply(t, |tag, _| tag.to_string()) {
                n += k;
            }
        }
    }
    n
}

fn main() {
    let loaded = conf::load_str(CONFIG, None, conf::LoadOptions::default()).expect("config");
    let detectors: Vec<Detector> = loaded
        .config
        .guardrails
        .iter()
        .map(|g| match &g.kind {
            GuardKind::Local(r) => Detector::new(r).expect("compiles"),
            _ => unreachable!(),
        })
        .collect();
    let clean = prompt(false);
    let size = serde_json::to_vec(&clean).unwrap().len();
    let iters: u32 = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    for (name, with_hit) in [
        ("clean 4 KiB prompt", false),
        ("4 KiB prompt, one e-mail masked", true),
    ] {
        let base = prompt(with_hit);
        // The body is cloned per iteration (masking changes it); the clone is timed apart and
        // subtracted.
        let t = cpu_ns();
        for _ in 0..iters {
            std::hint::black_box(base.clone());
        }
        let clone_ns = (cpu_ns() - t) / f64::from(iters);
        let mut best = f64::MAX;
        let mut masked = 0;
        for _ in 0..5 {
            let t = cpu_ns();
            for _ in 0..iters {
                let mut b = base.clone();
                masked = run(&detectors, &mut b);
                std::hint::black_box(&b);
            }
            let ns = (cpu_ns() - t) / f64::from(iters) - clone_ns;
            best = best.min(ns);
        }
        println!(
            "{name} ({size} bytes JSON): {:.1} µs CPU per request for 3 guardrails (content filter, secrets, PII; {masked} masked; best of 5 × {iters})",
            best / 1000.0
        );
    }
    let corpus = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/guardrails/corpus.tsv"
    ))
    .expect("corpus");
    let d = Detector::new(&corpus::all_rules()).unwrap();
    let r = corpus::evaluate(&d, &corpus);
    println!(
        "precision corpus: {} cases, {} expected findings, {} found, {} false positives, {} misses",
        r.cases,
        r.expected,
        r.found_right,
        r.false_positives.len(),
        r.misses.len()
    );
    for (p, t) in &r.false_positives {
        println!("  false positive {p}: {t}");
    }
    for (p, t) in &r.misses {
        println!("  miss {p}: {t}");
    }
}
