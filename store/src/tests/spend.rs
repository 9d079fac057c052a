//! Backend tests for spend: flush (period rule, missing rows, atomicity, idempotency, bulk speed)
//! and the spend log queries (filters, paging, ordering, totals, grouping).

use std::time::Instant;

use super::{test_dbs, NO_LOGS};
use crate::{Dim, LogFilter, SpendDelta, SpendGroup, SpendLog, Store};

const DAY: i64 = 86_400_000;
/// 2025-03-01T00:00:00Z
const T0: i64 = 1_740_787_200_000;

fn delta(kind: &str, id: &str, amount: f64, period: i64) -> SpendDelta {
    SpendDelta {
        kind: kind.into(),
        id: id.into(),
        amount,
        period,
    }
}

fn log(id: &str, start: i64, team: Option<&str>, model: &str, spend: f64) -> SpendLog {
    SpendLog {
        request_id: id.into(),
        call_type: "acompletion".into(),
        api_key: "hash-a".into(),
        spend,
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        start_time: start,
        end_time: start + 250,
        model: model.into(),
        model_group: format!("group-{model}"),
        model_id: "dep-1".into(),
        custom_llm_provider: "openai".into(),
        api_base: "https://api.example.invalid/v1".into(),
        team_id: team.map(Into::into),
        status: "success".into(),
        ..Default::default()
    }
}

async fn spend_of(store: &Store, kind: &str, id: &str) -> (f64, i64) {
    let r = store
        .get_entity(kind, id)
        .await
        .unwrap()
        .expect("row exists");
    (r.spend, r.spend_period)
}

