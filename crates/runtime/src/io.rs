//! The one capped read of a file the runtime is given (licenses, leases, state): `fsio`'s,
//! re-exported as the runtime's bottom floor.

pub use fsio::{read_capped, ReadError};
