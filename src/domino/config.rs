//! How to reach one Domino deployment: base URL, API key, TLS, timeouts, retries, limits.
//!
//! Everything here is validated before the first request, so a typo in the hostname or an
//! unreadable CA file is a clear one-line error instead of a confusing failure mid-run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::error::ConfigError;
use crate::pace::Pace;

/// The Domino API key. A secret: `Debug` and `Display` print `***`, never the key, so it cannot
/// leak through a log line, an error message or a `{:?}` of a config.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key from a string; surrounding whitespace (a newline from `echo`) is dropped.
    pub fn new(key: impl Into<String>) -> Result<ApiKey, ConfigError> {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.is_empty() {
            return Err(ConfigError::EmptyKey);
        }
        // An HTTP header value must be visible ASCII; say so now rather than on the first call.
        if !trimmed.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(ConfigError::InvalidKey);
        }
        Ok(ApiKey(trimmed.to_owned()))
    }

    /// The key from `DOMINO_API_KEY` (`env_value`) or else from a key file (its trimmed content).
    /// The environment wins when both are given, as the earlier tool read only the environment.
    pub fn from_env_or_file(
        env_value: Option<String>,
        key_file: Option<&Path>,
    ) -> Result<ApiKey, ConfigError> {
        if let Some(value) = env_value.filter(|v| !v.trim().is_empty()) {
            return ApiKey::new(value);
        }
        let Some(path) = key_file else {
            return Err(ConfigError::MissingKey);
        };
        let content = std::fs::read_to_string(path).map_err(|e| ConfigError::KeyFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        ApiKey::new(content).map_err(|e| match e {
            ConfigError::EmptyKey => ConfigError::KeyFile {
                path: path.to_owned(),
                reason: "the file is empty".into(),
            },
            other => other,
        })
    }

    /// The key itself, for the one place that puts it in a header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Retries of transient failures (429, 500, 502, 503, 504, connection errors, timeouts):
/// exponential backoff with jitter; a `Retry-After` header is a lower bound on the wait,
/// capped at `max_retry_after` so a confused server cannot park the run for hours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts at most), for writes;
    /// for reads, the retries that are always made (see `read_patience`).
    pub max_retries: usize,
    /// How long, from its first attempt, a read (GET) keeps retrying once `max_retries` are
    /// spent, while the deployment answers other attempts (`read_patience.rs`). Zero: reads
    /// stop at the count like writes.
    pub read_patience: Duration,
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_retry_after: Duration,
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            read_patience: Duration::from_secs(120),
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

/// Limits on what the client sends, applied to every HTTP request (retries and pages included),
/// so that a scan or a shutdown cannot overload the Domino frontend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Requests in flight at once, across all tasks sharing the client (at least 1).
    pub max_in_flight: usize,
    /// How fast requests start: unlimited, a fixed rate, or adaptive.
    pub pace: Pace,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 16,
            pace: Pace::Unlimited,
        }
    }
}

/// How requests say who sends them: an API key, or a service-account token read from a file
/// (sent as `Authorization: Bearer`, read again when an answer is 401).
#[derive(Clone, Debug, PartialEq)]
pub enum Credential {
    ApiKey(ApiKey),
    TokenFile(PathBuf),
}

impl Credential {
    /// What the requests carry, as messages name it ("the API key was refused").
    pub fn name(&self) -> &'static str {
        match self {
            Credential::ApiKey(_) => "API key",
            Credential::TokenFile(_) => "service-account token",
        }
    }
}

