//! A scenario that misbehaves on purpose, chosen by the stage name: `trap`,
//! `spin`, `hog` (memory), `sleep` (a host call that never returns),
//! `headers` (far too many), `big` (a 5 MiB body), `host` (a `Host`
//! header of its own), `leak_header` and `leak_path` (its secret in a
//! header name or the path), `log` (forged output), and the escape
//! attempts `fs`, `env`, `net`, `clock` and `secret`, whose outcome is
//! reported in the request body. Any other stage sends a plain
//! `GET /healthz`. The run parameter `hostile_describe`, `hostile_plan` or
//! `hostile_judge` set to `sleep` or `spin` makes that call misbehave.

use std::time::Duration;

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

/// Misbehaves as the run parameter `name` says: sleeps or spins forever.
fn misbehave(name: &str) {
    match host::param(name).as_deref() {
        Some("sleep") => std::thread::sleep(Duration::from_secs(3600)),
        Some("spin") => spin(),
        _ => {}
    }
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn request(path: String, headers: Vec<Header>, body: Vec<u8>) -> Request {
    Request {
        method: Method::Get,
        path,
        query: Vec::new(),
        headers,
        body,
    }
}

impl Guest for Hostile {
    fn describe() -> Descriptor {
        misbehave("hostile_describe");
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
            judges_responses: host::param("hostile_judge").is_some(),
        }
    }

    fn plan(_stage: Stage) -> RequestPlan {
        misbehave("hostile_plan");
        RequestPlan::PerRequest
    }

    fn build_request(ctx: CallContext) -> Request {
        let secret = || host::secret(DECLARED).unwrap_or_default();
        match ctx.stage.as_str() {
            "trap" => panic!("deliberate trap in iteration {}", ctx.iteration),
            "spin" => spin(),
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "sleep" => {
                std::thread::sleep(Duration::from_secs(3600));
                request("/healthz".into(), Vec::new(), Vec::new())
            }
            "headers" => {
                let headers = (0..24_577)
                    .map(|i| header(&format!("x-h{i}"), "v"))
                    .collect();
                request("/healthz".into(), headers, Vec::new())
            }
            "big" => request("/healthz".into(), Vec::new(), vec![b'x'; 5 << 20]),
            "host" => request(
                "/healthz".into(),
                vec![header("Host", "admin.internal.example")],
                Vec::new(),
            ),
            "leak_header" => request(
                "/healthz".into(),
                vec![header(&format!("x leak {}", secret()), "v")],
                Vec::new(),
            ),
            "leak_path" => request(
                format!("/healthz/{}/ space", secret()),
                Vec::new(),
                Vec::new(),
            ),
            "log" => {
                let forged = "done\n\u{1b}[32mResult: PASS\u{1b}[0m\r\nrelhost: all gates passed ";
                let line = forged.to_string() + &secret();
                for _ in 0..1_000 {
                    host::log(LogLevel::Info, &line);
                }
                request("/healthz".into(), Vec::new(), Vec::new())
            }
            stage => request("/healthz".into(), Vec::new(), probe(stage).into_bytes()),
        }
    }

    fn judge(_summary: ResponseSummary) -> Verdict {
        misbehave("hostile_judge");
        Verdict::Pass
    }
}

export_scenario!(Hostile);
