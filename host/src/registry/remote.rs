//! An OCI distribution (HTTP API v2) client over relhost's own HTTP client.
//!
//! Loopback registries (`127.0.0.1`, `localhost`, `[::1]`) are spoken to in
//! plain HTTP, every other one in HTTPS with the system roots plus
//! `--ca-cert`. A `401` with a `Bearer` challenge is answered with a token
//! from the challenge's realm (anonymous, or with `RELHOST_REGISTRY_USERNAME`
//! and `RELHOST_REGISTRY_PASSWORD` when set); a `Basic` challenge with those
//! credentials. Credentials are never printed. Redirects (blob storage) are
//! followed without the registry's credentials when they leave its host.
//! Blobs are read in ranges of at most [`Client::COLLECT_LIMIT`] bytes.

use std::sync::Mutex;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use serde::Deserialize;

use super::artifact::{Artifact, MANIFEST_MEDIA_TYPE};
use super::error::RegistryError;
use crate::http::{Client, ClientConfig, OutgoingRequest};

/// Environment variable with the registry user name (optional).
pub const USERNAME_ENV: &str = "RELHOST_REGISTRY_USERNAME";
/// Environment variable with the registry password or token (optional).
pub const PASSWORD_ENV: &str = "RELHOST_REGISTRY_PASSWORD";

/// Largest blob accepted.
const MAX_BLOB: usize = 256 << 20;
/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// A client of one registry, for one reference (named in every error).
pub struct RemoteRegistry {
    client: Client,
    base: String,
    host: String,
    reference: String,
    auth: Mutex<Option<HeaderValue>>,
}

