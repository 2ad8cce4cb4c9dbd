//! Finds the end-to-end test files: writes `e2e_modules.rs`, one `mod` per
//! `tests/*.rs` of the workspace (but `main.rs`), which `tests/main.rs`
//! includes. Cargo reruns this when a file in `tests/` is added or removed.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let tests = Path::new(&manifest_dir).join("../tests");
    println!("cargo::rerun-if-changed={}", tests.display());
    let mut modules: Vec<(String, String)> = std::fs::read_dir(&tests)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
                .filter_map(|path| {
                    let name = path.file_stem()?.to_str()?.to_owned();
                    let path = path.canonicalize().ok()?.display().to_string();
                    (name != "main").then_some((name, path))
                })
                .collect()
        })
        // A package built outside the workspace (e.g. `cargo package`) has no tests.
        .unwrap_or_default();
    modules.sort();
    let source: String = modules
        .iter()
        .map(|(name, path)| format!("#[path = {path:?}]\nmod {name};\n"))
        .collect();
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("e2e_modules.rs");
    std::fs::write(out, source).expect("OUT_DIR is writable");
}
