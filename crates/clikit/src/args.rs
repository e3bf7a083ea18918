//! Options shared by the vendor's verify commands (`factory verify`, `packager verify`).

use std::path::PathBuf;

/// How to judge a signed file on the vendor's side.
#[derive(Debug, clap::Args)]
pub struct Judge {
    /// The vendor's trust file (trust.json), trusted on its own roots
    #[arg(long)]
    pub trust: PathBuf,
    /// Detached signature (default: beside the file: FILE.sig, or license.sig for a license)
    #[arg(long)]
    pub sig: Option<PathBuf>,
    /// Judge at this time: RFC 3339 UTC, or YYYY-MM-DD meaning the end of that day (default:
    /// now, or $AIRLOCK_NOW)
    #[arg(long)]
    pub at: Option<String>,
    /// Print the report as JSON on stdout, for every outcome
    #[arg(long)]
    pub json: bool,
}
