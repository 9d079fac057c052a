//! Migration 4's DDL: the tables a LiteLLM import fills (DB-stored models, LiteLLM's daily spend
//! history, the `imported_from` mark on spend logs) and the read-only views named and shaped
//! like LiteLLM's tables, so SQL written for LiteLLM (Grafana, Metabase, cron reports) runs
//! unchanged against Tollgate's database.
//!
//! Statements starting with `-- postgres` or `-- sqlite` run on that backend only (see
//! `schema::apply`).
//!
//! **Where the views live (PostgreSQL).** Always in the schema `tollgate_litellm`; and also in
//! the connection's current schema (normally `public`), but only under each name no table or
//! view there has yet. When Tollgate shares one database with the LiteLLM proxy it replaces,
//! LiteLLM's own tables keep their names and Tollgate's views are reached with
//! `SET search_path = tollgate_litellm, public` (or `ALTER ROLE … SET search_path`), with the
//! queries unchanged. SQLite has one namespace and no LiteLLM tables: views are created
//! there unless the name is taken.
//!
//! The views compute LiteLLM's column types from Tollgate's storage (Unix ms → `timestamp`,
//! JSON text → `jsonb`, JSON lists → `text[]`); PostgreSQL evaluates only the columns a query
//! reads. Daily views add Tollgate's own spend log rows (grouped by UTC day) to the daily rows
//! imported from LiteLLM; imported spend log rows (`imported_from` set) are left out there,
//! because LiteLLM's daily rows already count them.

/// The new tables and the spend log mark (both backends).
pub(crate) const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tollgate_models (
        model_id TEXT NOT NULL PRIMARY KEY,
        model_name TEXT NOT NULL,
        litellm_params TEXT NOT NULL,
        model_info TEXT NOT NULL,
        blocked INTEGER NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        created_by TEXT,
        updated_by TEXT
    )",
    "CREATE TABLE IF NOT EXISTS tollgate_litellm_daily_spend (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        entity_id TEXT,
        date TEXT NOT NULL,
        api_key TEXT NOT NULL,
        model TEXT,
        model_group TEXT,
        custom_llm_provider TEXT,
        mcp_namespaced_tool_name TEXT,
        endpoint TEXT,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        cache_read_input_tokens BIGINT NOT NULL,
        cache_creation_input_tokens BIGINT NOT NULL,
        spend DOUBLE PRECISION NOT NULL,
        api_requests BIGINT NOT NULL,
        successful_requests BIGINT NOT NULL,
        failed_requests BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (kind, id)
    )",
    "CREATE INDEX IF NOT EXISTS tollgate_litellm_daily_spend_date ON tollgate_litellm_daily_spend (kind, date)",
    "ALTER TABLE tollgate_spend_logs ADD COLUMN imported_from TEXT",
];

/// `"LiteLLM_SpendLogs"` on PostgreSQL.
macro_rules! pg_spend_logs {
    () => {
        r#"SELECT COALESCE(response_id, request_id) AS request_id, call_type,
    api_key, spend, total_tokens, prompt_tokens, completion_tokens,
    TIMESTAMP 'epoch' + start_time * INTERVAL '1 millisecond' AS "startTime",
    TIMESTAMP 'epoch' + end_time * INTERVAL '1 millisecond' AS "endTime",
    CAST(NULL AS timestamp) AS "completionStartTime",
    model, model_id, model_group, custom_llm_provider, api_base, user_id AS "user",
    CAST(metadata AS jsonb) AS metadata,
    CASE WHEN cache_hit <> 0 THEN 'True' ELSE 'False' END AS cache_hit,
    COALESCE(CAST(metadata AS jsonb) ->> 'cache_key', '') AS cache_key,
    CAST(request_tags AS jsonb) AS request_tags, team_id, end_user,
    CAST(metadata AS jsonb) ->> 'requester_ip_address' AS requester_ip_address,
    CAST(metadata AS jsonb) ->> 'session_id' AS session_id,
    status, organization_id, request_id AS litellm_call_id, key_alias,
    TIMESTAMP 'epoch' + start_time * INTERVAL '1 millisecond' AS created_at,
    TIMESTAMP 'epoch' + end_time * INTERVAL '1 millisecond' AS updated_at
FROM tollgate_spend_logs"#
    };
}

