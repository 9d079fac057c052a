//! The one golden-fixture harness every module here uses: finding a suite's cases and reading
//! their files, comparing an output with its expected file (or, under `TOLLGATE_BLESS=1`,
//! writing the output there instead), re-feeding a stream at every split, reading SSE output
//! and error bodies.

use std::fmt::Debug;
use std::fs;
use std::path::PathBuf;

use adapters::ApiError;
use serde_json::{json, Value};

/// `TOLLGATE_BLESS` is set: expected files are rewritten from the current output (only those
/// whose content differs, so an unchanged translation leaves the tree unchanged).
pub fn bless() -> bool {
    std::env::var_os("TOLLGATE_BLESS").is_some()
}

/// Parses JSON or panics naming `what`.
pub fn parse(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
}

/// The fixture cases of one suite: `tests/fixtures/<suite>/<case>/<file>`.
pub struct Fixtures {
    root: PathBuf,
}

impl Fixtures {
    pub fn new(suite: &str) -> Fixtures {
        Fixtures {
            root: std::path::PathBuf::from(
                std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
            )
            .join("tests/fixtures")
            .join(suite),
        }
    }

    pub fn path(&self, case: &str, file: &str) -> PathBuf {
        self.root.join(case).join(file)
    }

    /// Every case directory, sorted (other files, such as a README, are not cases).
    pub fn cases(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .unwrap_or_else(|e| panic!("{}: {e}", self.root.display()))
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Asserts the case directories are exactly `listed` (none is silently skipped).
    pub fn assert_cases_are(&self, listed: &[&str]) {
        let mut listed: Vec<String> = listed.iter().map(|c| c.to_string()).collect();
        listed.sort();
        assert_eq!(self.cases(), listed, "{}", self.root.display());
    }

    pub fn read(&self, case: &str, file: &str) -> Option<Vec<u8>> {
        fs::read(self.path(case, file)).ok()
    }

    pub fn has(&self, case: &str, file: &str) -> bool {
        self.path(case, file).is_file()
    }

    /// A JSON file, parsed.
    pub fn json(&self, case: &str, file: &str) -> Option<Value> {
        self.read(case, file)
            .map(|b| parse(&b, &format!("{case}/{file}")))
    }

    fn write(&self, case: &str, file: &str, bytes: &[u8]) {
        fs::write(self.path(case, file), bytes).unwrap();
    }

    fn write_json(&self, case: &str, file: &str, v: &Value) {
        let text = serde_json::to_string_pretty(v).unwrap() + "\n";
        self.write(case, file, text.as_bytes());
    }

    /// Under bless, an expected file the output no longer produces is deleted.
    pub fn unbless(&self, case: &str, file: &str) {
        if bless() && self.has(case, file) {
            fs::remove_file(self.path(case, file)).unwrap();
        }
    }

    /// `got` equals the case's `file` (JSON, compared parsed).
    pub fn expect_json(&self, case: &str, file: &str, got: &Value) {
        self.expect_json_by(case, file, got, |v| v.clone());
    }

    /// `norm(got)` equals `norm` of the case's `file` (JSON, compared parsed).
    pub fn expect_json_by(&self, case: &str, file: &str, got: &Value, norm: fn(&Value) -> Value) {
        let want = self.json(case, file);
        if bless() {
            if want.as_ref().map(norm) != Some(norm(got)) {
                self.write_json(case, file, got);
            }
            return;
        }
        let want = want.unwrap_or_else(|| panic!("{case}/{file} missing; got {got}"));
        assert_eq!(norm(got), norm(&want), "{case}/{file}");
    }

    /// `got` equals the case's `file` byte for byte.
    pub fn expect_text(&self, case: &str, file: &str, got: &[u8]) {
        let want = self.read(case, file);
        if bless() {
            if want.as_deref() != Some(got) {
                self.write(case, file, got);
            }
            return;
        }
        let want = want.unwrap_or_else(|| panic!("{case}/{file} missing"));
        assert_eq!(
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(&want),
            "{case}/{file}"
        );
    }

    /// `read(got)` equals `read` of the case's `file` (a stream's events, say).
    pub fn expect_parsed<T: PartialEq + Debug>(
        &self,
        case: &str,
        file: &str,
        got: &[u8],
        read: impl Fn(&[u8], &str) -> T,
    ) {
        let want = self.read(case, file);
        let got_parsed = read(got, &format!("{case}: output"));
        if bless() {
            if want.is_none_or(|w| read(&w, file) != got_parsed) {
                self.write(case, file, got);
            }
            return;
        }
        let want = want.unwrap_or_else(|| panic!("{case}/{file} missing"));
        assert_eq!(
            got_parsed,
            read(&want, &format!("{case}/{file}")),
            "{case}/{file}\n--- got:\n{}",
            String::from_utf8_lossy(got)
        );
    }

    /// The canonical SSE `got` has the events of the case's `file` (each event's JSON compared
    /// parsed; both framed `data: …` + blank line).
    pub fn expect_events(&self, case: &str, file: &str, got: &[u8]) {
        self.expect_parsed(case, file, got, data_events);
    }

    /// `got` matches the case's error `file`: the whole error (`{"status", "error"}`), or, when
    /// the file has `message_contains`, its `status`, `type`, `param`, `code` and a part of the
    /// message.
    pub fn expect_error(&self, case: &str, file: &str, got: &ApiError) {
        let want = self.json(case, file);
        let matches = |want: &Value| match want.get("message_contains") {
            Some(_) => error_matches_partly(got, want),
            None => error_json(got) == *want,
        };
        if bless() {
            match &want {
                Some(w) if matches(w) => {}
                Some(w) if w.get("message_contains").is_some() => {
                    let partial = json!({"status": got.status, "type": got.kind,
                        "param": got.param, "code": got.code, "message_contains": got.message});
                    self.write_json(case, file, &partial);
                }
                _ => self.write_json(case, file, &error_json(got)),
            }
            return;
        }
        let want = want.unwrap_or_else(|| panic!("{case}/{file} missing; got {got:?}"));
        assert!(
            matches(&want),
            "{case}/{file}: got {got:?}, expected {want}"
        );
    }

    /// Like [`Fixtures::expect_error`] for an error that may not happen: the case has `file`
    /// exactly when there is one.
    pub fn expect_error_if_any(&self, case: &str, file: &str, got: Option<&ApiError>) {
        match got {
            Some(e) => self.expect_error(case, file, e),
            None if bless() => self.unbless(case, file),
            None => assert!(
                !self.has(case, file),
                "{case}: no error, expected {}",
                String::from_utf8_lossy(&self.read(case, file).unwrap())
            ),
        }
    }
}

/// An error as the fixtures write it: `{"status", "error": {message, type, param, code}}`.
pub fn error_json(e: &ApiError) -> Value {
    let body = parse(&e.to_json(), "error body");
    json!({"status": e.status, "error": body["error"]})
}

fn error_matches_partly(e: &ApiError, want: &Value) -> bool {
    Some(e.status as u64) == want["status"].as_u64()
        && Some(e.kind.as_str()) == want["type"].as_str()
        && e.param.as_deref() == want["param"].as_str()
        && e.code.as_deref() == want["code"].as_str()
        && want["message_contains"]
            .as_str()
            .is_some_and(|needle| e.message.contains(needle))
}

/// Feeds `input` whole, split in two at every byte boundary, and one byte at a time; every way
/// must give what the whole feed gives, which is returned.
pub fn same_at_every_split<T: PartialEq + Debug>(
    case: &str,
    input: &[u8],
    mut feed: impl FnMut(&[&[u8]]) -> T,
) -> T {
    let whole = feed(&[input]);
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(feed(&[a, b]), whole, "{case}: split at byte {i}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(feed(&bytes), whole, "{case}: one byte at a time");
    whole
}

/// A canonical SSE stream as its events' data: JSON parsed, `[DONE]` kept as a string. Every
/// event is one `data: ` line ending in a blank line.
pub fn data_events(sse: &[u8], what: &str) -> Vec<Value> {
    let text = std::str::from_utf8(sse).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "{what}: unterminated event in {text:?}"
    );
    text.split_terminator("\n\n")
        .map(|ev| {
            let data = ev
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("{what}: not a data event: {ev:?}"));
            assert!(!data.contains('\n'), "{what}: one line per event: {ev:?}");
            if data == "[DONE]" {
                json!("[DONE]")
            } else {
                parse(data.as_bytes(), what)
            }
        })
        .collect()
}
