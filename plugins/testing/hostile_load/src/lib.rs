//! A scenario that never finishes describing itself: loading it must fail
//! on the call deadline, naming the plugin.

use relhost_plugin_sdk::*;

struct SpinsAtLoad;

impl Guest for SpinsAtLoad {
    fn describe() -> Descriptor {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
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

export_scenario!(SpinsAtLoad);
