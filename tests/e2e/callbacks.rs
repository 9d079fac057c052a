//! E2E: logging callbacks and alerting against recording receivers started here on free ports.
//! Generic webhook bodies in each `log_format` (LiteLLM's `StandardLoggingPayload` fields) for a
//! plain, a streamed, a failed and a fallen-back request; Langfuse's ingestion body; OTLP
//! protobuf decoded with the published opentelemetry-proto messages (trace continued from the
//! caller's `traceparent`, which also reaches the provider); a hanging sink leaves request
//! latency alone and its queue bounded (drops counted); budget and cooldown alerts arrive once.

use std::time::{Duration, Instant};

use prost::Message;
use serde_json::{json, Value};

use crate::callbacks_receiver::{chat, config, mocks, payloads, Receiver};
use crate::support::{client, Gateway, MASTER_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_webhook_in_each_format_with_standard_payload_fields() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    let mut yaml = config(
        &good,
        &bad,
        "",
        &format!(
            "litellm_settings:
  callbacks: [hook_array, hook_nd, hook_single]
callback_settings:
  hook_array: {{callback_type: generic_api, endpoint: \"{}\", headers: {{Authorization: Bearer hook-token-1234}}, flush_interval: 0.2}}
  hook_nd: {{callback_type: generic_api, endpoint: \"{}\", log_format: ndjson, flush_interval: 0.2}}
  hook_single: {{callback_type: generic_api, endpoint: \"{}\", log_format: single, flush_interval: 0.2}}
",
            rx.url("/array"),
            rx.url("/nd"),
            rx.url("/single")
        ),
    );
    // A group whose only deployment fails falls back to test-model.
    yaml = yaml.replace(
        "  num_retries: 0\n",
        "  num_retries: 0\n  fallbacks: [{\"fallme\": [\"test-model\"]}]\n",
    );
    yaml = yaml.replace(
        "  - model_name: bad\n",
        &format!(
            "  - model_name: fallme\n    litellm_params:\n      model: openai/bad-model\n      api_base: {}\n      api_key: k\n  - model_name: bad\n",
            bad.url()
        ),
    );
    let gw = Gateway::start(&yaml).await;
    assert_eq!(
        chat(
            &gw,
            "test-model",
            false,
            json!({"metadata": {"session_id": "s1"}})
        )
        .await
        .0,
        200
    );
    assert_eq!(chat(&gw, "test-model", true, json!({})).await.0, 200);
    assert_eq!(chat(&gw, "bad", false, json!({})).await.0, 500);
    assert_eq!(chat(&gw, "fallme", false, json!({})).await.0, 200);

    let arr = rx
        .wait("/array", "4 events", |g| payloads(g).len() >= 4)
        .await;
    assert_eq!(
        arr[0]
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1,
        "Bearer hook-token-1234"
    );
    assert!(
        arr.iter().all(|g| g.body.starts_with(b"[")),
        "json_array bodies"
    );
    let nd = rx.wait("/nd", "4 events", |g| payloads(g).len() >= 4).await;
    assert!(nd
        .iter()
        .all(|g| g.body.ends_with(b"\n") && !g.body.starts_with(b"[")));
    let single = rx.wait("/single", "4 requests", |g| g.len() >= 4).await;
    assert!(single.iter().all(|g| g.body.starts_with(b"{")));

    for list in [payloads(&arr), payloads(&nd), payloads(&single)] {
        assert_eq!(list.len(), 4, "{list:?}");
        let by = |f: &dyn Fn(&Value) -> bool| list.iter().find(|p| f(p)).unwrap().clone();
        let plain = by(&|p| p["stream"] == false && p["model_group"] == "test-model");
        assert_eq!(plain["status"], "success");
        assert_eq!(plain["call_type"], "acompletion");
        assert_eq!(plain["model"], "upstream-model");
        assert_eq!(plain["custom_llm_provider"], "openai");
        assert!(plain["prompt_tokens"].as_i64().unwrap() > 0);
        assert!(plain["response_cost"].as_f64().unwrap() > 0.0);
        assert_eq!(plain["messages"][0]["content"], "secret prompt text");
        assert_eq!(
            plain["response"]["choices"][0]["message"]["content"],
            "hello there"
        );
        assert_eq!(plain["metadata"]["requester_metadata"]["session_id"], "s1");
        assert!(plain["startTime"].as_f64().unwrap() <= plain["endTime"].as_f64().unwrap());
        let streamed = by(&|p| p["stream"] == true);
        assert_eq!(streamed["status"], "success");
        assert!(streamed["response"]["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("hello"));
        let failed = by(&|p| p["status"] == "failure");
        assert_eq!(failed["model_group"], "bad");
        assert_eq!(failed["error_information"]["error_code"], "500");
        assert!(
            failed["error_str"]
                .as_str()
                .unwrap()
                .contains("upstream exploded"),
            "{failed}"
        );
        let fell =
            by(&|p| p["model_group"] == "fallme" || p["hidden_params"]["attempted_fallbacks"] == 1);
        assert_eq!(fell["status"], "success");
        assert_eq!(fell["hidden_params"]["attempted_fallbacks"], 1);
        for p in &list {
            let text = p.to_string();
            assert!(
                !text.contains("sk-upstream-secret") && !text.contains(MASTER_KEY),
                "{text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langfuse_and_otlp_bodies_with_the_trace_continued() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    let yaml = config(
        &good,
        &bad,
        "  forward_traceparent_to_llm_api: true\n",
        "litellm_settings:
  success_callback: [langfuse]
  callbacks: [otel, langfuse_otel]
callback_settings:
  langfuse: {flush_interval: 0.2}
  otel: {flush_interval: 0.2}
  langfuse_otel: {flush_interval: 0.2}
",
    );
    let host = rx.url("");
    let gw = Gateway::start_with(
        &yaml,
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-test"),
            ("LANGFUSE_SECRET_KEY", "sk-lf-test-secret"),
            ("LANGFUSE_HOST", host.as_str()),
            ("LANGFUSE_OTEL_HOST", rx.url("/lfotel").as_str()),
            ("OTEL_ENDPOINT", host.as_str()),
            ("OTEL_SERVICE_NAME", "tollgate-e2e"),
        ],
    )
    .await;
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .json(&json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}],
                      "metadata": {"generation_name": "gen-1", "trace_id": "lf-trace-1", "session_id": "sess-1", "tags": ["t1"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The provider got the trace too, as a child of the gateway's span.
    let up = good.requests();
    let tp = up[0].header("traceparent").expect("traceparent forwarded");
    assert!(
        tp.starts_with(&format!("00-{trace}-")) && !tp.contains("b7ad6b7169203331"),
        "{tp}"
    );

    let lf = rx
        .wait("/api/public/ingestion", "a batch", |g| !g.is_empty())
        .await;
    use base64::Engine as _;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("pk-lf-test:sk-lf-test-secret")
    );
    assert_eq!(
        lf[0]
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1,
        auth
    );
    let body: Value = serde_json::from_slice(&lf[0].body).unwrap();
    let batch = body["batch"].as_array().unwrap();
    let trace_ev = batch.iter().find(|e| e["type"] == "trace-create").unwrap();
    let gen = batch
        .iter()
        .find(|e| e["type"] == "generation-create")
        .unwrap();
    assert_eq!(trace_ev["body"]["id"], "lf-trace-1");
    assert_eq!(trace_ev["body"]["sessionId"], "sess-1");
    assert_eq!(gen["body"]["traceId"], "lf-trace-1");
    assert_eq!(gen["body"]["name"], "gen-1");
    assert_eq!(gen["body"]["model"], "upstream-model");
    assert!(gen["body"]["usage"]["input"].as_i64().unwrap() > 0);
    assert!(gen["body"]["costDetails"]["total"].as_f64().unwrap() > 0.0);
    assert_eq!(gen["body"]["level"], "DEFAULT");
    assert_eq!(gen["body"]["output"]["content"], "hello there");
    assert!(!String::from_utf8_lossy(&lf[0].body).contains("sk-lf-test-secret"));

    let ot = rx.wait("/v1/traces", "an export", |g| !g.is_empty()).await;
    assert_eq!(
        ot[0]
            .headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .unwrap()
            .1,
        "application/x-protobuf"
    );
    let req = ExportTraceServiceRequest::decode(ot[0].body.as_slice()).expect("OTLP protobuf");
    let rs = &req.resource_spans[0];
    let svc = &rs.resource.as_ref().unwrap().attributes[0];
    assert_eq!(svc.key, "service.name");
    let spans = &rs.scope_spans[0].spans;
    assert_eq!(spans.len(), 2);
    let server = spans
        .iter()
        .find(|s| s.name == "Received Proxy Server Request")
        .unwrap();
    let llm = spans.iter().find(|s| s.name == "litellm_request").unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(hex(&server.trace_id), trace);
    assert_eq!(hex(&server.parent_span_id), "b7ad6b7169203331");
    assert_eq!(llm.parent_span_id, server.span_id);
    assert!(
        tp.contains(&hex(&llm.span_id)),
        "forwarded traceparent names the LLM span"
    );
    let attr = |k: &str| {
        llm.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    assert_eq!(
        attr("gen_ai.request.model"),
        V::StringValue("test-model".into())
    );
    assert_eq!(
        attr("gen_ai.response.model"),
        V::StringValue("upstream-model".into())
    );
    assert_eq!(attr("gen_ai.operation.name"), V::StringValue("chat".into()));
    assert!(matches!(attr("gen_ai.usage.input_tokens"), V::IntValue(n) if n > 0));
    assert!(matches!(attr("gen_ai.usage.cost"), V::DoubleValue(c) if c > 0.0));
    assert_eq!(llm.status.as_ref().unwrap().code, 1);

    // langfuse_otel: the same spans to Langfuse's OTLP endpoint, with its basic auth.
    let lo = rx
        .wait("/lfotel/api/public/otel/v1/traces", "an export", |g| {
            !g.is_empty()
        })
        .await;
    assert_eq!(
        lo[0]
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1,
        auth
    );
    let req = ExportTraceServiceRequest::decode(lo[0].body.as_slice()).expect("OTLP protobuf");
    assert_eq!(
        hex(&req.resource_spans[0].scope_spans[0].spans[0].trace_id),
        trace
    );
    assert!(llm.end_time_unix_nano >= llm.start_time_unix_nano && llm.start_time_unix_nano > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_sink_neither_slows_requests_nor_grows_without_bound() {
    let (good, bad) = mocks().await;
    let hang = Receiver::start(true).await;
    // A dead alert webhook too: every request is a slow-request alert to it.
    let yaml = config(
        &good,
        &bad,
        "  alerting: [webhook]\n  alert_types: [llm_too_slow]\n  alerting_threshold: 0.000001\n",
        &format!(
            "litellm_settings:
  callbacks: [stuck]
callback_settings:
  stuck: {{callback_type: generic_api, endpoint: \"{}\", batch_size: 1, flush_interval: 0.05, max_queue_entries: 5}}
",
            hang.url("/stuck")
        ),
    );
    let gw = Gateway::start_with(&yaml, &[("WEBHOOK_URL", hang.url("/alerts").as_str())]).await;
    let mut worst = Duration::ZERO;
    for _ in 0..40 {
        let t = Instant::now();
        assert_eq!(chat(&gw, "test-model", false, json!({})).await.0, 200);
        worst = worst.max(t.elapsed());
    }
    // The sink and the alert webhook answer nothing for 10 s per attempt: no request waited.
    hang.wait("/alerts", "the first alert", |g| !g.is_empty())
        .await;
    let t = Instant::now();
    assert_eq!(chat(&gw, "test-model", false, json!({})).await.0, 200);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "while the webhook hangs"
    );
    assert!(worst < Duration::from_secs(2), "slowest request {worst:?}");
    let ready: Value = client()
        .get(gw.url("/health/readiness"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["success_callbacks"], json!(["stuck"]));
    // At most the queue (5) and the batch in flight (1) are held; the rest were dropped.
    let dropped = ready["callback_failures"]["stuck"].as_u64().unwrap_or(0);
    assert!(dropped >= 40 - 6, "dropped {dropped}: {ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_and_cooldown_alerts_arrive_once_per_window() {
    let (good, bad) = mocks().await;
    let rx = Receiver::start(false).await;
    // Two failing deployments: routing never cools down a group's only deployment.
    let yaml = config(
        &good,
        &bad,
        "  alerting: [slack, webhook]\n  alert_types: [budget_alerts, cooldown_deployment, daily_reports]\n  alerting_args: {daily_report_frequency: 1}\n",
        "  allowed_fails: 0
  cooldown_time: 60
litellm_settings:
  max_budget: 0.0000001
tollgate_settings:
  budget_enforcement: soft
",
    );
    let yaml = yaml.replace(
        "  - model_name: bad\n",
        &format!(
            "  - model_name: bad\n    litellm_params:\n      model: openai/bad-2\n      api_base: {}\n      api_key: k\n  - model_name: bad\n",
            bad.url()
        ),
    );
    let gw = Gateway::start_with(
        &yaml,
        &[
            ("SLACK_WEBHOOK_URL", rx.url("/slack").as_str()),
            ("WEBHOOK_URL", rx.url("/hook").as_str()),
        ],
    )
    .await;
    // The failing deployment cools down (once, however often it is asked); then the first
    // priced request crosses the proxy budget and later ones are refused before a call.
    for _ in 0..3 {
        chat(&gw, "bad", false, json!({})).await;
    }
    for _ in 0..3 {
        chat(&gw, "test-model", false, json!({})).await;
    }
    let hooks = rx
        .wait("/hook", "budget and cooldown", |g| {
            let p = payloads(g);
            p.iter().any(|e| e["event"] == "budget_crossed")
                && p.iter().any(|e| e["event"] == "cooldown_deployment")
        })
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let all = payloads(&rx.on("/hook"));
    let crossed: Vec<&Value> = all
        .iter()
        .filter(|e| e["event"] == "budget_crossed")
        .collect();
    assert_eq!(crossed.len(), 1, "{all:?}");
    assert_eq!(crossed[0]["event_group"], "proxy");
    assert!(crossed[0]["spend"].as_f64().unwrap() > 0.0);
    assert_eq!(crossed[0]["max_budget"].as_f64().unwrap(), 0.0000001);
    let cooled: Vec<&Value> = all
        .iter()
        .filter(|e| e["event"] == "cooldown_deployment")
        .collect();
    assert!(!cooled.is_empty());
    for c in &cooled {
        let same = cooled
            .iter()
            .filter(|o| o["event_message"] == c["event_message"])
            .count();
        assert_eq!(same, 1, "one alert per deployment cooldown: {cooled:?}");
    }
    let _ = hooks;
    let report = rx
        .wait("/hook", "a daily report", |g| {
            payloads(g).iter().any(|e| e["event"] == "daily_reports")
        })
        .await;
    let report = payloads(&report);
    let report = report
        .iter()
        .rev()
        .find(|e| e["event"] == "daily_reports")
        .unwrap();
    assert!(
        report["event_message"]
            .as_str()
            .unwrap()
            .contains("requests"),
        "{report}"
    );
    let slack = rx.on("/slack");
    let texts: Vec<String> = slack
        .iter()
        .map(|g| {
            serde_json::from_slice::<Value>(&g.body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("Budget Crossed"))
            .count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains("cooled down")).count(),
        cooled.len(),
        "{texts:?}"
    );
    assert!(texts.iter().all(|t| !t.contains("sk-upstream-secret")));
}
