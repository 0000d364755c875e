//! Golden tests for bad input: each `ui/<kind>_*.json` (profile, slo,
//! release_gate, ownership, milestone, region, canary) holds one invalid
//! document, and the `.err` file next to it the exact
//! error it must produce. Run with `RELHOST_BLESS=1` to rewrite the `.err`
//! files after an intended change of wording.

use std::path::{Path, PathBuf};

use super::canary::parse_canary_policy;
use super::error::{Origin, PolicyError};
use super::milestone::parse_milestone_gate_policy;
use super::ownership::parse_ownership_matrix;
use super::profile::parse_profile;
use super::region::parse_region_rollout_policy;
use super::release_gate::parse_release_gate_policy;
use super::slo::parse_slo_baseline;
use super::{OwnershipMatrix, PolicyDocument};

const BUILTIN_RELEASE_GATE: &str = include_str!("../../../../policies/release-gate-policy.json");

/// Parses a golden input by the document kind its file name starts with.
fn parse_by_prefix(file_name: &str, text: &str, origin: &Origin) -> Result<(), PolicyError> {
    if file_name.starts_with("slo_") {
        parse_slo_baseline(text, origin).map(|_| ())
    } else if file_name.starts_with("release_gate_") {
        let owners = OwnershipMatrix::builtin(&())?;
        parse_release_gate_policy(text, origin, &owners).map(|_| ())
    } else if file_name.starts_with("ownership_") {
        // A matrix is checked on its own, then against the builtin release
        // gate policy (which resolves the checks it names).
        let owners = parse_ownership_matrix(text, origin)?;
        let gate_origin = Origin::Builtin {
            kind: "release gate policy",
            name: "release-gate-policy".to_owned(),
        };
        parse_release_gate_policy(BUILTIN_RELEASE_GATE, &gate_origin, &owners).map(|_| ())
    } else if file_name.starts_with("milestone_") {
        parse_milestone_gate_policy(text, origin).map(|_| ())
    } else if file_name.starts_with("region_") {
        parse_region_rollout_policy(text, origin).map(|_| ())
    } else if file_name.starts_with("canary_") {
        parse_canary_policy(text, origin).map(|_| ())
    } else {
        parse_profile(text, origin).map(|_| ())
    }
}

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
        let result = parse_by_prefix(file_name, &text, &origin);
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

/// Every built-in policy validates against its published JSON Schema.
#[test]
fn builtin_policies_match_their_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (policy, schema) in [
        (
            "release-gate-policy.json",
            "release-gate-policy.schema.json",
        ),
        (
            "milestone-gate-policy.json",
            "milestone-gate-policy.schema.json",
        ),
        (
            "region-rollout-policy.json",
            "region-rollout-policy.schema.json",
        ),
        ("ownership-matrix.json", "ownership-matrix.schema.json"),
        ("canary-policy.json", "canary-policy.schema.json"),
    ] {
        let read = |p: PathBuf| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
        };
        let schema = read(root.join("schemas").join(schema));
        let doc = read(root.join("policies").join(policy));
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{policy}: {errors:#?}");
    }
}