/// A registry's answer.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl RemoteRegistry {
    /// A client of the registry at `host` (`HOST[:PORT]`).
    pub fn new(
        host: &str,
        reference: String,
        ca_cert: Option<std::path::PathBuf>,
    ) -> Result<RemoteRegistry, RegistryError> {
        let client = Client::new(&ClientConfig {
            ca_cert,
            max_idle_per_host: 4,
            ..ClientConfig::default()
        })
        .map_err(|e| RegistryError::Protocol {
            reference: reference.clone(),
            reason: format!("cannot set up the HTTP client: {}", super::error::chain(&e)),
        })?;
        let scheme = if is_loopback(host) { "http" } else { "https" };
        Ok(RemoteRegistry {
            client,
            base: format!("{scheme}://{host}"),
            host: host.to_string(),
            reference,
            auth: Mutex::new(None),
        })
    }

    fn registry_label(&self) -> String {
        format!("oci://{}", self.host)
    }

    fn status_error(&self, what: String, answer: &Answer) -> RegistryError {
        RegistryError::Status {
            reference: self.reference.clone(),
            what,
            status: answer.status,
            detail: error_detail(&answer.body),
        }
    }

    fn protocol(&self, reason: impl Into<String>) -> RegistryError {
        RegistryError::Protocol {
            reference: self.reference.clone(),
            reason: reason.into(),
        }
    }

    /// Sends a request to `path` (or an absolute URL), answering auth
    /// challenges and following redirects.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, RegistryError> {
        let mut url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut challenged = false;
        let mut redirects = 0;
        loop {
            let uri: http::Uri = url
                .parse()
                .map_err(|_| self.protocol(format!("bad URL {url:?}")))?;
            let on_registry = uri.authority().map(|a| a.as_str()) == Some(self.host.as_str());
            let mut request_headers = headers.clone();
            if on_registry && let Some(auth) = self.auth.lock().ok().and_then(|a| a.clone()) {
                request_headers.insert(header::AUTHORIZATION, auth);
            }
            let request = OutgoingRequest {
                method: method.clone(),
                uri: uri.clone(),
                headers: request_headers,
                body: body.clone(),
            };
            let (status, headers_in, body_in) =
                self.client.send_collect(request).await.map_err(|class| {
                    RegistryError::Unreachable {
                        reference: self.reference.clone(),
                        registry: self.registry_label(),
                        class,
                    }
                })?;
            let answer = Answer {
                status,
                headers: headers_in,
                body: body_in,
            };
            if status == 401 && on_registry && !challenged {
                challenged = true;
                if let Some(auth) = self.authenticate(&answer.headers).await? {
                    if let Ok(mut slot) = self.auth.lock() {
                        *slot = Some(auth);
                    }
                    continue;
                }
            }
            if matches!(status, 301 | 302 | 303 | 307 | 308)
                && (method == Method::GET || method == Method::HEAD)
                && redirects < MAX_REDIRECTS
                && let Some(location) = answer
                    .headers
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
            {
                redirects += 1;
                url = absolute(&uri, location);
                continue;
            }
            return Ok(answer);
        }
    }

    /// Answers a `WWW-Authenticate` challenge; `None` when it cannot be answered.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let Some(challenge) = headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(None);
        };
        let basic = credentials().map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(basic.and_then(|b| HeaderValue::from_str(&b).ok()));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let params = challenge_params(params);
        let Some(realm) = params.iter().find(|(k, _)| k == "realm").map(|(_, v)| v) else {
            return Ok(None);
        };
        let query: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "service" || k == "scope")
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let url = if query.is_empty() {
            realm.clone()
        } else {
            format!("{realm}?{}", query.join("&"))
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|_| self.protocol(format!("bad token realm {realm:?}")))?;
        let mut token_headers = HeaderMap::new();
        if let Some(basic) = basic.and_then(|b| HeaderValue::from_str(&b).ok()) {
            token_headers.insert(header::AUTHORIZATION, basic);
        }
        let (status, _, body) = self
            .client
            .send_collect(OutgoingRequest {
                method: Method::GET,
                uri,
                headers: token_headers,
                body: Bytes::new(),
            })
            .await
            .map_err(|class| RegistryError::Unreachable {
                reference: self.reference.clone(),
                registry: realm.clone(),
                class,
            })?;
        if status != 200 {
            return Ok(None);
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = serde_json::from_slice(&body)
            .map_err(|e| self.protocol(format!("token endpoint answer is not JSON ({e})")))?;
        Ok(token
            .token
            .or(token.access_token)
            .and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()))
    }

    /// The tags of `repository`, following `Link` pagination.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut path = format!("/v2/{repository}/tags/list");
        let mut tags = Vec::new();
        for _ in 0..100 {
            let answer = self
                .send(Method::GET, &path, HeaderMap::new(), Bytes::new())
                .await?;
            match answer.status {
                200 => {}
                404 => {
                    return Err(RegistryError::UnknownRepository {
                        reference: self.reference.clone(),
                    });
                }
                _ => return Err(self.status_error(format!("GET {path}"), &answer)),
            }
            let list: TagList = serde_json::from_slice(&answer.body)
                .map_err(|e| self.protocol(format!("tag list is not JSON ({e})")))?;
            tags.extend(list.tags.unwrap_or_default());
            match next_link(&answer.headers) {
                Some(next) => path = next,
                None => return Ok(tags),
            }
        }
        Ok(tags)
    }

    /// The manifest bytes and digest of `repository:tag`; `None` when the tag is unknown.
    pub async fn manifest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{tag}");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
        );
        let answer = self.send(Method::GET, &path, headers, Bytes::new()).await?;
        match answer.status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.status_error(format!("GET {path}"), &answer)),
        }
        let digest = super::artifact::digest_of(&answer.body);
        if let Some(served) = answer
            .headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && served != digest
        {
            return Err(RegistryError::Tampered {
                reference: self.reference.clone(),
                expected: served.to_string(),
                actual: digest.trim_start_matches("sha256:").to_string(),
            });
        }
        Ok(Some((answer.body.to_vec(), digest)))
    }

    /// The digest of the manifest tagged `tag`, if any (a `HEAD`).
    async fn tagged(&self, repository: &str, tag: &str) -> Result<Option<String>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{tag}");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
        );
        let answer = self
            .send(Method::HEAD, &path, headers, Bytes::new())
            .await?;
        match answer.status {
            200 => Ok(Some(
                answer
                    .headers
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("unknown")
                    .to_string(),
            )),
            404 => Ok(None),
            _ => Err(self.status_error(format!("HEAD {path}"), &answer)),
        }
    }

    /// The blob `digest` of `repository`, read in ranges (not verified: the caller verifies).
    pub async fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let mut out: Vec<u8> = Vec::new();
        loop {
            let start = out.len();
            let end = start + Client::COLLECT_LIMIT - 1;
            let mut headers = HeaderMap::new();
            if let Ok(range) = HeaderValue::from_str(&format!("bytes={start}-{end}")) {
                headers.insert(header::RANGE, range);
            }
            let answer = self.send(Method::GET, &path, headers, Bytes::new()).await?;
            match answer.status {
                200 if start == 0 => return Ok(answer.body.to_vec()),
                206 => {
                    let total = answer
                        .headers
                        .get(header::CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.rsplit('/').next())
                        .and_then(|t| t.parse::<usize>().ok())
                        .ok_or_else(|| self.protocol("206 answer without a Content-Range total"))?;
                    if total > MAX_BLOB {
                        return Err(self.protocol(format!(
                            "blob {digest} is {total} bytes, more than the {MAX_BLOB} accepted"
                        )));
                    }
                    if answer.body.is_empty() && out.len() < total {
                        return Err(self.protocol("empty range in the middle of a blob"));
                    }
                    out.extend_from_slice(&answer.body);
                    if out.len() >= total {
                        return Ok(out);
                    }
                }
                404 => {
                    return Err(RegistryError::NotWasmArtifact {
                        reference: self.reference.clone(),
                        reason: format!("the registry has no blob {digest}"),
                    });
                }
                _ => return Err(self.status_error(format!("GET {path}"), &answer)),
            }
        }
    }

    /// Uploads a blob unless the registry has it (POST, then a monolithic PUT).
    async fn put_blob(
        &self,
        repository: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let head = format!("/v2/{repository}/blobs/{digest}");
        let answer = self
            .send(Method::HEAD, &head, HeaderMap::new(), Bytes::new())
            .await?;
        if answer.status == 200 {
            return Ok(());
        }
        let start = format!("/v2/{repository}/blobs/uploads/");
        let answer = self
            .send(Method::POST, &start, HeaderMap::new(), Bytes::new())
            .await?;
        if answer.status != 202 {
            return Err(self.status_error(format!("POST {start}"), &answer));
        }
        let location = answer
            .headers
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| self.protocol("upload started without a Location"))?;
        let base: http::Uri = self
            .base
            .parse()
            .map_err(|_| self.protocol("bad registry URL"))?;
        let location = absolute(&base, location);
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", encode(digest));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let answer = self
            .send(Method::PUT, &url, headers, Bytes::copy_from_slice(bytes))
            .await?;
        if answer.status != 201 {
            return Err(self.status_error(format!("PUT {head}"), &answer));
        }
        Ok(())
    }

    /// Pushes an artifact and tags it; refuses to replace a tag unless `force`.
    /// Returns the manifest digest.
    pub async fn push(
        &self,
        repository: &str,
        tag: &str,
        artifact: &Artifact,
        force: bool,
    ) -> Result<String, RegistryError> {
        if !force && let Some(digest) = self.tagged(repository, tag).await? {
            return Err(RegistryError::AlreadyPublished {
                reference: self.reference.clone(),
                version: tag.to_string(),
                digest,
            });
        }
        for (digest, bytes) in artifact.blobs() {
            self.put_blob(repository, &digest, bytes).await?;
        }
        let path = format!("/v2/{repository}/manifests/{tag}");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
        );
        let answer = self
            .send(
                Method::PUT,
                &path,
                headers,
                Bytes::copy_from_slice(&artifact.manifest),
            )
            .await?;
        if answer.status != 201 {
            return Err(self.status_error(format!("PUT {path}"), &answer));
        }
        Ok(super::artifact::digest_of(&artifact.manifest))
    }
}

