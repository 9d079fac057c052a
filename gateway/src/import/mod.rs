//! `tollgate import-litellm`: reads a running LiteLLM proxy's PostgreSQL database into
//! Tollgate's store (SQLite or PostgreSQL) so the swap keeps every virtual key, budget, limit
//! and membership (see docs/migrating-from-litellm.md).
//!
//! Order: budgets (others name them), organizations with their memberships, teams, users, team
//! memberships, end users, keys — all compared with what the store holds and written in one
//! bulk transaction —, then DB-stored models, LiteLLM's daily spend tables and, if asked,
//! spend logs. Running it again changes nothing unless LiteLLM's data changed; `--dry-run`
//! reads everything and writes nothing.
//!
//! Module map: `map` (rows → documents), `models` (stored models: import, and the load at
//! start), `logs` (spend logs and daily tables), `crypto` (LiteLLM's credential encryption),
//! `report` (counts, skipped rows, caveats, progress).

mod logs;
mod map;
pub mod models;
mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chrono_tz::Tz;
use serde_json::Value;
use store::{EntityRow, LiteLlmSource, Store};

use self::map::{Mapped, Row};
use self::report::{Progress, Report};
use crate::clock::now_ms_i64;
use crate::control::period;

/// `tollgate import-litellm`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The LiteLLM proxy's database (`postgresql://user:pass@host/db`). Opened read-only.
    #[arg(long = "from", value_name = "URL")]
    from: String,
    /// Tollgate's config.yaml: where its store is (general_settings.database_url, else
    /// DATABASE_URL, else tollgate_settings.database_path), its budget timezone and the key
    /// stored credentials are encrypted with.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Read everything and print what would change; write nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Also import spend logs: `since=30d`, `since=2026-01-01` or `all`.
    #[arg(long = "spend-logs", value_name = "since=30d")]
    spend_logs: Option<String>,
    /// The environment variable holding the LITELLM_SALT_KEY LiteLLM encrypted its stored
    /// models with, when it is not the one Tollgate's config uses (default: Tollgate's key:
    /// SHA-256 of LITELLM_SALT_KEY, else of the master key, as LiteLLM derives it).
    #[arg(long = "source-salt-key-env", value_name = "VAR")]
    source_salt_key_env: Option<String>,
    /// Also write every skipped row and caveat to FILE, one JSON object per line.
    #[arg(long = "report", value_name = "FILE")]
    report: Option<PathBuf>,
}

