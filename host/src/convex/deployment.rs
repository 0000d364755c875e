//! The two URLs of a Convex deployment.

/// `https://NAME.convex.site` for `https://NAME.convex.cloud` (same scheme
/// and port); `None` for any other host (self-hosted, custom domains).
pub fn site_of(cloud: &http::Uri) -> Option<http::Uri> {
    swap_suffix(cloud, ".convex.cloud", ".convex.site")
}

/// `https://NAME.convex.cloud` for `https://NAME.convex.site`; `None` for
/// any other host.
pub fn cloud_of(site: &http::Uri) -> Option<http::Uri> {
    swap_suffix(site, ".convex.site", ".convex.cloud")
}

/// The cloud URL a deploy key names: `prod:NAME|…` and `dev:NAME|…` keys
/// carry their deployment's name. Preview and project keys do not.
pub fn cloud_from_deploy_key(key: &str) -> Option<http::Uri> {
    let (prefix, _) = key.split_once('|')?;
    let (kind, name) = prefix.split_once(':')?;
    let valid = matches!(kind, "prod" | "dev")
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return None;
    }
    format!("https://{name}.convex.cloud").parse().ok()
}

fn swap_suffix(url: &http::Uri, from: &str, to: &str) -> Option<http::Uri> {
    let authority = url.authority()?;
    let name = authority.host().strip_suffix(from)?;
    if name.is_empty() || name.contains('.') {
        return None;
    }
    let port = authority
        .port_u16()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!("{}://{name}{to}{port}", url.scheme_str()?)
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> http::Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn site_and_cloud_derive_each_other() {
        let cloud = uri("https://admired-antelope-676.convex.cloud");
        let site = site_of(&cloud).expect("a site");
        assert_eq!(
            site.to_string(),
            "https://admired-antelope-676.convex.site/"
        );
        assert_eq!(cloud_of(&site), Some(cloud));
        assert_eq!(
            site_of(&uri("http://x.convex.cloud:8080/")).map(|u| u.to_string()),
            Some("http://x.convex.site:8080/".into())
        );
    }

    #[test]
    fn other_hosts_derive_nothing() {
        for other in [
            "http://127.0.0.1:3210",
            "https://api.example.com",
            "https://convex.cloud",
            "https://a.b.convex.cloud",
        ] {
            assert_eq!(site_of(&uri(other)), None, "{other}");
            assert_eq!(cloud_of(&uri(other)), None, "{other}");
        }
    }

    #[test]
    fn deploy_keys_name_their_deployment() {
        assert_eq!(
            cloud_from_deploy_key("prod:admired-antelope-676|eyJ2IjoiMSJ9").map(|u| u.to_string()),
            Some("https://admired-antelope-676.convex.cloud/".into())
        );
        for other in [
            "preview:team:project|x",
            "project:team:p|x",
            "relhost-sim|abc",
            "prod:|x",
            "prod:a.b|x",
            "no-bar",
        ] {
            assert_eq!(cloud_from_deploy_key(other), None, "{other}");
        }
    }
}
