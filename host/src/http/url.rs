//! Joining a base URL and a path.

/// `base_url` + `path` + `extra` as a URI (`path` may carry its own query).
pub fn join_url(base_url: &http::Uri, path: &str, query: &str) -> Result<http::Uri, String> {
    let base = base_url.to_string();
    let base = base.trim_end_matches('/');
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let text = if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}{sep}{query}")
    };
    text.parse().map_err(|_| text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_paths_and_queries() {
        let base: http::Uri = "http://127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            join_url(&base, "/api/ops/x", "minutes=1")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8080/api/ops/x?minutes=1"
        );
        assert_eq!(
            join_url(&base, "api/ops/x?a=b", "minutes=1")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8080/api/ops/x?a=b&minutes=1"
        );
        assert!(join_url(&base, "/bad path", "").is_err());
    }
}
