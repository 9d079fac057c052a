//! Raw stage: YAML text → `serde_json` tree, `include:` files (merged, nested, cycle-checked),
//! `environment_variables:` and `os.environ/NAME` resolution. Its output is one merged
//! top-level map plus the path label of every `model_list` entry; no schema checks happen here.

use std::path::{Path, PathBuf};

use serde_json::{Map, Number, Value};

use crate::diag::{index, join, kind, quote, show, Diag};

/// The merged document, ready for validation.
pub(crate) struct RawConfig {
    /// Top-level sections, without `include` and `environment_variables`.
    pub root: Map<String, Value>,
    /// `model_list` entries in merged order (own entries first, then each include's).
    pub entries: Vec<Value>,
    /// The path naming each entry in messages: `model_list[2]`, or `models.yaml: model_list[0]`
    /// for an entry that came from an included file.
    pub entry_paths: Vec<String>,
    pub env: Env,
    /// The merged document before `os.environ/` references were resolved (`model_list`
    /// included): what `Config::shown` is redacted from.
    pub unresolved: Map<String, Value>,
    /// The main file's directory: relative paths in sections (`blocked_words_file`) start here.
    pub dir: PathBuf,
}

/// Environment lookups: `environment_variables:` from the config first, then the process.
#[derive(Debug, Default)]
pub(crate) struct Env {
    vars: Vec<(String, String)>,
}

pub(crate) enum Lookup {
    Set(String),
    Unset,
    NotUnicode,
}

#[cfg(test)]
thread_local! {
    /// Unit tests: when set, stands in for the process environment on this thread, so a test
    /// can set a fixed name (`LITELLM_MASTER_KEY`) without racing the tests running beside it.
    pub(crate) static TEST_PROCESS_ENV: std::cell::RefCell<Option<Vec<(String, String)>>> =
        const { std::cell::RefCell::new(None) };
}

impl Env {
    pub(crate) fn get(&self, name: &str) -> Lookup {
        if let Some((_, v)) = self.vars.iter().find(|(k, _)| k == name) {
            return Lookup::Set(v.clone());
        }
        #[cfg(test)]
        if let Some(found) = TEST_PROCESS_ENV.with_borrow(|vars| {
            vars.as_ref().map(|vars| {
                vars.iter()
                    .find(|(k, _)| k == name)
                    .map_or(Lookup::Unset, |(_, v)| Lookup::Set(v.clone()))
            })
        }) {
            return found;
        }
        match std::env::var(name) {
            Ok(v) => Lookup::Set(v),
            Err(std::env::VarError::NotPresent) => Lookup::Unset,
            Err(std::env::VarError::NotUnicode(_)) => Lookup::NotUnicode,
        }
    }

    /// A set, non-empty variable.
    pub(crate) fn non_empty(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Lookup::Set(v) if !v.is_empty() => Some(v),
            _ => None,
        }
    }

    /// Puts `environment_variables:` into the process environment, as LiteLLM does. Only
    /// variables whose value changes are written, so reloading an unchanged config does not
    /// touch the environment while other threads may be reading it.
    pub(crate) fn apply(&self) {
        #[cfg(test)]
        if TEST_PROCESS_ENV.with_borrow_mut(|fake| {
            fake.as_mut()
                .map(|fake| fake.extend(self.vars.iter().cloned()))
                .is_some()
        }) {
            return;
        }
        for (k, v) in &self.vars {
            if std::env::var(k).ok().as_deref() != Some(v.as_str()) {
                std::env::set_var(k, v);
            }
        }
    }
}

/// One parsed file and the files it includes.
#[derive(Clone)]
struct Doc {
    /// Prefix of every path in this file: empty for the main file, `"models.yaml: "` otherwise.
    label: String,
    root: Map<String, Value>,
    env: Map<String, Value>,
    children: Vec<Doc>,
}

/// Parses `text` (the main file), loads its includes and resolves environment references.
/// `None` only when the main file is not YAML at all; every other problem is recorded in `d`.
pub(crate) fn load(
    text: &str,
    base_dir: Option<&Path>,
    main_file: Option<&Path>,
    d: &mut Diag,
) -> Option<RawConfig> {
    let dir = base_dir.map(Path::to_path_buf).unwrap_or_default();
    // Labels of included files are shown relative to the main file's directory.
    let label_root = std::fs::canonicalize(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &dir
    })
    .unwrap_or_else(|_| dir.clone());
    let mut stack: Vec<PathBuf> = main_file
        .and_then(|p| std::fs::canonicalize(p).ok())
        .into_iter()
        .collect();
    let mut doc = parse_doc(text, String::new(), &dir, &label_root, &mut stack, d)?;

    let mut env_map = Map::new();
    collect_env(&doc, &mut env_map);
    let env = Env {
        vars: env_map
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
            .collect(),
    };
    let unresolved = doc.clone();
    resolve_doc(&mut doc, &env, d);

    let mut raw = RawConfig {
        root: Map::new(),
        entries: Vec::new(),
        entry_paths: Vec::new(),
        env,
        unresolved: Map::new(),
        dir,
    };
    merge(doc, &mut raw, d);
    // The same merge over the unresolved tree (its problems are already reported above).
    let mut shown = RawConfig {
        root: Map::new(),
        entries: Vec::new(),
        entry_paths: Vec::new(),
        env: Env::default(),
        unresolved: Map::new(),
        dir: raw.dir.clone(),
    };
    merge(unresolved, &mut shown, &mut Diag::default());
    raw.unresolved = shown.root;
    raw.unresolved
        .insert("model_list".into(), Value::Array(shown.entries));
    Some(raw)
}

