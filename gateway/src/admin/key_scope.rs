//! What an `internal_user` may do with keys (proxy admins are not limited here): mint keys for
//! itself only, in teams it belongs to (as a team admin, or as a member when the team's
//! `team_member_permissions` list the route), with models, budgets and limits inside those of
//! its team, its user and its own key; change and delete only its own keys (or, as a team admin,
//! its team's); never set `budget_id`, `organization_id` or `blocked`, nor change a key's budget
//! unless it administers the key's team. LiteLLM's rules (`key_mutation_authz`,
//! `_team_key_generation_check`, `TeamMemberPermissionChecks`), in its messages where it has
//! one.

use serde_json::{Map, Value};

use super::access::{forbidden, is_team_admin, member_role, Who};
use super::documents::doc_str;
use super::error::AdminError;
use super::request::Req;
use crate::control::{Control, Entity, Kind};
use crate::runtime::Runtime;

/// Fields only a proxy admin sets on a key.
const ADMIN_ONLY: &[&str] = &["budget_id", "organization_id", "blocked"];
/// Fields that change what a key may spend: on an existing key, only an admin of its team
/// changes them.
const BUDGET: &[&str] = &["max_budget", "spend", "budget_duration", "model_max_budget"];
/// Limits a key may not set above its team's (or, for `max_budget`, its creator's key's).
const CEILINGS: &[&str] = &[
    "max_budget",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
];

/// Refuses fields only a proxy admin sets, before anything is read (403).
pub(super) fn admin_only_fields(who: &Who, req: &Req) -> Result<(), AdminError> {
    if who.is_admin() {
        return Ok(());
    }
    match ADMIN_ONLY.iter().find(|f| req.body.contains_key(**f)) {
        Some(f) => Err(forbidden(format!(
            "Only proxy admins can set `{f}` on a key."
        ))),
        None => Ok(()),
    }
}

/// Checks a key an internal user is about to store. `before` is the key as stored (update and
/// regenerate), `doc` the document to store; `route` the route called (team permissions name
/// it).
pub(super) fn check(
    c: &Control,
    rt: &Runtime,
    who: &Who,
    req: &Req,
    before: Option<&Entity>,
    doc: &Map<String, Value>,
    route: &str,
) -> Result<(), AdminError> {
    if who.is_admin() {
        return Ok(());
    }
    let me = who.own_user()?;
    if let Some(old) = before {
        let old_doc = old.doc();
        let changes_budget = BUDGET.iter().find(|f| match req.body.get(**f) {
            None => false,
            Some(v) if **f == "spend" => !v.is_null(),
            Some(_) => doc.get(**f) != old_doc.get(**f),
        });
        let team_admin = old
            .team_id
            .as_deref()
            .is_some_and(|t| is_team_admin(c, t, me));
        if let Some(f) = changes_budget.filter(|_| !team_admin) {
            return Err(forbidden(format!(
                "Only a proxy admin or an admin of the key's team can change its budget (`{f}`)."
            )));
        }
    }
    // Its own keys; an admin of a key's team manages the team's keys of other members too, as
    // long as the key stays theirs.
    let owner = doc_str(doc, "user_id");
    let team_admins_it = before.is_some_and(|old| {
        old.user_id.as_deref() == owner
            && old
                .team_id
                .as_deref()
                .is_some_and(|t| is_team_admin(c, t, me))
    });
    if owner != Some(me) && !team_admins_it {
        return Err(forbidden(format!(
            "User can only create keys for themselves. Got user_id={}, Your ID={me}",
            owner.unwrap_or("None")
        )));
    }
    let team = match doc_str(doc, "team_id") {
        Some(t) => Some(team_allows(c, t, me, route)?),
        None => None,
    };
    // A new key is checked whole; a changed one only for what changes (a new team re-checks
    // everything), so settings an admin gave it stay.
    let changed =
        |f: &str| before.is_none() || req.body.contains_key(f) || req.body.contains_key("team_id");
    if changed("models") {
        models_allowed(c, rt, who, doc, team.as_deref())?;
    }
    ceilings(c, who, doc, team.as_deref(), &changed)
}

