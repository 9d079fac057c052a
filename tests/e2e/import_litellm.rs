//! E2E: `tollgate import-litellm` against a real LiteLLM database — built on the machine's
//! PostgreSQL with LiteLLM's own migrations (PyPI `litellm-proxy-extras`, installed by
//! scripts/litellm.sh), filled with keys whose raw `sk-…` the test knows — then Tollgate on the
//! imported store in front of the mock provider: old keys work, imported spend counts against
//! budgets, blocked and expired keys stay refused, stored models decrypt, and LiteLLM's SQL
//! runs unchanged through `psql` against Tollgate's database. Needs `DATABASE_URL` (CI sets it;
//! the tests fail when PostgreSQL is unreachable) and `psql`.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use bench::mock::{MockConfig, MockServer};
use crypto_secretbox::aead::{Aead, KeyInit};
use serde_json::{json, Value};
use sha2::Digest;

use crate::budgets::key_spend;
use crate::support::{client, is_budget_refusal, scratch_dir, tollgate_bin, Gateway, MASTER_KEY};

const SALT: &str = "sk-salt-e2e";
const PROVIDER_KEY: &str = "sk-provider-secret";

fn sha(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A value as LiteLLM's `encrypt_value_helper` stores it: base64(nonce ‖ SecretBox) under
/// SHA-256 of the salt key.
fn litellm_encrypt(plain: &str) -> String {
    let key: [u8; 32] = sha2::Sha256::digest(SALT.as_bytes()).into();
    let nonce: [u8; 24] = rand::random();
    let sealed = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
        .encrypt(&nonce.into(), plain.as_bytes())
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode([nonce.as_slice(), &sealed].concat())
}

fn base_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The folder of LiteLLM's migrations: `TOLLGATE_LITELLM_MIGRATIONS`, else what
/// scripts/litellm.sh installs (it is run here when the variable is unset).
fn migrations_dir() -> PathBuf {
    if let Ok(d) = std::env::var("TOLLGATE_LITELLM_MIGRATIONS") {
        return PathBuf::from(d);
    }
    let root = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("..");
    let out = Command::new("bash")
        .arg("-c")
        .arg("source scripts/litellm.sh && printf %s \"$TOLLGATE_LITELLM_MIGRATIONS\"")
        .current_dir(&root)
        .output()
        .expect("run scripts/litellm.sh");
    assert!(
        out.status.success(),
        "scripts/litellm.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap())
}

/// Runs SQL through `psql` against `url` and returns its unaligned output.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-A",
            "-t",
            "-F",
            "|",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("psql must be installed");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh database with every LiteLLM migration applied, in order, in one psql session.
async fn litellm_database() -> (String, store::testing::ScratchDb) {
    let (url, db) = store::testing::scratch_postgres(&base_url())
        .await
        .expect("DATABASE_URL must point at a reachable PostgreSQL");
    let dir = migrations_dir();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("migration.sql").is_file())
        .collect();
    folders.sort();
    assert!(
        folders.len() > 100,
        "LiteLLM migrations in {}",
        dir.display()
    );
    let mut all = String::new();
    for f in &folders {
        all.push_str(&std::fs::read_to_string(f.join("migration.sql")).unwrap());
        all.push_str("\n;\n");
    }
    let file = scratch_dir().join("litellm-schema.sql");
    std::fs::write(&file, all).unwrap();
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &url, "-f"])
        .arg(&file)
        .output()
        .expect("psql must be installed");
    assert!(
        out.status.success(),
        "LiteLLM migrations: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (url, db)
}

const OK: &str = "sk-import-ok-1";
const NEAR: &str = "sk-import-near-2";
const OVER: &str = "sk-import-over-3";
const BLOCKED: &str = "sk-import-blocked-4";
const EXPIRED: &str = "sk-import-expired-5";

