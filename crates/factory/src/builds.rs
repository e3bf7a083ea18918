//! Encrypted builds (docs/FORMAT.md §19): the registry holds each build's content key wrapped
//! to the vendor's key-encryption key (KEK), never in the clear, and releases it to a seat only
//! re-wrapped to that machine's own encryption key, inside a signed lease.
//!
//! - [`register`] takes the packager's signed build record: its signature (a release key of the
//!   trust file), and that the wrapped key opens with the KEK to the key the record's
//!   `key_check` names, before anything is written. The same record again changes nothing.
//! - [`for_lease`] (inside the seat transaction) says which builds a lease carries: those the
//!   seat was given before and those the request names, each registered and entitled by the
//!   license in force ([`runtime::policy::entitles`], plus the customer), else a refusal.
//! - [`grants`] (after the transaction, where leases are signed) re-wraps each key to the
//!   machine, bound to the lease ([`format::build::grant_info`]).

use crate::activation::{Code, Outcome, Refusal};
use crate::args;
use crate::db::Sql;
use crate::registry::{audit_with, Registry};
use anyhow::{bail, Context, Result};
use canon::Timestamp;
use runtime::activation::Activation;
use runtime::build::{grant_info, kek_info, BuildRecord, KeyGrant};
use runtime::license::License;
use runtime::Artifact;

pub use signing::kek::Kek;

/// A registered build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The bundle id.
    pub bundle_id: String,
    /// Product.
    pub product: String,
    /// Version.
    pub version: String,
    /// Edition.
    pub edition: String,
    /// Features the release needs.
    pub requires_features: Vec<String>,
    /// The customer it was made for.
    pub customer_id: String,
    /// The license it carries.
    pub license_id: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// The content key's check value.
    pub key_check: String,
    /// The KEK it is wrapped to.
    pub kek_key_id: String,
    /// When the registry took it.
    pub registered_at: Timestamp,
}

/// What [`register`] did.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The build.
    pub build: Build,
    /// False when the same record was registered before.
    pub new: bool,
}

const COLUMNS: &str = "bundle_id, product, version, edition, requires_features, customer_id, license_id, created_at, key_check, kek_key_id, registered_at";

fn row(r: &dyn crate::db::SqlRow) -> Result<Build> {
    let features: Vec<String> = serde_json::from_str(&r.text(4)?).context("requires_features")?;
    Ok(Build {
        bundle_id: r.text(0)?,
        product: r.text(1)?,
        version: r.text(2)?,
        edition: r.text(3)?,
        requires_features: features,
        customer_id: r.text(5)?,
        license_id: r.text(6)?,
        created_at: Timestamp(r.int(7)?),
        key_check: r.text(8)?,
        kek_key_id: r.text(9)?,
        registered_at: Timestamp(r.int(10)?),
    })
}

