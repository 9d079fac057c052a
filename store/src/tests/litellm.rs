//! The LiteLLM import's writers and the LiteLLM-shaped views, on every backend: imported rows
//! are idempotent, the views show Tollgate's rows in LiteLLM's shapes, and the daily views add
//! Tollgate's own log rows to LiteLLM's daily history without counting imported logs twice.

use sqlx::Row;

use super::test_dbs;
use crate::{DailyRow, SpendLog};

/// 2026-11-01T10:00:00Z.
const T0: i64 = 1_793_527_200_000;

fn log(id: &str, spend: f64) -> SpendLog {
    SpendLog {
        request_id: id.into(),
        call_type: "acompletion".into(),
        api_key: "hash-a".into(),
        spend,
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        start_time: T0,
        end_time: T0 + 250,
        model: "gpt-4o".into(),
        model_group: "gpt-4o".into(),
        custom_llm_provider: "openai".into(),
        team_id: Some("t1".into()),
        status: "success".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn views_answer_in_litellms_shapes_and_imports_are_idempotent() {
    for db in test_dbs().await {
        let l = db.label;
        let store = db.open().await;
        store
            .put_entity(
                "key",
                "hash-a",
                r#"{"key_alias":"app","max_budget":2,"blocked":true,"models":["m"]}"#,
                1,
            )
            .await
            .unwrap();
        store.set_spend("key", "hash-a", 1.5, 0, 2).await.unwrap();
        store.flush(&[log("native-1", 0.5)], &[]).await.unwrap();
        let imported = [log("chatcmpl-old", 2.0)];
        assert_eq!(store.import_logs(&imported).await.unwrap(), 1, "[{l}]");
        assert_eq!(
            store.import_logs(&imported).await.unwrap(),
            0,
            "[{l}] again"
        );
        let daily = DailyRow {
            kind: "team".into(),
            id: "d1".into(),
            entity_id: Some("t1".into()),
            date: "2026-10-31".into(),
            api_key: "hash-a".into(),
            model: Some("gpt-4o".into()),
            spend: 1.0,
            api_requests: 4,
            ..Default::default()
        };
        assert_eq!(
            store
                .import_daily(std::slice::from_ref(&daily), true)
                .await
                .unwrap(),
            (1, 0)
        );
        assert_eq!(
            store
                .import_daily(std::slice::from_ref(&daily), false)
                .await
                .unwrap(),
            (1, 0)
        );
        assert_eq!(
            store
                .import_daily(std::slice::from_ref(&daily), false)
                .await
                .unwrap(),
            (0, 0),
            "[{l}]"
        );
        let changed = DailyRow {
            spend: 1.5,
            ..daily
        };
        assert_eq!(
            store.import_daily(&[changed], false).await.unwrap(),
            (0, 1),
            "[{l}]"
        );

        let row = sqlx::query(
            r#"SELECT SUM(spend), CAST(SUM(prompt_tokens + completion_tokens) AS BIGINT), COUNT(*)
               FROM "LiteLLM_SpendLogs" WHERE team_id = 't1' AND api_key = 'hash-a'"#,
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        let (spend, tokens, n): (f64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        assert_eq!((spend, tokens, n), (2.5, 30, 2), "[{l}]");
        let start: String = sqlx::query_scalar(
            r#"SELECT CAST("startTime" AS text) FROM "LiteLLM_SpendLogs" WHERE request_id = 'chatcmpl-old'"#,
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert!(start.starts_with("2026-11-01 10:00:00"), "[{l}] {start}");

        // The daily view: LiteLLM's day plus Tollgate's own log of the next day; the imported
        // log is in LiteLLM's daily rows already, so it does not count again.
        let days: Vec<(String, f64)> = sqlx::query(
            r#"SELECT date, spend FROM "LiteLLM_DailyTeamSpend" WHERE team_id = 't1' ORDER BY date"#,
        )
        .fetch_all(&store.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        assert_eq!(
            days,
            [
                ("2026-10-31".to_string(), 1.5),
                ("2026-11-01".to_string(), 0.5)
            ],
            "[{l}]"
        );

        let key = sqlx::query(
            r#"SELECT token, key_alias, spend, CAST(max_budget AS DOUBLE PRECISION) FROM "LiteLLM_VerificationToken""#,
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        let key: (String, String, f64, f64) = (key.get(0), key.get(1), key.get(2), key.get(3));
        assert_eq!(key, ("hash-a".into(), "app".into(), 1.5, 2.0), "[{l}]");
        store.close().await;
        db.finish().await;
    }
}
