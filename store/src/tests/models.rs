//! Stored models on every backend: written, read one and all, deleted, and the version
//! replicas poll moves with every write and delete.

use super::test_dbs;
use crate::{ModelRow, ModelsVersion};

fn row(id: &str, updated_at: i64) -> ModelRow {
    ModelRow {
        model_id: id.into(),
        model_name: "g".into(),
        litellm_params: r#"{"model":"sealed"}"#.into(),
        model_info: "{}".into(),
        blocked: false,
        created_at: 1_000,
        updated_at,
        created_by: Some("admin".into()),
        updated_by: None,
    }
}

#[tokio::test]
async fn models_are_written_read_deleted_and_versioned() {
    for db in test_dbs().await {
        let l = db.label;
        let store = db.open().await;
        let empty = store.models_version().await.unwrap();
        assert_eq!(empty, ModelsVersion::default(), "{l}");
        store
            .put_models(&[row("a", 1_700_000_000_001), row("b", 1_700_000_000_002)])
            .await
            .unwrap();
        let two = store.models_version().await.unwrap();
        assert_eq!((two.rows, two.newest), (2, 1_700_000_000_002), "{l}");
        assert_eq!(
            store.get_model("a").await.unwrap(),
            Some(row("a", 1_700_000_000_001)),
            "{l}"
        );
        assert_eq!(store.get_model("zz").await.unwrap(), None, "{l}");
        // An update of an older row moves the version though the newest stays.
        store
            .put_models(&[row("a", 1_700_000_000_002)])
            .await
            .unwrap();
        let updated = store.models_version().await.unwrap();
        assert_ne!(updated, two, "{l}");
        assert_eq!(updated.newest, two.newest, "{l}");
        assert!(store.delete_model("a").await.unwrap(), "{l}");
        assert!(!store.delete_model("a").await.unwrap(), "{l}");
        let one = store.models_version().await.unwrap();
        assert_eq!(one.rows, 1, "{l}");
        let all = store.load_models().await.unwrap();
        assert_eq!(all, vec![row("b", 1_700_000_000_002)], "{l}");
        store.close().await;
        db.finish().await;
    }
}
