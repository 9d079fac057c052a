//! The gateway never names a provider (docs/adding-a-provider.md): what it needs to know about
//! one it asks the provider table in `adapters` (`adapters::provider`). This scan of
//! `gateway/src` fails on
//! - a provider's or a dialect's variant (`Provider::Bedrock`, `Dialect::VertexAi`), also
//!   through an alias (`use …::Provider as P; P::Bedrock`) or an imported variant
//!   (`use …::Provider::{Bedrock}`, `Provider::*`);
//! - a provider's adapter module (`adapters::bedrock`, `use adapters::{gemini, …}`), except the
//!   two client APIs the gateway speaks itself (see [`CLIENT_API_MODULES`]);
//! - a string literal that is a provider prefix (`"vertex_ai"`), except the ones in
//!   [`ALLOWED_LITERALS`], each with its reason.
//!
//! Comments are not code; test code (`#[cfg(test)]` items and the files they declare) is exempt:
//! its fixtures name providers as configs do. Calls of the table itself
//! (`Provider::split_model`, `Provider::from_prefix`) are not variants and pass.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use adapters::provider::PROVIDERS;

/// Adapter modules the gateway may name, and why: they are client APIs, not providers.
const CLIENT_API_MODULES: &[(&str, &str)] = &[
    (
        "anthropic",
        "the Anthropic Messages front door (/v1/messages) is a client API the gateway serves",
    ),
    (
        "openai",
        "the OpenAI shape is the canonical request/response every dialect translates to",
    ),
];

/// Provider prefixes allowed as string literals, by file (below `gateway/src`), and why.
const ALLOWED_LITERALS: &[(&str, &str, &str)] = &[
    (
        "routes/table.rs",
        "anthropic",
        "the API-docs tag of the Anthropic Messages routes (a client API)",
    ),
    (
        "routes/table.rs",
        "openai",
        "the API-docs tag of the OpenAI routes (a client API)",
    ),
    (
        "runtime.rs",
        "openai",
        "`owned_by` of /v1/models entries, as LiteLLM answers it",
    ),
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    PathSep,
    Punct(char),
}