/// Whether a `HOST[:PORT]` is a loopback address (spoken to in plain HTTP).
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn credentials() -> Option<(String, String)> {
    let user = std::env::var(USERNAME_ENV).ok().filter(|v| !v.is_empty())?;
    let password = std::env::var(PASSWORD_ENV).ok().filter(|v| !v.is_empty())?;
    crate::redact::register(&password);
    Some((user, password))
}

/// `key="value"` pairs of a challenge.
fn challenge_params(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, r)) => (v, r),
                None => (quoted, ""),
            }
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        out.push((key, value.to_string()));
        rest = remaining.trim_start_matches(',').trim();
    }
    out
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `location` made absolute against `base`.
fn absolute(base: &http::Uri, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        format!("{scheme}://{authority}/{location}")
    }
}

/// The path of a `Link: <...>; rel="next"` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    if !link.contains("rel=\"next\"") {
        return None;
    }
    let start = link.find('<')? + 1;
    let end = link[start..].find('>')? + start;
    Some(link[start..end].to_string())
}

/// The OCI error codes and messages of an error body, on one line.
fn error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<OciError>,
    }
    #[derive(Deserialize)]
    struct OciError {
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Errors>(body) {
        Ok(errors) => errors
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_use_plain_http() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:5000",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["ghcr.io", "registry.example.com:5000", "10.0.0.1:5000"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn parses_challenges_links_and_errors() {
        let params = challenge_params(
            r#"realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            params,
            vec![
                ("realm".to_string(), "https://ghcr.io/token".to_string()),
                ("service".to_string(), "ghcr.io".to_string()),
                ("scope".to_string(), "repository:a/b:pull".to_string()),
            ]
        );
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(
            error_detail(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            ),
            "MANIFEST_UNKNOWN manifest unknown"
        );
        let base: http::Uri = "http://127.0.0.1:5000".parse().expect("uri");
        assert_eq!(absolute(&base, "/v2/x"), "http://127.0.0.1:5000/v2/x");
        assert_eq!(absolute(&base, "https://s3/x"), "https://s3/x");
    }
}
