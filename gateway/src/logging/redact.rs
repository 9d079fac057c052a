//! Secret redaction for log text: every line the process logs (ours, Pingora's, the libraries')
//! passes through [`text`] before it is written. It removes credential header values (in
//! header maps and on the wire), bearer tokens, `key=`-style query values, tokens with a known
//! API-key prefix (`sk-…`, `AKIA…`, …) and every secret the configuration holds (registered at
//! start). [`path`] removes the key from management routes that carry one
//! (`/key/<key>/regenerate`) before a path is logged.

use std::borrow::Cow;
use std::sync::RwLock;

const MASK: &str = "***";

/// HTTP headers whose value is a credential.
const HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-litellm-api-key",
    "ocp-apim-subscription-key",
    "x-amz-security-token",
    "cookie",
    "set-cookie",
];

/// Query parameters whose value is a credential.
const QUERY: &[&str] = &["key", "api_key", "apikey", "token", "access_token"];

/// Prefixes of API keys: the ones the configuration checks treat as credentials, and AWS access
/// key ids. A token starting with `sk-` and 4+ more characters is masked (LiteLLM keys,
/// `sk-1234` included); with another prefix it needs 8+ more, a digit among them.
fn prefixes() -> impl Iterator<Item = &'static str> {
    conf::SECRET_PREFIXES
        .iter()
        .copied()
        .chain(["AKIA", "ASIA"])
}

/// Secrets from the configuration (master key, salt key, provider keys and credentials,
/// database and Redis URLs): masked wherever they appear, whatever their shape.
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers the configuration's secrets (values under 8 characters are too short to mask
/// without mangling ordinary text and are skipped). Each call (start, every config reload)
/// adds to the ones known: a secret a reload removed stays masked.
pub fn register(secrets: impl IntoIterator<Item = String>) {
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    known.extend(secrets.into_iter().filter(|s| s.len() >= 8));
    // Longest first, so a secret containing another is masked whole.
    known.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    known.dedup();
}

/// `text` with every credential masked; borrowed when there was nothing to mask.
pub fn text(text: &str) -> Cow<'_, str> {
    let mut out = collapse_dumps(text);
    {
        let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
        for s in known.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
    }
    match scan(&out) {
        Some(masked) => Cow::Owned(masked),
        None => out,
    }
}

