//! The service-account token's expiry, read in advance (never shown).

use super::check::Check;
use crate::domino::{EXPIRY_WARNING, jwt_expiry};

/// The expiry of the service-account token in `path`, when it is a JWT (`exp`, read without
/// verifying the token): a warning when it expires within [`EXPIRY_WARNING`], a failure when
/// it has expired. The token itself is never shown.
pub fn token_expiry(path: &std::path::Path, now: std::time::SystemTime) -> Check {
    let name = "token expiry";
    let content = match std::fs::read_to_string(path) {
        Ok(c) => c,
        Err(e) => {
            return Check::fail(
                name,
                format!("the token file {} cannot be read: {e}", path.display()),
            );
        }
    };
    let Some(exp) = jwt_expiry(content.trim()) else {
        return Check::ok(
            name,
            "the token is not a JWT with an expiry (exp): it cannot be read in advance",
        );
    };
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp);
    let when = humantime::format_rfc3339_seconds(at);
    match at.duration_since(now) {
        Err(_) => Check::fail(
            name,
            format!("the token expired at {when}: refresh the token file"),
        ),
        Ok(left) if left < EXPIRY_WARNING => Check::warn(
            name,
            format!(
                "the token expires at {when}, in {} (within 12 hours): a run may outlast it unless the file is refreshed",
                rough_duration(left)
            ),
        ),
        Ok(left) => Check::ok(
            name,
            format!("the token expires at {when}, in {}", rough_duration(left)),
        ),
    }
}

/// `3 h 20 min`, `2 days 4 h`: enough to plan a window by.
pub fn rough_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} days {} h", s / 86_400, s % 86_400 / 3600),
    }
}
