//! The agent's HTTP client for the activation service (ureq over rustls, a private CA when
//! given): every answer sorted into a result or a `Failure` whose refusal code is parsed into
//! the refusal table.

use crate::online::*;
use anyhow::{bail, Result};
use clikit::input::read_capped;
use runtime::refusal::Code;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// What the service answered, or why it did not.
#[derive(Debug)]
pub enum Failure {
    /// It refused, with its code (a 4xx other than 429).
    Refused {
        /// HTTP status.
        status: u16,
        /// The stable code, when it is one of the table's (`None`: a code this release does
        /// not know, shown as the service sent it in `message`).
        code: Option<Code>,
        /// Its message.
        message: String,
        /// Seconds to wait before asking again, when the service said (`Retry-After`; a seat
        /// server's full pool).
        retry_after: Option<u64>,
    },
    /// Rate-limited: retry after this many seconds.
    RateLimited(u64),
    /// Unreachable, timed out, or a 5xx: try again later.
    Unavailable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused {
                status,
                code,
                message,
                ..
            } => match code {
                Some(c) => write!(f, "the service refused ({status} {c}): {message}"),
                None => write!(f, "the service refused ({status}): {message}"),
            },
            Failure::RateLimited(s) => write!(f, "the service is rate-limiting: retry after {s} s"),
            Failure::Unavailable(m) => write!(f, "the service is unavailable: {m}"),
        }
    }
}

/// An HTTP client for one service.
pub struct Client {
    pub(crate) agent: ureq::Agent,
    pub(crate) base: String,
}

impl Client {
    /// A client for `base` (`http://` or `https://`), trusting `ca` (PEM) besides the system
    /// roots' place (with `ca`, only it).
    pub fn new(base: &str, ca: Option<&Path>) -> Result<Client> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server {base:?} must start with http:// or https://");
        }
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent(concat!("airlock-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca {
            let pem = read_capped(ca, 1 << 20)?;
            let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                bail!("{}: no PEM certificate in it", ca.display());
            }
            cfg = cfg.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build(),
            );
        }
        Ok(Client {
            agent: cfg.build().into(),
            base,
        })
    }

    /// Sorts an answer: a 2xx response whose body is still to be read, or the failure (a
    /// refusal's JSON read within [`MAX_ANSWER_BYTES`]).
    pub(crate) fn checked(
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, Failure> {
        let mut resp = resp.map_err(|e| {
            let m = e.to_string();
            // A TLS failure is no outage: say what to fix (it is still retried, as the
            // service's certificate may be replaced meanwhile).
            if m.contains("certificate") {
                Failure::Unavailable(format!(
                    "TLS: the service's certificate is not trusted ({m}); for a private CA give --ca CA.pem"
                ))
            } else {
                Failure::Unavailable(m)
            }
        })?;
        let status = resp.status().as_u16();
        if (200..=299).contains(&status) {
            return Ok(resp);
        }
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .unwrap_or_default();
        Err(match status {
            429 => Failure::RateLimited(retry.unwrap_or(60).max(1)),
            400..=499 => {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let e = &v["error"];
                Failure::Refused {
                    status,
                    code: e["code"].as_str().and_then(Code::parse),
                    message: format!(
                        "{}{}",
                        e["code"]
                            .as_str()
                            .filter(|c| Code::parse(c).is_none())
                            .map(|c| format!("[{}] ", runtime::text::escape(c)))
                            .unwrap_or_default(),
                        runtime::text::escape(e["message"].as_str().unwrap_or(""))
                    ),
                    retry_after: retry,
                }
            }
            // A 5xx is worth retrying; its code and message (a seat server's clock set back,
            // a registry that is down) say why.
            _ => {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let e = &v["error"];
                match e["code"].as_str() {
                    Some(code) => Failure::Unavailable(format!(
                        "HTTP {status} [{}]: {}",
                        runtime::text::escape(code),
                        runtime::text::escape(e["message"].as_str().unwrap_or(""))
                    )),
                    None => Failure::Unavailable(format!("HTTP {status}")),
                }
            }
        })
    }

    fn answer(
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        limit: u64,
    ) -> Result<Vec<u8>, Failure> {
        Self::checked(resp)?
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| Failure::Unavailable(format!("reading the answer: {e}")))
    }

    /// POSTs a JSON body; the answer's JSON.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
        let resp = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send(&bytes[..]);
        let b = Self::answer(resp, MAX_ANSWER_BYTES)?;
        serde_json::from_slice(&b).map_err(|e| Failure::Unavailable(format!("not JSON: {e}")))
    }

    /// GETs `path` with an update credential; the raw answer.
    pub fn get(&self, path: &str, credential: &str, limit: u64) -> Result<Vec<u8>, Failure> {
        let resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Airlock-Request {credential}"))
            .call();
        Self::answer(resp, limit)
    }
}
