//! Golden tests for bad input: each `ui/profile_*.json` or `ui/slo_*.json`
//! holds one invalid document, and the `.err` file next to it the exact
//! error it must produce. Run with `RELHOST_BLESS=1` to rewrite the `.err`
//! files after an intended change of wording.

use std::path::{Path, PathBuf};

use super::error::Origin;
use super::profile::parse_profile;
use super::slo::parse_slo_baseline;

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/policy/tests/ui")
}

#[test]
fn golden_errors() {
    let bless = std::env::var_os("RELHOST_BLESS").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(ui_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 20, "golden inputs found: {}", inputs.len());
    let mut failures = Vec::new();
    for input in &inputs {
        let file_name = input.file_name().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(input).unwrap();
        let origin = Origin::File(PathBuf::from("ui").join(file_name));
        let result = if file_name.starts_with("slo_") {
            parse_slo_baseline(&text, &origin).map(|_| ())
        } else {
            parse_profile(&text, &origin).map(|_| ())
        };
        let actual = match result {
            Ok(()) => "<no error>".to_owned(),
            Err(e) => e.to_string(),
        };
        let expected_path = input.with_extension("err");
        if bless {
            std::fs::write(&expected_path, format!("{actual}\n")).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != actual {
            failures.push(format!(
                "{file_name}:\n  expected: {}\n  actual:   {actual}",
                expected.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