/// YAML → JSON tree. Anchors and `<<:` merge keys are applied; scalar keys become strings.
pub(crate) fn parse_yaml(text: &str, label: &str, d: &mut Diag) -> Option<Value> {
    let mut yaml: serde_norway::Value = match serde_norway::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            d.error("", format_args!("{label}YAML syntax error: {e}"));
            return None;
        }
    };
    if let Err(e) = yaml.apply_merge() {
        d.error("", format_args!("{label}YAML merge key (<<) error: {e}"));
        return None;
    }
    Some(convert(yaml, label, d))
}

fn convert(v: serde_norway::Value, path: &str, d: &mut Diag) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else if let Some(f) = n.as_f64().and_then(Number::from_f64) {
                Value::Number(f)
            } else {
                d.error(path, "infinite or NaN numbers are not supported");
                Value::Null
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(
            seq.into_iter()
                .enumerate()
                .map(|(i, v)| convert(v, &index(path, i), d))
                .collect(),
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    _ => {
                        d.error(path, "map keys must be plain scalars, not lists or maps");
                        continue;
                    }
                };
                let child = join(path, &key);
                out.insert(key, convert(v, &child, d));
            }
            Value::Object(out)
        }
        // Custom tags (`!Ref x`) carry no meaning here: keep the value.
        Y::Tagged(t) => convert(t.value, path, d),
    }
}

/// Parses one file and, recursively, its `include:` list. `dir` resolves relative includes;
/// `root_dir` shortens labels; `stack` holds the canonical paths being loaded (cycle check).
fn parse_doc(
    text: &str,
    label: String,
    dir: &Path,
    root_dir: &Path,
    stack: &mut Vec<PathBuf>,
    d: &mut Diag,
) -> Option<Doc> {
    let mut root = match parse_yaml(text, &label, d)? {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        other => {
            let path = if label.is_empty() {
                "(top level)".to_string()
            } else {
                label.trim_end_matches(": ").to_string()
            };
            d.error(
                &path,
                format_args!("expected a map of sections, got {}", kind(&other)),
            );
            return None;
        }
    };

    let env = match root.remove("environment_variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => check_env(m, &join(&label, "environment_variables"), d),
        Some(other) => {
            let path = join(&label, "environment_variables");
            d.error(
                &path,
                format_args!("expected a map, got {}", show(&path, &other)),
            );
            Map::new()
        }
    };

    let mut children = Vec::new();
    let include_path = join(&label, "include");
    let includes: Vec<(String, Value)> = match root.remove("include") {
        None | Some(Value::Null) => Vec::new(),
        Some(v @ Value::String(_)) => vec![(include_path.clone(), v)],
        Some(Value::Array(list)) => list
            .into_iter()
            .enumerate()
            .map(|(i, v)| (index(&include_path, i), v))
            .collect(),
        Some(other) => {
            d.error(
                &include_path,
                format_args!(
                    "expected a list of file paths, got {}",
                    show(&include_path, &other)
                ),
            );
            Vec::new()
        }
    };
    for (path, v) in includes {
        let Value::String(file) = v else {
            d.error(
                &path,
                format_args!("expected a file path, got {}", show(&path, &v)),
            );
            continue;
        };
        if let Some(child) = load_include(&file, &path, dir, root_dir, stack, d) {
            children.push(child);
        }
    }
    Some(Doc {
        label,
        root,
        env,
        children,
    })
}

