//! Spend the database could not take — at shutdown, or a backlog past
//! `tollgate_settings.spend_backlog_rows` while it is unreachable: saved to a local file
//! (`tollgate-spend-<ms>-<pid>.json`, next to `tollgate_settings.database_path`) and written
//! once it answers again, or at the next start before the spend counters are loaded.
//!
//! Replaying is safe for log rows (a request id already stored is ignored). The per-entity
//! deltas are added again only if a process dies between committing a replay and deleting its
//! file: spend can then be counted twice, never lost.

use std::path::{Path, PathBuf};

use store::{SpendDelta, SpendLog, Store};

use super::Control;
use crate::clock::now_ms_i64;

const PREFIX: &str = "tollgate-spend-";
const SUFFIX: &str = ".json";
/// A file a process has taken to replay; one left behind means that process died.
const CLAIMED: &str = ".claimed";

/// A spill file's content.
#[derive(serde::Deserialize)]
struct Saved {
    logs: Vec<SpendLog>,
    deltas: Vec<SpendDelta>,
}

/// [`Saved`], written from the queue without copying its rows.
#[derive(serde::Serialize)]
struct Saving<'a> {
    logs: Vec<&'a SpendLog>,
    deltas: Vec<SpendDelta>,
}

/// Where spill files go: the directory of the SQLite file (also when PostgreSQL is used).
pub fn dir(database_path: &str) -> PathBuf {
    match Path::new(database_path).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Control {
    /// Saves everything still queued to a new spill file in `dir` (written whole, synced, then
    /// renamed into place) and returns it with its log row count; `None` when nothing was
    /// queued. On failure everything stays queued.
    pub fn spill(&self, dir: &Path) -> std::io::Result<Option<(PathBuf, usize)>> {
        let batch = std::mem::take(&mut *self.queue.lock().expect("spend queue lock"));
        if batch.is_empty() {
            return Ok(None);
        }
        let saving = Saving {
            logs: batch.log_rows().collect(),
            deltas: batch.delta_rows(),
        };
        match write_new(dir, &saving) {
            Ok(path) => Ok(Some((path, batch.rows()))),
            Err(e) => {
                drop(saving);
                let mut q = self.queue.lock().expect("spend queue lock");
                let newer = std::mem::take(&mut *q);
                *q = batch;
                q.merge(newer);
                Err(e)
            }
        }
    }
}

fn write_new(dir: &Path, saving: &Saving) -> std::io::Result<PathBuf> {
    let name = format!("{PREFIX}{}-{}{SUFFIX}", now_ms_i64(), std::process::id());
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::create_dir_all(dir)?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    serde_json::to_writer(&mut f, saving).map_err(std::io::Error::other)?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// Writes every spill file in `dir` to the database, oldest first, deleting each once written.
/// A file that cannot be read or written stays (and is logged) for the next attempt. Whether
/// every file was written.
pub async fn replay(store: &Store, dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    let mut all = true;
    let mut files: Vec<PathBuf> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) {
            continue;
        }
        if name.ends_with(SUFFIX) {
            files.push(e.path());
        } else if name.ends_with(CLAIMED) {
            log::error!(
                "spend spill file {} is being written to the database by another process, or was left by one that did not finish: if no other tollgate uses this directory, rename it to end in {SUFFIX} to write it at the next start (its spend may then count twice)",
                e.path().display()
            );
        }
    }
    files.sort();
    for path in files {
        // Renaming claims the file: of two processes starting in one directory, one writes it.
        let claimed = PathBuf::from(format!("{}{CLAIMED}", path.display()));
        if std::fs::rename(&path, &claimed).is_err() {
            // Another process took it.
            continue;
        }
        match replay_one(store, &claimed).await {
            Ok(rows) => {
                let _ = std::fs::remove_file(&claimed);
                log::info!(
                    "saved spend written to the database: {rows} log rows from {}",
                    path.display()
                );
            }
            Err(e) => {
                all = false;
                let _ = std::fs::rename(&claimed, &path);
                log::error!(
                    "writing the spend saved in {} to the database failed ({e}); kept for the next attempt",
                    path.display()
                );
            }
        }
    }
    all
}

async fn replay_one(store: &Store, path: &Path) -> Result<usize, String> {
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let saved: Saved = serde_json::from_slice(&text).map_err(|e| format!("unreadable: {e}"))?;
    store
        .flush(&saved.logs, &saved.deltas)
        .await
        .map_err(|e| e.to_string())?;
    Ok(saved.logs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replay_writes_good_files_once_and_keeps_bad_ones() {
        let dir = std::env::temp_dir().join(format!("tollgate-spill-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("t.db").display().to_string())
            .await
            .unwrap();
        let log = SpendLog {
            request_id: "r1".into(),
            spend: 0.5,
            ..SpendLog::default()
        };
        let delta = SpendDelta {
            kind: "key".into(),
            id: "k".into(),
            amount: 0.5,
            period: 0,
        };
        let saving = Saving {
            logs: vec![&log],
            deltas: vec![delta],
        };
        let good = write_new(&dir, &saving).unwrap();
        let bad = dir.join(format!("{PREFIX}1-1{SUFFIX}"));
        std::fs::write(&bad, "{not json").unwrap();

        assert!(!replay(&store, &dir).await, "the bad file was not written");
        assert!(!good.exists(), "a written file is deleted");
        assert!(bad.exists(), "an unreadable file stays for the next start");
        let all = store::LogFilter::default();
        assert_eq!(store.count_spend_logs(&all).await.unwrap(), 1);
        let key = store.get_entity("key", "k").await.unwrap().unwrap();
        assert_eq!(key.spend, 0.5);
        // Nothing left to write twice.
        replay(&store, &dir).await;
        assert_eq!(store.count_spend_logs(&all).await.unwrap(), 1);
        let key = store.get_entity("key", "k").await.unwrap().unwrap();
        assert_eq!(key.spend, 0.5);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn spill_files_go_next_to_the_sqlite_file() {
        assert_eq!(dir("tollgate.db"), PathBuf::from("."));
        assert_eq!(
            dir("/var/lib/tollgate/t.db"),
            PathBuf::from("/var/lib/tollgate")
        );
        assert_eq!(dir("data/t.db"), PathBuf::from("data"));
    }
}
