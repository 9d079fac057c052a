//! Backend tests for stored responses: round trip across a reopen, expiry, delete, and pruning
//! to the count and byte bounds (oldest first).

use super::test_dbs;
use crate::{ResponseBounds, StoredResponse};

fn row(id: &str, owner: &str, created_at: i64, expires_at: i64, text: &str) -> StoredResponse {
    StoredResponse {
        id: id.into(),
        owner: owner.into(),
        created_at,
        expires_at,
        response: format!(r#"{{"id":"{id}","object":"response","output_text":"{text}"}}"#),
        input_items: r#"[{"id":"msg_1","type":"message","role":"user","content":[{"type":"input_text","text":"hi ✓"}]}]"#.into(),
    }
}

const WIDE: ResponseBounds = ResponseBounds {
    max_count: 1_000,
    max_bytes: 1 << 30,
};

#[tokio::test]
async fn responses_round_trip_expire_and_survive_reopen() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        let a = row("resp_a", "key-1", 1_000, 10_000, "first");
        let b = row("resp_b", "", 2_000, 3_000, "second");
        s.put_responses(&[a.clone(), b.clone()]).await.unwrap();
        // A second write of the same id keeps the first.
        let mut a2 = a.clone();
        a2.response = "{}".into();
        s.put_responses(&[a2]).await.unwrap();
        assert_eq!(
            s.get_response("resp_a", 1_500).await.unwrap(),
            Some(a.clone()),
            "{l}"
        );
        assert_eq!(
            s.get_response("resp_b", 2_500).await.unwrap(),
            Some(b),
            "{l}"
        );
        // Expired rows are not returned, and pruned.
        assert_eq!(s.get_response("resp_b", 3_000).await.unwrap(), None, "{l}");
        assert_eq!(s.prune_responses(3_000, WIDE).await.unwrap(), 1, "{l}");
        assert_eq!(
            s.responses_size().await.unwrap(),
            (1, a.bytes() as u64),
            "{l}"
        );
        s.close().await;

        let s = db.open().await;
        assert_eq!(
            s.get_response("resp_a", 1_500).await.unwrap(),
            Some(a),
            "{l}"
        );
        assert!(s.delete_response("resp_a").await.unwrap(), "{l}");
        assert!(!s.delete_response("resp_a").await.unwrap(), "{l}");
        assert_eq!(s.get_response("resp_a", 1_500).await.unwrap(), None, "{l}");
        s.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn pruning_drops_the_oldest_to_the_count_and_byte_bounds() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        let rows: Vec<_> = (0..10)
            .map(|i| row(&format!("resp_{i}"), "k", 1_000 + i, 1_000_000, "x"))
            .collect();
        let each = rows[0].bytes() as u64;
        s.put_responses(&rows).await.unwrap();
        assert_eq!(s.prune_responses(0, WIDE).await.unwrap(), 0, "{l}");
        let by_count = ResponseBounds {
            max_count: 7,
            max_bytes: 1 << 30,
        };
        assert_eq!(s.prune_responses(0, by_count).await.unwrap(), 3, "{l}");
        for i in 0..3 {
            let id = format!("resp_{i}");
            assert_eq!(s.get_response(&id, 0).await.unwrap(), None, "{l} {id}");
        }
        assert!(s.get_response("resp_3", 0).await.unwrap().is_some(), "{l}");
        // Room for four and a half rows: four stay, the newest.
        let by_bytes = ResponseBounds {
            max_count: 100,
            max_bytes: each * 9 / 2,
        };
        assert_eq!(s.prune_responses(0, by_bytes).await.unwrap(), 3, "{l}");
        assert_eq!(s.responses_size().await.unwrap(), (4, each * 4), "{l}");
        assert!(s.get_response("resp_5", 0).await.unwrap().is_none(), "{l}");
        assert!(s.get_response("resp_6", 0).await.unwrap().is_some(), "{l}");
        s.close().await;
        db.finish().await;
    }
}
