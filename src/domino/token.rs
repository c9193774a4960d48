//! Service-account tokens: read from a file (`DOMINO_TOKEN_FILE`), sent as
//! `Authorization: Bearer <token>`, and read again when an answer is 401, because the platform
//! rotates the file's token during long runs. A token is a secret: it never reaches a log line,
//! an error message or a file, and `Debug` prints `***`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderValue;

use super::error::ConfigError;

/// Warn when the token read expires sooner than this: a maintenance run can last hours.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(12 * 3600);

/// The `Authorization` header value of one token, marked sensitive.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BearerHeader(HeaderValue);

impl BearerHeader {
    pub(crate) fn value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for BearerHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerHeader(***)")
    }
}

/// Reads the token file: its trimmed content, which must be one visible-ASCII line. Returns
/// the header to send and, when the token is a JWT with an `exp` claim, when it expires.
pub(crate) fn read_token_file(path: &Path) -> Result<(BearerHeader, Option<u64>), ConfigError> {
    let bad = |reason: &str| ConfigError::TokenFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let content = std::fs::read_to_string(path).map_err(|e| bad(&e.to_string()))?;
    let token = content.trim();
    if token.is_empty() {
        return Err(bad("the file is empty"));
    }
    if !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(bad(
            "the token contains characters that cannot be sent in an HTTP header",
        ));
    }
    let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| bad("the token cannot be sent in an HTTP header"))?;
    header.set_sensitive(true);
    Ok((BearerHeader(header), jwt_expiry(token)))
}

/// Warns when a token expires within [`EXPIRY_WARNING`] (or has expired).
fn warn_if_expiring(path: &Path, expires_at: Option<u64>) {
    let Some(exp) = expires_at else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match exp.checked_sub(now) {
        None | Some(0) => tracing::warn!(
            path = %path.display(),
            "the service-account token in the file has expired"
        ),
        Some(left) if left < EXPIRY_WARNING.as_secs() => tracing::warn!(
            path = %path.display(),
            expires_in_min = left / 60,
            "the service-account token in the file expires within 12 hours; a long run may outlast it unless the file is refreshed"
        ),
        Some(_) => {}
    }
}

/// The `exp` claim (seconds since the epoch) of a JWT, decoded without verifying it; `None`
/// when the token is not a JWT or has no numeric `exp`.
pub(crate) fn jwt_expiry(token: &str) -> Option<u64> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let claims: serde_json::Value = serde_json::from_slice(&base64url_decode(payload)?).ok()?;
    let exp = claims.get("exp")?;
    exp.as_u64().or_else(|| exp.as_f64().map(|f| f as u64))
}

/// Base64url without padding (RFC 4648 §5, as JWTs use it); padding is tolerated.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The token in force, and the file it comes from.
#[derive(Debug)]
pub(crate) struct TokenSource {
    path: PathBuf,
    current: Mutex<BearerHeader>,
}

impl TokenSource {
    /// Reads the file once; an unreadable or empty file is a configuration error.
    pub(crate) fn open(path: &Path) -> Result<TokenSource, ConfigError> {
        let (header, expires_at) = read_token_file(path)?;
        warn_if_expiring(path, expires_at);
        Ok(TokenSource {
            current: Mutex::new(header),
            path: path.to_owned(),
        })
    }

    pub(crate) fn current(&self) -> BearerHeader {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// After a 401 to a request sent with `used`: reads the file again, and whether its token
    /// differs from `used` (so that the request is worth sending once more). Concurrent requests
    /// refused with the same old token all get `true`; a file that cannot be read now keeps the
    /// token in force.
    pub(crate) fn refresh(&self, used: &BearerHeader) -> bool {
        match read_token_file(&self.path) {
            Ok((fresh, expires_at)) => {
                let changed = fresh != *used;
                if changed {
                    warn_if_expiring(&self.path, expires_at);
                    tracing::info!(path = %self.path.display(), "the service-account token was refused; using the one now in the file");
                    *self.current.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                }
                changed
            }
            Err(e) => {
                tracing::warn!(
                    "the service-account token was refused and the file cannot be read again: {e}"
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JWT with these claims (header and signature are not checked).
    fn jwt(claims: &str) -> String {
        const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in claims.as_bytes().chunks(3) {
            let n =
                chunk.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        format!("eyJhbGciOiJSUzI1NiJ9.{out}.c2lnbmF0dXJl")
    }

    #[test]
    fn jwt_expiry_is_read_without_verifying() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"sub":"svc","exp":1700000000}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000.5,"x":"ab"}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(jwt_expiry(&jwt(r#"{"sub":"svc"}"#)), None);
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.b.c.d"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(base64url_decode("aGk").unwrap(), b"hi");
        assert_eq!(base64url_decode("aGk=").unwrap(), b"hi");
    }

    #[test]
    fn a_token_file_is_read_trimmed_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  s3cret-token\n").unwrap();
        let (header, expires_at) = read_token_file(&path).unwrap();
        assert_eq!(expires_at, None);
        assert_eq!(header.value().to_str().unwrap(), "Bearer s3cret-token");
        assert!(header.value().is_sensitive());
        assert!(!format!("{header:?}").contains("s3cret"));

        let source = TokenSource::open(&path).unwrap();
        assert!(!format!("{source:?}").contains("s3cret"));
        let used = source.current();
        assert!(!source.refresh(&used), "same token: nothing to retry");
        std::fs::write(&path, "rotated-token").unwrap();
        assert!(source.refresh(&used));
        assert_eq!(
            source.current().value().to_str().unwrap(),
            "Bearer rotated-token"
        );
        assert!(
            source.refresh(&used),
            "another request refused with the old token retries too"
        );

        std::fs::write(&path, "\n").unwrap();
        let err = read_token_file(&path).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        std::fs::write(&path, "two words").unwrap();
        assert!(read_token_file(&path).is_err());
        let err = read_token_file(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, ConfigError::TokenFile { .. }), "{err}");
    }
}