/// LiteLLM rows: budgets, an organization with a member, a team, a user and its membership,
/// an end user, five keys (one over budget, one blocked, one expired), a key row that cannot
/// be mapped, a stored model whose credentials are encrypted, spend logs and daily rows.
fn fill(url: &str, mock_url: &str) {
    let enc = |s: &str| litellm_encrypt(s);
    let params = json!({
        "model": enc("openai/db-upstream"),
        "api_base": enc(mock_url),
        "api_key": enc(PROVIDER_KEY),
    });
    let sql = format!(
        r#"
INSERT INTO "LiteLLM_BudgetTable" (budget_id, max_budget, budget_duration, budget_reset_at, created_by, updated_by)
  VALUES ('b-member', 5, '30d', now() + interval '5 days', 'admin', 'admin'),
         ('b-org', 100, NULL, NULL, 'admin', 'admin');
INSERT INTO "LiteLLM_OrganizationTable" (organization_id, organization_alias, budget_id, spend, created_by, updated_by)
  VALUES ('org-1', 'Org One', 'b-org', 3.0, 'admin', 'admin');
INSERT INTO "LiteLLM_UserTable" (user_id, user_email, user_role, max_budget, spend, teams, password)
  VALUES ('user-a', 'a@example.com', 'internal_user', 20, 1.5, ARRAY['team-a'], 'hashed-ui-password');
INSERT INTO "LiteLLM_OrganizationMembership" (user_id, organization_id, user_role)
  VALUES ('user-a', 'org-1', 'org_admin');
INSERT INTO "LiteLLM_TeamTable" (team_id, team_alias, organization_id, max_budget, spend, models, members_with_roles, tpd_limit)
  VALUES ('team-a', 'Team A', 'org-1', 50, 2.5, ARRAY[]::text[], '[{{"role": "admin", "user_id": "user-a"}}]', 1000);
INSERT INTO "LiteLLM_TeamMembership" (user_id, team_id, spend, budget_id) VALUES ('user-a', 'team-a', 0.5, 'b-member');
INSERT INTO "LiteLLM_EndUserTable" (user_id, alias, spend, budget_id) VALUES ('cust-1', 'Customer', 0.2, 'b-member');
INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, spend, max_budget, budget_duration, budget_reset_at, team_id, user_id, models, metadata, blocked, expires)
  VALUES ('{ok}', 'sk-...ok-1', 'app-ok', 1.0, 10, '30d', now() + interval '20 days', 'team-a', 'user-a', ARRAY[]::text[], '{{"tags": ["prod"]}}', NULL, now() + interval '30 days'),
         ('{near}', 'sk-...ar-2', 'app-near', 0.985, 1.0, NULL, NULL, 'team-a', NULL, ARRAY[]::text[], '{{}}', false, NULL),
         ('{over}', 'sk-...er-3', 'app-over', 1.5, 1.0, NULL, NULL, NULL, NULL, ARRAY[]::text[], '{{}}', false, NULL),
         ('{blocked}', 'sk-...ed-4', 'app-blocked', 0, NULL, NULL, NULL, NULL, NULL, ARRAY[]::text[], '{{}}', true, NULL),
         ('{expired}', 'sk-...ed-5', 'app-expired', 0, NULL, NULL, NULL, NULL, NULL, ARRAY[]::text[], '{{}}', false, now() - interval '1 day'),
         ('garbage-token', NULL, 'broken', 0, NULL, NULL, NULL, NULL, NULL, NULL, '{{}}', false, NULL);
INSERT INTO "LiteLLM_DeprecatedVerificationToken" (id, token, active_token_id, revoke_at)
  VALUES ('dep-1', '{rotated}', '{ok}', now() + interval '1 day');
INSERT INTO "LiteLLM_CredentialsTable" (credential_id, credential_name, credential_values, created_by, updated_by)
  VALUES ('cred-1', 'shared-openai', '{{}}', 'admin', 'admin');
INSERT INTO "LiteLLM_ProxyModelTable" (model_id, model_name, litellm_params, model_info, created_by, updated_by)
  VALUES ('db-model-1', 'db-gpt', '{params}', '{{"id": "db-model-1"}}', 'admin', 'admin');
INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, api_key, spend, total_tokens, prompt_tokens, completion_tokens, "startTime", "endTime", model, model_group, "user", team_id, metadata, request_tags)
  VALUES ('chatcmpl-1', 'acompletion', '{ok}', 0.25, 30, 20, 10, now() - interval '1 day', now() - interval '1 day', 'gpt-4o', 'gpt-4o', 'user-a', 'team-a', '{{"user_api_key_alias": "app-ok"}}', '["prod"]'),
         ('chatcmpl-2', 'acompletion', '{ok}', 0.75, 70, 50, 20, now() - interval '2 days', now() - interval '2 days', 'gpt-4o', 'gpt-4o', 'user-a', 'team-a', '{{}}', '[]'),
         ('chatcmpl-3', 'acompletion', '{near}', 0.5, 15, 10, 5, now() - interval '5 days', now() - interval '5 days', 'gpt-4o', 'gpt-4o', NULL, 'team-a', '{{}}', '[]'),
         ('chatcmpl-old', 'acompletion', '{ok}', 9.0, 900, 600, 300, now() - interval '40 days', now() - interval '40 days', 'gpt-4o', 'gpt-4o', 'user-a', 'team-a', '{{}}', '[]');
