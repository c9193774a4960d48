//! Which Domino a run talks to, and as whom: recorded with each run for the audit trail.
//! Neither is an error to lack: an older Domino has no `GET /version`, and a token may not be
//! allowed to read its own principal.

use serde::Deserialize;
use serde_json::Value;

use super::DominoClient;

pub(crate) const VERSION_PATH: &str = "/version";
pub(crate) const PRINCIPAL_PATH: &str = "/v4/auth/principal";

/// The identity the client acts as (`GET /v4/auth/principal`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Principal {
    #[serde(default)]
    pub canonical_id: Option<String>,
    #[serde(default)]
    pub canonical_name: Option<String>,
}

impl Principal {
    pub(crate) async fn read(client: &DominoClient) -> Result<Principal, super::ApiError> {
        client.get_json(PRINCIPAL_PATH).await
    }

    /// `name (id)`, or whichever of the two is known.
    fn describe(&self) -> Option<String> {
        match (&self.canonical_name, &self.canonical_id) {
            (Some(name), Some(id)) => Some(format!("{name} ({id})")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        }
    }
}

/// What the deployment says about itself and about the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct About {
    /// `GET /version`'s `version`.
    pub version: Option<String>,
    /// The principal's name and id.
    pub acting_as: Option<String>,
}

/// Both reads at once; a failure of either only leaves its field empty (logged at debug).
pub async fn about(client: &DominoClient) -> About {
    let (version, principal) =
        tokio::join!(client.get_value(VERSION_PATH), Principal::read(client));
    let version = match version {
        Ok(v) => v
            .get("version")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        Err(e) => {
            tracing::debug!("the Domino version is unknown: {e}");
            None
        }
    };
    let acting_as = match principal {
        Ok(p) => p.describe(),
        Err(e) => {
            tracing::debug!("the principal is unknown: {e}");
            None
        }
    };
    About { version, acting_as }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;
    use serde_json::json;

    use super::*;
    use crate::domino::test_support::{serve, test_client};

    #[tokio::test]
    async fn both_are_read_and_either_may_be_missing() {
        let router = Router::new()
            .route(
                "/version",
                get(|| async { axum::Json(json!({"version": " 6.0.2 "})) }),
            )
            .route(
                PRINCIPAL_PATH,
                get(|| async {
                    axum::Json(
                        json!({"canonicalId": "u1", "canonicalName": "ops", "isAdmin": true}),
                    )
                }),
            );
        let client = test_client(&serve(router).await);
        assert_eq!(
            about(&client).await,
            About {
                version: Some("6.0.2".into()),
                acting_as: Some("ops (u1)".into()),
            }
        );

        // An older Domino without /version, a token that may not read its principal.
        let router = Router::new().route(PRINCIPAL_PATH, get(|| async { StatusCode::FORBIDDEN }));
        let client = test_client(&serve(router).await);
        assert_eq!(about(&client).await, About::default());
    }
}
