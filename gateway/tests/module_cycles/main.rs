//! The import-cycle check `cargo test` runs (so CI does): builds the module graph of each crate
//! below from its sources and fails on any cycle not listed in `baseline.txt`, on any
//! baseline entry that is no longer exactly a cycle, and on a management resource file
//! (`gateway/src/admin/`) importing another one. See docs/code-layout.md; the module graph is
//! built in `graph.rs`.
//!
//! A node is a module file (inline modules such as `mod tests` belong to their file). An edge
//! A → B is any path in A that names module B: `use crate::b::…`, `super::…`, `self::…`, or a
//! child module by name (`b::f()`), also inside `use` trees (`use crate::{a, b::{c, d}}`),
//! expressions and test modules; a path to an item counts for the module that holds it as
//! written (a re-export counts for the re-exporting module). An edge between a module and its
//! own ancestor does not count: a folder's `mod.rs` and its files are written as one unit (the
//! children use the parent's types, the parent dispatches to its children). A cycle is a
//! strongly connected component of more than one module.

mod graph;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use graph::Graph;

/// The workspace crates whose module graphs are checked (`bench`, a test harness, is not).
const CRATES: &[&str] = &["gateway", "adapters", "conf", "store"];

/// The management modules every resource file may import (they import no resource file), and
/// the dispatch modules, the only ones that import resource files. Every other module under
/// `admin::` is a resource file.
const ADMIN_SHARED: &[&str] = &[
    "access",
    "documents",
    "entity_ops",
    "error",
    "key_fields",
    "key_scope",
    "key_secrets",
    "log_rows",
    "membership_ops",
    "request",
    "responses",
    "route_fields",
    "validate",
];
const ADMIN_DISPATCH: &[&str] = &["", "spec"];

fn workspace() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .parent()
    .unwrap()
    .to_path_buf()
}

/// Every crate root of the checked packages, named `package` or `package/bin/name`.
fn crate_roots() -> Vec<(String, PathBuf)> {
    let ws = workspace();
    let mut out = Vec::new();
    for pkg in CRATES {
        let src = ws.join(pkg).join("src");
        for root in ["lib.rs", "main.rs"] {
            if src.join(root).exists() {
                out.push((pkg.to_string(), src.join(root)));
            }
        }
        if let Ok(bins) = fs::read_dir(src.join("bin")) {
            let mut bins: Vec<PathBuf> = bins.map(|e| e.unwrap().path()).collect();
            bins.sort();
            for b in bins
                .into_iter()
                .filter(|b| b.extension().is_some_and(|e| e == "rs"))
            {
                let name = b.file_stem().unwrap().to_string_lossy().into_owned();
                out.push((format!("{pkg}/bin/{name}"), b));
            }
        }
    }
    out
}

/// A cycle as the baseline writes it: `crate: module module …`, modules sorted.
pub(crate) fn line(krate: &str, g: &Graph, scc: &BTreeSet<usize>) -> String {
    let mut names: Vec<String> = scc.iter().map(|n| g.name(*n)).collect();
    names.sort();
    format!("{krate}: {}", names.join(" "))
}

#[test]
fn no_import_cycle_outside_the_baseline() {
    let ws = workspace();
    let text = fs::read_to_string(ws.join("gateway/tests/module_cycles/baseline.txt")).unwrap();
    let baseline: BTreeSet<String> = text
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut mods = w[1..].to_vec();
            mods.sort();
            format!("{} {}", w[0], mods.join(" "))
        })
        .collect();
    let mut found = BTreeSet::new();
    let mut problems = String::new();
    for (krate, root) in crate_roots() {
        let g = Graph::build(&root);
        for scc in g.cycles() {
            let l = line(&krate, &g, &scc);
            if !baseline.contains(&l) {
                problems += &format!("a new import cycle:\n  {l}\n{}", g.explain(&scc, &ws));
            }
            found.insert(l);
        }
    }
    for l in baseline.difference(&found) {
        problems += &format!(
            "a baseline entry is no longer exactly a cycle (take it out, or write what is left of it):\n  {l}\n"
        );
    }
    assert!(
        problems.is_empty(),
        "\n{problems}\nSee docs/code-layout.md, \"The import-cycle check\"."
    );
}

#[test]
fn admin_resource_files_import_no_other_resource_file() {
    let g = Graph::build(&workspace().join("gateway/src/main.rs"));
    let admin = |n: usize| -> Option<String> {
        let p = &g.files[n].0;
        (p.first().map(String::as_str) == Some("admin")).then(|| p[1..].join("::"))
    };
    let is_resource = |m: &str| !ADMIN_SHARED.contains(&m) && !ADMIN_DISPATCH.contains(&m);
    let mut bad = Vec::new();
    for ((a, b), (file, line)) in &g.edges {
        let (Some(from), Some(to)) = (admin(*a), admin(*b)) else {
            continue;
        };
        if is_resource(&to) && !ADMIN_DISPATCH.contains(&from.as_str()) {
            let f = file.strip_prefix(workspace()).unwrap_or(file).display();
            bad.push(format!("admin::{from} -> admin::{to} ({f}:{line})"));
        }
    }
    assert!(
        bad.is_empty(),
        "management resource files import only the shared modules (ADMIN_SHARED): {bad:#?}"
    );
    assert!(
        g.modules
            .contains_key(&vec!["admin".to_string(), "keys".to_string()]),
        "the graph finds admin::keys"
    );
}