/// Runs the import; the exit code is non-zero only when the import could not run.
pub fn run(args: Args) -> ExitCode {
    let loaded = match &args.config {
        Some(p) => conf::load_file(p, conf::LoadOptions::default()),
        None => conf::load_str(conf::EMBEDDED_DEFAULT, None, conf::LoadOptions::default()),
    };
    let config = match loaded {
        Ok(l) => l.config,
        Err(e) => {
            eprintln!("tollgate import-litellm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tollgate import-litellm: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(import(&args, &config)) {
        Ok(rep) => {
            print!("{}", rep.render(args.dry_run));
            if let Some(path) = &args.report {
                if let Err(e) = rep.write_jsonl(path) {
                    eprintln!("tollgate import-litellm: {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate import-litellm: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What every entity mapping needs: the clock, the budget timezone and the budgets.
struct Ctx {
    now: i64,
    tz: Tz,
    /// Budget id → (`budget_duration`, LiteLLM's `budget_reset_at`).
    budgets: HashMap<String, (Option<String>, Option<i64>)>,
    existing: HashMap<(String, String), EntityRow>,
    writes: Vec<EntityRow>,
}

impl Ctx {
    /// Works out the entity's spend window and queues it unless the store holds it already.
    /// Its duration and reset time are its own, else those of its `budget_id` (as Tollgate's
    /// limits fall back to the budget's).
    fn settle(&mut self, table: &str, m: Mapped, rep: &mut Report) {
        let budget = m
            .doc
            .get("budget_id")
            .and_then(Value::as_str)
            .and_then(|b| self.budgets.get(b))
            .cloned();
        let own = m
            .doc
            .get("budget_duration")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (duration, reset_at) = match (own, budget) {
            (Some(d), _) => (Some(d), m.litellm_reset_at),
            (None, Some((d, r))) => (d, m.litellm_reset_at.or(r)),
            (None, None) => (None, m.litellm_reset_at),
        };
        let (spend, spend_period) = self.window(table, &m, duration.as_deref(), reset_at, rep);
        let doc = serde_json::to_string(&m.doc).expect("serializing JSON values cannot fail");
        let key = (m.kind.as_str().to_string(), m.id.clone());
        let counts = rep.counts(table);
        match self.existing.get(&key) {
            Some(have)
                if serde_json::from_str::<Value>(&have.doc).ok()
                    == Some(Value::Object(m.doc.clone()))
                    && (have.spend - spend).abs() < 1e-12
                    && have.spend_period == spend_period =>
            {
                counts.unchanged += 1;
                return;
            }
            Some(_) => counts.updated += 1,
            None => counts.created += 1,
        }
        self.writes.push(EntityRow {
            kind: key.0,
            id: key.1,
            doc,
            spend,
            spend_period,
            updated_at: self.now,
            deleted: false,
        });
    }

    /// `(spend, window start)`: LiteLLM's spend in Tollgate's current window for the duration
    /// (windows follow the calendar, see `control::period`). A reset LiteLLM had due already
    /// starts the window at 0; a reset time that moves is noted.
    fn window(
        &self,
        table: &str,
        m: &Mapped,
        duration: Option<&str>,
        reset_at: Option<i64>,
        rep: &mut Report,
    ) -> (f64, i64) {
        let Some(d) = duration else {
            return (m.spend, 0);
        };
        let every = match period::parse(d) {
            Ok(e) => e,
            Err(e) => {
                rep.note(
                    table,
                    &m.id,
                    "budget_duration not understood: the budget never resets",
                    e,
                );
                return (m.spend, 0);
            }
        };
        let (start, end) = period::window(every, self.now, self.tz);
        match reset_at {
            Some(r) if r <= self.now => {
                if m.spend > 0.0 {
                    rep.note(
                        table,
                        &m.id,
                        "budget reset was due in LiteLLM: spend starts at 0",
                        format!(
                            "budget_reset_at {} has passed (spend was {})",
                            map::iso(r),
                            m.spend
                        ),
                    );
                }
                (0.0, start)
            }
            Some(r) if (r - end).abs() > 60_000 => {
                rep.note(
                    table,
                    &m.id,
                    "budget resets at the end of Tollgate's calendar window, not LiteLLM's time",
                    format!("next reset {} (LiteLLM: {})", map::iso(end), map::iso(r)),
                );
                (m.spend, start)
            }
            _ => (m.spend, start),
        }
    }
}

/// Every row of a LiteLLM table through `f` (absent tables are noted and read as empty).
async fn read<T>(
    src: &LiteLlmSource,
    table: &str,
    order: &str,
    rep: &mut Report,
    mut f: impl FnMut(&Row, &mut Report) -> Option<T>,
) -> Result<Vec<T>, String> {
    if !src.has_table(table).await.map_err(|e| e.to_string())? {
        rep.note(
            table,
            "-",
            "table absent in this LiteLLM version",
            "nothing to import",
        );
        return Ok(Vec::new());
    }
    let total = src.count(table, None).await.map_err(|e| e.to_string())?;
    let mut progress = Progress::new(table, total);
    let mut out = Vec::new();
    src.for_each_row(table, None, order, |text| {
        progress.tick();
        rep.counts(table).read += 1;
        match serde_json::from_str::<Row>(&text) {
            Ok(row) => out.extend(f(&row, rep)),
            Err(e) => rep.skip(table, "?", format!("unreadable row: {e}")),
        }
        Ok::<(), String>(())
    })
    .await
    .map_err(|e| format!("reading {table}: {e}"))??;
    progress.finish();
    Ok(out)
}

async fn import(args: &Args, config: &conf::Config) -> Result<Report, String> {
    let started = Instant::now();
    let since = match &args.spend_logs {
        Some(s) => Some(logs::parse_since(s, now_ms_i64())?),
        None => None,
    };
    let tz = crate::control::Settings::from_config(config)?.tz;
    let target = crate::control::database_target(config);
    let src = LiteLlmSource::open(&args.from)
        .await
        .map_err(|e| e.to_string())?;
    let dst = Store::open(&target).await.map_err(|e| e.to_string())?;
    println!(
        "importing {} into {} ({}){}",
        store::redact(&args.from),
        store::redact(&target),
        dst.backend(),
        if args.dry_run { " — dry run" } else { "" }
    );
    let mut rep = Report::default();
    let mut existing = HashMap::new();
    dst.for_each_entity(|r| {
        existing.insert((r.kind.clone(), r.id.clone()), r);
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut ctx = Ctx {
        now: now_ms_i64(),
        tz,
        budgets: HashMap::new(),
        existing,
        writes: Vec::new(),
    };

    let budgets = read(
        &src,
        "LiteLLM_BudgetTable",
        "budget_id",
        &mut rep,
        map::budget,
    )
    .await?;
    for b in &budgets {
        let d = b
            .doc
            .get("budget_duration")
            .and_then(Value::as_str)
            .map(str::to_string);
        ctx.budgets.insert(b.id.clone(), (d, b.litellm_reset_at));
    }
    for b in budgets {
        ctx.settle(
            "LiteLLM_BudgetTable",
            Mapped {
                spend: 0.0,
                litellm_reset_at: None,
                ..b
            },
            &mut rep,
        );
    }

    let mut org_members: HashMap<String, Vec<Value>> = HashMap::new();
    for (org, entry) in read(
        &src,
        "LiteLLM_OrganizationMembership",
        "organization_id, user_id",
        &mut rep,
        map::org_membership,
    )
    .await?
    {
        org_members.entry(org).or_default().push(entry);
    }
    let orgs = read(
        &src,
        "LiteLLM_OrganizationTable",
        "organization_id",
        &mut rep,
        |row, rep| {
            let id = map::str_of(row, "organization_id").unwrap_or_default();
            map::org(row, org_members.remove(&id).unwrap_or_default(), rep)
        },
    )
    .await?;
    for (org, entries) in org_members {
        for e in entries {
            let user = e["user_id"].as_str().unwrap_or("?");
            rep.skip(
                "LiteLLM_OrganizationMembership",
                &format!("{org}/{user}"),
                "its organization does not exist",
            );
        }
    }
    for o in orgs {
        ctx.settle("LiteLLM_OrganizationTable", o, &mut rep);
    }

    let aliases = team_aliases(&src).await?;
    let teams = read(
        &src,
        "LiteLLM_TeamTable",
        "team_id",
        &mut rep,
        |row, rep| {
            let a = row
                .get("model_id")
                .and_then(Value::as_i64)
                .and_then(|id| aliases.get(&id).cloned());
            map::team(row, a, rep)
        },
    )
    .await?;
    let mut roles: HashMap<(String, String), String> = HashMap::new();
    for t in &teams {
        for m in t.doc["members_with_roles"].as_array().into_iter().flatten() {
            if let (Some(u), Some(r)) = (m["user_id"].as_str(), m["role"].as_str()) {
                roles.insert((t.id.clone(), u.to_string()), r.to_string());
            }
        }
    }
    let team_ids: std::collections::HashSet<String> = teams.iter().map(|t| t.id.clone()).collect();
    for t in teams {
        ctx.settle("LiteLLM_TeamTable", t, &mut rep);
    }
    for u in read(&src, "LiteLLM_UserTable", "user_id", &mut rep, map::user).await? {
        ctx.settle("LiteLLM_UserTable", u, &mut rep);
    }
    let members = read(
        &src,
        "LiteLLM_TeamMembership",
        "team_id, user_id",
        &mut rep,
        |row, rep| {
            let key = (map::str_of(row, "team_id")?, map::str_of(row, "user_id")?);
            map::member(row, roles.get(&key).cloned(), rep)
        },
    )
    .await?;
    for m in members {
        ctx.settle("LiteLLM_TeamMembership", m, &mut rep);
    }
    for e in read(
        &src,
        "LiteLLM_EndUserTable",
        "user_id",
        &mut rep,
        map::end_user,
    )
    .await?
    {
        ctx.settle("LiteLLM_EndUserTable", e, &mut rep);
    }
    for k in read(
        &src,
        "LiteLLM_VerificationToken",
        "token",
        &mut rep,
        map::key,
    )
    .await?
    {
        if let Some(t) = k
            .doc
            .get("team_id")
            .and_then(Value::as_str)
            .filter(|t| !team_ids.contains(*t))
        {
            rep.note(
                "LiteLLM_VerificationToken",
                &k.id,
                "names a team LiteLLM does not have",
                t.to_string(),
            );
        }
        ctx.settle("LiteLLM_VerificationToken", k, &mut rep);
    }
    // Old secrets of rotated keys that LiteLLM still accepts for a grace period.
    let now = ctx.now;
    read(&src, "LiteLLM_DeprecatedVerificationToken", "token", &mut rep, |row, rep| {
        let until = map::time_of(row, "revoke_at").filter(|t| *t > now)?;
        let token = map::str_of(row, "token").unwrap_or_default();
        rep.skip(
            "LiteLLM_DeprecatedVerificationToken",
            &token,
            format!(
                "the old secret of rotated key {} works in LiteLLM until {}; Tollgate has no grace period, so it stops at the swap",
                map::str_of(row, "active_token_id").unwrap_or_default(),
                map::iso(until)
            ),
        );
        Some(())
    })
    .await?;
    let entities = ctx.writes.len();
    if !args.dry_run && entities > 0 {
        dst.import_entities(&ctx.writes, ctx.now)
            .await
            .map_err(|e| e.to_string())?;
    }
    let entity_secs = started.elapsed().as_secs_f64();

    let dst_key = config.general.credential_encryption_key();
    let src_key = match &args.source_salt_key_env {
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Some(crate::models::crypto::key_from_secret(&v)),
            _ => {
                return Err(format!(
                    "--source-salt-key-env {var}: the variable is not set"
                ))
            }
        },
        None => dst_key,
    };
    models::import_models(&src, &dst, src_key, dst_key, args.dry_run, &mut rep).await?;
    logs::import_daily(&src, &dst, args.dry_run, &mut rep).await?;
    let before_logs = started.elapsed().as_secs_f64();
    if let Some(since) = since {
        logs::import_spend_logs(&src, &dst, since, args.dry_run, &mut rep).await?;
    }
    for table in NOT_IMPORTED {
        if src.has_table(table).await.map_err(|e| e.to_string())? {
            let n = src.count(table, None).await.map_err(|e| e.to_string())?;
            if n > 0 {
                rep.note(
                    table,
                    "-",
                    "table not imported (see docs/migrating-from-litellm.md)",
                    format!("{n} rows"),
                );
            }
        }
    }
    let total = started.elapsed().as_secs_f64();
    println!(
        "done in {total:.1} s (entities {entity_secs:.1} s, {entities} rows to write; models and daily tables {:.1} s; spend logs {:.1} s)",
        before_logs - entity_secs,
        total - before_logs
    );
    src.close().await;
    dst.close().await;
    Ok(rep)
}

/// LiteLLM tables with settings Tollgate has no place for yet: when they hold rows, the report
/// says how many.
const NOT_IMPORTED: &[&str] = &[
    "LiteLLM_CredentialsTable",
    "LiteLLM_Config",
    "LiteLLM_ConfigOverrides",
    "LiteLLM_TagTable",
    "LiteLLM_BudgetWindowSpend",
    "LiteLLM_ModelAccessGroupBudgetTable",
    "LiteLLM_AccessGroupTable",
    "LiteLLM_ObjectPermissionTable",
    "LiteLLM_MCPServerTable",
    "LiteLLM_GuardrailsTable",
    "LiteLLM_PolicyTable",
    "LiteLLM_PromptTable",
    "LiteLLM_ProjectTable",
    "LiteLLM_AgentsTable",
    "LiteLLM_JWTKeyMapping",
    "LiteLLM_SSOConfig",
    "LiteLLM_InvitationLink",
    "LiteLLM_ManagedFileTable",
    "LiteLLM_ManagedVectorStoresTable",
];

/// `LiteLLM_ModelTable`: the model aliases a team names by `model_id`.
async fn team_aliases(src: &LiteLlmSource) -> Result<HashMap<i64, Value>, String> {
    if !src
        .has_table("LiteLLM_ModelTable")
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(HashMap::new());
    }
    let rows = src
        .texts("SELECT CAST(row_to_json(t) AS text) FROM \"LiteLLM_ModelTable\" t")
        .await
        .map_err(|e| e.to_string())?;
    // The Prisma field is `model_aliases`, the column `aliases`.
    Ok(rows
        .iter()
        .filter_map(|t| serde_json::from_str::<Value>(t).ok())
        .filter_map(|v| {
            let a = v.get("aliases").or_else(|| v.get("model_aliases"))?;
            Some((v["id"].as_i64()?, a.clone()))
        })
        .filter(|(_, a)| a.is_object())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Kind;

    #[test]
    fn spend_carries_into_the_calendar_window_unless_litellm_reset_it() {
        let now = period::parse_instant("2026-11-21T12:00:00Z").unwrap();
        let ctx = Ctx {
            now,
            tz: chrono_tz::UTC,
            budgets: HashMap::new(),
            existing: HashMap::new(),
            writes: Vec::new(),
        };
        let mut rep = Report::default();
        let m = |spend: f64, reset: &str| Mapped {
            kind: Kind::Key,
            id: "k".into(),
            doc: Default::default(),
            spend,
            litellm_reset_at: period::parse_instant(reset),
        };
        let month = period::parse_instant("2026-11-01T00:00:00Z").unwrap();
        assert_eq!(
            ctx.window(
                "t",
                &m(3.0, "2026-12-01T00:00:00Z"),
                Some("30d"),
                m(3.0, "2026-12-01T00:00:00Z").litellm_reset_at,
                &mut rep
            ),
            (3.0, month)
        );
        assert_eq!(ctx.window("t", &m(3.0, ""), None, None, &mut rep), (3.0, 0));
        let due = m(3.0, "2026-11-20T00:00:00Z");
        assert_eq!(
            ctx.window("t", &due, Some("1d"), due.litellm_reset_at, &mut rep),
            (0.0, period::parse_instant("2026-11-21T00:00:00Z").unwrap())
        );
        let moved = m(1.0, "2026-12-15T00:00:00Z");
        assert_eq!(
            ctx.window("t", &moved, Some("30d"), moved.litellm_reset_at, &mut rep)
                .0,
            1.0
        );
        let text = rep.render(false);
        assert!(text.contains("budget reset was due"), "{text}");
        assert!(text.contains("calendar window"), "{text}");
    }
}
