//! The module graph of one crate, read from its sources without compiling them: a tokenizer
//! that skips comments and literals, `use` trees and paths, `mod` declarations (with `#[path]`),
//! and the strongly connected components of the graph. What counts as an edge is described in
//! `main.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

/// Replaces comments, string, byte and char literals with spaces (newlines kept), so that only
/// code is tokenized.
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }))
    };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && ident(c[i - 1]);
        let start = i;
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
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
                    i += 1;
                }
            }
        } else if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) && {
            let mut j = i + if c[i] == 'b' { 2 } else { 1 };
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            c.get(j) == Some(&'"')
        } {
            i += if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while c[i] == '#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            while i < c.len() && !(c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')))
            {
                i += 1;
            }
            i = (i + 1 + hashes).min(c.len());
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(c.len());
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            i += 3;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i = (i + 1).min(c.len());
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
            continue;
        }
        blank(&mut out, &c[start..i]);
    }
    out
}

/// The tokens of a file that paths are made of, each with its line.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = strip(src).chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
        }
        if ch.is_alphabetic()
            || ch == '_'
            || (ch == '$' && c.get(i + 1).is_some_and(|n| n.is_alphabetic()))
        {
            let start = if ch == '$' { i + 1 } else { i };
            i = start;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let mut word: String = c[start..i].iter().collect();
            if word == "r" && c.get(i) == Some(&'#') {
                i += 1;
                let s = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                word = c[s..i].iter().collect();
            }
            out.push((Tok::Ident(word), line));
            continue;
        }
        let tok = match ch {
            ':' if c.get(i + 1) == Some(&':') => {
                i += 1;
                Tok::PathSep
            }
            '{' => Tok::Open,
            '}' => Tok::Close,
            ',' => Tok::Comma,
            '*' => Tok::Star,
            _ if ch.is_whitespace() => {
                i += 1;
                continue;
            }
            _ if ch.is_ascii_digit() => {
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Other, line));
                continue;
            }
            _ => Tok::Other,
        };
        out.push((tok, line));
        i += 1;
    }
    out
}

/// The `#[path = "file.rs"] mod name;` declarations of a file: name → path (relative to the
/// file's folder).
fn path_attributes(src: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (at, _) in src.match_indices("#[path") {
        let rest = &src[at..];
        let Some(file) = rest.split('"').nth(1) else {
            continue;
        };
        let after = &rest[rest.find(']').unwrap_or(0) + 1..];
        let mut words = after
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty());
        // Skip other attributes and visibility up to `mod name`.
        if let Some(name) = words.by_ref().skip_while(|w| *w != "mod").nth(1) {
            out.insert(name.to_string(), file.to_string());
        }
    }
    out
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// Walks `toks`, calling `visit(module path, index)` at every token with the path of the
/// (inline) module it stands in, relative to the file's module; `mod x;` and `mod x {` are
/// reported to `decl(inline path, name, inline)`.
fn walk(
    toks: &[(Tok, usize)],
    mut decl: impl FnMut(&[String], &str, bool),
    mut visit: impl FnMut(&[String], usize),
) {
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let here: Vec<String> = inline.iter().map(|(m, _)| m.clone()).collect();
        match &toks[i].0 {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(k) if k == "mod" => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    match toks.get(i + 2).map(|t| &t.0) {
                        Some(Tok::Open) => {
                            decl(&here, name, true);
                            inline.push((name.to_string(), depth));
                            depth += 1;
                            i += 3;
                            continue;
                        }
                        Some(Tok::Other) => decl(&here, name, false),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        visit(&here, i);
        i += 1;
    }
}

/// The paths a use tree (or an expression path) starting at `*pos` names.
fn tree(toks: &[(Tok, usize)], pos: &mut usize) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    loop {
        match toks.get(*pos).map(|t| &t.0) {
            Some(Tok::Ident(s)) if s != "as" => {
                segs.push(s.clone());
                *pos += 1;
                if toks.get(*pos).map(|t| &t.0) != Some(&Tok::PathSep) {
                    return vec![segs];
                }
                *pos += 1;
            }
            Some(Tok::Open) => {
                *pos += 1;
                let mut out = Vec::new();
                while let Some((t, _)) = toks.get(*pos) {
                    match t {
                        Tok::Close => {
                            *pos += 1;
                            break;
                        }
                        Tok::Comma => *pos += 1,
                        Tok::Ident(a) if a == "as" => *pos += 2,
                        Tok::Ident(_) | Tok::Open | Tok::Star => {
                            let before = *pos;
                            for sub in tree(toks, pos) {
                                out.push(segs.iter().cloned().chain(sub).collect());
                            }
                            if *pos == before {
                                *pos += 1;
                            }
                        }
                        _ => *pos += 1,
                    }
                }
                return out;
            }
            Some(Tok::Star) => {
                *pos += 1;
                return vec![segs];
            }
            _ => return vec![segs],
        }
    }
}

