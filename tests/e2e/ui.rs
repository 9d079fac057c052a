//! E2E: the admin UI's files as the gateway serves them: `/ui` and deep links answer the app's
//! page, the built files their own types, each with the strict Content-Security-Policy and the
//! other security headers; a missing file is a 404, a write method a 405; revalidation by ETag.
//! (The UI in a real browser: `ui_browser.rs`.)

use crate::support::{client, config_for, Gateway};

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn secure(r: &reqwest::Response) {
    let csp = header(r, "content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(r, "x-content-type-options"), "nosniff");
    assert_eq!(header(r, "x-frame-options"), "DENY");
    assert_eq!(header(r, "referrer-policy"), "no-referrer");
}

#[tokio::test]
async fn ui_pages_and_files_are_served_with_a_strict_csp() {
    let gw = Gateway::start(&config_for("http://127.0.0.1:9", "", "")).await;
    let c = client();
    let mut index = String::new();
    for path in [
        "/ui",
        "/ui/",
        "/ui/keys",
        "/ui/teams/t-1",
        "/ui/usage?group_by=team",
    ] {
        let r = c.get(gw.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        secure(&r);
        assert!(
            header(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&r, "cache-control"), "no-cache");
        let body = r.text().await.unwrap();
        assert!(body.contains("/ui/assets/app.js"), "{path}: {body}");
        index = body;
    }
    for (path, ty) in [
        ("/ui/assets/app.js", "text/javascript"),
        ("/ui/assets/app.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let r = c.get(gw.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        secure(&r);
        assert!(header(&r, "content-type").starts_with(ty), "{path}");
        let etag = header(&r, "etag");
        let len: usize = header(&r, "content-length").parse().unwrap();
        assert!(len > 100 && r.bytes().await.unwrap().len() == len, "{path}");
        let again = c
            .get(gw.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidated by its ETag");
    }
    // The page references only files the gateway has.
    for src in index.split("\"/ui/").skip(1) {
        let file = &src[..src.find('"').unwrap()];
        let r = c.get(gw.url(&format!("/ui/{file}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "/ui/{file} referenced by index.html");
    }
    let missing = c.get(gw.url("/ui/assets/gone.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404, "a missing file is not the index");
    secure(&missing);
    let head = c.head(gw.url("/ui/keys")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let post = c.post(gw.url("/ui/keys")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(header(&post, "allow"), "GET, HEAD");
    // The session routes are not the UI's pages.
    let login = c
        .post(gw.url("/ui/login"))
        .json(&serde_json::json!({"key": "sk-nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        401,
        "POST /ui/login reaches the session route"
    );
    assert_eq!(
        c.get(gw.url("/ui/session")).send().await.unwrap().status(),
        401
    );
    // Not the UI's: a path that only starts with the letters.
    assert_eq!(c.get(gw.url("/uix")).send().await.unwrap().status(), 404);
}