INSERT INTO "LiteLLM_DailyUserSpend" (id, user_id, date, api_key, model, custom_llm_provider, prompt_tokens, completion_tokens, spend, api_requests, successful_requests, updated_at)
  VALUES ('d-user-1', 'user-a', '2026-10-01', '{ok}', 'gpt-4o', 'openai', 100, 50, 1.25, 3, 3, now());
INSERT INTO "LiteLLM_DailyTeamSpend" (id, team_id, date, api_key, model, custom_llm_provider, prompt_tokens, completion_tokens, spend, api_requests, successful_requests, updated_at)
  VALUES ('d-team-1', 'team-a', '2026-10-01', '{ok}', 'gpt-4o', 'openai', 100, 50, 1.25, 3, 3, now());
"#,
        ok = sha(OK),
        near = sha(NEAR),
        over = sha(OVER),
        blocked = sha(BLOCKED),
        expired = sha(EXPIRED),
        rotated = sha("sk-import-rotated-old"),
        params = params,
    );
    psql(url, &sql);
}

/// Tollgate's config: the mock as `priced`, stored models on, the store at `store`
/// (`database_url: …` or `tollgate_settings.database_path: …`).
fn config(mock_url: &str, store: &str) -> String {
    format!(
        "model_list:
  - model_name: priced
    litellm_params:
      model: openai/priced
      api_base: {mock_url}
      api_key: sk-config-key
      input_cost_per_token: 0.0001
      output_cost_per_token: 0.0002
general_settings:
  master_key: {MASTER_KEY}
  store_model_in_db: true
  proxy_batch_write_at: 1
{store}
"
    )
}

/// Runs `tollgate import-litellm` with `args` and the salt key in the environment.
fn import(args: &[&str]) -> String {
    let out = Command::new(tollgate_bin())
        .arg("import-litellm")
        .args(args)
        .env("LITELLM_SALT_KEY", SALT)
        .env_remove("DATABASE_URL")
        .env_remove("LITELLM_MASTER_KEY")
        .output()
        .expect("run tollgate import-litellm");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "import failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn chat(gw: &Gateway, key: &str, model: &str) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap()
}

/// The seed query of the issue: the week's top spenders by key and team, written for LiteLLM.
const SEED: &str = r#"SELECT api_key, team_id, SUM(spend) AS total_spend,
       SUM(prompt_tokens + completion_tokens) AS total_tokens
FROM "LiteLLM_SpendLogs"
WHERE "startTime" >= NOW() - INTERVAL '7 days'
GROUP BY api_key, team_id
ORDER BY total_spend DESC"#;

