//! `http_request`: the request builder of `relhost load`. Every request is
//! the same template, built from the run parameters:
//!
//! | parameter | meaning | default |
//! |---|---|---|
//! | `method` | HTTP method | `GET` |
//! | `path` | path and query, e.g. `/api/x?y=1` | `/` |
//! | `headers` | `Name: value` lines | none |
//! | `body` | the request body | empty |
//! | `expect` | expected statuses, comma-separated | 200–399 |
//! | `event_stream` | `true` when responses are event streams | `false` |
//!
//! Path, headers and body are templates: `{{iteration}}`, `{{uuid}}` and the
//! other placeholders are filled by the host per request.

use relhost_plugin_sdk::*;

struct HttpRequest;

fn param(name: &str) -> Option<String> {
    host::param(name).filter(|v| !v.is_empty())
}

fn method() -> Method {
    match param("method")
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => Method::Get,
    }
}

fn expected_statuses() -> Vec<u16> {
    let given: Vec<u16> = param("expect")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if given.is_empty() {
        (200..400).collect()
    } else {
        given
    }
}

fn headers() -> Vec<Header> {
    param("headers")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some(header(name.trim(), value.trim()))
        })
        .collect()
}

impl TemplateScenario for HttpRequest {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "http_request".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "One HTTP request built from the run parameters".into(),
            endpoint: param("path").unwrap_or_else(|| "/".into()),
            expected_statuses: expected_statuses(),
            event_stream: param("event_stream").is_some_and(|v| v == "true"),
            default_stages: vec![concurrency_stage("load", 1, 10_000, 0)],
            secrets: Vec::new(),
            needs_credential: false,
            judges_responses: false,
        }
    }

    fn template() -> Template {
        Template {
            request: Request {
                method: method(),
                path: param("path").unwrap_or_else(|| "/".into()),
                query: Vec::new(),
                headers: headers(),
                body: param("body").unwrap_or_default().into_bytes(),
            },
            signing: None,
        }
    }
}

export_scenario!(HttpRequest);
