//! The incident runbook (`RUNBOOK.md`): the section a failing check points
//! its owner to.

/// The runbook, as shipped beside the binary's policies.
const RUNBOOK: &str = include_str!("../../../RUNBOOK.md");

/// `RUNBOOK.md#<check>` when the runbook has a section for `check`.
pub fn runbook_section(check: &str) -> Option<String> {
    RUNBOOK
        .contains(&format!("\n## `{check}`\n"))
        .then(|| format!("RUNBOOK.md#{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{BUILTIN_CHECKS, OwnershipMatrix, PolicyDocument, ReleaseGatePolicy};

    #[test]
    fn every_check_of_the_builtin_gates_has_a_section() {
        let owners = OwnershipMatrix::builtin(&()).expect("matrix");
        let gate = ReleaseGatePolicy::builtin(&owners).expect("policy");
        let snapshot_checks = gate.snapshot_checks.iter().map(|c| c.id.as_str());
        for check in BUILTIN_CHECKS
            .iter()
            .copied()
            .chain(snapshot_checks)
            .chain(["scenario_ran", "hypothesis"])
        {
            assert_eq!(
                runbook_section(check).as_deref(),
                Some(format!("RUNBOOK.md#{check}").as_str()),
                "RUNBOOK.md has no section for {check}"
            );
        }
        assert_eq!(runbook_section("no_such_check"), None);
    }
}