/// The old keys, budgets, blocked and expired keys, and the stored model, through a gateway.
async fn check_gateway(gw: &Gateway, mock: &MockServer) {
    let r = chat(gw, OK, "priced").await;
    assert_eq!(
        r.status(),
        200,
        "an imported key works: {}",
        r.text().await.unwrap()
    );
    assert!(
        (key_spend(gw, OK).await - 1.0).abs() < 0.01,
        "imported spend is the key's spend"
    );

    let r = chat(gw, OVER, "priced").await;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert!(
        status >= 400 && is_budget_refusal(&v),
        "over budget at import: {status} {v}"
    );

    let mut refused = false;
    for i in 0..20 {
        let r = chat(gw, NEAR, "priced").await;
        if r.status() == 200 {
            continue;
        }
        let v: Value = r.json().await.unwrap();
        assert!(is_budget_refusal(&v), "request {i}: {v}");
        assert!(i > 0, "the near key had money left for one request");
        refused = true;
        break;
    }
    assert!(
        refused,
        "the near key is refused once its imported spend reaches the budget"
    );
    assert!(
        key_spend(gw, NEAR).await <= 1.0 + 1e-9,
        "never past the budget"
    );

    for (key, what) in [
        (BLOCKED, "blocked"),
        (EXPIRED, "expired"),
        ("sk-never-issued", "unknown"),
    ] {
        let r = chat(gw, key, "priced").await;
        let s = r.status().as_u16();
        assert!(
            s == 401 || s == 403,
            "{what} key: {s} {}",
            r.text().await.unwrap()
        );
    }

    let before = mock.request_count();
    let r = chat(gw, OK, "db-gpt").await;
    assert_eq!(
        r.status(),
        200,
        "the stored model: {}",
        r.text().await.unwrap()
    );
    let req = &mock.requests()[before];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_litellm_database_imports_into_postgres_and_keeps_every_key_working() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let (litellm, _l) = litellm_database().await;
    fill(&litellm, &mock.url());
    let (tollgate, _t) = store::testing::scratch_postgres(&base_url()).await.unwrap();
    let dir = scratch_dir();
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        config(&mock.url(), &format!("  database_url: \"{tollgate}\"")),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let before = psql(
        &litellm,
        r#"SELECT md5(string_agg(CAST(t AS text), ',' ORDER BY token)) FROM "LiteLLM_VerificationToken" t"#,
    );

    let out = import(&[
        "--from",
        &litellm,
        "-c",
        cfg,
        "--dry-run",
        "--spend-logs",
        "since=30d",
    ]);
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert_eq!(
        psql(&tollgate, "SELECT count(*) FROM tollgate_entities").trim(),
        "0",
        "{out}"
    );
    assert_eq!(
        psql(&tollgate, "SELECT count(*) FROM tollgate_spend_logs").trim(),
        "0"
    );
    assert_eq!(
        psql(&tollgate, "SELECT count(*) FROM tollgate_models").trim(),
        "0"
    );

    let report = dir.join("report.jsonl");
    let out = import(&[
        "--from",
        &litellm,
        "-c",
        cfg,
        "--spend-logs",
        "since=30d",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.contains("rows written"), "{out}");
    assert!(
        out.contains("garbage-tok"),
        "the unmappable key row is reported: {out}"
    );
    assert!(out.contains("tpd_limit is not carried over"), "{out}");
    assert!(out.contains("UI password is not carried over"), "{out}");
    assert!(
        out.contains("stops at the swap"),
        "a rotated key's grace period is reported: {out}"
    );
    assert!(
        out.contains("LiteLLM_CredentialsTable: table not imported"),
        "{out}"
    );
    let lines = std::fs::read_to_string(&report).unwrap();
    assert!(
        lines
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
            && lines.contains("skipped")
    );
    assert_eq!(
        psql(
            &tollgate,
            "SELECT count(*) FROM tollgate_spend_logs WHERE imported_from = 'litellm'"
        )
        .trim(),
        "3",
        "rows since 30 days"
    );
    let stored = psql(
        &tollgate,
        "SELECT litellm_params FROM tollgate_models WHERE model_id = 'db-model-1'",
    );
    assert!(
        !stored.contains(PROVIDER_KEY) && !stored.contains("127.0.0.1"),
        "credentials stay encrypted: {stored}"
    );

    let again = import(&["--from", &litellm, "-c", cfg, "--spend-logs", "since=30d"]);
    assert!(
        again.contains("nothing to change"),
        "a second run changes nothing: {again}"
    );
    let after = psql(
        &litellm,
        r#"SELECT md5(string_agg(CAST(t AS text), ',' ORDER BY token)) FROM "LiteLLM_VerificationToken" t"#,
    );
    assert_eq!(before, after, "the LiteLLM database is only read");

    // LiteLLM's SQL, unchanged, against Tollgate's database.
    let rows = psql(&tollgate, SEED);
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(
        rows,
        [
            format!("{}|team-a|1|100", sha(OK)),
            format!("{}|team-a|0.5|15", sha(NEAR))
        ],
        "{rows:?}"
    );
    let keys = psql(
        &tollgate,
        r#"SELECT key_alias, spend, max_budget, blocked FROM "LiteLLM_VerificationToken" ORDER BY key_alias"#,
    );
    assert!(
        keys.contains("app-ok|1|10|f") && keys.contains("app-blocked|0||t"),
        "{keys}"
    );
    let daily = psql(
        &tollgate,
        r#"SELECT user_id, date, spend FROM "LiteLLM_DailyUserSpend" ORDER BY date"#,
    );
    assert!(daily.starts_with("user-a|2026-10-01|1.25"), "{daily}");
    let team = psql(
        &tollgate,
        r#"SELECT team_alias, spend, max_budget FROM "LiteLLM_TeamTable""#,
    );
    assert_eq!(team.trim(), "Team A|2.5|50");

    let gw = Gateway::start_with(
        &std::fs::read_to_string(cfg).unwrap(),
        &[("LITELLM_SALT_KEY", SALT)],
    )
    .await;
    check_gateway(&gw, &mock).await;
    // Tollgate's own traffic shows in the same views (the daily one by UTC day).
    let today = r#"SELECT count(*) FROM "LiteLLM_DailyTeamSpend"
        WHERE team_id = 'team-a' AND date = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while psql(&tollgate, today).trim() == "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "Tollgate's requests reach the daily view"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let logs = psql(&tollgate, r#"SELECT count(*) FROM "LiteLLM_SpendLogs""#);
    assert!(logs.trim().parse::<u32>().unwrap() > 3, "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_sqlite_keeps_keys_and_blocks() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let (litellm, _l) = litellm_database().await;
    fill(&litellm, &mock.url());
    let dir = scratch_dir();
    let db = dir.join("tollgate.db");
    let yaml = config(
        &mock.url(),
        &format!("tollgate_settings:\n  database_path: {}", db.display()),
    );
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, &yaml).unwrap();
    let out = import(&[
        "--from",
        &litellm,
        "-c",
        cfg.to_str().unwrap(),
        "--spend-logs",
        "all",
    ]);
    assert!(
        out.contains("(sqlite)") && out.contains("rows written"),
        "{out}"
    );
    let again = import(&[
        "--from",
        &litellm,
        "-c",
        cfg.to_str().unwrap(),
        "--spend-logs",
        "all",
    ]);
    assert!(again.contains("nothing to change"), "{again}");
    let gw = Gateway::start_with(&yaml, &[("LITELLM_SALT_KEY", SALT)]).await;
    check_gateway(&gw, &mock).await;
}

/// Tollgate in the very database LiteLLM used: LiteLLM's tables keep their names, and the
/// views answer from the `tollgate_litellm` schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_litellms_own_database_the_views_live_in_their_schema() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let (litellm, _l) = litellm_database().await;
    fill(&litellm, &mock.url());
    let dir = scratch_dir();
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        config(&mock.url(), &format!("  database_url: \"{litellm}\"")),
    )
    .unwrap();
    // Only the last 3 days: Tollgate's numbers differ from LiteLLM's table (which has day 5).
    import(&[
        "--from",
        &litellm,
        "-c",
        cfg.to_str().unwrap(),
        "--spend-logs",
        "since=3d",
    ]);
    let kind = psql(
        &litellm,
        r#"SELECT relkind FROM pg_class WHERE relname = 'LiteLLM_SpendLogs' AND relnamespace = 'public'::regnamespace"#,
    );
    assert_eq!(kind.trim(), "r", "LiteLLM's own table is untouched");
    let litellm_rows = psql(&litellm, SEED);
    assert_eq!(litellm_rows.lines().count(), 2, "{litellm_rows}");
    let ours = psql(
        &litellm,
        &format!("SET search_path = tollgate_litellm, public; {SEED}"),
    );
    assert_eq!(
        ours.lines().collect::<Vec<_>>(),
        [format!("{}|team-a|1|100", sha(OK))],
        "{ours}"
    );
}