/// Everything the client needs. Build with [`ClientConfig::new`] and adjust the public fields;
/// [`ClientConfig::validate`] (called by `DominoClient::new`) checks them.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `DOMINO_HOSTNAME`, scheme included; a trailing `/` or a path prefix is fine.
    pub base_url: String,
    pub credential: Credential,
    /// `DOMINO_SSL_NO_VERIFY=true`: accept any certificate (the CLI warns loudly).
    pub tls_no_verify: bool,
    /// A PEM bundle of extra trusted CAs, added to the system's roots.
    pub ca_cert: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// For one attempt, from sending to the end of the body.
    pub request_timeout: Duration,
    /// For all the attempts of one request together, retries and their waits included: a
    /// server that accepts connections and never answers must fail a request in bounded time,
    /// not after every retry has timed out in turn. See [`ClientConfig::request_budget`].
    pub request_budget: Option<Duration>,
    pub retry: RetryPolicy,
    pub limits: Limits,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, api_key: ApiKey) -> ClientConfig {
        ClientConfig::with_credential(base_url, Credential::ApiKey(api_key))
    }

    /// A configuration that sends the service-account token of `path` instead of an API key.
    pub fn with_token_file(base_url: impl Into<String>, path: impl Into<PathBuf>) -> ClientConfig {
        ClientConfig::with_credential(base_url, Credential::TokenFile(path.into()))
    }

    fn with_credential(base_url: impl Into<String>, credential: Credential) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            credential,
            tls_no_verify: false,
            ca_cert: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            request_budget: None,
            retry: RetryPolicy::default(),
            limits: Limits::default(),
        }
    }

    /// The budget of one request across its retries: as set, or twice the per-attempt timeout
    /// (two minutes by default), which leaves room for a retry after one timeout, and for the
    /// short waits of the usual transient failures, but not for a silence of many minutes.
    pub fn request_budget(&self) -> Duration {
        self.request_budget
            .unwrap_or_else(|| self.request_timeout.saturating_mul(2))
    }

    /// Checks every field and returns the base URL normalised (no trailing `/`), ready to have
    /// API paths appended.
    pub fn validate(&self) -> Result<String, ConfigError> {
        let base = normalise_base_url(&self.base_url)?;
        if let Credential::TokenFile(path) = &self.credential {
            super::token::read_token_file(path)?;
        }
        if let Some(path) = &self.ca_cert {
            read_ca_bundle(path)?;
        }
        if self.limits.max_in_flight == 0 {
            return Err(ConfigError::Limits(
                "at most 0 requests in flight would never send anything".into(),
            ));
        }
        self.limits.pace.validate().map_err(ConfigError::Limits)?;
        Ok(base)
    }
}