/// Registers a build record file (`<name>.build.json`): verified against `trust` (release
/// role, key window at its `created_at`), its key opened with `kek` and checked against its
/// `key_check`. Audit event `build_registered`.
pub fn register(
    reg: &mut Registry,
    file: &[u8],
    trust: &runtime::TrustStore,
    kek: &Kek,
    now: Timestamp,
) -> Result<Registered> {
    let f = runtime::activation::SignedFile::parse(BuildRecord::WHAT, file)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let v =
        runtime::signed::verify::<BuildRecord>(trust, &f.canonical, &f.envelope.to_bytes(), None)
            .map_err(|e| anyhow::anyhow!("the build record does not verify: {e}"))?;
    let rec = v.value();
    if rec.kek_key_id != kek.key_id().to_string() {
        bail!(
            "build {} is wrapped to key-encryption key {}, not to {} ({}): register it with that key",
            rec.bundle_id,
            rec.kek_key_id,
            kek.key_id(),
            kek.name()
        );
    }
    let wrapped = canon::enc::unb64(&rec.wrapped_key).context("wrapped_key")?;
    let key = kek
        .unwrap(&wrapped, &kek_info(&rec.bundle_id))
        .map_err(|e| anyhow::anyhow!("build {}: {e:#}", rec.bundle_id))?;
    if !canon::enc::same_secret(key.check_hex().as_bytes(), rec.key_check.as_bytes()) {
        bail!(
            "build {}: the wrapped key is not the key its key_check names; nothing was registered",
            rec.bundle_id
        );
    }
    let created = Timestamp::parse(&rec.created_at).context("created_at")?;
    let features = serde_json::to_string(&rec.requires_features)?;
    let record_text = String::from_utf8(f.to_bytes()).context("record")?;
    reg.write(|tx| {
        if let Some(old) = tx.opt(
            "SELECT record FROM builds WHERE bundle_id = ?1",
            args![&rec.bundle_id],
            |r| r.text(0),
        )? {
            if old != record_text {
                bail!(
                    "build {} is registered already with another record (another wrapping or signature): nothing was changed",
                    rec.bundle_id
                );
            }
            let build = get_in(tx, &rec.bundle_id)?.context("the registered build")?;
            return Ok(Registered { build, new: false });
        }
        tx.exec(
            "INSERT INTO builds (bundle_id, product, version, edition, requires_features, customer_id, license_id, created_at, key_check, kek_key_id, wrapped_key, record, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            args![&rec.bundle_id, &rec.product, &rec.version, &rec.edition, &features, &rec.customer_id, &rec.license_id, created.0, &rec.key_check, &rec.kek_key_id, &rec.wrapped_key, &record_text, now.0],
        )?;
        audit_with(
            tx,
            now,
            "build_registered",
            &format!("build:{}", rec.bundle_id),
            &format!(
                "product={} version={} customer={} license={} kek={}",
                rec.product, rec.version, rec.customer_id, rec.license_id, rec.kek_key_id
            ),
            None,
        )?;
        let build = get_in(tx, &rec.bundle_id)?.context("the registered build")?;
        Ok(Registered { build, new: true })
    })
}

/// One build.
pub fn get_in(tx: &dyn Sql, bundle_id: &str) -> Result<Option<Build>> {
    tx.opt(
        &format!("SELECT {COLUMNS} FROM builds WHERE bundle_id = ?1"),
        args![bundle_id],
        row,
    )
}

/// Registered builds, newest first (of one product when given).
pub fn list(reg: &Registry, product: Option<&str>) -> Result<Vec<Build>> {
    reg.sql().all(
        &format!(
            "SELECT {COLUMNS} FROM builds WHERE (?1 = '' OR product = ?1) ORDER BY created_at DESC, bundle_id"
        ),
        args![product.unwrap_or("")],
        row,
    )
}

/// Whether `license` entitles its holder to `b`: the customer, then the product, edition and
/// features ([`runtime::policy::entitles`]).
pub fn entitled(b: &Build, license: &License) -> Result<(), Refusal> {
    if b.customer_id != license.customer.id {
        return Err(Refusal::new(
            Code::BuildNotLicensed,
            format!(
                "build {} was made for customer {}, not for {}",
                b.bundle_id, b.customer_id, license.customer.id
            ),
        ));
    }
    runtime::policy::entitles(license, &b.product, &b.edition, &b.requires_features).map_err(|f| {
        Refusal::new(
            Code::BuildNotLicensed,
            format!("build {} ({}): {}", b.bundle_id, f.check, f.message),
        )
    })
}

/// The builds a lease for seat `activation_id` carries, with their KEK-wrapped keys: the
/// seat's earlier grants that the license in force still entitles, then each build `asked`
/// names (refused `BUILD_NOT_FOUND` or `BUILD_NOT_LICENSED`). Read inside the seat
/// transaction; [`record`] writes the new ones there.
pub fn for_lease(
    tx: &dyn Sql,
    activation_id: Option<&str>,
    asked: &[String],
    license: &License,
) -> Outcome<Vec<(Build, String)>> {
    let mut out: Vec<(Build, String)> = Vec::new();
    let held = match activation_id {
        Some(id) => tx.all(
            "SELECT bundle_id FROM activation_grants WHERE activation_id = ?1 ORDER BY bundle_id",
            args![id],
            |r| r.text(0),
        )?,
        None => Vec::new(),
    };
    for id in held
        .iter()
        .chain(asked.iter().filter(|a| !held.contains(a)))
    {
        let found = tx.opt(
            &format!("SELECT {COLUMNS}, wrapped_key FROM builds WHERE bundle_id = ?1"),
            args![id],
            |r| Ok((row(r)?, r.text(11)?)),
        )?;
        let Some((b, wrapped)) = found else {
            return Ok(Err(Refusal::new(
                Code::BuildNotFound,
                format!("build {id} is not registered"),
            )));
        };
        match entitled(&b, license) {
            Ok(()) => out.push((b, wrapped)),
            // A key given before and no longer entitled (another edition after a renewal) is
            // not carried; one asked for now is refused.
            Err(_) if held.contains(id) => {}
            Err(r) => return Ok(Err(r)),
        }
    }
    if out.len() > runtime::build::MAX_GRANTS {
        return Ok(Err(Refusal::new(
            Code::RequestInvalid,
            format!(
                "a lease carries at most {} build keys",
                runtime::build::MAX_GRANTS
            ),
        )));
    }
    Ok(Ok(out))
}

