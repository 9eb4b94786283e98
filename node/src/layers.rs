//! The layering of the crate docs, checked on the sources: a module may
//! import (`crate::...`) only its own layer and those below, and the files
//! of one folder may not import each other (`super::file`) in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `lib.rs`'s docs, bottom first.
const LAYERS: &[&[&str]] = &[
    &[
        "limits",
        "types",
        "genesis",
        "keys",
        "abi",
        "background",
        "faults",
    ],
    &["metrics"],
    &["state"],
    &["execution"],
    &["chain"],
    &["net"],
    &["consensus"],
    &["rpc"],
    &["config"],
    &["node"],
    &["test_utils"],
];

/// Items of `lib.rs` itself, which depend on nothing of the crate.
const ROOT_ITEMS: &[&str] = &["init_logging"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The source files of the library (the binaries are crates of their own).
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "bin") {
                sources(&path, found);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The code of a file without its comments, so that doc links do not
/// count as imports.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first path segments after every `prefix` (`crate::`, `super::`),
/// including each of a `{a, b::c}` group.
fn first_segments<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    first_segments_at(code, prefix)
        .into_iter()
        .map(|(_, name)| name)
        .collect()
}

/// [`first_segments`], each with the offset in `code` of its `prefix`.
fn first_segments_at<'a>(code: &'a str, prefix: &str) -> Vec<(usize, &'a str)> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let offset = code.len() - rest.len() + at;
        rest = &rest[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.push((offset, ident(group[start..index].trim())));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push((offset, ident(group[start..index].trim())));
                        start = index + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.push((offset, ident(rest)));
        }
    }
    names.retain(|(_, name)| !name.is_empty() && *name != "self");
    names
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to: `state/tree.rs` to `state`.
fn module_of(src: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap();
    let first = first.as_os_str().to_str().unwrap();
    first.strip_suffix(".rs").unwrap_or(first).to_owned()
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let src = src_dir();
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "found only {files:?}");
    let mut violations = Vec::new();
    for path in &files {
        let module = module_of(&src, path);
        if module == "lib" || module == "layers" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            violations.push(format!("{module} is in no layer of lib.rs's docs"));
            continue;
        };
        let code = code(path);
        // Unit tests (the `#[cfg(test)]` module at the end of a file) may
        // use the shared fixtures of `test_utils`, as integration tests do.
        let tests_start = code.find("#[cfg(test)]").unwrap_or(code.len());
        for (at, target) in first_segments_at(&code, "crate::") {
            if ROOT_ITEMS.contains(&target) || (at >= tests_start && target == "test_utils") {
                continue;
            }
            match layer_of(target) {
                Some(layer) if layer <= own => {}
                Some(_) => violations.push(format!(
                    "{} imports crate::{target}, a layer above {module}",
                    path.display()
                )),
                None => violations.push(format!(
                    "{} imports crate::{target}, which is in no layer",
                    path.display()
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_files_of_a_folder_import_each_other_without_cycles() {
    let src = src_dir();
    let mut files = Vec::new();
    sources(&src, &mut files);
    // folder -> file -> the sibling files it imports through `super::`.
    let mut graphs: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for path in &files {
        let (Some(folder), Some(stem)) = (path.parent(), path.file_stem()) else {
            continue;
        };
        if folder == src || stem == "mod" {
            continue;
        }
        let siblings: BTreeSet<String> = std::fs::read_dir(folder)
            .unwrap()
            .filter_map(|entry| {
                let path = entry.unwrap().path();
                Some(path.file_stem()?.to_str()?.to_owned())
            })
            .collect();
        let imports = first_segments(&code(path), "super::")
            .into_iter()
            .filter(|name| siblings.contains(*name) && *name != "mod")
            .map(str::to_owned)
            .collect();
        graphs
            .entry(folder.to_owned())
            .or_default()
            .insert(stem.to_str().unwrap().to_owned(), imports);
    }
    assert!(graphs.len() >= 5, "{graphs:?}");
    for (folder, graph) in &graphs {
        // Repeatedly remove files that import no remaining file.
        let mut remaining = graph.clone();
        while let Some(leaf) = remaining
            .iter()
            .find(|(_, imports)| imports.iter().all(|name| !remaining.contains_key(name)))
            .map(|(name, _)| name.clone())
        {
            remaining.remove(&leaf);
        }
        assert!(
            remaining.is_empty(),
            "the files of {} import each other in a cycle: {remaining:?}",
            folder.display()
        );
    }
}

#[test]
fn the_parser_sees_grouped_and_nested_imports() {
    let code = "use crate::{a, b::{c, d}, self};\nuse crate::e::f;\nlet x = crate::g(1);";
    assert_eq!(first_segments(code, "crate::"), ["a", "b", "e", "g"]);
}
