//! Process exit codes, as the command-line contract defines them.

use std::process::ExitCode;

/// The outcome of a command, mapped to the documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed.
    Pass,
    /// An SLO or a gate failed.
    Fail,
    /// Bad input: flags, files or plugins.
    BadInput,
    /// The run could not be carried out (target unreachable, plugin crashed at load).
    CannotRun,
    /// Interrupted by Ctrl-C or SIGTERM; a partial report was written.
    Interrupted,
    /// A canary's score is between its marginal and pass scores.
    Marginal,
    /// A canary had too few samples to judge.
    Inconclusive,
}

impl Exit {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Pass => 0,
            Exit::Fail => 1,
            Exit::BadInput => 2,
            Exit::CannotRun => 3,
            Exit::Interrupted => 130,
            Exit::Marginal => 4,
            Exit::Inconclusive => 5,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

impl From<crate::report::DrillStatus> for Exit {
    /// A drill's or a gate's status as the command's exit code.
    fn from(status: crate::report::DrillStatus) -> Self {
        use crate::report::DrillStatus;
        match status {
            DrillStatus::Pass => Exit::Pass,
            DrillStatus::Fail => Exit::Fail,
            DrillStatus::Error => Exit::CannotRun,
            DrillStatus::Interrupted => Exit::Interrupted,
        }
    }
}
