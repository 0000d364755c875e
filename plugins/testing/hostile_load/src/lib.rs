//! A scenario that never finishes describing itself: it sleeps (a WASI
//! clock subscription, which the host serves as a real sleep). Loading it
//! must fail on the call deadline, naming the plugin.

use relhost_plugin_sdk::*;

struct SleepsAtLoad;

impl Guest for SleepsAtLoad {
    fn describe() -> Descriptor {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        unreachable!("slept for an hour")
    }

    fn plan(_stage: Stage) -> RequestPlan {
        RequestPlan::PerRequest
    }

    fn build_request(_ctx: CallContext) -> Request {
        unreachable!("never described")
    }

    fn judge(_summary: ResponseSummary) -> Verdict {
        Verdict::Pass
    }
}

export_scenario!(SleepsAtLoad);
