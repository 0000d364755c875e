//! Metric paths: where a snapshot check reads its value in a target's
//! reliability snapshot (a JSON document).
//!
//! A path is dot-separated field names; a field holding an array takes a
//! selector: `[*]` (every element) or `[key=value]` (elements whose `key`
//! equals `value`, compared as text). The value is the sum of the numbers
//! reached; a path ending in a selector counts the elements selected. So,
//! with the sim's snapshot:
//!
//! | path | value |
//! |---|---|
//! | `rate_limit.rejections_total` | the number there |
//! | `circuits[state=open]` | how many circuits are open |
//! | `bulkheads[*].rejections` | rejections summed over the bulkheads |
//! | `admission.decisions[decision=rejected].count` | 0 when no row matches |
//!
//! A field that is absent makes the metric *missing* (`None`); a selector
//! that matches nothing makes it 0.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// An element selector of an array field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    All,
    Equals(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    field: String,
    selector: Option<Selector>,
}

/// A parsed metric path (see the module docs for the syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricPath {
    text: String,
    segments: Vec<Segment>,
}

/// Why a metric path does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid metric path {text:?}: {reason}; expected dot-separated fields with optional [*] or [key=value] selectors, like circuits[state=open] or bulkheads[*].rejections"
)]
pub struct MetricPathError {
    text: String,
    reason: &'static str,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl FromStr for MetricPath {
    type Err = MetricPathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| MetricPathError {
            text: text.to_owned(),
            reason,
        };
        let mut segments = Vec::new();
        let mut rest = text;
        loop {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let field = &rest[..end];
            if !is_name(field) {
                return Err(err(
                    "a field name is empty or has characters other than letters, digits, _ and -",
                ));
            }
            rest = &rest[end..];
            let mut selector = None;
            if let Some(after) = rest.strip_prefix('[') {
                let close = after.find(']').ok_or_else(|| err("a [ has no ]"))?;
                let inner = &after[..close];
                selector = Some(if inner == "*" {
                    Selector::All
                } else {
                    let (key, value) = inner
                        .split_once('=')
                        .ok_or_else(|| err("a selector is neither * nor key=value"))?;
                    if !is_name(key) || value.is_empty() {
                        return Err(err("a selector's key or value is empty"));
                    }
                    Selector::Equals(key.to_owned(), value.to_owned())
                });
                rest = &after[close + 1..];
            }
            segments.push(Segment {
                field: field.to_owned(),
                selector,
            });
            if rest.is_empty() {
                break;
            }
            rest = rest
                .strip_prefix('.')
                .ok_or_else(|| err("a selector must be followed by . or the end"))?;
        }
        Ok(MetricPath {
            text: text.to_owned(),
            segments,
        })
    }
}

impl fmt::Display for MetricPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn matches(element: &Value, key: &str, expected: &str) -> bool {
    match element.get(key) {
        Some(Value::String(s)) => s == expected,
        Some(Value::Number(n)) => {
            n.to_string() == expected
                || expected.parse::<f64>().is_ok_and(|e| n.as_f64() == Some(e))
        }
        Some(Value::Bool(b)) => b.to_string() == expected,
        _ => false,
    }
}

impl MetricPath {
    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The metric's value in `snapshot`, or `None` when a field on the path
    /// is absent or the value reached is not a number.
    pub fn eval(&self, snapshot: &Value) -> Option<f64> {
        let mut current: Vec<&Value> = vec![snapshot];
        let last = self.segments.len() - 1;
        for (i, segment) in self.segments.iter().enumerate() {
            let mut next = Vec::new();
            let mut found = false;
            for value in &current {
                let Some(field) = value.get(&segment.field) else {
                    continue;
                };
                found = true;
                match &segment.selector {
                    None => next.push(field),
                    Some(selector) => {
                        let elements = field.as_array()?;
                        next.extend(elements.iter().filter(|e| match selector {
                            Selector::All => true,
                            Selector::Equals(k, v) => matches(e, k, v),
                        }));
                    }
                }
            }
            if !found {
                return None;
            }
            if segment.selector.is_some() {
                if i == last {
                    return Some(next.len() as f64);
                }
                if next.is_empty() {
                    return Some(0.0);
                }
            }
            current = next;
        }
        current
            .iter()
            .try_fold(0.0, |sum, v| Some(sum + v.as_f64()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, v: &Value) -> Option<f64> {
        path.parse::<MetricPath>().unwrap().eval(v)
    }

    #[test]
    fn paths_select_sum_and_count() {
        let s = json!({
            "rate_limit": {"rejections_total": 3},
            "circuits": [{"state": "open"}, {"state": "closed"}, {"state": "open"}],
            "bulkheads": [{"rejections": 2}, {"rejections": 5}],
            "admission": {"decisions": [{"decision": "admitted", "count": 9}]},
            "requests": {"by_endpoint_status": [{"endpoint": "POST /api/chat", "status": 503, "count": 4}]}
        });
        assert_eq!(eval("rate_limit.rejections_total", &s), Some(3.0));
        assert_eq!(eval("circuits[state=open]", &s), Some(2.0));
        assert_eq!(eval("circuits[*]", &s), Some(3.0));
        assert_eq!(eval("bulkheads[*].rejections", &s), Some(7.0));
        assert_eq!(
            eval("admission.decisions[decision=rejected].count", &s),
            Some(0.0)
        );
        assert_eq!(
            eval("admission.decisions[decision=admitted].count", &s),
            Some(9.0)
        );
        assert_eq!(
            eval("requests.by_endpoint_status[status=503].count", &s),
            Some(4.0)
        );
        assert_eq!(
            eval(
                "requests.by_endpoint_status[endpoint=POST /api/chat].count",
                &s
            ),
            Some(4.0)
        );
        assert_eq!(eval("tool_queue.dlq_size", &s), None);
        assert_eq!(eval("rate_limit", &s), None, "an object is not a number");
    }

    #[test]
    fn bad_paths_say_what_is_expected() {
        for bad in ["", "a..b", "a[", "a[x]", "a[=1]", "a[*]b", "a b"] {
            let e = bad.parse::<MetricPath>().unwrap_err().to_string();
            assert!(e.contains("expected dot-separated fields"), "{bad}: {e}");
        }
    }
}
