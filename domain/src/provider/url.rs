//! Credentials in a provider's base URL. A key belongs in `apiKey` (encrypted at rest, never
//! shown); in the URL it would be stored in plain text in events, the audit log and the Kafka
//! topic, and shown to everyone who may read the provider. New URLs carrying one are refused;
//! URLs stored before that rule are shown redacted.
//!
//! The parse is deliberately plain (scheme, authority up to the first `/`, `?`, `#` or `\`, query
//! up to `#`) and errs towards finding a credential: whitespace and control characters, which
//! URL parsers silently drop, are refused before it runs.

/// Query parameters whose names contain one of these (compared lower-case, with `-`, `_` and
/// `.` removed) are taken for credentials: `api_key`, `apiKey`, `key`, `access_token`,
/// `client_secret`, `password`, `x-goog-api-key`, `auth`, `signature`, ...
const SENSITIVE_PARTS: &[&str] =
    &["key", "token", "secret", "passw", "pwd", "signature", "auth", "credential", "session"];

/// Names that are credentials on their own but too short to search for inside other names.
const SENSITIVE_NAMES: &[&str] = &["sig", "pass", "code", "jwt"];

struct Parts<'a> {
    userinfo: Option<&'a str>,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn parts(url: &str) -> Option<Parts<'_>> {
    let (_, rest) = url.split_once("://")?;
    let auth_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let userinfo = authority.rfind('@').map(|i| &authority[..i]);
    let tail = &rest[auth_end..];
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (tail, None),
    };
    let query = before_fragment.split_once('?').map(|(_, q)| q);
    Some(Parts { userinfo, query, fragment })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn sensitive_name(raw: &str) -> bool {
    let name: String =
        percent_decode(raw).to_lowercase().chars().filter(|c| !matches!(c, '-' | '_' | '.' | ' ')).collect();
    SENSITIVE_NAMES.contains(&name.as_str()) || SENSITIVE_PARTS.iter().any(|p| name.contains(p))
}

/// Why `url` may not be stored as a base URL, if it carries (or may carry) a credential.
pub fn credential_in(url: &str) -> Option<String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("baseUrl must not contain whitespace or control characters".into());
    }
    let p = parts(url)?;
    if p.userinfo.is_some() {
        return Some(
            "baseUrl must not carry credentials (user:key@host): put the key in apiKey, which is stored encrypted"
                .into(),
        );
    }
    if p.fragment.is_some() {
        return Some("baseUrl must not have a #fragment".into());
    }
    if let Some(q) = p.query {
        for pair in q.split('&') {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            if sensitive_name(name) {
                return Some(format!(
                    "baseUrl must not carry credentials (query parameter '{}'): put the key in apiKey, which is stored encrypted",
                    percent_decode(name)
                ));
            }
        }
    }
    None
}

/// `url` with any credential it carries replaced by `***` (user info, the values of sensitive
/// query parameters, a fragment): what may be shown of a URL stored before the rule above.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let auth_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let host = match authority.rfind('@') {
        Some(i) => format!("***@{}", &authority[i + 1..]),
        None => authority.to_string(),
    };
    let tail = &rest[auth_end..];
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((b, _)) => (b, Some("***")),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    let mut out = format!("{scheme}://{host}{path}");
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| {
                let name = pair.split_once('=').map_or(pair, |(n, _)| n);
                if sensitive_name(name) {
                    format!("{name}=***")
                } else {
                    pair.to_string()
                }
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_credentials_in_user_info_and_the_query() {
        for url in [
            "https://user:sk-123@api.example.com/v1",
            "https://sk-123@api.example.com/v1",
            "https://a@b@api.example.com/v1",
            "https://api.example.com/v1?api_key=sk-123",
            "https://api.example.com/v1?x=1&apiKey=sk-123",
            "https://api.example.com/v1?key=sk-123",
            "https://api.example.com/v1?access_token=t",
            "https://api.example.com/v1?X-Goog-Api-Key=t",
            "https://api.example.com/v1?api%5Fkey=t",
            "https://api.example.com/v1?sig=abc",
            "https://api.example.com/v1?client_secret=abc",
            "https://api.example.com/v1#key=abc",
            "https://api.example.com/v1\t?key=abc",
        ] {
            assert!(credential_in(url).is_some(), "{url}");
        }
    }

    #[test]
    fn plain_urls_and_ordinary_parameters_pass() {
        for url in [
            "https://api.openai.com/v1",
            "http://127.0.0.1:11434",
            "https://x.openai.azure.com/openai/deployments/{model}?api-version=2024-06-01",
            "https://host/v1/path@with-at",
            "https://host/v1?model=a&region=eu",
        ] {
            assert_eq!(credential_in(url), None, "{url}");
        }
    }

    #[test]
    fn redaction_keeps_the_shape_and_drops_the_secret() {
        assert_eq!(redact("https://user:sk-123@api.example.com/v1"), "https://***@api.example.com/v1");
        assert_eq!(
            redact("https://api.example.com/v1?api-version=1&api_key=sk-123"),
            "https://api.example.com/v1?api-version=1&api_key=***"
        );
        assert_eq!(redact("https://api.example.com/v1#frag"), "https://api.example.com/v1#***");
        assert_eq!(redact("https://api.openai.com/v1"), "https://api.openai.com/v1");
    }
}
