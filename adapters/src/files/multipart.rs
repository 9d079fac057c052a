//! A small `multipart/form-data` reader (a whole body, held under the gateway's size cap) and
//! writer, enough for `POST /v1/files`: named fields, a file part with its filename and
//! content type. Not a general MIME parser: nested multiparts and transfer encodings are not
//! understood (browsers and the OpenAI SDKs send neither).

use memchr::memmem;

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: &'a [u8],
}

impl Part<'_> {
    /// The part's data as text (a plain field).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.data).into_owned()
    }
}

/// The boundary of a `multipart/form-data; boundary=…` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 200).then(|| v.to_string())
    })
}

/// The parts of `body`, in order; at most `max_parts`.
pub fn parse<'a>(
    body: &'a [u8],
    boundary: &str,
    max_parts: usize,
) -> Result<Vec<Part<'a>>, String> {
    let delim = format!("--{boundary}");
    let next_delim = format!("\r\n--{boundary}");
    let start = memmem::find(body, delim.as_bytes()).ok_or("no multipart boundary in the body")?;
    let mut at = start + delim.len();
    let mut parts = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("malformed multipart body: no line break after a boundary")?;
        let head_end = memmem::find(rest, b"\r\n\r\n")
            .ok_or("malformed multipart part: no end of its headers")?;
        let head = std::str::from_utf8(&rest[..head_end])
            .map_err(|_| "multipart part headers are not UTF-8")?;
        let data_start = head_end + 4;
        let data_len = memmem::find(&rest[data_start..], next_delim.as_bytes())
            .ok_or("malformed multipart body: a part does not end with the boundary")?;
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            data: &rest[data_start..data_start + data_len],
        };
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                part.name = param(v, "name").unwrap_or_default();
                part.filename = param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(v.trim().to_string());
            }
        }
        if parts.len() == max_parts {
            return Err(format!("more than {max_parts} parts in the form"));
        }
        parts.push(part);
        // Past the data, its CRLF and the delimiter.
        at += 2 + data_start + data_len + next_delim.len();
    }
}

/// A `name="value"` parameter of a `Content-Disposition` header (quoted or not).
fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case(name) {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        Some(v.replace("\\\"", "\""))
    })
}

/// `parts` as a `multipart/form-data` body with `boundary`.
pub fn write(boundary: &str, parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.data.len() + 160).sum::<usize>() + 64);
    let quoted = |s: &str| s.replace(['"', '\r', '\n'], "_");
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            quoted(&p.name)
        );
        if let Some(f) = &p.filename {
            disposition.push_str(&format!("; filename=\"{}\"", quoted(f)));
        }
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = &p.content_type {
            out.extend_from_slice(format!("Content-Type: {}\r\n", quoted(ct)).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_is_read_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn a_written_form_reads_back() {
        let parts = vec![
            Part {
                name: "purpose".into(),
                filename: None,
                content_type: None,
                data: b"batch",
            },
            Part {
                name: "file".into(),
                filename: Some("in.jsonl".into()),
                content_type: Some("application/jsonl".into()),
                data: b"{\"a\":1}\r\n{\"b\":2}\n",
            },
        ];
        let body = write("XyZ", &parts);
        assert_eq!(parse(&body, "XyZ", 8).unwrap(), parts);
        assert!(parse(&body, "XyZ", 1).is_err());
        // A preamble before the first boundary is skipped.
        let mut with_preamble = b"preamble\r\n".to_vec();
        with_preamble.extend_from_slice(&body);
        assert_eq!(parse(&with_preamble, "XyZ", 8).unwrap(), parts);
    }

    #[test]
    fn truncated_forms_are_errors() {
        let body = write(
            "b",
            &[Part {
                name: "file".into(),
                filename: None,
                content_type: None,
                data: b"x",
            }],
        );
        for cut in 0..body.len() - 4 {
            assert!(parse(&body[..cut], "b", 8).is_err(), "cut at {cut}");
        }
        assert!(parse(b"no boundary", "b", 8).is_err());
    }
}