/// Rust source → tokens with their line numbers. Comments are dropped; string, byte and raw
/// string literals become `Str` (their text as written, escapes not decoded); char literals
/// and lifetimes are dropped; numbers are skipped.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let ident_start = |ch: char| ch.is_alphabetic() || ch == '_';
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some((text, end)) = string_at(&c, i) {
            out.push((Tok::Str(text.clone()), line));
            line += text.matches('\n').count();
            i = end;
        } else if ch == '\'' {
            // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a, 'static).
            if c.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if ident_start(ch) {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            out.push((Tok::Ident(c[start..i].iter().collect()), line));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (ident_char(c[i]) || c[i] == '.') {
                i += 1;
            }
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// A string literal starting at `i` ("…", b"…", r#"…"#, br"…"): its text and the index past it.
fn string_at(c: &[char], i: usize) -> Option<(String, usize)> {
    let prev_ident = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
    if prev_ident {
        return None;
    }
    let mut j = i;
    if c[j] == 'b' {
        j += 1;
    }
    let raw = c.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let mut hashes = 0;
    while raw && c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    let start = j;
    while j < c.len() {
        if !raw && c[j] == '\\' {
            j += 2;
            continue;
        }
        if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
            let text = c[start..j].iter().collect();
            return Some((text, j + 1 + hashes));
        }
        j += 1;
    }
    None
}

/// The tokens outside `#[cfg(test)]` items, and the names of the modules such items declare
/// without a body (`#[cfg(test)] mod tests;`: their files are test code too).
fn without_tests(toks: Vec<(Tok, usize)>) -> (Vec<(Tok, usize)>, Vec<String>) {
    let cfg_test = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    let mut out = Vec::new();
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let is_cfg_test = toks.len() - i >= cfg_test.len()
            && toks[i..i + cfg_test.len()]
                .iter()
                .map(|(t, _)| t)
                .eq(cfg_test.iter());
        if !is_cfg_test {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        // Skip the item: up to its `;`, or its `{ … }` block.
        i += cfg_test.len();
        let mut last_ident = None;
        let mut saw_mod = false;
        while i < toks.len() {
            match &toks[i].0 {
                Tok::Punct(';') => {
                    if saw_mod {
                        test_files.extend(last_ident.take());
                    }
                    i += 1;
                    break;
                }
                Tok::Punct('{') => {
                    let mut depth = 0;
                    while i < toks.len() {
                        match toks[i].0 {
                            Tok::Punct('{') => depth += 1,
                            Tok::Punct('}') => depth -= 1,
                            _ => {}
                        }
                        i += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    break;
                }
                Tok::Ident(name) => {
                    saw_mod |= name == "mod";
                    last_ident = Some(name.clone());
                    i += 1;
                }
                _ => i += 1,
            }
        }
    }
    (out, test_files)
}

/// What the gateway must not name.
struct Rules {
    /// `Provider` and `Dialect` variants.
    variants: BTreeSet<String>,
    /// Provider prefixes (`bedrock`, `vertex_ai`).
    prefixes: BTreeSet<String>,
    /// Adapter modules named after a provider, less the client-API ones.
    modules: BTreeSet<String>,
}

impl Rules {
    fn from_table(adapter_modules: &[String]) -> Rules {
        let mut variants = BTreeSet::new();
        let mut prefixes = BTreeSet::new();
        for spec in PROVIDERS {
            variants.insert(format!("{:?}", spec.provider));
            variants.insert(format!("{:?}", spec.dialect));
            prefixes.insert(spec.prefix.to_string());
        }
        let modules = adapter_modules
            .iter()
            .filter(|m| prefixes.contains(*m))
            .filter(|m| !CLIENT_API_MODULES.iter().any(|(a, _)| a == m))
            .cloned()
            .collect();
        Rules {
            variants,
            prefixes,
            modules,
        }
    }

    /// Every way `toks` (one file, `rel` below `gateway/src`) names a provider.
    fn findings(&self, rel: &str, toks: &[(Tok, usize)]) -> Vec<String> {
        let ident = |i: usize| match toks.get(i) {
            Some((Tok::Ident(s), _)) => Some(s.as_str()),
            _ => None,
        };
        let is = |i: usize, t: &Tok| toks.get(i).map(|(x, _)| x) == Some(t);
        // `Provider` and `Dialect`, and what they are imported as.
        let mut qualifiers: BTreeSet<&str> = ["Provider", "Dialect"].into();
        for i in 0..toks.len() {
            if let (Some("Provider" | "Dialect"), Some("as"), Some(alias)) =
                (ident(i), ident(i + 1), ident(i + 2))
            {
                qualifiers.insert(alias);
            }
        }
        let mut found = Vec::new();
        // The identifiers of a `{ … }` use tree starting at `open`.
        let braced = |open: usize| -> Vec<(&str, usize)> {
            let mut names = Vec::new();
            let mut depth = 0;
            for (t, line) in &toks[open..] {
                match t {
                    Tok::Punct('{') => depth += 1,
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Ident(s) if depth == 1 => names.push((s.as_str(), *line)),
                    _ => {}
                }
            }
            names
        };
        for (i, (tok, line)) in toks.iter().enumerate() {
            let Tok::Ident(name) = tok else {
                if let Tok::Str(s) = tok {
                    let allowed = ALLOWED_LITERALS
                        .iter()
                        .any(|(file, lit, _)| *file == rel && lit == s);
                    if self.prefixes.contains(s) && !allowed {
                        found.push(format!("{rel}:{line}: provider prefix \"{s}\""));
                    }
                }
                continue;
            };
            if !is(i + 1, &Tok::PathSep) {
                continue;
            }
            let after_path_sep = i > 0 && is(i - 1, &Tok::PathSep);
            if qualifiers.contains(name.as_str()) {
                if let Some(v) = ident(i + 2).filter(|v| self.variants.contains(*v)) {
                    found.push(format!("{rel}:{line}: {name}::{v}"));
                } else if is(i + 2, &Tok::Punct('*')) {
                    found.push(format!("{rel}:{line}: {name}::* imports every variant"));
                } else if is(i + 2, &Tok::Punct('{')) {
                    for (v, l) in braced(i + 2) {
                        if self.variants.contains(v) {
                            found.push(format!("{rel}:{l}: {name}::{{{v}}}"));
                        }
                    }
                }
            }
            if name == "adapters" && !after_path_sep {
                if let Some(m) = ident(i + 2).filter(|m| self.modules.contains(*m)) {
                    found.push(format!("{rel}:{line}: adapters::{m}"));
                } else if is(i + 2, &Tok::Punct('{')) {
                    for (m, l) in braced(i + 2) {
                        if self.modules.contains(m) {
                            found.push(format!("{rel}:{l}: adapters::{{{m}}}"));
                        }
                    }
                }
            }
        }
        found
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("gateway/ is inside the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules of the adapters crate (`adapters/src/{name}.rs` or `{name}/`).
fn adapter_modules() -> Vec<String> {
    let src = workspace().join("adapters/src");
    fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .map(|e| e.expect("directory entry").path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|x| x == "rs")).then_some(name)
        })
        .collect()
}

/// The directory a module file's child modules live in (`a/mod.rs` → `a/`, `a/b.rs` → `a/b/`).
fn child_dir(file: &Path) -> PathBuf {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let dir = file.parent().expect("a file has a parent");
    if matches!(stem, "mod" | "main" | "lib") {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    }
}

#[test]
fn gateway_src_names_no_provider() {
    let rules = Rules::from_table(&adapter_modules());
    assert!(
        rules.modules.contains("bedrock") && rules.variants.contains("VertexAi"),
        "the rules come from the provider table"
    );
    let src = workspace().join("gateway/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut scanned = Vec::new();
    let mut test_files: BTreeSet<PathBuf> = BTreeSet::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (toks, tests) = without_tests(tokenize(&text));
        for t in tests {
            let dir = child_dir(file);
            test_files.insert(dir.join(format!("{t}.rs")));
            test_files.insert(dir.join(&t).join("mod.rs"));
        }
        scanned.push((file, toks));
    }
    let mut found = Vec::new();
    for (file, toks) in &scanned {
        if test_files.contains(*file) {
            continue;
        }
        let rel = file
            .strip_prefix(&src)
            .expect("below gateway/src")
            .to_string_lossy()
            .replace('\\', "/");
        found.extend(rules.findings(&rel, toks));
    }
    assert!(
        scanned.len() > 50 && test_files.len() >= 2,
        "the scan read the gateway"
    );
    assert!(
        found.is_empty(),
        "gateway/src names providers; ask the provider table in adapters::provider instead \
         (docs/adding-a-provider.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn every_allowed_literal_is_still_there() {
    let src = workspace().join("gateway/src");
    for (file, lit, why) in ALLOWED_LITERALS {
        let text = fs::read_to_string(src.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (toks, _) = without_tests(tokenize(&text));
        assert!(
            toks.iter().any(|(t, _)| *t == Tok::Str(lit.to_string())),
            "{file} no longer has \"{lit}\" ({why}): remove it from ALLOWED_LITERALS"
        );
    }
}

#[test]
fn the_scan_finds_each_way_of_naming_a_provider() {
    let modules: Vec<String> = ["bedrock", "gemini", "anthropic", "openai", "dialect"]
        .map(String::from)
        .to_vec();
    let rules = Rules::from_table(&modules);
    let src = r##"
        use adapters::provider::{Dialect, Provider as P};
        use adapters::provider::Provider::{Groq, Cohere};
        use adapters::{bedrock, dialect};
        fn f(p: Provider) -> bool {
            // Provider::Azure in a comment is not code; nor is "Provider::Azure" in a string.
            let s = r#"Dialect::Ollama"#;
            let c = 'x';
            let _ = adapters::gemini::request::build;
            let _ = adapters::anthropic::front::error_body;
            let _ = Provider::split_model(s);
            p == Provider::Bedrock || P::VertexAi == p || p.dialect() == Dialect::OllamaChat
                || p.prefix() == "vertex_ai"
        }
        #[cfg(test)]
        mod tests {
            fn g() { let _ = Provider::Anthropic; }
        }
        #[cfg(test)]
        mod fixtures;
    "##;
    let (toks, test_files) = without_tests(tokenize(src));
    assert_eq!(test_files, vec!["fixtures".to_string()]);
    let found = rules.findings("x.rs", &toks);
    assert_eq!(
        found,
        vec![
            "x.rs:3: Provider::{Groq}",
            "x.rs:3: Provider::{Cohere}",
            "x.rs:4: adapters::{bedrock}",
            "x.rs:9: adapters::gemini",
            "x.rs:12: Provider::Bedrock",
            "x.rs:12: P::VertexAi",
            "x.rs:12: Dialect::OllamaChat",
            "x.rs:13: provider prefix \"vertex_ai\"",
        ]
    );
}
