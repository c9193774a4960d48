//! From flags and environment to a validated client: every configuration mistake is reported
//! here, before any request.

use super::args::GlobalArgs;
use super::exit::CliError;
use crate::domino::{ApiKey, ClientConfig, Deployment, DominoClient, KindOptions, Limits};

pub fn client_config(global: &GlobalArgs, limits: Limits) -> Result<ClientConfig, CliError> {
    let hostname = global
        .hostname
        .clone()
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| {
            CliError::bad_input("no Domino hostname: set DOMINO_HOSTNAME (or --hostname) to the deployment's URL, e.g. https://domino.example.com")
        })?;
    // A service-account token, when given, is used rather than an API key (which Domino
    // deprecates in its favour).
    let mut config = match global
        .token_file
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(path) => {
            let key_too = std::env::var_os("DOMINO_API_KEY").is_some_and(|k| !k.is_empty())
                || global.api_key_file.is_some();
            if key_too {
                tracing::warn!(
                    "both a service-account token (--token-file/DOMINO_TOKEN_FILE) and an API key (DOMINO_API_KEY/--api-key-file) are set: the token is sent, the API key is not used"
                );
            }
            ClientConfig::with_token_file(hostname, path)
        }
        None => {
            let key = ApiKey::from_env_or_file(
                std::env::var("DOMINO_API_KEY").ok(),
                global.api_key_file.as_deref(),
            )
            .map_err(|e| CliError::bad_input(e.to_string()))?;
            ClientConfig::new(hostname, key)
        }
    };
    config.tls_no_verify = global.ssl_no_verify.unwrap_or(false);
    config.ca_cert = global.ca_cert.clone();
    config.limits = limits;
    if let Some(t) = global.request_timeout {
        config.request_timeout = t;
    }
    config
        .validate()
        .map_err(|e| CliError::bad_input(e.to_string()))?;
    if config.tls_no_verify {
        tracing::warn!(
            "TLS certificate verification is OFF (DOMINO_SSL_NO_VERIFY): the {} could be sent to an impostor",
            config.credential.name()
        );
    }
    Ok(config)
}

pub fn connect(
    global: &GlobalArgs,
    limits: Limits,
    kind_options: &KindOptions,
) -> Result<Deployment, CliError> {
    let config = client_config(global, limits)?;
    let client = DominoClient::new(&config).map_err(|e| CliError::bad_input(e.to_string()))?;
    Ok(Deployment::new(client, kind_options))
}
