//! `GET /v1/registry/token`: the realm of the Docker/OCI distribution token authentication
//! protocol (docs/HTTP.md). A registry configured with `auth.token` (this realm, its
//! `service`, `issuer` and the certificate here as `rootcertbundle`) answers an unauthenticated
//! pull with `401` and `WWW-Authenticate: Bearer realm=…,service=…,scope=repository:NAME:pull`;
//! the client asks the realm, which answers a short-lived JWT (ES256, the certificate in its
//! `x5c` header) naming exactly the access it grants.
//!
//! Who gets what:
//! - a machine proving a live seat (`Authorization: Airlock-Request <credential>`, or HTTP
//!   Basic with the credential as the password) whose license in force may be served (not
//!   revoked, suspended or past its grace): `pull` on the repositories its product lists in the
//!   catalog, on channels its tier entitles; anything else asked is left out, and a request
//!   of which nothing is granted is refused `REPOSITORY_NOT_LICENSED`;
//! - the vendor (HTTP Basic with the admin credential as the password): `pull` and `push` on
//!   what it asks (publishing images).

use crate::{ApiError, App};
use anyhow::{bail, Context, Result};
use axum::http::{header, HeaderMap};
use factory::activation::Code;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::path::Path;

/// The longest token life, in seconds.
pub const MAX_TOKEN_SECONDS: u64 = 3600;

/// What the realm signs with and names.
pub struct Tokens {
    key: EncodingKey,
    x5c: Vec<String>,
    /// The registry's `service` (the token's audience).
    pub service: String,
    /// The token's issuer (the registry's `issuer`).
    pub issuer: String,
    /// Token life in seconds.
    pub ttl: u64,
}

impl Tokens {
    /// The EC P-256 private key (PKCS#8 PEM) and its certificate (PEM; the registry's
    /// `rootcertbundle`, or a chain to it), for tokens naming `service` and `issuer`.
    pub fn load(key: &Path, cert: &Path, service: &str, issuer: &str, ttl: u64) -> Result<Tokens> {
        if !(1..=MAX_TOKEN_SECONDS).contains(&ttl) {
            bail!("--registry-token-seconds must be from 1 to {MAX_TOKEN_SECONDS}");
        }
        signing::keyfile::check_secret_mode(key)?;
        let pem = std::fs::read(key).with_context(|| format!("{}", key.display()))?;
        let key = EncodingKey::from_ec_pem(&pem)
            .with_context(|| format!("{}: an EC P-256 private key in PEM", key.display()))?;
        let text = std::fs::read_to_string(cert).with_context(|| format!("{}", cert.display()))?;
        let x5c =
            certificates(&text).with_context(|| format!("{}: PEM certificates", cert.display()))?;
        Ok(Tokens {
            key,
            x5c,
            service: service.to_string(),
            issuer: issuer.to_string(),
            ttl,
        })
    }
}

/// The base64 DER of each `CERTIFICATE` block (the `x5c` header's form).
fn certificates(pem: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match (line, &mut body) {
            ("-----BEGIN CERTIFICATE-----", None) => body = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(b)) => {
                let der = canon::enc::unb64(b).context("certificate base64")?;
                out.push(canon::enc::b64(&der));
                body = None;
            }
            (l, Some(b)) => b.push_str(l),
            _ => {}
        }
    }
    if out.is_empty() || body.is_some() {
        bail!("no complete certificate");
    }
    Ok(out)
}

/// One `repository:NAME:ACTIONS` scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