/// One crate's module graph: modules (inline ones belong to their file's node), their files,
/// and the edges between files with the first line naming each.
#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) modules: BTreeMap<Vec<String>, usize>,
    pub(crate) files: Vec<(Vec<String>, PathBuf)>,
    pub(crate) edges: BTreeMap<(usize, usize), (PathBuf, usize)>,
}

impl Graph {
    pub(crate) fn name(&self, node: usize) -> String {
        let path = &self.files[node].0;
        if path.is_empty() {
            "crate".into()
        } else {
            path.join("::")
        }
    }

    pub(crate) fn build(root: &Path) -> Graph {
        let mut g = Graph::default();
        let mut toks = Vec::new();
        let dir = root.parent().unwrap().to_path_buf();
        let mut queue = vec![(Vec::<String>::new(), root.to_path_buf(), dir)];
        while let Some((path, file, dir)) = queue.pop() {
            let node = g.files.len();
            g.files.push((path.clone(), file.clone()));
            g.modules.insert(path.clone(), node);
            let src =
                fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let t = tokens(&src);
            let paths = path_attributes(&src);
            let file_dir = file.parent().unwrap().to_path_buf();
            walk(
                &t,
                |inline, name, is_inline| {
                    let mut p = path.clone();
                    p.extend(inline.iter().cloned());
                    p.push(name.to_string());
                    let mut d = dir.clone();
                    d.extend(inline);
                    if is_inline {
                        g.modules.insert(p, node);
                        return;
                    }
                    let flat = d.join(format!("{name}.rs"));
                    let (f, sub) = if let Some(f) = paths.get(name).filter(|_| inline.is_empty()) {
                        (file_dir.join(f), d.join(name))
                    } else if flat.exists() {
                        (flat, d.join(name))
                    } else {
                        (d.join(name).join("mod.rs"), d.join(name))
                    };
                    queue.push((p, f, sub));
                },
                |_, _| {},
            );
            toks.push(t);
        }
        for (node, t) in toks.iter().enumerate() {
            g.add_edges(node, t);
        }
        g
    }

    fn add_edges(&mut self, node: usize, toks: &[(Tok, usize)]) {
        let file_path = self.files[node].0.clone();
        let mut found = Vec::new();
        walk(
            toks,
            |_, _, _| {},
            |inline, i| {
                let Some(first) = ident(toks.get(i)) else {
                    return;
                };
                if matches!(toks.get(i.wrapping_sub(1)), Some((Tok::PathSep, _)))
                    || toks.get(i + 1).map(|t| &t.0) != Some(&Tok::PathSep)
                {
                    return;
                }
                let mut here = file_path.clone();
                here.extend(inline.iter().cloned());
                let mut pos = i;
                let base = match first {
                    "crate" => {
                        pos += 2;
                        Vec::new()
                    }
                    "self" => {
                        pos += 2;
                        here
                    }
                    "super" => {
                        let mut b = here;
                        while ident(toks.get(pos)) == Some("super")
                            && toks.get(pos + 1).map(|t| &t.0) == Some(&Tok::PathSep)
                        {
                            b.pop();
                            pos += 2;
                        }
                        b
                    }
                    child
                        if self
                            .modules
                            .contains_key(&[here.clone(), vec![child.to_string()]].concat()) =>
                    {
                        here
                    }
                    _ => return,
                };
                for segs in tree(toks, &mut pos) {
                    let mut m = base.clone();
                    for s in segs.iter().filter(|s| *s != "self") {
                        m.push(s.clone());
                        if !self.modules.contains_key(&m) {
                            m.pop();
                            break;
                        }
                    }
                    found.push((self.modules[&m], toks[i].1));
                }
            },
        );
        for (to, line) in found {
            // A module and its own ancestors are one unit: see the file's header.
            let (a, b) = (&self.files[node].0, &self.files[to].0);
            if !a.starts_with(b) && !b.starts_with(a) {
                let file = self.files[node].1.clone();
                self.edges.entry((node, to)).or_insert((file, line));
            }
        }
    }