/// Debug output that spells data out one element at a time — `Chars(['s', 'k', …])` (Pingora
/// traces request and response body chunks so) and byte lists `[115, 107, …]` — cannot be
/// searched for secrets: such dumps are replaced by their length.
fn collapse_dumps(text: &str) -> Cow<'_, str> {
    if !text.contains("Chars([") && !text.contains(", ") {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    loop {
        let chars = rest.find("Chars([").map(|i| (i, "Chars([", "])"));
        let bytes = byte_list(rest).map(|(i, _)| (i, "[", "]"));
        let next = match (chars, bytes) {
            (Some(c), Some(b)) => Some(if c.0 <= b.0 { c } else { b }),
            (c, b) => c.or(b),
        };
        let Some((at, open, close)) = next else { break };
        let body_from = at + open.len();
        let Some(len) = rest[body_from..].find(close) else {
            break;
        };
        let items = rest[body_from..body_from + len].matches(", ").count() + 1;
        out.push_str(&rest[..body_from]);
        out.push_str(&format!("<{items} elements>"));
        out.push_str(close);
        rest = &rest[body_from + len + close.len()..];
        changed = true;
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The first `[n, n, …]` list of 8 or more numbers 0–255 in `s`: its start and end.
fn byte_list(s: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = s[from..].find('[').map(|i| from + i) {
        let end = s[i..].find(']').map(|e| i + e)?;
        let inner = &s[i + 1..end];
        let items: Vec<&str> = inner.split(", ").collect();
        if items.len() >= 8 && items.iter().all(|n| n.parse::<u8>().is_ok()) {
            return Some((i, end));
        }
        from = i + 1;
    }
    None
}

fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Whether a name may start at `i`: not inside a longer word (`x-api-key` is one name), but
/// right after an escaped line break (`\r\n` in a Debug-printed wire buffer) is fine.
fn boundary(s: &[u8], i: usize) -> bool {
    i == 0
        || !word_byte(s[i - 1])
        || (i >= 2 && s[i - 2] == b'\\' && matches!(s[i - 1], b'n' | b'r'))
}

fn starts_with_ci(s: &[u8], i: usize, pat: &str) -> bool {
    let p = pat.as_bytes();
    s.len() >= i + p.len()
        && p[0] == s[i].to_ascii_lowercase()
        && s[i..i + p.len()].eq_ignore_ascii_case(p)
}

/// End of a header value starting at `i`: the closing quote, a line break (raw or escaped), or
/// the end; a value in quotes ends only at its quote.
fn header_value_end(s: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < s.len() && !matches!(s[j], b'"' | b'\\' | b'\r' | b'\n') {
        j += 1;
    }
    j
}

/// End of a token (key, query value) starting at `i`.
fn token_end(s: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < s.len()
        && (s[j].is_ascii_alphanumeric() || matches!(s[j], b'_' | b'-' | b'+' | b'=' | b'~' | b'%'))
    {
        j += 1;
    }
    j
}

/// The bytes a header name, auth scheme or key prefix starts with (either case).
static STARTS: [bool; 256] = {
    let mut t = [false; 256];
    let firsts = b"apxocsbrghnAPXOCSBRGHN";
    let mut i = 0;
    while i < firsts.len() {
        t[firsts[i] as usize] = true;
        i += 1;
    }
    t
};

/// The text with every masked range replaced; `None` when there is nothing to mask.
fn scan(text: &str) -> Option<String> {
    let s = text.as_bytes();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        // Cheap filter first: every rule starts at `?`/`&` or at a word start whose first letter
        // begins some name or prefix.
        let candidate =
            matches!(s[i], b'?' | b'&') || (STARTS[usize::from(s[i])] && boundary(s, i));
        if !candidate {
            i += 1;
            continue;
        }
        if let Some(end) = header_at(s, i)
            .or_else(|| bearer_at(s, i))
            .or_else(|| query_at(s, i))
            .or_else(|| prefixed_at(s, i))
        {
            let (from, to) = end;
            if to > from {
                cuts.push((from, to));
            }
            i = to.max(i + 1);
            continue;
        }
        i += 1;
    }
    if cuts.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (from, to) in cuts {
        out.push_str(&text[last..from]);
        out.push_str(MASK);
        last = to;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// `authorization: Bearer x`, `"x-api-key": "x"`: the value's range.
fn header_at(s: &[u8], i: usize) -> Option<(usize, usize)> {
    if !boundary(s, i) {
        return None;
    }
    let name = HEADERS.iter().find(|h| starts_with_ci(s, i, h))?;
    let mut j = i + name.len();
    if j < s.len() && s[j] == b'"' {
        j += 1;
    }
    if j >= s.len() || !matches!(s[j], b':' | b'=') {
        return None;
    }
    j += 1;
    while j < s.len() && s[j] == b' ' {
        j += 1;
    }
    if j < s.len() && s[j] == b'"' {
        j += 1;
    }
    Some((j, header_value_end(s, j)))
}

/// `Bearer x` / `Basic x` anywhere: the token's range.
fn bearer_at(s: &[u8], i: usize) -> Option<(usize, usize)> {
    if !boundary(s, i) {
        return None;
    }
    let scheme = ["bearer ", "basic "]
        .into_iter()
        .find(|p| starts_with_ci(s, i, p))?;
    let from = i + scheme.len();
    let to = header_value_end(s, from).min({
        let mut j = from;
        while j < s.len() && !s[j].is_ascii_whitespace() && s[j] != b',' {
            j += 1;
        }
        j
    });
    Some((from, to))
}

/// `?key=x` / `&api_key=x`: the value's range.
fn query_at(s: &[u8], i: usize) -> Option<(usize, usize)> {
    if !matches!(s[i], b'?' | b'&') || i + 1 >= s.len() {
        return None;
    }
    let name = QUERY
        .iter()
        .find(|q| starts_with_ci(s, i + 1, q) && s.get(i + 1 + q.len()) == Some(&b'='))?;
    let from = i + 1 + name.len() + 1;
    Some((from, token_end(s, from)))
}

/// `sk-…`, `AKIA…`: the whole token's range (prefix included).
fn prefixed_at(s: &[u8], i: usize) -> Option<(usize, usize)> {
    if !boundary(s, i) {
        return None;
    }
    let p = prefixes().find(|p| p.as_bytes()[0] == s[i] && s[i..].starts_with(p.as_bytes()))?;
    let from = i + p.len();
    let to = token_end(s, from);
    let ok = if p == "sk-" {
        to >= from + 4
    } else {
        to >= from + 8 && s[from..to].iter().any(u8::is_ascii_digit)
    };
    ok.then_some((i, to))
}

/// Management actions that follow `/key/` (`/key/generate`); any other segment there is a key.
const KEY_ACTIONS: &[&str] = &[
    "generate",
    "update",
    "info",
    "list",
    "delete",
    "block",
    "unblock",
    "regenerate",
    "health",
    "aliases",
    "bulk_update",
];

/// A request path safe to log: the key in `/key/<key>/…` and any segment that looks like a
/// credential become `***`.
pub fn path(p: &str) -> Cow<'_, str> {
    let mut changed = false;
    let mut prev = "";
    let parts: Vec<&str> = p
        .split('/')
        .map(|seg| {
            let secret = (prev == "key" && !seg.is_empty() && !KEY_ACTIONS.contains(&seg))
                || conf::looks_like_secret(seg)
                || scan(seg).is_some();
            prev = seg;
            if secret {
                changed = true;
                MASK
            } else {
                seg
            }
        })
        .collect();
    if changed {
        Cow::Owned(parts.join("/"))
    } else {
        Cow::Borrowed(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_in_maps_and_on_the_wire() {
        let map = r#"headers: {"authorization": "Bearer sk-abcdefgh", "x-api-key": "plainsecret", "host": "h", "api-key": "0123abcd0123abcd"}"#;
        let out = text(map);
        assert_eq!(
            out,
            r#"headers: {"authorization": "***", "x-api-key": "***", "host": "h", "api-key": "***"}"#
        );
        let wire = r#"b"POST /v1/x HTTP/1.1\r\nAuthorization: Bearer zzzzzz\r\nx-goog-api-key: gkey\r\nContent-Type: a\r\n""#;
        assert_eq!(
            text(wire),
            r#"b"POST /v1/x HTTP/1.1\r\nAuthorization: ***\r\nx-goog-api-key: ***\r\nContent-Type: a\r\n""#
        );
    }

    #[test]
    fn tokens_queries_and_bearers() {
        assert_eq!(
            text("GET /key/info?key=sk-abcdef123&x=1 then Bearer opaque-token, done"),
            "GET /key/info?key=***&x=1 then Bearer ***, done"
        );
        assert_eq!(
            text("POST /key/sk-zZ9_-abc/regenerate status=200"),
            "POST /key/***/regenerate status=200"
        );
        assert_eq!(text("aws AKIAIOSFODNN7EXAMPLE used"), "aws *** used");
        // Ordinary text is untouched and not copied.
        for plain in [
            "does not start with \"sk-\"",
            "key_name sk-...abcd",
            "general_settings.master_key: must not be empty",
            "LITELLM_MASTER_KEY: does not start with \"sk-\"",
            "model_list[0].litellm_params.api-key: unknown key",
            "prompt_tokens=12 completion_tokens=3",
            "hf_model_name: a LiteLLM setting",
        ] {
            assert!(
                matches!(text(plain), Cow::Borrowed(_)),
                "{plain}: {}",
                text(plain)
            );
        }
    }

    #[test]
    fn element_by_element_dumps_are_collapsed() {
        let chunk = "Got size 5, chunk: EscapeDefault { inner: Map { iter: Chars(['s', 'k', '-', 'x', ']', ',']) }, b: None }";
        assert_eq!(
            text(chunk),
            "Got size 5, chunk: EscapeDefault { inner: Map { iter: Chars([<6 elements>]) }, b: None }"
        );
        assert_eq!(
            text("buf: [115, 107, 45, 97, 98, 99, 100, 101, 102] and [1, 2]"),
            "buf: [<9 elements>] and [1, 2]"
        );
        assert!(matches!(text("a, b, c [x, y]"), Cow::Borrowed(_)));
    }

    #[test]
    fn registered_config_secrets_are_masked_whatever_their_shape() {
        register(["plain-registered-secret-1".to_string(), "short".to_string()]);
        assert_eq!(
            text("upstream said: bad key plain-registered-secret-1!"),
            "upstream said: bad key ***!"
        );
        assert_eq!(text("short words stay"), "short words stay");
    }

    #[test]
    fn paths() {
        assert_eq!(path("/key/sk-abc123xyz/regenerate"), "/key/***/regenerate");
        assert_eq!(
            path("/key/custom-key-without-prefix/regenerate"),
            "/key/***/regenerate"
        );
        assert_eq!(path("/key/generate"), "/key/generate");
        assert_eq!(path("/v1/chat/completions"), "/v1/chat/completions");
        assert_eq!(path("/team/info"), "/team/info");
        assert_eq!(path("/whatever/sk-abcdefgh12345678"), "/whatever/***");
        assert!(matches!(path("/v1/models"), Cow::Borrowed(_)));
    }
}