/// Number, text, list and timestamp fields of an entity document `d` (jsonb), as LiteLLM types.
macro_rules! pg_num {
    ($f:literal) => {
        concat!(
            "CASE WHEN jsonb_typeof(d -> '",
            $f,
            "') = 'number' THEN CAST(d ->> '",
            $f,
            "' AS double precision) END"
        )
    };
}
macro_rules! pg_int {
    ($f:literal, $ty:literal) => {
        concat!(
            "CASE WHEN jsonb_typeof(d -> '",
            $f,
            "') = 'number' THEN CAST(CAST(d ->> '",
            $f,
            "' AS double precision) AS ",
            $ty,
            ") END AS ",
            $f
        )
    };
}
macro_rules! pg_list {
    ($f:literal) => {
        concat!(
            "ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(d -> '",
            $f,
            "') = 'array' THEN d -> '",
            $f,
            "' ELSE CAST('[]' AS jsonb) END)) AS ",
            $f
        )
    };
}
macro_rules! pg_time {
    ($f:literal) => {
        concat!(
            "CASE WHEN jsonb_typeof(d -> '",
            $f,
            "') = 'string' AND d ->> '",
            $f,
            "' <> '' THEN CAST(CAST(d ->> '",
            $f,
            "' AS timestamptz) AT TIME ZONE 'UTC' AS timestamp) END AS ",
            $f
        )
    };
}
macro_rules! pg_obj {
    ($f:literal) => {
        concat!("COALESCE(d -> '", $f, "', CAST('{}' AS jsonb)) AS ", $f)
    };
}

/// One kind's live entities with the document parsed once.
macro_rules! pg_entities {
    ($kind:literal) => {
        concat!(
            " FROM (SELECT id, CAST(doc AS jsonb) AS d, spend FROM tollgate_entities WHERE kind = '",
            $kind,
            "' AND deleted = 0) e"
        )
    };
}

macro_rules! pg_keys {
    () => {
        concat!(
            "SELECT e.id AS token, d ->> 'key_name' AS key_name, d ->> 'key_alias' AS key_alias, ",
            "false AS soft_budget_cooldown, e.spend AS spend, ",
            pg_time!("expires"),
            ", ",
            pg_list!("models"),
            ", ",
            pg_obj!("aliases"),
            ", ",
            pg_obj!("config"),
            ", ",
            "d ->> 'user_id' AS user_id, d ->> 'team_id' AS team_id, ",
            pg_obj!("permissions"),
            ", ",
            pg_int!("max_parallel_requests", "integer"),
            ", ",
            pg_obj!("metadata"),
            ", ",
            "COALESCE(CAST(d ->> 'blocked' AS boolean), false) AS blocked, ",
            pg_int!("tpm_limit", "bigint"),
            ", ",
            pg_int!("rpm_limit", "bigint"),
            ", ",
            pg_num!("max_budget"),
            " AS max_budget, ",
            "d ->> 'budget_duration' AS budget_duration, ",
            "CAST(NULL AS timestamp) AS budget_reset_at, ",
            pg_list!("allowed_cache_controls"),
            ", ",
            "CAST('{}' AS jsonb) AS model_spend, ",
            pg_obj!("model_max_budget"),
            ", ",
            "d ->> 'budget_id' AS budget_id, d ->> 'organization_id' AS organization_id, ",
            pg_time!("created_at"),
            ", d ->> 'created_by' AS created_by, ",
            pg_time!("updated_at"),
            ", d ->> 'updated_by' AS updated_by, ",
            pg_list!("allowed_routes"),
            pg_entities!("key")
        )
    };
}

macro_rules! pg_teams {
    () => {
        concat!(
            "SELECT e.id AS team_id, d ->> 'team_alias' AS team_alias, ",
            "d ->> 'organization_id' AS organization_id, ",
            pg_list!("admins"),
            ", ",
            pg_list!("members"),
            ", ",
            "COALESCE(d -> 'members_with_roles', CAST('[]' AS jsonb)) AS members_with_roles, ",
            pg_obj!("metadata"),
            ", ",
            pg_num!("max_budget"),
            " AS max_budget, ",
            pg_num!("soft_budget"),
            " AS soft_budget, ",
            "e.spend AS spend, ",
            pg_list!("models"),
            ", ",
            pg_int!("max_parallel_requests", "integer"),
            ", ",
            pg_int!("tpm_limit", "bigint"),
            ", ",
            pg_int!("rpm_limit", "bigint"),
            ", ",
            "d ->> 'budget_duration' AS budget_duration, ",
            "CAST(NULL AS timestamp) AS budget_reset_at, ",
            "COALESCE(CAST(d ->> 'blocked' AS boolean), false) AS blocked, ",
            pg_time!("created_at"),
            ", ",
            pg_time!("updated_at"),
            ", ",
            "CAST('{}' AS jsonb) AS model_spend, ",
            pg_obj!("model_max_budget"),
            ", ",
            "CAST(NULL AS integer) AS model_id",
            pg_entities!("team")
        )
    };
}

