//! The library's folders stack as `src/lib.rs` lays them out: each imports only from the
//! folders above it, never back up, so there is no cycle between them.

use std::path::Path;

/// The folders, top layer first.
const LAYERS: [&str; 6] = ["platform", "model", "batch", "streaming", "ops", "dashboard"];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_folder_imports_from_a_folder_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let re = regex::Regex::new(r"crate::(platform|model|batch|streaming|ops|dashboard)\b").unwrap();
    let mut checked = 0;
    let mut upward = Vec::new();
    for (layer, folder) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        sources(&src.join(folder), &mut files);
        assert!(!files.is_empty(), "src/{folder} holds the layer's modules");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for m in re.captures_iter(line) {
                    let used = LAYERS.iter().position(|l| *l == &m[1]).unwrap();
                    if used > layer {
                        upward.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                    }
                }
            }
            checked += 1;
        }
    }
    // Every module of the library is in a layer: only lib.rs and the binaries are outside.
    let mut all = Vec::new();
    sources(&src, &mut all);
    let outside: Vec<_> = all
        .iter()
        .filter(|p| {
            let rel = p.strip_prefix(&src).unwrap();
            rel != Path::new("lib.rs") && !rel.starts_with("bin") && rel.components().count() == 1
        })
        .collect();
    assert!(outside.is_empty(), "modules outside the layers: {outside:?}");
    assert!(checked >= 25, "{checked} files");
    assert!(upward.is_empty(), "imports from a layer below:\n{}", upward.join("\n"));
}