/// Records the seat's grants (new rows only).
pub fn record(tx: &dyn Sql, activation_id: &str, builds: &[String], now: Timestamp) -> Result<()> {
    for b in builds {
        tx.exec(
            "INSERT INTO activation_grants (activation_id, bundle_id, granted_at) VALUES (?1, ?2, ?3) ON CONFLICT (activation_id, bundle_id) DO NOTHING",
            args![activation_id, b, now.0],
        )?;
    }
    Ok(())
}

/// The lease's grants: each KEK-wrapped key opened with `kek` and wrapped to the machine's
/// `encryption_public_key`, bound to the lease (which must carry its final times and
/// sequence). The content keys exist in the clear only in this function's memory.
pub fn grants(
    lease: &Activation,
    machine_key: &[u8; 32],
    builds: &[(String, String, String)],
    kek: Option<&Kek>,
) -> Result<Result<Vec<KeyGrant>, Refusal>> {
    if builds.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let Some(kek) = kek else {
        return Ok(Err(Refusal::new(
            Code::BuildKeysDisabled,
            "this side holds no key-encryption key (--kek), so it releases no build keys",
        )));
    };
    let mut out = Vec::with_capacity(builds.len());
    for (bundle_id, wrapped, kek_id) in builds {
        if *kek_id != kek.key_id().to_string() {
            bail!(
                "build {bundle_id} is wrapped to key-encryption key {kek_id}, this side holds {}",
                kek.key_id()
            );
        }
        let w = canon::enc::unb64(wrapped).context("a registered wrapped key")?;
        let key = kek
            .unwrap(&w, &kek_info(bundle_id))
            .map_err(|e| anyhow::anyhow!("build {bundle_id}: {e:#}"))?;
        let to_machine = seal::wrap::wrap(machine_key, &key, &grant_info(lease, bundle_id))
            .map_err(|e| anyhow::anyhow!("build {bundle_id}: {e}"))?;
        out.push(KeyGrant {
            bundle_id: bundle_id.clone(),
            wrapped_key: canon::enc::b64(&to_machine),
        });
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> Build {
        Build {
            bundle_id: "bnd-00000000000000aa".into(),
            product: "gateway".into(),
            version: "2.0.0".into(),
            edition: "standard".into(),
            requires_features: vec!["gate".into()],
            customer_id: "acme".into(),
            license_id: "lic-test-0001".into(),
            created_at: Timestamp(0),
            key_check: "0".repeat(64),
            kek_key_id: "0".repeat(16),
            registered_at: Timestamp(0),
        }
    }

    #[test]
    fn a_build_is_entitled_by_customer_product_edition_and_features() {
        let lic = testkit::bundle::license();
        assert!(entitled(&build(), &lic).is_ok());
        let cases: Vec<(Build, &str)> = vec![
            (
                Build {
                    customer_id: "globex".into(),
                    ..build()
                },
                "customer globex",
            ),
            (
                Build {
                    product: "phones".into(),
                    ..build()
                },
                "wrong_product",
            ),
            (
                Build {
                    edition: "lite".into(),
                    ..build()
                },
                "edition_not_licensed",
            ),
            (
                Build {
                    requires_features: vec!["mssql".into()],
                    ..build()
                },
                "feature_not_licensed",
            ),
        ];
        for (b, needle) in cases {
            let r = entitled(&b, &lic).unwrap_err();
            assert_eq!(r.code, Code::BuildNotLicensed);
            assert!(r.message.contains(needle), "{}", r.message);
        }
    }
}
