//! The check an error stands for, found anywhere in its chain: the one place that knows every
//! error type of the runtime, at the top of the crate, so that the floors below (the check
//! codes, the errors) know nothing above them.

use crate::check::{Check, Failed};

/// The check an error stands for: the first error in its chain that is one of the runtime's.
/// A `canon::ParseError` is `json_invalid`. `None`: a plain I/O or usage error.
pub fn check_of(e: &(dyn std::error::Error + 'static)) -> Option<Check> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(x) = c.downcast_ref::<Failed>() {
            return Some(x.check);
        }
        if let Some(x) = c.downcast_ref::<crate::session::SessionError>() {
            return Some(x.code());
        }
        if let Some(x) = c.downcast_ref::<crate::state::StateError>() {
            return Some(x.code());
        }
        if let Some(x) = c.downcast_ref::<crate::VerifyError>() {
            return Some(x.code());
        }
        if let Some(x) = c.downcast_ref::<crate::bundle::BundleError>() {
            return Some(x.code());
        }
        if let Some(x) = c.downcast_ref::<crate::activation::ActivationError>() {
            return Some(x.code());
        }
        if let Some(x) = c.downcast_ref::<crate::error::Refusal>() {
            if let Some(check) = x.check {
                return Some(check);
            }
        }
        if c.is::<crate::fingerprint::FingerprintError>() {
            return Some(Check::FingerprintUnavailable);
        }
        if c.is::<canon::ParseError>() {
            return Some(Check::JsonInvalid);
        }
        cur = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[test]
    fn finds_the_check_through_wrappers() {
        #[derive(Debug)]
        struct Outer(crate::VerifyError);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(crate::VerifyError::UnknownKey(canon::KeyId([7; 8])));
        assert_eq!(check_of(&e), Some(Check::KeyUnknown));
        let io = std::io::Error::other("disk");
        assert_eq!(check_of(&io), None);
    }
}
