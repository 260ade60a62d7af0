//! Embeds the stories in `content/stories/*.md` into the binary, so a release build is
//! self-contained and adding a story is adding a file (and rebuilding).

use std::{env, fmt::Write, fs, path::PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let stories_dir = manifest_dir.join("../content/stories");
    println!("cargo:rerun-if-changed={}", stories_dir.display());

    let mut files: Vec<PathBuf> = fs::read_dir(&stories_dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", stories_dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    files.sort();

    let mut code = String::from("pub static STORY_FILES: &[(&str, &str)] = &[\n");
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        let path = path.canonicalize().expect("story file path");
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write to string");
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("stories.rs");
    fs::write(out, code).expect("write stories.rs");
}
