//! The shape of `shared/src`, held by tests rather than by review:
//! - no import circle between its files (a module's own children are not counted: declaring
//!   and re-exporting them is structure, not use);
//! - every item key and sort-key prefix is built in `table.rs` or `records/`;
//! - no service follows a query's cursor by hand (the records layer pages).
//!
//! Run alone with `cargo test -p shared --test architecture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src`, by its module path (`services/ingest/mod.rs` is
/// `services::ingest`, `lib.rs` the empty path).
fn modules() -> BTreeMap<Vec<String>, (PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(src()).unwrap().with_extension("");
            let mut segments: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            (segments, (path, without_comments(&text)))
        })
        .collect()
}

/// The text without `//` comments (doc comments name paths that are not imports).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a `use` tree names, braces expanded: `a::{b, c::{d, e}}` is `a::b`, `a::c::d`,
/// `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let renamed = Regex::new(r"\s+as\s+\w+").unwrap();
    let tree: String = renamed.replace_all(tree, "").split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The module a path names from inside `here`, as far as it is a module of this crate.
fn resolve(here: &[String], path: &str, known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segments = path.split("::").map(str::to_owned);
    let mut at: Vec<String> = match segments.next()?.as_str() {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => here[..here.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    let mut rest: Vec<String> = segments.collect();
    while rest.first().is_some_and(|s| s == "super") {
        at.pop();
        rest.remove(0);
    }
    // The longest prefix that is one of our files.
    let mut best = at.clone();
    for s in rest {
        at.push(s);
        if known.contains(&at) {
            best = at.clone();
        }
    }
    Some(best)
}

fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let uses = Regex::new(r"(?s)\buse\s+((?:crate|super|self)::[^;]+);").unwrap();
    let inline = Regex::new(r"\b(?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
    let mut graph = BTreeMap::new();
    for (here, (_, text)) in &modules {
        let mut paths: Vec<String> = uses
            .captures_iter(text)
            .flat_map(|c| expand(&c[1]))
            .collect();
        paths.extend(inline.find_iter(text).map(|m| m.as_str().to_owned()));
        let targets: BTreeSet<Vec<String>> = paths
            .iter()
            .filter_map(|p| resolve(here, p, &known))
            // A module's own descendants (and itself) are structure, not use.
            .filter(|t| !t.starts_with(here))
            .collect();
        graph.insert(here.clone(), targets);
    }
    graph
}

/// Every circle of the graph, each as the files on it (Tarjan's strongly connected
/// components of more than one file).
fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let Some((w, _)) = graph.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[w].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.index[w].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.join("::"));
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_file_of_shared_src_imports_itself_in_a_circle() {
    let graph = import_graph();
    assert!(graph.len() > 50, "the walk found {} files", graph.len());
    // The walk sees real imports: services use the records layer.
    assert!(graph[&vec!["services".to_owned(), "sender".to_owned()]]
        .contains(&vec!["records".to_owned(), "message".to_owned()]));
    let found = circles(&graph);
    assert!(found.is_empty(), "import circles: {found:#?}");
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let v = |s: &str| vec![s.to_owned()];
    let graph = BTreeMap::from([
        (v("a"), BTreeSet::from([v("b")])),
        (v("b"), BTreeSet::from([v("c")])),
        (v("c"), BTreeSet::from([v("a")])),
        (v("d"), BTreeSet::from([v("a")])),
    ]);
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c"]]);
    assert_eq!(
        expand("super::{a::B, c::{D, E as F}, G}"),
        ["super::a::B", "super::c::D", "super::c::E", "super::G"]
    );
}

/// Files that may build keys: the layout, the records layer, and the ports and adapters that
/// carry keys to and from a backend.
fn may_build_keys(path: &Path) -> bool {
    let rel = path.strip_prefix(src()).unwrap();
    rel == Path::new("table.rs")
        || rel.starts_with("records")
        || rel.starts_with("ports")
        || rel.starts_with("adapters")
}

#[test]
fn keys_and_prefixes_are_built_in_table_rs_and_records_only() {
    // A key made by hand, a key prefix spelled out (`"BROADCAST#"`), or a sort key or
    // partition of the layout's own (`"ACCOUNT"`, `"SCHEDULE"`).
    let key = Regex::new(r"Key::new\(").unwrap();
    let prefix = Regex::new(r#""[A-Z][A-Z_]{2,}#"#).unwrap();
    let words = Regex::new(
        r#""(ACCOUNTS?|DATAKEY|BILLING|INVENTORY|RECEIPT|SCHEDULE|WAMID|METERED|ROUTE|RATE|PAIR|CUSTOMER|MEDIALINK|APIKEYHASH|WABA)""#,
    )
    .unwrap();
    let mut found = Vec::new();
    for (path, text) in modules().into_values() {
        if may_build_keys(&path) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if key.is_match(line) || prefix.is_match(line) || words.is_match(line) {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "keys built outside table.rs and records/: {found:#?}"
    );
}

#[test]
fn no_service_follows_a_cursor_by_hand() {
    // `match page.next { Some(c) => cursor = Some(c), … }` and its kin.
    let by_hand = Regex::new(r"match\s+\S*\.next\s*\{|cursor\s*=\s*(Some|page|next)").unwrap();
    let mut found = Vec::new();
    for (path, text) in modules().into_values() {
        if !path.strip_prefix(src()).unwrap().starts_with("services") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if by_hand.is_match(line) {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "cursor loops in services: {found:#?}");
}
