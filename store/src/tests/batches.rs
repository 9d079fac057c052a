//! Backend tests for the files and batches rows: owner-filtered pages with a cursor, delete,
//! and the once-only spend marker (two racing settles, one wins).

use super::test_dbs;
use crate::{BatchFile, BatchJob, Page};

fn file(id: &str, owner: &str, at: i64, purpose: &str) -> BatchFile {
    BatchFile {
        id: id.into(),
        owner: owner.into(),
        team_id: Some("t1".into()),
        deployment_id: "dep-1".into(),
        model_group: "gpt-4o".into(),
        purpose: purpose.into(),
        created_at: at,
        object: format!(r#"{{"id":"{id}","object":"file"}}"#),
    }
}

#[tokio::test]
async fn files_are_paged_per_owner_and_deleted() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        for (id, owner, at) in [
            ("file-a", "k1", 1),
            ("file-b", "k1", 2),
            ("file-c", "k2", 3),
        ] {
            s.put_batch_file(&file(id, owner, at, "batch"))
                .await
                .unwrap();
        }
        s.put_batch_file(&file("file-d", "k1", 4, "batch_output"))
            .await
            .unwrap();
        let ids = |v: Vec<BatchFile>| v.into_iter().map(|f| f.id).collect::<Vec<_>>();
        let mine = Page {
            owner: Some("k1"),
            after: None,
            limit: 10,
        };
        assert_eq!(
            ids(s.list_batch_files(mine, None).await.unwrap()),
            ["file-d", "file-b", "file-a"],
            "{l}"
        );
        assert_eq!(
            ids(s.list_batch_files(mine, Some("batch")).await.unwrap()),
            ["file-b", "file-a"],
            "{l}"
        );
        let after = Page {
            owner: Some("k1"),
            after: Some("file-b"),
            limit: 10,
        };
        assert_eq!(
            ids(s.list_batch_files(after, None).await.unwrap()),
            ["file-a"],
            "{l}"
        );
        // Another owner's id is no cursor.
        let theirs = Page {
            owner: Some("k1"),
            after: Some("file-c"),
            limit: 10,
        };
        assert!(
            s.list_batch_files(theirs, None).await.unwrap().is_empty(),
            "{l}"
        );
        let all = Page {
            owner: None,
            after: None,
            limit: 2,
        };
        assert_eq!(
            ids(s.list_batch_files(all, None).await.unwrap()),
            ["file-d", "file-c"],
            "{l}"
        );
        assert_eq!(
            s.get_batch_file("file-c").await.unwrap().unwrap().owner,
            "k2",
            "{l}"
        );
        assert!(s.delete_batch_file("file-c").await.unwrap(), "{l}");
        assert!(!s.delete_batch_file("file-c").await.unwrap(), "{l}");
        assert!(s.get_batch_file("file-c").await.unwrap().is_none(), "{l}");
    }
}

#[tokio::test]
async fn a_batch_is_settled_once() {
    for db in test_dbs().await {
        let l = db.label;
        let s = db.open().await;
        let b = BatchJob {
            id: "batch_1".into(),
            owner: "k1".into(),
            team_id: None,
            deployment_id: "dep-1".into(),
            model_group: "gpt-4o".into(),
            input_file_id: "file-a".into(),
            created_at: 10,
            object: "{}".into(),
            settled_at: None,
            spend: None,
        };
        s.put_batch_job(&b).await.unwrap();
        s.update_batch_object("batch_1", r#"{"status":"completed"}"#)
            .await
            .unwrap();
        let (x, y) = tokio::join!(
            s.settle_batch("batch_1", 100, 0.5),
            s.settle_batch("batch_1", 101, 0.5)
        );
        assert!(x.unwrap() ^ y.unwrap(), "{l}: exactly one settle wins");
        assert!(!s.settle_batch("batch_1", 102, 0.5).await.unwrap(), "{l}");
        let got = s.get_batch_job("batch_1").await.unwrap().unwrap();
        assert_eq!(got.spend, Some(0.5), "{l}");
        assert!(got.settled_at.is_some(), "{l}");
        assert_eq!(got.object, r#"{"status":"completed"}"#, "{l}");
        let page = Page {
            owner: Some("k2"),
            after: None,
            limit: 10,
        };
        assert!(s.list_batch_jobs(page).await.unwrap().is_empty(), "{l}");
    }
}