macro_rules! pg_users {
    () => {
        concat!(
    "SELECT e.id AS user_id, d ->> 'user_alias' AS user_alias, d ->> 'team_id' AS team_id, ",
    "d ->> 'organization_id' AS organization_id, ",
    pg_list!("teams"), ", ",
    "d ->> 'user_role' AS user_role, ",
    pg_num!("max_budget"), " AS max_budget, ",
    "e.spend AS spend, d ->> 'user_email' AS user_email, ",
    pg_list!("models"), ", ",
    pg_obj!("metadata"), ", ",
    pg_int!("max_parallel_requests", "integer"), ", ",
    pg_int!("tpm_limit", "bigint"), ", ",
    pg_int!("rpm_limit", "bigint"), ", ",
    "d ->> 'budget_duration' AS budget_duration, ",
    "CAST(NULL AS timestamp) AS budget_reset_at, ",
    pg_list!("allowed_cache_controls"), ", ",
    "CAST('{}' AS jsonb) AS model_spend, ",
    pg_obj!("model_max_budget"), ", ",
    pg_time!("created_at"), ", ",
    pg_time!("updated_at"),
    pg_entities!("user")
)
    };
}

/// A daily view: imported LiteLLM rows of `kind`, plus Tollgate's own log rows by UTC day.
macro_rules! pg_daily {
    ($kind:literal, $col:literal) => {
        concat!(
            "SELECT id, entity_id AS ",
            $col,
            ", date, api_key, model, model_group, ",
            "custom_llm_provider, mcp_namespaced_tool_name, endpoint, prompt_tokens, ",
            "completion_tokens, cache_read_input_tokens, cache_creation_input_tokens, spend, ",
            "api_requests, successful_requests, failed_requests, ",
            "TIMESTAMP 'epoch' + created_at * INTERVAL '1 millisecond' AS created_at, ",
            "TIMESTAMP 'epoch' + updated_at * INTERVAL '1 millisecond' AS updated_at ",
            "FROM tollgate_litellm_daily_spend WHERE kind = '",
            $kind,
            "' ",
            "UNION ALL ",
            "SELECT CONCAT_WS(':', ",
            $col,
            ", day, api_key, model, custom_llm_provider) AS id, ",
            $col,
            ", day AS date, api_key, model, model_group, custom_llm_provider, ",
            "CAST(NULL AS text) AS mcp_namespaced_tool_name, CAST(NULL AS text) AS endpoint, ",
            "CAST(SUM(prompt_tokens) AS bigint), CAST(SUM(completion_tokens) AS bigint), ",
            "CAST(SUM(cached_tokens) AS bigint), CAST(0 AS bigint), SUM(spend), COUNT(*), ",
            "CAST(SUM(CASE WHEN status = 'failure' THEN 0 ELSE 1 END) AS bigint), ",
            "CAST(SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END) AS bigint), ",
            "TIMESTAMP 'epoch' + MIN(start_time) * INTERVAL '1 millisecond', ",
            "TIMESTAMP 'epoch' + MAX(end_time) * INTERVAL '1 millisecond' ",
            "FROM (SELECT *, to_char(TIMESTAMP 'epoch' + start_time * INTERVAL '1 millisecond', ",
            "'YYYY-MM-DD') AS day FROM tollgate_spend_logs WHERE imported_from IS NULL) l ",
            "GROUP BY ",
            $col,
            ", day, api_key, model, model_group, custom_llm_provider"
        )
    };
}

/// `CREATE VIEW` for one view on PostgreSQL: in `tollgate_litellm` (unless the role may not
/// create that schema: a start never fails on it), and in the current schema when the name is
/// free there. (A DO block: the condition is the database's state.)
macro_rules! pg_view {
    ($name:literal, $body:expr) => {
        concat!(
            "-- postgres\nDO $tollgate$\nDECLARE body text := $body$",
            $body,
            "$body$;\nBEGIN\n",
            "  BEGIN\n",
            "    EXECUTE 'CREATE SCHEMA IF NOT EXISTS tollgate_litellm';\n",
            "    EXECUTE 'CREATE OR REPLACE VIEW tollgate_litellm.\"",
            $name,
            "\" AS ' || body;\n",
            "  EXCEPTION WHEN insufficient_privilege THEN\n",
            "    RAISE NOTICE 'no privilege to create schema tollgate_litellm: view %s only where its name is free', '",
            $name,
            "';\n",
            "  END;\n",
            "  IF current_schema() IS NOT NULL AND current_schema() <> 'tollgate_litellm' AND ",
            "to_regclass(quote_ident(current_schema()) || '.\"",
            $name,
            "\"') IS NULL THEN\n",
            "    EXECUTE 'CREATE VIEW \"",
            $name,
            "\" AS ' || body;\n",
            "  END IF;\n",
            "END $tollgate$"
        )
    };
}

