//! Migration 6: the spend-log indexes the admin UI's log pages read by (`/tollgate/logs`), so
//! every filter answers a newest-first page from one index range without sorting.
//!
//! Each filter column gets `(column, start_time, request_id)`: the page's order
//! (`start_time DESC, request_id DESC`) is the index order read backwards, so a page reads
//! about `limit` rows whatever the table size. They replace migration 1 and 5's
//! `(column, start_time)` indexes, which left the `request_id` tie-break to a sort of every
//! matching row. Failures (about 5% of rows, the page's most used filter) get partial indexes;
//! the query inlines `status = 'failure'` as a literal so both planners can match them.

/// The statements of migration 6.
pub(crate) const STATEMENTS: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_time_id ON tollgate_spend_logs (start_time, request_id)",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_key_time_id ON tollgate_spend_logs (api_key, start_time, request_id)",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_team_time_id ON tollgate_spend_logs (team_id, start_time, request_id)",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_user_time_id ON tollgate_spend_logs (user_id, start_time, request_id)",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_model_time_id ON tollgate_spend_logs (model, start_time, request_id)",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_group_time_id ON tollgate_spend_logs (model_group, start_time, request_id)",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_failed_time_id ON tollgate_spend_logs (start_time, request_id) WHERE status = 'failure'",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_failed_key_time_id ON tollgate_spend_logs (api_key, start_time, request_id) WHERE status = 'failure'",
    // Superseded: each is a prefix of one above (or, for status, of a plain time scan).
    "DROP INDEX IF EXISTS tollgate_spend_logs_start_time",
    "DROP INDEX IF EXISTS tollgate_spend_logs_api_key",
    "DROP INDEX IF EXISTS tollgate_spend_logs_team_id",
    "DROP INDEX IF EXISTS tollgate_spend_logs_user_id",
    "DROP INDEX IF EXISTS tollgate_spend_logs_model",
    "DROP INDEX IF EXISTS tollgate_spend_logs_model_group",
    "DROP INDEX IF EXISTS tollgate_spend_logs_status",
];
