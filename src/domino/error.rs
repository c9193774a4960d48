//! [`ApiError`], every way a call to the Domino API can fail, with what the runner needs to
//! tell them apart (transient, refused, not found, unauthorized); and [`ConfigError`].

use std::path::PathBuf;

use thiserror::Error;

use crate::snapshot::Kind;

/// A request that failed for good (after the client's own retries of transient failures).
///
/// Every variant names the method and the path (never the host's query secrets nor the API key),
/// so an error printed on its own says which call failed and why.
/// The statuses that may pass on their own: too many requests, and a server or gateway that
/// is failing for now. Domino's frontend answers 500 while a backend restarts, and every call
/// dmm retries is a read or state-setting. One list for the client's retries and the runner's
/// view of a failure.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

#[derive(Debug, Clone, Error)]
pub enum ApiError {
    /// 401 or 403: the credential is wrong or its user is not an administrator. Never retried.
    #[error(
        "{method} {path}: HTTP {status}: the {credential} was refused (a wrong or expired {credential}, or its user is not a Domino administrator)"
    )]
    Unauthorized {
        method: String,
        path: String,
        status: u16,
        /// The credential the request carried: "API key" or "service-account token".
        credential: &'static str,
    },
    /// 404: the execution (or its project) no longer exists.
    #[error("{method} {path}: HTTP 404: not found")]
    NotFound { method: String, path: String },
    /// Any other non-2xx answer, after retries if it was transient.
    #[error("{method} {path}: HTTP {status}{}", body_suffix(.body))]
    Status {
        method: String,
        path: String,
        status: u16,
        body: String,
    },
    /// No answer: connection refused or reset, timeout, TLS failure, after retries.
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
        /// The server answered every attempt, if only to refuse, until the request's budget
        /// ran out: not an outage of the network ([`ApiError::is_refusal`]).
        refused: bool,
    },
    /// A write that left but whose answer never came (the connection closed or the time ran
    /// out after it was sent): it may or may not have been applied, so the client does not
    /// send it again; whoever sent it looks at the execution first.
    #[error("{method} {path}: sent, but no answer came ({message}); it may have been applied")]
    Unanswered {
        method: String,
        path: String,
        message: String,
    },
    /// A 2xx answer whose body was not the JSON we expected.
    #[error("{method} {path}: unexpected answer: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
    /// A 2xx answer that is a web page, not JSON: something other than the Domino API answers
    /// at this URL (a login page of a proxy in front of it, or a wrong path prefix).
    #[error(
        "{method} {path}: this is not a Domino API (it answers with an HTML page: a login page or a proxy in front of the API, or a wrong URL?)"
    )]
    NotAnApi { method: String, path: String },
    /// The kind of execution has no such operation (a workspace cannot be started by an admin).
    /// No request was sent.
    #[error("{kind}: {operation} is not supported: {reason}")]
    Unsupported {
        kind: Kind,
        operation: String,
        reason: String,
    },
    /// A snapshot entry lacks what the call needs (`_id.projectId`, ...). No request was sent.
    #[error("{kind} '{name}': {reason}")]
    BadEntry {
        kind: Kind,
        name: String,
        reason: String,
    },
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl ApiError {
    /// The same error with `f` applied to the text it quotes from the server (an error body,
    /// a decoder's excerpt of an answer); the rest is dmm's own words.
    pub(crate) fn map_server_text(self, f: impl Fn(&str) -> String) -> ApiError {
        match self {
            ApiError::Status {
                method,
                path,
                status,
                body,
            } => ApiError::Status {
                method,
                path,
                status,
                body: f(&body),
            },
            ApiError::Decode {
                method,
                path,
                message,
            } => ApiError::Decode {
                method,
                path,
                message: f(&message),
            },
            other => other,
        }
    }

    /// The HTTP status, when an answer came.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { status, .. } | ApiError::Status { status, .. } => {
                Some(*status)
            }
            ApiError::NotFound { .. } => Some(404),
            ApiError::Transport { .. }
            | ApiError::Unanswered { .. }
            | ApiError::Decode { .. }
            | ApiError::NotAnApi { .. }
            | ApiError::Unsupported { .. }
            | ApiError::BadEntry { .. } => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }

    /// A refused key ends the whole run: nothing else will succeed either.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Unauthorized { .. })
    }

    /// Transient failures that outlived the client's retries (the network or the API is down);
    /// a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } | ApiError::Unanswered { .. } => true,
            ApiError::Status { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }

    /// The server answered, if only to refuse (a status, or a spent budget whose every attempt
    /// got one): not an outage of the network, whatever the retries made of it.
    pub fn is_refusal(&self) -> bool {
        match self {
            ApiError::Status { .. } => true,
            ApiError::Transport { refused, .. } => *refused,
            _ => false,
        }
    }

    /// A write whose effect is unknown, or that was refused in a way an earlier, applied copy
    /// of it explains ("already starting"): the execution must be looked at before this counts
    /// as a failed attempt.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            ApiError::Unanswered { .. } => true,
            ApiError::Status { status, .. } => matches!(status, 400 | 409),
            _ => false,
        }
    }
}

/// A configuration that cannot work; each message is one line that says what to fix.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ConfigError {
    #[error("no API key: set DOMINO_API_KEY or give a key file")]
    MissingKey,
    #[error("the API key is empty")]
    EmptyKey,
    #[error("the API key contains characters that cannot be sent in an HTTP header")]
    InvalidKey,
    #[error("cannot read the API key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("cannot use the token file {path}: {reason}")]
    TokenFile { path: PathBuf, reason: String },
    #[error("invalid Domino hostname '{value}': {reason}")]
    Hostname { value: String, reason: String },
    #[error("cannot read the CA certificate file {path}: {reason}")]
    CaCertRead { path: PathBuf, reason: String },
    #[error("the CA certificate file {path} is not a usable PEM bundle: {reason}")]
    CaCertInvalid { path: PathBuf, reason: String },
    #[error("invalid request limits: {0}")]
    Limits(String),
    #[error("cannot set up the HTTP client: {0}")]
    HttpClient(String),
}