#[tokio::test]
async fn flush_applies_the_period_rule_and_creates_missing_rows() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        s.put_entity("key", "k", r#"{"key_alias":"a"}"#, 1_000)
            .await
            .unwrap();

        s.flush(NO_LOGS, &[delta("key", "k", 1.0, 100)])
            .await
            .unwrap();
        s.flush(NO_LOGS, &[delta("key", "k", 2.0, 100)])
            .await
            .unwrap();
        assert_eq!(
            spend_of(&s, "key", "k").await,
            (3.0, 100),
            "[{l}] same period adds"
        );

        s.flush(NO_LOGS, &[delta("key", "k", 0.5, 200)])
            .await
            .unwrap();
        assert_eq!(
            spend_of(&s, "key", "k").await,
            (0.5, 200),
            "[{l}] newer period resets"
        );

        s.flush(NO_LOGS, &[delta("key", "k", 7.0, 100)])
            .await
            .unwrap();
        assert_eq!(
            spend_of(&s, "key", "k").await,
            (0.5, 200),
            "[{l}] older period dropped"
        );

        // Several deltas for one entity in one batch, in any order.
        s.flush(
            NO_LOGS,
            &[
                delta("key", "k", 4.0, 300),
                delta("key", "k", 1.0, 200),
                delta("key", "k", 2.0, 300),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            spend_of(&s, "key", "k").await,
            (6.0, 300),
            "[{l}] merged batch"
        );

        // The flusher leaves updated_at and the document alone.
        let row = s.get_entity("key", "k").await.unwrap().unwrap();
        assert_eq!(
            (row.doc.as_str(), row.updated_at),
            (r#"{"key_alias":"a"}"#, 1_000)
        );
        assert!(s.entities_changed_since(1_000).await.unwrap().is_empty());

        // Config-only entity: the row is created.
        s.flush(
            NO_LOGS,
            &[
                delta("proxy", "global", 1.25, 50),
                delta("team", "t", 2.0, 0),
            ],
        )
        .await
        .unwrap();
        let row = s.get_entity("proxy", "global").await.unwrap().expect(l);
        assert_eq!(
            (row.doc.as_str(), row.spend, row.spend_period, row.deleted),
            ("{}", 1.25, 50, false)
        );
        assert_eq!(spend_of(&s, "team", "t").await, (2.0, 0));
        // A later put keeps the flushed spend.
        s.put_entity("team", "t", r#"{"team_alias":"x"}"#, 2_000)
            .await
            .unwrap();
        assert_eq!(spend_of(&s, "team", "t").await, (2.0, 0));

        // Admin reset, then more spend in the new window.
        s.set_spend("key", "k", 0.0, 400, 3_000).await.unwrap();
        s.flush(NO_LOGS, &[delta("key", "k", 1.5, 400)])
            .await
            .unwrap();
        assert_eq!(spend_of(&s, "key", "k").await, (1.5, 400));
        let changed = s.entities_changed_since(2_000).await.unwrap();
        assert_eq!(changed.len(), 1, "[{l}] set_spend is in the change feed");

        // Spend for a deleted entity stays on the tombstone and does not revive it.
        assert!(s.delete_entity("team", "t", 4_000).await.unwrap());
        s.flush(NO_LOGS, &[delta("team", "t", 1.0, 0)])
            .await
            .unwrap();
        assert_eq!(s.get_entity("team", "t").await.unwrap(), None);

        // Many entities in one flush (crosses the 500-row statement chunk).
        let many: Vec<SpendDelta> = (0..1_200)
            .map(|i| delta("user", &format!("u{i}"), 0.25, 7))
            .collect();
        s.flush(NO_LOGS, &many).await.unwrap();
        s.flush(NO_LOGS, &many).await.unwrap();
        assert_eq!(spend_of(&s, "user", "u1199").await, (0.5, 7));
        assert_eq!(
            s.load_entities().await.unwrap().len(),
            1_202,
            "[{l}] team t is deleted"
        );
        s.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn flush_is_atomic_and_idempotent_on_request_id() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        let logs: Vec<SpendLog> = (0..3)
            .map(|i| log(&format!("r{i}"), T0 + i, Some("t"), "gpt-4o", 0.1))
            .collect();
        let deltas = [delta("key", "hash-a", 0.3, 0)];
        let all = LogFilter::default();

        // Make the delta half fail after the log rows went in: the whole batch must roll back.
        sqlx::query("ALTER TABLE tollgate_entities RENAME TO tollgate_entities_off")
            .execute(&s.pool)
            .await
            .unwrap();
        let err = s.flush(&logs, &deltas).await;
        assert!(
            err.is_err(),
            "[{l}] flush must fail without the entities table"
        );
        assert_eq!(
            s.count_spend_logs(&all).await.unwrap(),
            0,
            "[{l}] logs rolled back"
        );
        sqlx::query("ALTER TABLE tollgate_entities_off RENAME TO tollgate_entities")
            .execute(&s.pool)
            .await
            .unwrap();

        // The retry commits everything once.
        s.flush(&logs, &deltas).await.unwrap();
        assert_eq!(s.count_spend_logs(&all).await.unwrap(), 3);
        assert_eq!(spend_of(&s, "key", "hash-a").await, (0.3, 0));

        // Re-sent rows (also duplicated inside one batch) are ignored.
        let mut again = logs.clone();
        again.push(logs[0].clone());
        again.push(log("r3", T0 + 3, None, "gpt-4o", 0.1));
        s.flush(&again, &[]).await.unwrap();
        assert_eq!(s.count_spend_logs(&all).await.unwrap(), 4, "[{l}]");
        let total = s.total_spend(&all).await.unwrap();
        assert!((total - 0.4).abs() < 1e-9, "[{l}] {total}");
        s.flush(NO_LOGS, &[]).await.unwrap();
        s.close().await;
        db.finish().await;
    }
}

fn fixture() -> Vec<SpendLog> {
    let mut v = vec![
        log("a1", T0 + 1_000, Some("t1"), "gpt-4o", 1.0),
        log("a2", T0 + 2_000, Some("t1"), "gpt-4o", 2.0),
        log("a3", T0 + 3_000, Some("t1"), "claude", 4.0),
        log("a4", T0 + 4_000, Some("t2"), "gpt-4o", 8.0),
        log("a5", T0 + DAY + 1_000, Some("t1"), "gpt-4o", 16.0),
        log("a6", T0 + DAY + 2_000, None, "gpt-4o", 32.0),
        log("a7", T0 + DAY + 2_000, Some("t2"), "claude", 64.0),
    ];
    v[3].api_key = "hash-b".into();
    v[3].user = Some("alice".into());
    v[3].end_user = Some("cust-9".into());
    v[3].organization_id = Some("org-1".into());
    v[3].status = "failure".into();
    v[4].user = Some("alice".into());
    v
}

#[tokio::test]
async fn spend_logs_filter_page_and_order() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        s.flush(&fixture(), &[]).await.unwrap();
        let ids = |v: Vec<SpendLog>| v.into_iter().map(|x| x.request_id).collect::<Vec<_>>();
        let all = LogFilter::default();

        // Newest first; ties on start_time by request_id descending.
        assert_eq!(
            ids(s.spend_logs(&all).await.unwrap()),
            ["a7", "a6", "a5", "a4", "a3", "a2", "a1"],
            "[{l}]"
        );
        let page = |limit, offset| LogFilter {
            limit,
            offset,
            ..Default::default()
        };
        assert_eq!(
            ids(s.spend_logs(&page(Some(3), None)).await.unwrap()),
            ["a7", "a6", "a5"]
        );
        assert_eq!(
            ids(s.spend_logs(&page(Some(3), Some(3))).await.unwrap()),
            ["a4", "a3", "a2"]
        );
        assert_eq!(
            ids(s.spend_logs(&page(Some(3), Some(6))).await.unwrap()),
            ["a1"]
        );
        assert_eq!(
            ids(s.spend_logs(&page(None, Some(5))).await.unwrap()),
            ["a2", "a1"]
        );
        assert!(s.spend_logs(&page(Some(0), None)).await.unwrap().is_empty());

        let t1 = LogFilter {
            team_id: Some("t1".into()),
            ..Default::default()
        };
        assert_eq!(
            ids(s.spend_logs(&t1).await.unwrap()),
            ["a5", "a3", "a2", "a1"]
        );
        assert_eq!(s.count_spend_logs(&t1).await.unwrap(), 4);
        assert_eq!(s.total_spend(&t1).await.unwrap(), 23.0);

        let t1_gpt_day1 = LogFilter {
            team_id: Some("t1".into()),
            model: Some("gpt-4o".into()),
            start_ms: Some(T0),
            end_ms: Some(T0 + DAY),
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(ids(s.spend_logs(&t1_gpt_day1).await.unwrap()), ["a2"]);
        assert_eq!(
            s.count_spend_logs(&t1_gpt_day1).await.unwrap(),
            2,
            "count ignores limit"
        );
        assert_eq!(s.total_spend(&t1_gpt_day1).await.unwrap(), 3.0);

        // end_ms is exclusive, start_ms inclusive.
        let window = LogFilter {
            start_ms: Some(T0 + 2_000),
            end_ms: Some(T0 + DAY + 1_000),
            ..Default::default()
        };
        assert_eq!(
            ids(s.spend_logs(&window).await.unwrap()),
            ["a4", "a3", "a2"]
        );

        let sr = &s;
        let one = move |f: LogFilter| async move { ids(sr.spend_logs(&f).await.unwrap()) };
        assert_eq!(
            one(LogFilter {
                api_key: Some("hash-b".into()),
                ..Default::default()
            })
            .await,
            ["a4"]
        );
        assert_eq!(
            one(LogFilter {
                user: Some("alice".into()),
                ..Default::default()
            })
            .await,
            ["a5", "a4"]
        );
        assert_eq!(
            one(LogFilter {
                end_user: Some("cust-9".into()),
                ..Default::default()
            })
            .await,
            ["a4"]
        );
        assert_eq!(
            one(LogFilter {
                organization_id: Some("org-1".into()),
                ..Default::default()
            })
            .await,
            ["a4"]
        );
        assert_eq!(
            one(LogFilter {
                status: Some("failure".into()),
                ..Default::default()
            })
            .await,
            ["a4"]
        );
        assert_eq!(
            one(LogFilter {
                request_id: Some("a6".into()),
                ..Default::default()
            })
            .await,
            ["a6"]
        );
        assert_eq!(
            one(LogFilter {
                model_group: Some("group-claude".into()),
                ..Default::default()
            })
            .await,
            ["a7", "a3"]
        );
        assert!(one(LogFilter {
            team_id: Some("nobody".into()),
            ..Default::default()
        })
        .await
        .is_empty());
        assert_eq!(
            s.total_spend(&LogFilter {
                team_id: Some("nobody".into()),
                ..Default::default()
            })
            .await
            .unwrap(),
            0.0
        );
        s.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn spend_log_fields_round_trip() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        let full = SpendLog {
            request_id: "chatcmpl-1".into(),
            call_type: "anthropic_messages".into(),
            api_key: "0f".repeat(32),
            key_alias: Some("alias ✓".into()),
            spend: 0.000_123_456_789,
            prompt_tokens: 1_234_567_890_123,
            completion_tokens: 2,
            total_tokens: 1_234_567_890_125,
            cached_tokens: 7,
            start_time: T0,
            end_time: T0 + 1,
            model: "claude-3-5".into(),
            model_group: "claude".into(),
            model_id: "d1".into(),
            custom_llm_provider: "anthropic".into(),
            api_base: "https://x.invalid".into(),
            user: Some("u".into()),
            team_id: Some("t".into()),
            organization_id: Some("o".into()),
            end_user: Some("e".into()),
            status: "success".into(),
            cache_hit: true,
            request_tags: vec!["a".into(), "b \"q\"".into()],
            metadata: serde_json::json!({"n": 1, "nested": {"x": [1, 2]}, "s": "it's"}),
            response_id: Some("chatcmpl-abc".into()),
        };
        let bare = SpendLog {
            request_id: "bare".into(),
            start_time: T0 - 1,
            ..Default::default()
        };
        s.flush(&[full.clone(), bare.clone()], &[]).await.unwrap();
        let got = s.spend_logs(&LogFilter::default()).await.unwrap();
        assert_eq!(got[0], full, "[{l}]");
        let bare_back = SpendLog {
            metadata: serde_json::json!({}),
            ..bare
        };
        assert_eq!(got[1], bare_back, "[{l}] null metadata is stored as {{}}");
        s.close().await;
        db.finish().await;
    }
}

fn key(parts: &[Option<&str>]) -> Vec<Option<String>> {
    parts.iter().map(|p| p.map(str::to_string)).collect()
}

#[tokio::test]
async fn spend_grouped_by_day_team_model() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        s.flush(&fixture(), &[]).await.unwrap();
        let groups = s
            .spend_grouped(&LogFilter::default(), &[Dim::Day, Dim::TeamId, Dim::Model])
            .await
            .unwrap();
        let g = |k: &[Option<&str>], spend: f64, requests: i64| SpendGroup {
            keys: key(k),
            spend,
            prompt_tokens: 10 * requests,
            completion_tokens: 5 * requests,
            total_tokens: 15 * requests,
            requests,
        };
        let want = vec![
            g(&[Some("2025-03-01"), Some("t1"), Some("claude")], 4.0, 1),
            g(&[Some("2025-03-01"), Some("t1"), Some("gpt-4o")], 3.0, 2),
            g(&[Some("2025-03-01"), Some("t2"), Some("gpt-4o")], 8.0, 1),
            g(&[Some("2025-03-02"), Some("t1"), Some("gpt-4o")], 16.0, 1),
            g(&[Some("2025-03-02"), Some("t2"), Some("claude")], 64.0, 1),
            g(&[Some("2025-03-02"), None, Some("gpt-4o")], 32.0, 1),
        ];
        assert_eq!(groups, want, "[{l}]");

        // Filtered, other dimensions.
        let f = LogFilter {
            start_ms: Some(T0),
            end_ms: Some(T0 + DAY),
            ..Default::default()
        };
        let groups = s
            .spend_grouped(&f, &[Dim::ApiKey, Dim::Provider])
            .await
            .unwrap();
        assert_eq!(
            groups,
            vec![
                g(&[Some("hash-a"), Some("openai")], 7.0, 3),
                g(&[Some("hash-b"), Some("openai")], 8.0, 1),
            ],
            "[{l}]"
        );
        let groups = s
            .spend_grouped(&LogFilter::default(), &[Dim::User, Dim::ModelGroup])
            .await
            .unwrap();
        assert_eq!(groups[0].keys, key(&[Some("alice"), Some("group-gpt-4o")]));
        assert_eq!(groups[0].requests, 2);
        assert_eq!(
            groups.last().unwrap().keys,
            key(&[None, Some("group-gpt-4o")])
        );

        let total = s.spend_grouped(&LogFilter::default(), &[]).await.unwrap();
        assert_eq!(total, vec![g(&[], 127.0, 7)]);
        let none = LogFilter {
            team_id: Some("nobody".into()),
            ..Default::default()
        };
        assert!(s.spend_grouped(&none, &[]).await.unwrap().is_empty());
        assert!(s
            .spend_grouped(&none, &[Dim::Day])
            .await
            .unwrap()
            .is_empty());
        for dim in [Dim::KeyAlias, Dim::EndUser, Dim::OrganizationId] {
            let groups = s
                .spend_grouped(&LogFilter::default(), &[dim])
                .await
                .unwrap();
            assert_eq!(
                groups.iter().map(|g| g.requests).sum::<i64>(),
                7,
                "[{l}] {dim:?}"
            );
        }
        s.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn ten_thousand_rows_flush_fast() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        let logs: Vec<SpendLog> = (0..10_000)
            .map(|i| {
                let mut x = log(
                    &format!("req-{i:05}"),
                    T0 + i,
                    Some(["t1", "t2", "t3"][i as usize % 3]),
                    "gpt-4o",
                    0.001,
                );
                x.metadata = serde_json::json!({"user_api_key_alias": "a", "i": i});
                x.request_tags = vec!["prod".into()];
                x
            })
            .collect();
        let deltas: Vec<SpendDelta> = (0..100)
            .map(|i| delta("key", &format!("k{i}"), 0.1, 0))
            .collect();
        let t = Instant::now();
        s.flush(&logs, &deltas).await.unwrap();
        let took = t.elapsed();
        println!("[{l}] flushed 10,000 spend logs + 100 deltas in {took:?}");
        assert!(took.as_secs_f64() < 5.0, "[{l}] took {took:?}");
        let t = Instant::now();
        s.flush(&logs, &[]).await.unwrap();
        println!(
            "[{l}] re-flushed the same 10,000 (all conflicts) in {:?}",
            t.elapsed()
        );
        let all = LogFilter::default();
        assert_eq!(s.count_spend_logs(&all).await.unwrap(), 10_000);
        let t = Instant::now();
        let groups = s
            .spend_grouped(&all, &[Dim::Day, Dim::TeamId])
            .await
            .unwrap();
        println!("[{l}] grouped 10,000 rows in {:?}", t.elapsed());
        assert_eq!(groups.len(), 3);
        assert!((s.total_spend(&all).await.unwrap() - 10.0).abs() < 1e-6);
        s.close().await;
        db.finish().await;
    }
}
