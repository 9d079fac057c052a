//! Batch files, line by line: the input file's check (every line a request object naming the
//! same `body.model`, each line under a length bound) and its rewrite to the deployment's model,
//! and the usage summed over an output file.

use serde_json::Value;

use crate::error::ApiError;

/// What an input file asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInput {
    /// The one `body.model` every line names.
    pub model: String,
    /// Request lines.
    pub requests: usize,
}

fn invalid(msg: String) -> ApiError {
    ApiError::new(400, "invalid_request_error", msg).with_param("file")
}

/// The non-empty lines of `data` (`\n` or `\r\n` ended), numbered from 1.
fn lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    data.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

/// Checks a batch input file: each line a JSON object with `custom_id`, `method`, `url` and a
/// `body` naming a `model`, at most `max_line` bytes, and one model for the whole file (as
/// OpenAI requires). The error names the line.
pub fn inspect(data: &[u8], max_line: usize) -> Result<BatchInput, ApiError> {
    let mut model: Option<String> = None;
    let mut requests = 0;
    for (n, line) in lines(data) {
        if line.len() > max_line {
            return Err(invalid(format!(
                "line {n} of the batch file is {} bytes, over this gateway's limit of {max_line}",
                line.len()
            )));
        }
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| invalid(format!("line {n} of the batch file is not JSON: {e}")))?;
        for field in ["custom_id", "method", "url"] {
            if !v.get(field).is_some_and(Value::is_string) {
                return Err(invalid(format!(
                    "line {n} of the batch file has no {field}"
                )));
            }
        }
        let Some(m) = v.pointer("/body/model").and_then(Value::as_str) else {
            return Err(invalid(format!(
                "line {n} of the batch file has no body.model"
            )));
        };
        match &model {
            None => model = Some(m.to_string()),
            Some(first) if first != m => {
                return Err(invalid(format!(
                    "line {n} of the batch file names model {m:?}, line 1 {first:?}: a batch \
                     file must use one model"
                )))
            }
            Some(_) => {}
        }
        requests += 1;
    }
    let model = model.ok_or_else(|| invalid("the batch file has no request lines".into()))?;
    Ok(BatchInput { model, requests })
}

/// The file with every line's `body.model` set to `model` (the deployment's upstream model),
/// one line per request, `\n` ended. Lines must have passed [`inspect`].
pub fn rewrite_model(data: &[u8], model: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    for (_, line) in lines(data) {
        let mut v: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        if let Some(body) = v.get_mut("body").and_then(Value::as_object_mut) {
            body.insert("model".into(), Value::String(model.to_string()));
        }
        serde_json::to_writer(&mut out, &v).expect("serializing JSON values cannot fail");
        out.push(b'\n');
    }
    out
}

/// Usage summed over a batch output file's lines (`response.body.usage`, chat/completions/
/// embeddings or Responses API names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// Lines with a response body.
    pub responses: u64,
    /// Lines that are not JSON or carry no usage.
    pub without_usage: u64,
}

/// Adds up the usage of an output file.
pub fn output_usage(data: &[u8]) -> OutputUsage {
    let mut u = OutputUsage::default();
    let n = |v: &Value, ptr: &str| v.pointer(ptr).and_then(Value::as_u64).unwrap_or(0);
    for (_, line) in lines(data) {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            u.without_usage += 1;
            continue;
        };
        let Some(usage) = v.pointer("/response/body/usage") else {
            u.without_usage += 1;
            continue;
        };
        u.responses += 1;
        u.prompt_tokens += n(usage, "/prompt_tokens") + n(usage, "/input_tokens");
        u.completion_tokens += n(usage, "/completion_tokens") + n(usage, "/output_tokens");
        u.cached_tokens += n(usage, "/prompt_tokens_details/cached_tokens")
            + n(usage, "/input_tokens_details/cached_tokens");
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}}"#;

    #[test]
    fn a_file_of_one_model_passes_and_is_rewritten() {
        let data = format!("{LINE}\r\n{}\n\n", LINE.replace("r1", "r2"));
        let got = inspect(data.as_bytes(), 10_000).unwrap();
        assert_eq!(
            got,
            BatchInput {
                model: "gpt-4o-mini".into(),
                requests: 2
            }
        );
        let out = rewrite_model(data.as_bytes(), "gpt-4o-mini-2024-07-18");
        let again = inspect(&out, 10_000).unwrap();
        assert_eq!(again.model, "gpt-4o-mini-2024-07-18");
        assert_eq!(again.requests, 2);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains(r#""custom_id":"r2""#));
    }

    #[test]
    fn bad_files_name_the_line() {
        let two = format!("{LINE}\n{}", LINE.replace("gpt-4o-mini", "gpt-4o"));
        let e = inspect(two.as_bytes(), 10_000).unwrap_err();
        assert!(
            e.message.contains("line 2") && e.message.contains("one model"),
            "{}",
            e.message
        );
        assert_eq!(e.status, 400);
        let e = inspect(format!("{LINE}\nnot json").as_bytes(), 10_000).unwrap_err();
        assert!(
            e.message.contains("line 2 of the batch file is not JSON"),
            "{}",
            e.message
        );
        let e = inspect(LINE.as_bytes(), 20).unwrap_err();
        assert!(
            e.message.contains("over this gateway's limit"),
            "{}",
            e.message
        );
        let e = inspect(
            br#"{"custom_id":"a","method":"POST","url":"/v1/x","body":{}}"#,
            999,
        )
        .unwrap_err();
        assert!(e.message.contains("no body.model"), "{}", e.message);
        assert!(inspect(b"\n\n", 999).is_err());
    }

    #[test]
    fn output_usage_is_summed() {
        let data = concat!(
            r#"{"custom_id":"r1","response":{"status_code":200,"body":{"usage":{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}}}}"#,
            "\n",
            r#"{"custom_id":"r2","response":{"status_code":200,"body":{"usage":{"input_tokens":5,"output_tokens":2}}}}"#,
            "\n",
            r#"{"custom_id":"r3","response":null,"error":{"code":"x"}}"#,
            "\n"
        );
        assert_eq!(
            output_usage(data.as_bytes()),
            OutputUsage {
                prompt_tokens: 15,
                completion_tokens: 5,
                cached_tokens: 4,
                responses: 2,
                without_usage: 1
            }
        );
    }
}
