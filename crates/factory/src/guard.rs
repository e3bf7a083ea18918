//! The checks that keep the license book free of silent mistakes, run after a request is
//! built and before anything is signed: an idempotency key reused for other parameters, a
//! customer id derived from a name that belongs to another customer, and a second live
//! license of one product and tier for one customer. `issue` and batches both go through
//! [`Guard`]; nothing is recorded when it refuses.

use crate::issue::Request;
use crate::registry::{Prior, Registry};
use anyhow::{bail, Result};
use canon::Timestamp;
use runtime::license::License;
use std::collections::HashMap;

/// Refuses a key recorded for a request that asked for something else: the recorded license
/// is another customer's or another product's, and returning it would write it into the new
/// directory as if it were the one asked for.
pub fn check_reuse(key: &str, prior: &Prior, params: &str, reg: &Registry) -> Result<()> {
    match &prior.params {
        Some(p) if p != params => {
            let what = reg
                .get(&prior.license_id)?
                .map(|r| {
                    format!(
                        " ({} {} for {} [{}])",
                        r.product, r.tier, r.customer_name, r.customer_id
                    )
                })
                .unwrap_or_default();
            bail!(
                "request id {key} is already recorded as license {}{what}, for other parameters; nothing was issued: use a new request id for a new request",
                prior.license_id
            )
        }
        _ => Ok(()),
    }
}

/// The book-keeping checks of one run (one request, or every new line of a batch).
pub struct Guard<'a> {
    reg: &'a Registry,
    now: Timestamp,
    /// Customer ids named by earlier lines of this run, with their names.
    names: HashMap<String, String>,
    /// (customer, product, tier) made live by earlier lines of this run.
    live: HashMap<(String, String, String), String>,
}

impl<'a> Guard<'a> {
    /// A guard over `reg` at `now`.
    pub fn new(reg: &'a Registry, now: Timestamp) -> Guard<'a> {
        Guard {
            reg,
            now,
            names: HashMap::new(),
            live: HashMap::new(),
        }
    }

    /// Admits one built request, or says what to do instead.
    pub fn admit(&mut self, req: &Request, license: &License) -> Result<()> {
        self.customer_id(req, license)?;
        self.second_license(req, license)
    }

    /// A derived customer id must not belong to another name: "ACME corp." and "Acme Corp"
    /// derive the same id, and sharing it would share bundle sequences and the book's
    /// history. An explicit `--customer-id` is the vendor's word and is taken as given.
    fn customer_id(&mut self, req: &Request, license: &License) -> Result<()> {
        let id = &license.customer.id;
        let name = &license.customer.name;
        if req.customer_id.is_none() {
            if let Some(other) = self.name_of(id)? {
                if &other != name {
                    let free = self.free_id(id, name)?;
                    bail!(
                        "customer id {id} (derived from {name:?}) already belongs to {other:?}; nothing was issued: if this is that customer, pass --customer-id {id} (batch: \"customer_id\": \"{id}\"); if it is another, give it its own id, e.g. --customer-id {free}"
                    );
                }
            }
        }
        self.names.entry(id.clone()).or_insert_with(|| name.clone());
        Ok(())
    }

    fn name_of(&self, id: &str) -> Result<Option<String>> {
        match self.names.get(id) {
            Some(n) => Ok(Some(n.clone())),
            None => self.reg.customer_name(id),
        }
    }

    /// The first of `id-2`, `id-3`, ... that no other customer holds.
    fn free_id(&self, id: &str, name: &str) -> Result<String> {
        for n in 2..1000 {
            let c = format!("{id}-{n}");
            match self.name_of(&c)? {
                None => return Ok(c),
                Some(other) if other == name => return Ok(c),
                Some(_) => {}
            }
        }
        Ok(format!(
            "{id}-{}",
            crate::issue::new_license_key().to_lowercase()
        ))
    }

    /// A customer who already holds a live license of this product and tier does not get a
    /// second one by accident (a batch line run twice, an order entered twice): refused
    /// unless the request says `additional`.
    fn second_license(&mut self, req: &Request, license: &License) -> Result<()> {
        let key = (
            license.customer.id.clone(),
            license.product.clone(),
            license.tier.as_str().to_string(),
        );
        if !req.additional {
            let held = match self.live.get(&key) {
                Some(id) => Some(format!("{id} (issued by this run)")),
                None => self.reg.live_license_of(&key.0, &key.1, &key.2, self.now)?,
            };
            if let Some(held) = held {
                bail!(
                    "customer {} already holds a live {} {} license, {held}; nothing was issued: renew or amend that one, or pass --additional (batch: \"additional\": true) to issue a second license",
                    key.0,
                    key.1,
                    key.2
                );
            }
        }
        self.live.insert(key, license.license_id.clone());
        Ok(())
    }
}