/// Parses the `scope` parameters (`repository:NAME:pull,push`); anything else is refused.
pub fn scopes(query: &str) -> Result<Vec<Access>, ApiError> {
    let mut out = Vec::new();
    for (k, v) in form_pairs(query) {
        if k != "scope" {
            continue;
        }
        for one in v.split(' ').filter(|s| !s.is_empty()) {
            let mut parts = one.splitn(3, ':');
            let (Some("repository"), Some(name), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(ApiError::bad(format!(
                    "scope {one:?}: only repository:NAME:ACTIONS scopes are served"
                )));
            };
            if !runtime::manifest::valid_repository(name) {
                return Err(ApiError::bad(format!(
                    "scope {one:?}: not a repository name"
                )));
            }
            let actions: Vec<String> = actions.split(',').map(str::to_string).collect();
            if actions.is_empty()
                || actions
                    .iter()
                    .any(|a| !matches!(a.as_str(), "pull" | "push"))
            {
                return Err(ApiError::bad(format!(
                    "scope {one:?}: actions are pull and push"
                )));
            }
            out.push(Access {
                kind: "repository".into(),
                name: name.to_string(),
                actions,
            });
        }
    }
    if out.len() > 16 {
        return Err(ApiError::bad("at most 16 scopes"));
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded (`+` is a space).
fn form_pairs(query: &str) -> Vec<(String, String)> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let decode = |s: &str| -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match (
                b[i],
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            ) {
                (b'+', ..) => out.push(b' '),
                (b'%', Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                (c, ..) => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Who asks: the vendor (admin credential) or a machine (its credential).
pub enum Caller {
    /// The admin credential.
    Vendor,
    /// A machine's credential (base64 of a fresh signed request).
    Machine(String),
}

/// The caller of a token request, from its `Authorization` header.
pub fn caller(app: &App, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let unauthorized = || {
        ApiError::new(
            Code::Unauthorized,
            "send Authorization: Airlock-Request <base64 of a fresh signed request>, or Basic with it (or the admin credential) as the password",
        )
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    if let Some(c) = auth.strip_prefix("Airlock-Request ") {
        return Ok(Caller::Machine(c.trim().to_string()));
    }
    let basic = auth.strip_prefix("Basic ").ok_or_else(unauthorized)?;
    let decoded = canon::enc::unb64(basic.trim())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(unauthorized)?;
    let (_, password) = decoded.split_once(':').ok_or_else(unauthorized)?;
    if let Some(admin) = &app.admin {
        if crate::admin::same_credential(admin, password) {
            return Ok(Caller::Vendor);
        }
    }
    Ok(Caller::Machine(password.to_string()))
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    access: &'a [Access],
}

impl Tokens {
    /// A signed token for `sub` granting `access`, valid from `now` for the token life.
    pub fn sign(&self, sub: &str, access: &[Access], now: i64) -> Result<String> {
        let mut jti = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut jti);
        let mut h = Header::new(Algorithm::ES256);
        h.x5c = Some(self.x5c.clone());
        let claims = Claims {
            iss: &self.issuer,
            sub,
            aud: &self.service,
            exp: now + self.ttl as i64,
            nbf: now - 5,
            iat: now,
            jti: canon::enc::hex(&jti),
            access,
        };
        jsonwebtoken::encode(&h, &claims, &self.key).context("signing the registry token")
    }
}

/// `GET /v1/registry/token?service=S&scope=repository:NAME:pull`.
pub(crate) async fn token(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<App>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> crate::ApiResult {
    let tokens = app.registry.as_ref().ok_or_else(|| {
        ApiError::new(
            Code::RegistryDisabled,
            "this service issues no registry tokens (started without --registry-key)",
        )
    })?;
    let query = query.unwrap_or_default();
    let service = form_pairs(&query)
        .into_iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v);
    if service.as_deref().is_some_and(|s| s != tokens.service) {
        return Err(ApiError::bad(format!(
            "service {:?}: this realm issues tokens for {:?}",
            service.unwrap_or_default(),
            tokens.service
        )));
    }
    let asked = scopes(&query)?;
    let now = app.now();
    let (sub, granted) = match caller(&app, &headers)? {
        Caller::Vendor => ("vendor".to_string(), asked),
        Caller::Machine(credential) => {
            app.limit_address(crate::limit::Scope::Download, app.client(peer, &headers))?;
            let m = crate::machine(&app, "registry", &credential).await?;
            let catalog = app.catalog.as_ref().ok_or_else(|| {
                ApiError::new(
                    Code::RegistryDisabled,
                    "this service has no catalog (--catalog), so no repository is entitled",
                )
            })?;
            let mut granted = Vec::new();
            let mut why = Vec::new();
            for a in asked
                .iter()
                .filter(|a| a.actions.iter().any(|x| x == "pull"))
            {
                match catalog.entitles_repository(&m.product, m.tier, &a.name) {
                    Ok(()) => granted.push(Access {
                        actions: vec!["pull".into()],
                        ..a.clone()
                    }),
                    Err(e) => why.push(e.to_string()),
                }
            }
            if granted.is_empty() && !asked.is_empty() {
                app.metrics.outcome("registry", "refused");
                return Err(ApiError::new(
                    Code::RepositoryNotLicensed,
                    if why.is_empty() {
                        "machines may only pull".to_string()
                    } else {
                        why.join("; ")
                    },
                ));
            }
            (format!("machine:{}", m.req.fingerprint), granted)
        }
    };
    let jwt = tokens
        .sign(&sub, &granted, now.0)
        .map_err(ApiError::internal)?;
    app.metrics.outcome("registry", "token");
    Ok(axum::Json(serde_json::json!({
        "token": jwt,
        "access_token": jwt,
        "expires_in": tokens.ttl,
        "issued_at": now.to_string(),
        "granted": granted
            .iter()
            .map(|a| format!("repository:{}:{}", a.name, a.actions.join(",")))
            .collect::<Vec<_>>(),
    }))
    .into_response())
}

use axum::response::IntoResponse;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_repository_pull_or_push_only() {
        let ok = scopes("service=airlock-registry&scope=repository%3Agateway%2Fruntime%3Apull&scope=repository:a/b:pull,push+repository:c:pull").unwrap();
        let names: Vec<_> = ok
            .iter()
            .map(|a| (a.name.as_str(), a.actions.join(",")))
            .collect();
        assert_eq!(
            names,
            [
                ("gateway/runtime", "pull".to_string()),
                ("a/b", "pull,push".to_string()),
                ("c", "pull".to_string())
            ]
        );
        for bad in [
            "scope=registry:catalog:*",
            "scope=repository:Gateway:pull",
            "scope=repository:a:delete",
            "scope=repository:a:",
            "scope=repository:a",
            "scope=repository:../a:pull",
            "scope=repository:a//b:pull",
        ] {
            assert!(scopes(bad).is_err(), "{bad}");
        }
        let many = (0..17)
            .map(|i| format!("scope=repository:r{i}:pull"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(scopes(&many).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_query_parses_or_is_refused_without_panicking(q in ".{0,200}") {
            let _ = scopes(&q);
            let _ = form_pairs(&q);
        }

        #[test]
        fn percent_escapes_decode(b in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let enc: String = b.iter().map(|x| format!("%{x:02X}")).collect();
            let got = form_pairs(&format!("k={enc}"));
            proptest::prop_assert_eq!(got[0].1.clone(), String::from_utf8_lossy(&b).into_owned());
        }
    }

    #[test]
    fn certificates_come_from_complete_pem_blocks() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        assert_eq!(certificates(pem).unwrap(), vec!["AAECAw==".to_string()]);
        assert!(certificates("-----BEGIN CERTIFICATE-----\nAAEC\n").is_err());
        assert!(certificates("").is_err());
    }
}
