//! Which proxy the environment sets for the deployment's URL, as reqwest picks it
//! (`HTTPS_PROXY`/`HTTP_PROXY`, then `ALL_PROXY`, lower case too; `NO_PROXY` exempts hosts),
//! written without its credentials: an error through a proxy that is down must name the proxy,
//! or the operator looks for a fault in the deployment.

/// The proxy that requests to `base_url` go through, if the environment sets one.
pub(crate) fn from_env(base_url: &str) -> Option<String> {
    from(base_url, |name| std::env::var(name).ok())
}

fn from(base_url: &str, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let get = |upper: &str| {
        var(upper)
            .or_else(|| var(&upper.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let (scheme, rest) = base_url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = host_of(authority);
    if let Some(no_proxy) = get("NO_PROXY")
        && exempt(&no_proxy, &host)
    {
        return None;
    }
    let proxy = match scheme {
        "https" => get("HTTPS_PROXY"),
        _ => get("HTTP_PROXY"),
    }
    .or_else(|| get("ALL_PROXY"))?;
    Some(without_credentials(proxy.trim()))
}

fn host_of(authority: &str) -> String {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.to_ascii_lowercase()
}

fn exempt(no_proxy: &str, host: &str) -> bool {
    no_proxy.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.').to_ascii_lowercase();
        entry == "*"
            || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
    })
}

/// `http://user:secret@proxy:3128` → `http://proxy:3128`.
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let tail = if tail == "/" { "" } else { tail };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_proxy_is_named_without_its_credentials() {
        let vars = env(&[("https_proxy", "http://user:s3cret@proxy.corp:3128/")]);
        assert_eq!(
            from("https://domino.example.com", &vars).as_deref(),
            Some("http://proxy.corp:3128")
        );
        assert_eq!(from("http://domino.example.com", &vars), None);
        let all = env(&[
            ("ALL_PROXY", "socks5://p:1080"),
            ("NO_PROXY", "example.com"),
        ]);
        assert_eq!(from("https://domino.example.com/x", &all), None);
        assert_eq!(
            from("https://other.org", &all).as_deref(),
            Some("socks5://p:1080")
        );
    }
}