/// SQLite: `"startTime"`-style columns as `YYYY-MM-DD HH:MM:SS.SSS` UTC text.
macro_rules! lite_time {
    ($col:literal) => {
        concat!(
            "strftime('%Y-%m-%d %H:%M:%f', ",
            $col,
            " / 1000.0, 'unixepoch')"
        )
    };
}

const LITE_SPEND_LOGS: &str =
    concat!(
    "-- sqlite\nCREATE VIEW IF NOT EXISTS \"LiteLLM_SpendLogs\" AS SELECT ",
    "COALESCE(response_id, request_id) AS request_id, call_type, api_key, spend, total_tokens, ",
    "prompt_tokens, completion_tokens, ",
    lite_time!("start_time"), " AS \"startTime\", ",
    lite_time!("end_time"), " AS \"endTime\", NULL AS \"completionStartTime\", ",
    "model, model_id, model_group, custom_llm_provider, api_base, user_id AS \"user\", metadata, ",
    "CASE WHEN cache_hit <> 0 THEN 'True' ELSE 'False' END AS cache_hit, ",
    "COALESCE(json_extract(metadata, '$.cache_key'), '') AS cache_key, request_tags, team_id, ",
    "end_user, json_extract(metadata, '$.requester_ip_address') AS requester_ip_address, ",
    "json_extract(metadata, '$.session_id') AS session_id, status, organization_id, ",
    "request_id AS litellm_call_id, key_alias, ",
    lite_time!("start_time"), " AS created_at, ",
    lite_time!("end_time"), " AS updated_at FROM tollgate_spend_logs"
);

macro_rules! lite_field {
    ($f:literal) => {
        concat!("json_extract(doc, '$.", $f, "') AS ", $f)
    };
}

const LITE_KEYS: &str =
    concat!(
    "-- sqlite\nCREATE VIEW IF NOT EXISTS \"LiteLLM_VerificationToken\" AS SELECT id AS token, ",
    lite_field!("key_name"), ", ", lite_field!("key_alias"), ", spend, ",
    lite_field!("expires"), ", json_extract(doc, '$.models') AS models, ",
    lite_field!("aliases"), ", ", lite_field!("config"), ", ", lite_field!("user_id"), ", ",
    lite_field!("team_id"), ", ", lite_field!("permissions"), ", ",
    lite_field!("max_parallel_requests"), ", ", lite_field!("metadata"), ", ",
    "COALESCE(json_extract(doc, '$.blocked'), 0) AS blocked, ",
    lite_field!("tpm_limit"), ", ", lite_field!("rpm_limit"), ", ", lite_field!("max_budget"),
    ", ", lite_field!("budget_duration"), ", NULL AS budget_reset_at, ",
    lite_field!("allowed_cache_controls"), ", '{}' AS model_spend, ",
    lite_field!("model_max_budget"), ", ", lite_field!("budget_id"), ", ",
    lite_field!("organization_id"), ", ", lite_field!("created_at"), ", ",
    lite_field!("created_by"), ", ", lite_field!("updated_at"), ", ", lite_field!("updated_by"),
    " FROM tollgate_entities WHERE kind = 'key' AND deleted = 0"
);

const LITE_TEAMS: &str = concat!(
    "-- sqlite\nCREATE VIEW IF NOT EXISTS \"LiteLLM_TeamTable\" AS SELECT id AS team_id, ",
    lite_field!("team_alias"),
    ", ",
    lite_field!("organization_id"),
    ", ",
    lite_field!("admins"),
    ", ",
    lite_field!("members"),
    ", ",
    lite_field!("members_with_roles"),
    ", ",
    lite_field!("metadata"),
    ", ",
    lite_field!("max_budget"),
    ", ",
    lite_field!("soft_budget"),
    ", spend, ",
    lite_field!("models"),
    ", ",
    lite_field!("max_parallel_requests"),
    ", ",
    lite_field!("tpm_limit"),
    ", ",
    lite_field!("rpm_limit"),
    ", ",
    lite_field!("budget_duration"),
    ", NULL AS budget_reset_at, COALESCE(json_extract(doc, '$.blocked'), 0) AS blocked, ",
    lite_field!("created_at"),
    ", ",
    lite_field!("updated_at"),
    ", '{}' AS model_spend, ",
    lite_field!("model_max_budget"),
    ", NULL AS model_id",
    " FROM tollgate_entities WHERE kind = 'team' AND deleted = 0"
);