    /// The strongly connected components of more than one module (Tarjan).
    pub(crate) fn cycles(&self) -> Vec<BTreeSet<usize>> {
        struct T<'a> {
            g: &'a Graph,
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            stack: Vec<usize>,
            on: Vec<bool>,
            next: usize,
            out: Vec<BTreeSet<usize>>,
        }
        fn visit(t: &mut T, v: usize) {
            t.index[v] = Some(t.next);
            t.low[v] = t.next;
            t.next += 1;
            t.stack.push(v);
            t.on[v] = true;
            let succ: Vec<usize> =
                t.g.edges
                    .keys()
                    .filter(|(a, _)| *a == v)
                    .map(|(_, b)| *b)
                    .collect();
            for w in succ {
                match t.index[w] {
                    None => {
                        visit(t, w);
                        t.low[v] = t.low[v].min(t.low[w]);
                    }
                    Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                    _ => {}
                }
            }
            if Some(t.low[v]) == t.index[v] {
                let mut scc = BTreeSet::new();
                while let Some(w) = t.stack.pop() {
                    t.on[w] = false;
                    scc.insert(w);
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    t.out.push(scc);
                }
            }
        }
        let n = self.files.len();
        let mut t = T {
            g: self,
            index: vec![None; n],
            low: vec![0; n],
            stack: Vec::new(),
            on: vec![false; n],
            next: 0,
            out: Vec::new(),
        };
        for v in 0..n {
            if t.index[v].is_none() {
                visit(&mut t, v);
            }
        }
        t.out
    }

    /// The edges inside `scc`, one a line, for a failure message.
    pub(crate) fn explain(&self, scc: &BTreeSet<usize>, root: &Path) -> String {
        let mut s = String::new();
        for ((a, b), (file, line)) in &self.edges {
            if scc.contains(a) && scc.contains(b) {
                let f = file.strip_prefix(root).unwrap_or(file).display();
                s += &format!("    {} -> {}  ({f}:{line})\n", self.name(*a), self.name(*b));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scanner_reads_use_trees_and_skips_comments_and_strings() {
        let t = tokens("use crate::a::{b::{self, C}, d as e};\n// crate::x::y\nlet s = \"crate::z::w\"; let c = '{';");
        let i = t.iter().position(|(t, _)| *t == Tok::PathSep).unwrap() + 1;
        let mut pos = i;
        let paths = tree(&t, &mut pos);
        assert_eq!(
            paths,
            vec![vec!["a", "b", "self"], vec!["a", "b", "C"], vec!["a", "d"]]
        );
        assert!(!t
            .iter()
            .any(|(t, _)| matches!(t, Tok::Ident(s) if s == "x" || s == "z")));
        let count = |k: Tok| t.iter().filter(|(t, _)| *t == k).count();
        assert_eq!((count(Tok::Open), count(Tok::Close)), (2, 2));
    }

    #[test]
    fn a_cycle_between_siblings_is_found_and_a_folder_with_its_files_is_not_one() {
        let dir = std::env::temp_dir().join(format!("module-cycles-{}", std::process::id()));
        let files = [
            ("lib.rs", "mod a;\nmod b;\nmod c;\npub struct Root;"),
            ("a.rs", "use crate::b::{self as bee, B};\npub struct A;"),
            ("b.rs", "pub struct B;\nfn f() -> super::a::A { todo!() }"),
            (
                "c/mod.rs",
                "mod d;\npub use d::D;\npub struct C;\nfn f() { crate::Root; }",
            ),
            (
                "c/d.rs",
                "use super::C;\npub struct D;\n#[cfg(test)]\nmod tests { use super::super::C; }",
            ),
        ];
        for (name, src) in files {
            let path = dir.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, src).unwrap();
        }
        let g = Graph::build(&dir.join("lib.rs"));
        let cycles: Vec<String> = g.cycles().iter().map(|s| crate::line("t", &g, s)).collect();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cycles, vec!["t: a b"]);
        assert_eq!(g.files.len(), 5, "every module file is read");
    }
}
