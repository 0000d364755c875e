//! A scenario that misbehaves on purpose, chosen by the stage name: `trap`,
//! `spin`, `hog` (memory), and the escape attempts `fs`, `env`, `net`,
//! `clock` and `secret`, whose outcome is reported in the request body.
//! Any other stage sends a plain `GET /healthz`.

use relhost_plugin_sdk::*;

/// The one secret this plugin declares.
const DECLARED: &str = "HOSTILE_DECLARED";

struct Hostile;

fn probe(stage: &str) -> String {
    match stage {
        "fs" => match std::fs::read_to_string("/etc/hostname") {
            Ok(_) => "fs:allowed".into(),
            Err(e) => format!("fs:denied:{:?}", e.kind()),
        },
        "env" => {
            let vars = std::env::vars().count();
            let home = std::env::var("HOME").is_ok();
            format!("env:vars={vars}:home={home}")
        }
        "net" => match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => "net:allowed".into(),
            Err(e) => format!("net:denied:{:?}", e.kind()),
        },
        "clock" => {
            let since_epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(u64::MAX);
            format!("clock:{since_epoch}")
        }
        "secret" => format!(
            "secret:declared={}:undeclared={}",
            host::secret(DECLARED).is_some(),
            host::secret("WHATSAPP_APP_SECRET").is_some()
        ),
        _ => String::new(),
    }
}

impl Guest for Hostile {
    fn describe() -> Descriptor {
        Descriptor {
            name: "hostile".into(),
            version: "0.0.1".into(),
            description: "misbehaves on purpose".into(),
            endpoint: "/healthz".into(),
            expected_statuses: vec![200],
            event_stream: false,
            default_stages: vec![rate_stage("trap", 20.0, 1_000, 0)],
            secrets: vec![DECLARED.into()],
            needs_credential: false,
            judges_responses: false,
        }
    }

    fn plan(_stage: Stage) -> RequestPlan {
        RequestPlan::PerRequest
    }

    fn build_request(ctx: CallContext) -> Request {
        match ctx.stage.as_str() {
            "trap" => panic!("deliberate trap in iteration {}", ctx.iteration),
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            stage => Request {
                method: Method::Get,
                path: "/healthz".into(),
                query: Vec::new(),
                headers: Vec::new(),
                body: probe(stage).into_bytes(),
            },
        }
    }

    fn judge(_summary: ResponseSummary) -> Verdict {
        Verdict::Pass
    }
}

export_scenario!(Hostile);