/// `https://host/prefix/` → `https://host/prefix`: API paths (which start with `/`) are then
/// appended as text, so a path prefix is kept (URL "joining" would drop its last segment).
pub(crate) fn normalise_base_url(value: &str) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::Hostname {
        value: without_secrets(value.trim()),
        reason: reason.to_owned(),
    };
    let trimmed = value.trim();
    let lower = trimmed.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(bad(
            "it must start with http:// or https:// (for example https://domino.example.com)",
        ));
    }
    let url = reqwest::Url::parse(trimmed).map_err(|e| bad(&e.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host name"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not contain a query (?...) or fragment (#...)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain credentials; use DOMINO_API_KEY"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A hostname as a refusal may quote it: without what a user part (`user:password@`), a query
/// or a fragment may carry (a key, a password, a token), whether or not it parses as a URL.
fn without_secrets(value: &str) -> String {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), value),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("[credentials removed]@{}", &authority[at + 1..]),
        None => authority.to_owned(),
    };
    let tail = match tail.find(['?', '#']) {
        Some(cut) => format!("{}{}[removed]", &tail[..cut], &tail[cut..=cut]),
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

/// Reads a PEM bundle and returns its certificates; at least one is required, because an
/// empty or non-PEM file would otherwise silently add nothing and fail later with a TLS error.
pub(crate) fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::CaCertRead {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let invalid = |reason: String| ConfigError::CaCertInvalid {
        path: path.to_owned(),
        reason,
    };
    let certs =
        reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid("it contains no PEM certificate".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey::new("s3cret-key").unwrap()
    }

    #[test]
    fn api_key_never_prints() {
        let k = key();
        assert_eq!(format!("{k}"), "***");
        assert!(!format!("{k:?}").contains("s3cret"));
        let config = ClientConfig::new("https://h", k);
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn api_key_from_env_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "  file-key\n").unwrap();
        let from_file = ApiKey::from_env_or_file(None, Some(&file)).unwrap();
        assert_eq!(from_file.expose(), "file-key");
        let from_env = ApiKey::from_env_or_file(Some("env-key".into()), Some(&file)).unwrap();
        assert_eq!(from_env.expose(), "env-key");
        assert_eq!(
            ApiKey::from_env_or_file(None, None),
            Err(ConfigError::MissingKey)
        );
        assert_eq!(
            ApiKey::from_env_or_file(Some("  ".into()), None),
            Err(ConfigError::MissingKey)
        );
        std::fs::write(&file, "\n").unwrap();
        let err = ApiKey::from_env_or_file(None, Some(&file)).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let missing = dir.path().join("nope");
        let err = ApiKey::from_env_or_file(None, Some(&missing)).unwrap_err();
        assert!(matches!(err, ConfigError::KeyFile { .. }), "{err}");
        assert_eq!(ApiKey::new("a\u{e9}b"), Err(ConfigError::InvalidKey));
    }

    #[test]
    fn base_url_normalisation() {
        let ok = |s: &str| normalise_base_url(s).unwrap();
        assert_eq!(
            ok("https://domino.example.com"),
            "https://domino.example.com"
        );
        assert_eq!(
            ok("https://domino.example.com/"),
            "https://domino.example.com"
        );
        assert_eq!(ok("http://h:8080/domino/"), "http://h:8080/domino");
        assert_eq!(ok(" HTTPS://h/a/b "), "https://h/a/b");
        for bad in [
            "domino.example.com",
            "ftp://h",
            "https://",
            "https://h/?x=1",
            "",
        ] {
            let err = normalise_base_url(bad).unwrap_err();
            assert!(matches!(err, ConfigError::Hostname { .. }), "{bad}: {err}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn ca_bundle_validation() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ClientConfig::new("https://h", key());
        config.ca_cert = Some(dir.path().join("missing.pem"));
        assert!(matches!(
            config.validate(),
            Err(ConfigError::CaCertRead { .. })
        ));
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        config.ca_cert = Some(junk);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::CaCertInvalid { .. })
        ));
    }

    #[test]
    fn limits_validation() {
        let mut config = ClientConfig::new("https://h", key());
        config.limits.max_in_flight = 0;
        assert!(matches!(config.validate(), Err(ConfigError::Limits(_))));
        config.limits.max_in_flight = 1;
        config.limits.pace = Pace::Fixed(0.0);
        assert!(matches!(config.validate(), Err(ConfigError::Limits(_))));
        config.limits.pace = Pace::Fixed(5.0);
        assert_eq!(config.validate().unwrap(), "https://h");
    }

    /// A hostname refused for carrying credentials (or a query, where keys travel too) is
    /// quoted without them: the refusal goes to the terminal and the Job's log.
    #[test]
    fn a_refused_hostname_is_quoted_without_its_credentials() {
        for (value, shown) in [
            (
                "http://apikey:k3y-SECRET@127.0.0.1:9",
                "http://[credentials removed]@127.0.0.1:9",
            ),
            (
                "http://admin:URLPASSWORD@h.example/domino",
                "http://[credentials removed]@h.example/domino",
            ),
            (
                "http://h.example/?api_key=QSECRETKEY",
                "http://h.example/?[removed]",
            ),
            (
                "https://h.example/#tokenSECRET",
                "https://h.example/#[removed]",
            ),
            ("user:SECRET@h.example", "[credentials removed]@h.example"),
            ("http://a:SECRET@@h", "http://[credentials removed]@h"),
        ] {
            let err = normalise_base_url(value).unwrap_err().to_string();
            assert!(!err.contains("SECRET"), "{value}: {err}");
            assert!(err.contains(&format!("'{shown}'")), "{value}: {err}");
        }
    }
}
