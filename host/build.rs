//! Builds the guest plugins in `plugins/` to `wasm32-wasip2` components and
//! exposes them to the host: built-in plugins as embedded bytes, test plugins
//! as file paths.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// Plugins embedded in the binary.
const BUILTIN: &[&str] = &[
    "chat_stream_http",
    "gmail_push_webhook",
    "whatsapp_webhook",
    "http_request",
    "rotation_round_robin",
    "rotation_stride",
    "rotation_random",
    "slo_threshold",
    "slo_burn_rate",
    "payload_whatsapp_replay",
    "payload_chat_corpus",
];

/// Plugins built for tests only: exposed as paths, never embedded.
const TESTING: &[&str] = &[
    "hostile",
    "hostile_load",
    "not_scenario",
    "rotation_hostile",
    "slo_p99",
    "slo_spin",
    "payload_hostile",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root");
    let plugins = root.join("plugins");
    println!("cargo:rerun-if-changed={}", plugins.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = out_dir.join("plugins-target");
    ensure_target_installed();
    build_plugins(&plugins, &target_dir);

    let artifacts = target_dir.join(TARGET).join("release");
    let mut code = String::new();
    for name in BUILTIN {
        let path = artifact(&artifacts, name);
        writeln!(
            code,
            "/// The built-in `{name}` plugin component.\npub const {}: &[u8] = include_bytes!({:?});",
            name.to_uppercase(),
            path.display().to_string()
        )
        .expect("write to String");
    }
    for name in TESTING {
        let path = artifact(&artifacts, name);
        writeln!(
            code,
            "/// Path of the `{name}` test component.\npub const {}: &str = {:?};",
            name.to_uppercase(),
            path.display().to_string()
        )
        .expect("write to String");
    }
    fs::write(out_dir.join("plugin_artifacts.rs"), code).expect("write plugin_artifacts.rs");
}

/// The built component for `name` (a library's `.wasm`, or a binary's).
fn artifact(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "plugin build did not produce {}",
        path.display()
    );
    path
}

/// Installs the `wasm32-wasip2` standard library with rustup when it is missing.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("run rustc --print sysroot");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let libdir = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
    if libdir.exists() {
        return;
    }
    println!(
        "cargo:warning=installing the {TARGET} target with rustup (needed for the built-in plugins)"
    );
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .expect(
            "run rustup: install the Rust toolchain with rustup, or add the wasm32-wasip2 target",
        );
    assert!(status.success(), "`rustup target add {TARGET}` failed");
}

/// Compiles the guest workspace in release mode into `target_dir`.
fn build_plugins(plugins: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(plugins)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(target_dir);
    // Settings meant for the host build must not leak into the guest build.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_ENCODED_RUSTFLAGS")
            || key == "RUSTFLAGS"
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_PROFILE_")
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "RUSTC_WRAPPER"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd.status().expect("run cargo to build the plugins");
    assert!(
        status.success(),
        "building the plugins in {} failed",
        plugins.display()
    );
}