const LITE_USERS: &str = concat!(
    "-- sqlite\nCREATE VIEW IF NOT EXISTS \"LiteLLM_UserTable\" AS SELECT id AS user_id, ",
    lite_field!("user_alias"),
    ", ",
    lite_field!("team_id"),
    ", ",
    lite_field!("organization_id"),
    ", ",
    lite_field!("teams"),
    ", ",
    lite_field!("user_role"),
    ", ",
    lite_field!("max_budget"),
    ", spend, ",
    lite_field!("user_email"),
    ", ",
    lite_field!("models"),
    ", ",
    lite_field!("metadata"),
    ", ",
    lite_field!("max_parallel_requests"),
    ", ",
    lite_field!("tpm_limit"),
    ", ",
    lite_field!("rpm_limit"),
    ", ",
    lite_field!("budget_duration"),
    ", NULL AS budget_reset_at, ",
    lite_field!("allowed_cache_controls"),
    ", '{}' AS model_spend, ",
    lite_field!("model_max_budget"),
    ", ",
    lite_field!("created_at"),
    ", ",
    lite_field!("updated_at"),
    " FROM tollgate_entities WHERE kind = 'user' AND deleted = 0"
);

macro_rules! lite_daily {
    ($name:literal, $kind:literal, $col:literal) => {
        concat!(
            "-- sqlite\nCREATE VIEW IF NOT EXISTS \"",
            $name,
            "\" AS ",
            "SELECT id, entity_id AS ",
            $col,
            ", date, api_key, model, model_group, ",
            "custom_llm_provider, mcp_namespaced_tool_name, endpoint, prompt_tokens, ",
            "completion_tokens, cache_read_input_tokens, cache_creation_input_tokens, spend, ",
            "api_requests, successful_requests, failed_requests, ",
            lite_time!("created_at"),
            " AS created_at, ",
            lite_time!("updated_at"),
            " AS updated_at ",
            "FROM tollgate_litellm_daily_spend WHERE kind = '",
            $kind,
            "' ",
            "UNION ALL ",
            "SELECT COALESCE(",
            $col,
            ", '') || ':' || day || ':' || api_key || ':' || model || ':' || ",
            "custom_llm_provider, ",
            $col,
            ", day, api_key, model, model_group, ",
            "custom_llm_provider, NULL, NULL, SUM(prompt_tokens), SUM(completion_tokens), ",
            "SUM(cached_tokens), 0, SUM(spend), COUNT(*), ",
            "SUM(CASE WHEN status = 'failure' THEN 0 ELSE 1 END), ",
            "SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END), ",
            lite_time!("MIN(start_time)"),
            ", ",
            lite_time!("MAX(end_time)"),
            " ",
            "FROM (SELECT *, strftime('%Y-%m-%d', start_time / 1000, 'unixepoch') AS day ",
            "FROM tollgate_spend_logs WHERE imported_from IS NULL) ",
            "GROUP BY ",
            $col,
            ", day, api_key, model, model_group, custom_llm_provider"
        )
    };
}

/// The views, per backend (each statement marked with its backend).
pub(crate) const VIEWS: &[&str] = &[
    pg_view!("LiteLLM_SpendLogs", pg_spend_logs!()),
    pg_view!("LiteLLM_VerificationToken", pg_keys!()),
    pg_view!("LiteLLM_TeamTable", pg_teams!()),
    pg_view!("LiteLLM_UserTable", pg_users!()),
    pg_view!("LiteLLM_DailyUserSpend", pg_daily!("user", "user_id")),
    pg_view!("LiteLLM_DailyTeamSpend", pg_daily!("team", "team_id")),
    LITE_SPEND_LOGS,
    LITE_KEYS,
    LITE_TEAMS,
    LITE_USERS,
    lite_daily!("LiteLLM_DailyUserSpend", "user", "user_id"),
    lite_daily!("LiteLLM_DailyTeamSpend", "team", "team_id"),
];

/// The names of the views, as LiteLLM names its tables.
pub const VIEW_NAMES: [&str; 6] = [
    "LiteLLM_SpendLogs",
    "LiteLLM_VerificationToken",
    "LiteLLM_TeamTable",
    "LiteLLM_UserTable",
    "LiteLLM_DailyUserSpend",
    "LiteLLM_DailyTeamSpend",
];
