//! `SOURCE_DATE_EPOCH`: the one clock of a build (reproducible-builds.org).
//!
//! Every timestamp strata writes — tar mtimes (clamped), config `created`,
//! history `created`, the `org.opencontainers.image.created` annotation —
//! comes from it. Precedence: the spec's value, then the environment, then
//! [`DEFAULT_SOURCE_DATE_EPOCH`]. Never the wall clock: a build that reads the
//! clock is not reproducible.

use std::time::{Duration, UNIX_EPOCH};

use super::ImageError;

/// Used when neither the spec nor the environment sets an epoch: the Unix
/// epoch itself, as Bazel's rules_oci and Nix do.
pub const DEFAULT_SOURCE_DATE_EPOCH: i64 = 0;

/// Resolves the build epoch from the spec's value and the environment.
pub fn source_date_epoch(from_spec: Option<i64>) -> Result<i64, ImageError> {
    if let Some(e) = from_spec {
        return Ok(e);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => {
            s.trim().parse::<i64>().ok().filter(|e| *e >= 0).ok_or(ImageError::BadEpoch(s))
        }
        _ => Ok(DEFAULT_SOURCE_DATE_EPOCH),
    }
}

/// Formats seconds since 1970 as RFC 3339 UTC, e.g. `1970-01-01T00:00:00Z`.
pub fn rfc3339(epoch: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(epoch.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_seconds() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn the_spec_wins_over_the_environment() {
        assert_eq!(super::source_date_epoch(Some(42)).unwrap(), 42);
    }
}
