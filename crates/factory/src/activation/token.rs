//! Install tokens: signed by the activation key, single-use up to their allowance, spent in
//! the transaction that makes the seat.

use super::{refuse, Code, Outcome};
use crate::registry::{audit_with, get_in, Registry};
use anyhow::Context;
use canon::{enc, Kind, Timestamp};
use rand_core::{OsRng, RngCore};
use runtime::activation::InstallToken;
use runtime::license::State;
use runtime::Artifact;
use signing::SecretKey;

/// A signed install token (`factory token create`).
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub token: InstallToken,
    /// Its text form ([`runtime::activation::TOKEN_PREFIX`] + base64): what the customer's
    /// installer is given. A bearer secret until it is spent or expires.
    pub text: String,
}

/// Signs an install token for `license_id` allowing `allowance` activations for `ttl_secs`
/// (at most 72 hours), and records its creation in the audit log. The license must be live or
/// not yet valid (not revoked, renewed, in grace or expired).
pub fn token_create(
    reg: &mut Registry,
    license_id: &str,
    allowance: u64,
    ttl_secs: i64,
    key: &SecretKey,
    now: Timestamp,
) -> Outcome<Token> {
    reg.immediate(|tx| {
        let Some(rec) = get_in(tx, license_id)? else {
            return refuse(
                Code::LicenseNotFound,
                format!("no license {license_id} in the registry"),
            );
        };
        if rec.revoked_at.is_some() {
            return refuse(
                Code::LicenseRevoked,
                format!("license {license_id} is revoked"),
            );
        }
        // Judged by the lineage's license in force: a token for a license renewed early works
        // until the renewal begins and after (the seat is then the renewal's).
        let force = match super::grant::in_force_of(tx, rec.clone(), now)? {
            Ok(l) => l,
            Err(r) => return Ok(Err(r)),
        };
        if let Err(r) = super::rules::not_suspended(&force.rec) {
            return Ok(Err(r));
        }
        let (license, standing) = (force.license, force.standing);
        match standing.state {
            State::Expired => {
                return refuse(
                    Code::LicenseExpired,
                    format!("license {license_id} has expired"),
                )
            }
            State::Grace => {
                return refuse(
                    Code::LicenseInGrace,
                    format!(
                        "license {license_id} is in its grace period: new machines cannot activate"
                    ),
                )
            }
            _ => {}
        }
        let mut b = [0u8; 16];
        OsRng.fill_bytes(&mut b);
        let token = InstallToken {
            doc_type: runtime::activation::INSTALL_TOKEN_TYPE.into(),
            token_id: enc::hex(&b),
            license_id: rec.license_id.clone(),
            lineage_id: rec.lineage_id.clone(),
            product: rec.product.clone(),
            workspace: license.workspace.clone(),
            allowance,
            issued_at: now.to_string(),
            expires_at: Timestamp(now.0 + ttl_secs).to_string(),
        };
        token
            .validate()
            .map_err(anyhow::Error::new)
            .context("the token built")?;
        let canonical = token.to_canonical();
        let envelope = key.sign_document(Kind::InstallToken, &canonical)?;
        let text = runtime::activation::SignedFile {
            canonical,
            envelope,
        }
        .to_token();
        tx.exec(
            "INSERT INTO install_tokens (token_id, license_id, lineage_id, allowance, issued_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            crate::args![
                &token.token_id,
                &rec.license_id,
                &rec.lineage_id,
                allowance,
                now.0,
                now.0 + ttl_secs
            ],
        )?;
        audit_with(
            tx,
            now,
            "token_created",
            &format!("token:{}", token.token_id),
            &format!(
                "license={} allowance={allowance} expires_at={} key={}",
                rec.license_id,
                token.expires_at,
                key.key_id()
            ),
            None,
        )?;
        Ok(Ok(Token { token, text }))
    })
}

/// One recorded install token (`factory token list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Its id.
    pub token_id: String,
    /// The license it was made for.
    pub license_id: String,
    /// How many machines it may activate.
    pub allowance: u64,
    /// How many it did.
    pub used: u64,
    /// When it was made.
    pub issued_at: Timestamp,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
    /// When the vendor revoked it.
    pub revoked_at: Option<Timestamp>,
}

impl TokenRow {
    /// `live`, `spent`, `expired` or `revoked` at `now`.
    pub fn state(&self, now: Timestamp) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.used >= self.allowance {
            "spent"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "live"
        }
    }
}

/// The recorded install tokens, newest first, of one license (or all).
pub fn token_list(reg: &Registry, license_id: Option<&str>) -> anyhow::Result<Vec<TokenRow>> {
    reg.sql().all(
        "SELECT t.token_id, t.license_id, t.allowance,
           (SELECT count(*) FROM install_token_uses u WHERE u.token_id = t.token_id),
           t.issued_at, t.expires_at, t.revoked_at
         FROM install_tokens t WHERE (?1 = '' OR t.license_id = ?1)
         ORDER BY t.issued_at DESC, t.token_id",
        crate::args![license_id.unwrap_or("")],
        |r| {
            Ok(TokenRow {
                token_id: r.text(0)?,
                license_id: r.text(1)?,
                allowance: r.int(2)? as u64,
                used: r.int(3)? as u64,
                issued_at: Timestamp(r.int(4)?),
                expires_at: Timestamp(r.int(5)?),
                revoked_at: r.opt_int(6)?.map(Timestamp),
            })
        },
    )
}

/// Revokes an install token: the service and `activation fulfill` refuse it from now on
/// (`TOKEN_REVOKED`); seats it already made stay. Audit event `token_revoked`.
pub fn token_revoke(
    reg: &mut Registry,
    token_id: &str,
    reason: &str,
    now: Timestamp,
) -> Outcome<TokenRow> {
    reg.immediate(|tx| {
        let n = tx.exec(
            "UPDATE install_tokens SET revoked_at = ?1, revoke_reason = ?2 WHERE token_id = ?3 AND revoked_at IS NULL",
            crate::args![now.0, reason, token_id],
        )?;
        if n == 0 {
            let known = tx.opt(
                "SELECT revoked_at FROM install_tokens WHERE token_id = ?1",
                crate::args![token_id],
                |r| r.opt_int(0),
            )?;
            return match known {
                None => refuse(
                    Code::TokenInvalid,
                    format!("no install token {token_id} is recorded (tokens made before registry schema 11 are not; they expire within 72 hours)"),
                ),
                Some(_) => refuse(
                    Code::TokenRevoked,
                    format!("install token {token_id} is revoked already"),
                ),
            };
        }
        audit_with(
            tx,
            now,
            "token_revoked",
            &format!("token:{token_id}"),
            reason,
            None,
        )?;
        Ok(Ok(()))
    })
    .and_then(|r| match r {
        Ok(()) => Ok(Ok(token_list(reg, None)?
            .into_iter()
            .find(|t| t.token_id == token_id)
            .context("the revoked token vanished")?)),
        Err(e) => Ok(Err(e)),
    })
}