/// The team `team_id`, if `me` may manage keys in it through `route`.
fn team_allows(
    c: &Control,
    team_id: &str,
    me: &str,
    route: &str,
) -> Result<std::sync::Arc<Entity>, AdminError> {
    let team = c.get(Kind::Team, team_id).ok_or_else(|| {
        AdminError::bad(
            "team_id",
            format!("team_id={team_id} does not exist; create it with /team/new first"),
        )
    })?;
    let role = member_role(c, team_id, me).ok_or_else(|| {
        AdminError::bad(
            "team_id",
            format!("User={me} not assigned to team={team_id}"),
        )
    })?;
    if role == "admin" {
        return Ok(team);
    }
    let perms: Vec<String> = team
        .doc()
        .get("team_member_permissions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_else(|| vec!["/key/info".into(), "/key/health".into()]);
    if perms.iter().any(|p| p == route) {
        return Ok(team);
    }
    Err(AdminError(
        adapters::ApiError::new(
            401,
            "team_member_permission_error",
            format!(
                "Team member does not have permissions for endpoint: {route}. You only have access to the following endpoints: {perms:?} for team {team_id}. To create keys for this team, please ask your proxy admin to check the team member permission settings and update the settings to allow team member users to create keys."
            ),
        )
        .with_param(route.to_string())
        .with_code("401"),
    ))
}

/// Every model the key names is one its team and its user may use.
fn models_allowed(
    c: &Control,
    rt: &Runtime,
    who: &Who,
    doc: &Map<String, Value>,
    team: Option<&Entity>,
) -> Result<(), AdminError> {
    let models: Vec<&str> = doc
        .get("models")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let user = who.user_id.as_deref().and_then(|u| c.get(Kind::User, u));
    let lists = [
        ("team", team.map(|t| (&t.models, t.id.clone()))),
        ("user", user.as_ref().map(|u| (&u.models, u.id.clone()))),
    ];
    for (what, list) in lists {
        let Some((allowed, id)) = list else { continue };
        if let Some(m) = models
            .iter()
            .find(|m| !crate::control::enforce::allowed(allowed, m, rt))
        {
            return Err(AdminError::bad(
                "models",
                format!("Model '{m}' not in {what}'s allowed models. {} allowed models={allowed:?}. {}={id}", capital(what), capital(what)),
            ));
        }
    }
    Ok(())
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The key's budget and limits are within its team's, and its `max_budget` within the caller's
/// own key's (LiteLLM's delegation ceiling).
fn ceilings(
    c: &Control,
    who: &Who,
    doc: &Map<String, Value>,
    team: Option<&Entity>,
    changed: &dyn Fn(&str) -> bool,
) -> Result<(), AdminError> {
    let num = |d: &Map<String, Value>, f: &str| d.get(f).and_then(Value::as_f64);
    for f in CEILINGS.iter().filter(|f| changed(f)) {
        let Some(want) = num(doc, f) else { continue };
        if let Some(t) = team {
            let limits = c.limits(t);
            let cap = match *f {
                "max_budget" => limits.max_budget,
                "rpm_limit" => limits.rpm.map(|n| n as f64),
                "tpm_limit" => limits.tpm.map(|n| n as f64),
                _ => limits.parallel.map(|n| n as f64),
            };
            if let Some(cap) = cap.filter(|cap| want > *cap) {
                return Err(AdminError::bad(
                    f,
                    format!(
                        "{f} ({want}) cannot exceed the team's {f} ({cap}). Team: {}",
                        t.id
                    ),
                ));
            }
        }
    }
    if let (true, Some(want), Some(cap)) = (
        changed("max_budget"),
        num(doc, "max_budget"),
        who.key().and_then(|k| c.limits(k).max_budget),
    ) {
        if want > cap {
            return Err(AdminError::bad(
                "max_budget",
                format!("max_budget ({want}) cannot exceed the caller's own max_budget ({cap})."),
            ));
        }
    }
    Ok(())
}
