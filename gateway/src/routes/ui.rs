//! The admin web UI's static files: `/ui` and every `/ui/...` deep link answer the app's
//! `index.html` (the app routes in the browser), `/ui/assets/*` and `/ui/icon.svg` the built
//! files. All are embedded in the binary from `ui/dist` (built by `npm run build` in `ui/`,
//! committed, checked current in CI: docs/ui.md), so the UI works on an air-gapped host. Every
//! answer carries a strict Content-Security-Policy (no inline script or style, nothing from
//! another origin) and the other security headers. The session routes (`/ui/login`,
//! `/ui/logout`, `/ui/session`) are in the route table and never reach this module.

use std::sync::OnceLock;

use bytes::Bytes;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use sha2::{Digest, Sha256};

use crate::ctx::RequestCtx;

/// `default-src 'self'` and nothing looser: scripts and styles only from files of this origin
/// (no inline, no `eval`), no plugins, no framing, forms and `<base>` pinned.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// The headers on every UI answer (besides `content-type`, `cache-control`, `etag`).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
];

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The app's entry page, answered for `/ui` and every deep link.
const INDEX: Asset = Asset {
    path: "/ui/index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../../ui/dist/index.html"),
};

/// The built files (fixed names: `ui/vite.config.ts`).
const FILES: &[Asset] = &[
    Asset {
        path: "/ui/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../ui/dist/assets/app.js"),
    },
    Asset {
        path: "/ui/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../ui/dist/assets/app.css"),
    },
    Asset {
        path: "/ui/icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../ui/dist/icon.svg"),
    },
];

/// Whether `path` (no trailing slash) is the UI's: `/ui` or below it.
pub fn is_ui_path(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// What a UI path answers: a built file, the index (deep links), or nothing (a missing file
/// under `/ui/assets/` is a 404, not the index, so a stale page fails visibly).
fn lookup(path: &str) -> Option<(usize, &'static Asset)> {
    if let Some(i) = FILES.iter().position(|a| a.path == path) {
        return Some((i, &FILES[i]));
    }
    if path.starts_with("/ui/assets/") || path.contains("/../") {
        return None;
    }
    Some((FILES.len(), &INDEX))
}

/// The strong validator of file `i` of [`FILES`] (`FILES.len()`: the index), computed once.
fn etag(i: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        FILES
            .iter()
            .chain(std::iter::once(&INDEX))
            .map(|a| {
                let d = Sha256::digest(a.body);
                let hex: String = d[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    });
    &tags[i]
}

/// Serves a `/ui` path (`GET` and `HEAD`; other methods 405).
pub async fn serve(session: &mut Session, ctx: &mut RequestCtx, path: &str) -> pingora::Result<()> {
    let method = session.req_header().method.clone();
    let head = method == http::Method::HEAD;
    if method != http::Method::GET && !head {
        let body = Bytes::from_static(
            br#"{"error":{"message":"The admin UI's pages answer GET only","type":"invalid_request_error","param":null,"code":"405"}}"#,
        );
        return write(
            session,
            ctx,
            405,
            "application/json",
            body,
            &[("allow", "GET, HEAD")],
            false,
        )
        .await;
    }
    let Some((i, asset)) = lookup(path) else {
        let body = Bytes::from_static(b"Not found\n");
        return write(
            session,
            ctx,
            404,
            "text/plain; charset=utf-8",
            body,
            &[],
            head,
        )
        .await;
    };
    let tag = etag(i);
    let matches = session
        .req_header()
        .headers
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == tag || t.trim() == "*");
    let extra = [("etag", tag), ("cache-control", "no-cache")];
    if matches {
        return write(
            session,
            ctx,
            304,
            asset.content_type,
            Bytes::new(),
            &extra,
            true,
        )
        .await;
    }
    let body = Bytes::from_static(asset.body);
    write(session, ctx, 200, asset.content_type, body, &extra, head).await
}

async fn write(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    content_type: &str,
    body: Bytes,
    extra: &[(&'static str, &str)],
    head: bool,
) -> pingora::Result<()> {
    let mut resp =
        ResponseHeader::build_no_case(status, Some(4 + SECURITY_HEADERS.len() + extra.len()))?;
    resp.insert_header("content-type", content_type)?;
    if status != 304 {
        resp.insert_header("content-length", body.len())?;
    }
    for (name, value) in SECURITY_HEADERS.iter().chain(extra) {
        resp.insert_header(
            *name,
            HeaderValue::from_str(value).expect("static header text"),
        )?;
    }
    ctx.status = status;
    let no_body = head || body.is_empty();
    session
        .write_response_header(Box::new(resp), no_body)
        .await?;
    if !no_body {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_links_get_the_index_and_files_themselves() {
        assert!(is_ui_path("/ui") && is_ui_path("/ui/keys/abc") && !is_ui_path("/uix"));
        assert_eq!(lookup("/ui").unwrap().1.path, "/ui/index.html");
        assert_eq!(
            lookup("/ui/keys/some-team").unwrap().1.path,
            "/ui/index.html"
        );
        assert_eq!(
            lookup("/ui/assets/app.js").unwrap().1.path,
            "/ui/assets/app.js"
        );
        assert!(lookup("/ui/assets/missing.js").is_none());
    }

    #[test]
    fn the_index_loads_only_its_own_files_with_no_inline_script_or_style() {
        let html = std::str::from_utf8(INDEX.body).unwrap();
        assert!(html.contains(r#"src="/ui/assets/app.js""#), "{html}");
        assert!(html.contains(r#"href="/ui/assets/app.css""#), "{html}");
        // Every <script> has a src (an inline one would be refused by the CSP) and no style attribute/element.
        for part in html.split("<script").skip(1) {
            let tag = &part[..part.find('>').unwrap()];
            assert!(tag.contains("src="), "inline script in index.html: {tag}");
        }
        assert!(
            !html.contains("<style") && !html.contains("style="),
            "inline style in index.html"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "a URL of another origin in index.html"
        );
    }

    #[test]
    fn etags_differ_per_file() {
        let a = etag(0).to_string();
        let b = etag(FILES.len()).to_string();
        assert_ne!(a, b);
        assert!(a.starts_with('"') && a.len() == 26);
    }
}