fn load_include(
    file: &str,
    path: &str,
    dir: &Path,
    root_dir: &Path,
    stack: &mut Vec<PathBuf>,
    d: &mut Diag,
) -> Option<Doc> {
    let target = dir.join(file);
    let canonical = match std::fs::canonicalize(&target) {
        Ok(p) => p,
        Err(e) => {
            d.error(
                path,
                format_args!(
                    "cannot read included file {}: {e}",
                    quote(&target.display().to_string())
                ),
            );
            return None;
        }
    };
    if let Some(pos) = stack.iter().position(|p| *p == canonical) {
        let chain: Vec<String> = stack[pos..]
            .iter()
            .chain(std::iter::once(&canonical))
            .map(|p| p.strip_prefix(root_dir).unwrap_or(p).display().to_string())
            .collect();
        d.error(path, format_args!("include cycle: {}", chain.join(" → ")));
        return None;
    }
    let text = match std::fs::read_to_string(&canonical) {
        Ok(t) => t,
        Err(e) => {
            d.error(
                path,
                format_args!(
                    "cannot read included file {}: {e}",
                    quote(&target.display().to_string())
                ),
            );
            return None;
        }
    };
    let shown = canonical.strip_prefix(root_dir).unwrap_or(&target);
    let label = format!("{}: ", shown.display());
    let child_dir = canonical
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    stack.push(canonical);
    let doc = parse_doc(&text, label, &child_dir, root_dir, stack, d);
    stack.pop();
    doc
}

/// `environment_variables` values must be plain scalars; names must be settable.
fn check_env(m: Map<String, Value>, base: &str, d: &mut Diag) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in m {
        let path = join(base, &k);
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            d.error(&path, "not a valid environment variable name");
            continue;
        }
        let value = match v {
            Value::String(s) if s.starts_with("os.environ/") => {
                d.error(
                    &path,
                    "os.environ/ references are not allowed here; give a plain value",
                );
                continue;
            }
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                d.error(
                    &path,
                    format_args!("expected a string, got {}", show(&path, &other)),
                );
                continue;
            }
        };
        if value.contains('\0') {
            d.error(&path, "value contains a NUL byte");
            continue;
        }
        out.insert(k, Value::String(value));
    }
    out
}

/// Merged `environment_variables`: a file's own values win over those of its includes; among
/// includes, later ones win.
fn collect_env(doc: &Doc, out: &mut Map<String, Value>) {
    for child in &doc.children {
        collect_env(child, out);
    }
    for (k, v) in &doc.env {
        out.insert(k.clone(), v.clone());
    }
}

fn resolve_doc(doc: &mut Doc, env: &Env, d: &mut Diag) {
    for (k, v) in doc.root.iter_mut() {
        resolve(v, &join(&doc.label, k), env, d);
    }
    for child in &mut doc.children {
        resolve_doc(child, env, d);
    }
}

/// Replaces every string `os.environ/NAME` with the variable's value.
fn resolve(v: &mut Value, path: &str, env: &Env, d: &mut Diag) {
    match v {
        Value::String(s) => {
            let Some(name) = s.strip_prefix("os.environ/") else {
                return;
            };
            let name = name.trim().to_string();
            if name.is_empty() {
                d.error(path, "os.environ/ needs a variable name (os.environ/NAME)");
                return;
            }
            match env.get(&name) {
                Lookup::Set(value) => *s = value,
                Lookup::Unset => d.error(
                    path,
                    format_args!("environment variable {name} is not set (os.environ/{name})"),
                ),
                Lookup::NotUnicode => d.error(
                    path,
                    format_args!(
                        "environment variable {name} is not valid UTF-8 (os.environ/{name})"
                    ),
                ),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                resolve(item, &index(path, i), env, d);
            }
        }
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                resolve(item, &join(path, k), env, d);
            }
        }
        _ => {}
    }
}

/// Folds a file and its includes into `raw`: `model_list` entries are appended (own first,
/// then each include's in order); other sections merge key by key, the including file winning.
fn merge(doc: Doc, raw: &mut RawConfig, d: &mut Diag) {
    let Doc {
        label,
        mut root,
        children,
        ..
    } = doc;
    let list_path = join(&label, "model_list");
    match root.remove("model_list") {
        None | Some(Value::Null) => {}
        Some(Value::Array(entries)) => {
            for (i, e) in entries.into_iter().enumerate() {
                raw.entry_paths.push(index(&list_path, i));
                raw.entries.push(e);
            }
        }
        Some(other) => d.error(
            &list_path,
            format_args!(
                "expected a list of deployments, got {}",
                show(&list_path, &other)
            ),
        ),
    }
    // Earlier siblings lose to this file's includes, which lose to this file's own keys.
    let earlier = std::mem::take(&mut raw.root);
    for child in children {
        merge(child, raw, d);
    }
    let from_includes = std::mem::take(&mut raw.root);
    raw.root = overlay(earlier, overlay(from_includes, root));
}

/// `top` over `base`: maps merge one level deep (a section's keys), anything else is replaced.
fn overlay(mut base: Map<String, Value>, top: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(_), Value::Null) => {}
            (Some(Value::Object(b)), Value::Object(t)) => {
                for (tk, tv) in t {
                    b.insert(tk, tv);
                }
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
    base
}
