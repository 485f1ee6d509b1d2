//! `strata login` / `strata logout`: check credentials against the
//! registry the way `docker login` does, then write them where podman
//! would (see `auth` for which file and why).
//!
//! The check is hand-written on reqwest because oci-client's `auth()`
//! only verifies credentials against a bearer-token service: with a
//! registry that asks for HTTP Basic (htpasswd), it accepts anything.

use std::path::PathBuf;

use super::auth::{self, Credentials};
use super::error::redact;
use super::transport::Transport;
use super::{Reference, RegistryError, RegistryOptions};

/// The registry a user typed (`ghcr.io`, `https://ghcr.io/`, `docker.io`,
/// nothing for Docker Hub), as references spell it.
pub fn normalize_registry(input: &str) -> String {
    let s = input.trim();
    if s.is_empty() {
        return "docker.io".to_owned();
    }
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

/// Checks `credentials` against `registry` and stores them in
/// `opts.auth.login_file`; returns that file.
pub fn login(registry: &str, credentials: &Credentials, opts: &RegistryOptions) -> Result<PathBuf, RegistryError> {
    let registry = normalize_registry(registry);
    super::block_on(|| async {
        check(&registry, credentials, opts).await?;
        auth::write_login(&opts.auth.login_file, &registry, credentials)?;
        Ok(opts.auth.login_file.clone())
    })
}

/// Removes the stored credentials of `registry` from `opts.auth.login_file`;
/// returns whether there were any.
pub fn logout(registry: &str, opts: &RegistryOptions) -> Result<bool, RegistryError> {
    auth::remove_login(&opts.auth.login_file, &normalize_registry(registry))
}

/// `key="value", key2="value2"` parameters of a challenge.
fn challenge_params(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = header;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            value = r[..end].to_owned();
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((key, value));
    }
    out
}

async fn check(registry: &str, credentials: &Credentials, opts: &RegistryOptions) -> Result<(), RegistryError> {
    let probe = Reference::with_tag(registry.to_owned(), "library/strata-login".into(), "latest".into());
    let host = probe.resolve_registry().to_owned();
    let t = Transport::resolve(&host, opts).await?;
    let http = t.http_client(opts)?;
    let secrets = credentials.secrets();
    let unreachable = |e: reqwest::Error| {
        let mut err = t.unreachable("logging in", &e, 1);
        if let RegistryError::Unreachable { message, .. } = &mut err {
            *message = redact(message, &secrets);
        }
        err
    };
    let who = match credentials.username() {
        Some(u) => format!("the credentials of user '{u}'"),
        None => "the token".to_owned(),
    };
    let refused = |why: &str| RegistryError::Unauthorized {
        registry: registry.to_owned(),
        repository: String::new(),
        who: who.clone(),
        hint: format!(": {why}"),
    };
    let with_creds = |rb: reqwest::RequestBuilder| match credentials {
        Credentials::Basic { username, password } => rb.basic_auth(username, Some(password)),
        Credentials::Bearer { token } => rb.bearer_auth(token),
    };
    let first = http.get(t.url("/v2/")).send().await.map_err(unreachable)?;
    if first.status().is_success() {
        // No authentication required at all: nothing to check.
        return Ok(());
    }
    let challenge =
        first.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge.as_str(), ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        let params = challenge_params(params);
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let realm = get("realm").ok_or_else(|| refused("its token challenge names no realm"))?;
        let mut query = Vec::new();
        if let Some(service) = get("service") {
            query.push(("service", service));
        }
        if let Some(u) = credentials.username() {
            query.push(("account", u.to_owned()));
        }
        let r = with_creds(http.get(&realm).query(&query)).send().await.map_err(unreachable)?;
        return match r.status().as_u16() {
            200 => Ok(()),
            401 | 403 => Err(refused("the token service refused them")),
            s => Err(RegistryError::Rejected {
                registry: registry.to_owned(),
                repository: String::new(),
                doing: "logging in".into(),
                status: Some(s),
                message: redact(&format!("token service answered {s}"), &secrets),
            }),
        };
    }
    let r = with_creds(http.get(t.url("/v2/"))).send().await.map_err(unreachable)?;
    match r.status().as_u16() {
        200..=299 => Ok(()),
        401 | 403 => Err(refused("wrong user name or password")),
        s => Err(RegistryError::Rejected {
            registry: registry.to_owned(),
            repository: String::new(),
            doing: "logging in".into(),
            status: Some(s),
            message: format!("/v2/ answered {s}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_as_typed() {
        assert_eq!(normalize_registry(""), "docker.io");
        assert_eq!(normalize_registry("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_registry("ghcr.io"), "ghcr.io");
        assert_eq!(normalize_registry("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn bearer_challenges_parse() {
        let p = challenge_params(
            r#"realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a:pull""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example.com/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example.com".into()));
        assert_eq!(p[2].0, "scope");
    }
}
