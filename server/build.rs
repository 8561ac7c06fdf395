//! Builds the browser app (`designer-ui/`) into `designer-ui/dist`, which the binary embeds.
//!
//! `npm ci` runs when `node_modules` is missing or older than `package-lock.json`; `npm run
//! build` when `dist` is missing or older than any of the app's sources. Cargo reruns this
//! script only when a source changes. Without Node and npm the build stops with a message
//! saying what to install. `KANGDAO_SKIP_UI=1` skips all of it and embeds a placeholder page
//! instead (engine-only work on a machine without Node).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// What the built app depends on. Generated files (`src/api/schema.d.ts` is rewritten only when
/// `openapi.json` changes; `components.d.ts` sits outside `src`) never trigger a rebuild alone.
const SOURCES: &[&str] = &[
    "src",
    "public",
    "scripts",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
    "openapi.json",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kangdao_placeholder_ui)");
    println!("cargo::rerun-if-env-changed=KANGDAO_SKIP_UI");
    if std::env::var("KANGDAO_SKIP_UI").is_ok_and(|v| v == "1" || v == "true") {
        println!("cargo::rustc-cfg=kangdao_placeholder_ui");
        return;
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ui = manifest_dir
        .parent()
        .expect("the server crate sits in the workspace")
        .join("designer-ui");
    for source in SOURCES {
        let path = ui.join(source);
        // A path that does not exist would make cargo rerun this script on every build.
        if path.exists() {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
    let index = ui.join("dist/index.html");
    let sources_changed = newest_change(&ui, SOURCES);
    if modified(&index).is_some_and(|built| sources_changed.is_none_or(|s| s <= built)) {
        return;
    }
    check_npm();
    let installed = modified(&ui.join("node_modules/.package-lock.json"));
    let locked = modified(&ui.join("package-lock.json"));
    if installed.is_none() || locked > installed {
        run_npm(&ui, &["ci", "--no-audit", "--no-fund"]);
    }
    run_npm(&ui, &["run", "build"]);
    if !index.exists() {
        fail(&format!(
            "`npm run build` finished but {} is missing",
            index.display()
        ));
    }
}

fn npm() -> &'static str {
    if cfg!(windows) {
        "npm.cmd"
    } else {
        "npm"
    }
}

fn check_npm() {
    let found = Command::new(npm())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        fail(
            "building the browser app (designer-ui) needs Node.js 20.19+ and npm, and `npm` was \
             not found. Install them (Debian/Ubuntu: `apt-get install nodejs npm`; or from \
             https://nodejs.org), or build the server without the app: KANGDAO_SKIP_UI=1 cargo \
             build (it then serves a placeholder page).",
        );
    }
}

fn run_npm(dir: &Path, args: &[&str]) {
    // npm's output goes to stderr: cargo reads a build script's stdout as instructions.
    let status = Command::new(npm())
        .args(args)
        .current_dir(dir)
        .stdout(std::io::stderr())
        .status()
        .unwrap_or_else(|e| fail(&format!("could not run npm {}: {e}", args.join(" "))));
    if !status.success() {
        fail(&format!(
            "`npm {}` in {} failed ({status}); run it there to see why, or set KANGDAO_SKIP_UI=1 \
             to build the server with a placeholder page",
            args.join(" "),
            dir.display()
        ));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    panic!("{message}");
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The latest modification time of the sources, walking folders; None when none exists.
fn newest_change(root: &Path, sources: &[&str]) -> Option<SystemTime> {
    let mut newest = None;
    let mut pending: Vec<PathBuf> = sources.iter().map(|s| root.join(s)).collect();
    while let Some(path) = pending.pop() {
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if let Ok(time) = meta.modified() {
            newest = newest.max(Some(time));
        }
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    newest
}
