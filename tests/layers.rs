//! The layering ARCHITECTURE.md draws, checked against the code: every `crate::…` a source file
//! names must be its own layer or one its row of "Allowed imports" lists, and every layer of
//! `src/` must have a row. Within the app, the shared state imports no widget and no view. A
//! newcomer who imports upward meets this test, not a tangle later.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The "Allowed imports" table: each layer and the layers it may import.
fn allowed_imports() -> BTreeMap<String, BTreeSet<String>> {
    let architecture =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let table = architecture
        .split("## Allowed imports")
        .nth(1)
        .expect("ARCHITECTURE.md has an \"Allowed imports\" section");
    let names = |cell: &str| -> BTreeSet<String> {
        cell.split(',')
            .map(|name| name.trim().trim_matches('`').to_string())
            .filter(|name| !name.is_empty())
            .collect()
    };
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
            let layer = cells[0].trim().trim_matches('`').to_string();
            (layer, names(cells.get(1).copied().unwrap_or("")))
        })
        .collect()
}

fn source_files(folder: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(folder).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            source_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The layers named as `crate::name` in the code of `text` (comments left out).
fn named_layers(text: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                named.insert(name);
            }
        }
    }
    named
}

#[test]
fn every_import_points_where_architecture_md_allows() {
    let allowed = allowed_imports();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut layers_seen = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let layer = first.trim_end_matches(".rs").to_string();
        if layer == "lib" || layer == "main" {
            continue; // the crate's root declares every layer
        }
        layers_seen.insert(layer.clone());
        let Some(may) = allowed.get(&layer) else {
            wrong.push(format!(
                "{}: layer `{layer}` has no row in ARCHITECTURE.md",
                relative.display()
            ));
            continue;
        };
        for named in named_layers(&std::fs::read_to_string(file).unwrap()) {
            if named != layer && !may.contains(&named) {
                wrong.push(format!(
                    "{} imports `{named}`, which `{layer}` may not",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against ARCHITECTURE.md:\n{}",
        wrong.join("\n")
    );
    for layer in ["dataset", "model", "ops", "training", "review", "app", "cli"] {
        assert!(layers_seen.contains(layer), "the check found the `{layer}` layer");
    }
    // What the layering promises above all: the data layer knows nothing of what uses it.
    for above in ["review", "training", "app", "cli", "model"] {
        assert!(
            !allowed["dataset"].contains(above),
            "dataset may not import {above}"
        );
    }
}

#[test]
fn the_check_sees_an_upward_import() {
    assert!(named_layers("use crate::review::PatchKey;\n").contains("review"));
    assert!(named_layers("// crate::review in a comment\n").is_empty());
}

#[test]
fn the_apps_shared_state_imports_no_widget_and_no_view() {
    let state = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/app/state");
    let mut files = Vec::new();
    source_files(&state, &mut files);
    assert!(!files.is_empty());
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("app::widgets") || code.contains("app::views") {
                wrong.push(format!("{}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "state draws nothing, so imports no widget or view:\n{}",
        wrong.join("\n")
    );
}
