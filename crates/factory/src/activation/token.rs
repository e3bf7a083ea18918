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
