//! What a management route accepts, and the check every request passes before its handler: the
//! route's request fields (the ones its handler reads, plus LiteLLM's fields Tollgate does not
//! act on, each with what Tollgate does with it) and who may call it. A field no route knows is
//! a 400 naming it, with the closest known name; a LiteLLM field Tollgate does not implement is
//! a 400 "not supported yet" unless it is empty — nothing is silently dropped. The table is at
//! the end of this file (the LiteLLM-only field lists in `route_fields.rs`); `/routes` and
//! `/openapi.json` are generated from it.

use serde_json::{json, Value};

pub use super::access::Access;
use super::error::AdminError;
use super::key_fields::KEY_FIELDS;
use super::request::Req;
use super::route_fields::{
    f, BUDGET_FIELDS, CUSTOMER_FIELDS, KEY_GENERATE, KEY_REGENERATE, KEY_UPDATE, MEMBER,
    NAMED_USER, ORG_FIELDS, ORG_UPDATE, TEAM_NEW, TEAM_UPDATE, USER_NEW, USER_UPDATE,
};
pub use super::route_fields::{Field, Support};
use super::teams::TEAM_FIELDS;
use super::users::USER_FIELDS;
use super::validate::{Ty, LIMITS, ROLES};

/// Which handler serves a route (matched exhaustively in `mod.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    KeyGenerate,
    KeyUpdate,
    KeyInfo,
    KeyList,
    KeyDelete,
    KeyBlock,
    KeyUnblock,
    KeyRegenerate,
    KeyRegenerateByPath,
    TeamNew,
    TeamUpdate,
    TeamInfo,
    TeamList,
    TeamDelete,
    TeamMemberAdd,
    TeamMemberDelete,
    TeamMemberUpdate,
    TeamBlock,
    TeamUnblock,
    UserNew,
    UserInfo,
    UserUpdate,
    UserDelete,
    UserList,
    OrgNew,
    OrgInfo,
    OrgUpdate,
    OrgDelete,
    OrgList,
    OrgMemberAdd,
    OrgMemberUpdate,
    OrgMemberDelete,
    CustomerNew,
    CustomerInfo,
    CustomerUpdate,
    CustomerDelete,
    CustomerList,
    CustomerBlock,
    CustomerUnblock,
    BudgetNew,
    BudgetInfo,
    BudgetUpdate,
    BudgetDelete,
    BudgetList,
    SpendLogs,
    GlobalSpend,
    GlobalSpendReport,
    ModelGroupInfo,
    ModelNew,
    ModelUpdate,
    ModelPatch,
    ModelDelete,
    ModelInfo,
    ModelInfoV2,
    ConfigReload,
    UserDailyActivity,
    UserDailyActivityAggregated,
    TeamDailyActivity,
    TeamDailyActivityAggregated,
    TagDailyActivity,
    TagDailyActivityAggregated,
    TollgateUsage,
    TollgateLogs,
    TollgateLog,
    TollgateDeployments,
    TollgateConfig,
}

/// One management route.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub id: RouteId,
    pub methods: &'static [&'static str],
    /// `{name}` marks a path parameter.
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// Fields the handler reads with their types (the key, team and user field tables).
    pub handler: &'static [&'static [(&'static str, Ty)]],
    /// Every other field the route knows.
    pub extra: &'static [Field],
}

impl RouteSpec {
    /// Whether the route only reads (no write lock; `proxy_admin_viewer` may call it).
    pub fn reads(&self) -> bool {
        self.methods == ["GET"] || self.path.ends_with("/info") || self.path.ends_with("/list")
    }

    fn handler_fields(&self) -> impl Iterator<Item = (&'static str, Ty)> + '_ {
        self.handler.iter().flat_map(|g| g.iter().copied())
    }

    /// Every field name the route knows.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handler_fields()
            .map(|(n, _)| n)
            .chain(self.extra.iter().map(|f| f.name))
    }

    /// Every field with its type and support (an `extra` entry wins over the handler's).
    pub fn fields(&self) -> Vec<Field> {
        let mut out: Vec<Field> = self.extra.to_vec();
        for (name, ty) in self.handler_fields() {
            if !out.iter().any(|f| f.name == name) {
                out.push(f(name, ty, Support::Acted));
            }
        }
        out
    }

    /// Whether `path` (without query, no trailing slash) is this route's.
    pub fn matches(&self, path: &str) -> bool {
        match self.path.split_once('{') {
            None => self.path == path,
            Some((prefix, rest)) => {
                let suffix = rest.split_once('}').map_or("", |(_, s)| s);
                path.len() > prefix.len() + suffix.len()
                    && path.starts_with(prefix)
                    && path.ends_with(suffix)
            }
        }
    }

    /// Checks the request's fields (body, and query string) against the route: 400 naming an
    /// unknown field (with the closest known name) or a LiteLLM field Tollgate does not
    /// implement yet.
    pub fn check(&self, req: &Req) -> Result<(), AdminError> {
        let given = req.body.iter().map(|(k, v)| (k.as_str(), v.clone())).chain(
            req.query_all
                .iter()
                .map(|(k, v)| (k.as_str(), Value::String(v.clone()))),
        );
        for (name, value) in given {
            self.check_field(name, &value)?;
        }
        Ok(())
    }

    fn check_field(&self, name: &str, value: &Value) -> Result<(), AdminError> {
        if let Some(field) = self.extra.iter().find(|f| f.name == name) {
            return match field.support {
                Support::Acted | Support::Ignored(_) => Ok(()),
                Support::Empty if is_empty(value) => Ok(()),
                Support::Only(v) if value.is_null() || value.as_str() == Some(v) => Ok(()),
                Support::Empty => Err(not_yet(name, self.path, None)),
                Support::Only(v) => Err(not_yet(name, self.path, Some(v))),
            };
        }
        if self.handler_fields().any(|(n, _)| n == name) {
            return Ok(());
        }
        let hint = conf::closest_name(name, self.names())
            .map(|c| format!(" Did you mean `{c}`?"))
            .unwrap_or_default();
        Err(AdminError::bad(
            name,
            format!(
                "Unknown field `{name}` for {}.{hint} Known fields: {}.",
                self.path,
                self.names().collect::<Vec<_>>().join(", ")
            ),
        ))
    }
}

/// `null`, `false`, `""`, `[]`, `{}` (also as query text).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty() || s == "false",
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    }
}

fn not_yet(name: &str, path: &str, only: Option<&str>) -> AdminError {
    let accepted = match only {
        Some(v) => format!("only \"{v}\" (Tollgate's behaviour) is accepted"),
        None => "it is accepted only when empty".to_string(),
    };
    AdminError::bad(
        name,
        format!(
            "`{name}` on {path} is not supported yet by Tollgate; {accepted} (see docs/keys-and-budgets.md)."
        ),
    )
}

/// The JSON schema of a field's type (OpenAPI).
pub fn schema(ty: Ty) -> Value {
    match ty {
        Ty::Text | Ty::Duration => json!({"type": "string"}),
        Ty::Role => json!({"type": "string", "enum": ROLES}),
        Ty::Money => json!({"type": "number", "minimum": 0}),
        Ty::Count => json!({"type": "integer", "minimum": 0}),
        Ty::List => json!({"type": "array", "items": {"type": "string"}}),
        Ty::Flag => json!({"type": "boolean"}),
        Ty::Object | Ty::ModelBudget => json!({"type": "object"}),
        Ty::Aliases => json!({"type": "object", "additionalProperties": {"type": "string"}}),
        Ty::ModelCount => {
            json!({"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}})
        }
    }
}

/// Every management route.
pub fn all() -> &'static [RouteSpec] {
    ROUTES
}

/// The route serving `method` + `path`, if any; `Err(true)` when the path is known but not
/// with this method.
pub fn find(method: &str, path: &str) -> Result<&'static RouteSpec, bool> {
    let mut known_path = false;
    for r in ROUTES {
        if r.matches(path) {
            if r.methods.contains(&method) {
                return Ok(r);
            }
            known_path = true;
        }
    }
    Err(known_path)
}

const fn route(
    id: RouteId,
    methods: &'static [&'static str],
    path: &'static str,
    summary: &'static str,
    access: Access,
    extra: &'static [Field],
) -> RouteSpec {
    RouteSpec {
        id,
        methods,
        path,
        summary,
        access,
        handler: &[],
        extra,
    }
}

const fn with(mut r: RouteSpec, handler: &'static [&'static [(&'static str, Ty)]]) -> RouteSpec {
    r.handler = handler;
    r
}

const POST: &[&str] = &["POST"];
const GET: &[&str] = &["GET"];
const GET_POST: &[&str] = &["GET", "POST"];
const LIMITS_ONLY: &[&[(&str, Ty)]] = &[LIMITS];
const MODEL_FIELDS: &[Field] = &[
    f("model_name", Ty::Text, Support::Acted),
    f("litellm_params", Ty::Object, Support::Acted),
    f("model_info", Ty::Object, Support::Acted),
];

use Access::{Admin, AnyKey, InternalUser, Own};
use RouteId::*;
use Support::{Acted, Empty, Ignored};

/// Every management route.
#[rustfmt::skip]
pub static ROUTES: &[RouteSpec] = &[
    with(route(KeyGenerate, POST, "/key/generate", "Create a virtual key", InternalUser, KEY_GENERATE), KEY_FIELDS),
    with(route(KeyUpdate, POST, "/key/update", "Change a key's settings", InternalUser, KEY_UPDATE), KEY_FIELDS),
    route(KeyInfo, GET, "/key/info", "A key's settings and spend (without `key`: the caller's own)", Own, &[f("key", Ty::Text, Acted)]),
    route(KeyList, GET, "/key/list", "Keys, newest first (internal users: their own)", InternalUser, &[
        f("page", Ty::Count, Acted),
        f("size", Ty::Count, Acted),
        f("key_alias", Ty::Text, Acted),
        f("team_id", Ty::Text, Acted),
        f("user_id", Ty::Text, Acted),
        f("organization_id", Ty::Text, Acted),
        f("key_hash", Ty::Text, Acted),
        f("return_full_object", Ty::Flag, Acted),
        f("include_team_keys", Ty::Flag, Acted),
        f("include_created_by_keys", Ty::Flag, Empty),
        f("sort_by", Ty::Text, Acted),
        f("sort_order", Ty::Text, Acted),
        f("search", Ty::Text, Acted),
        f("cursor", Ty::Text, Acted),
        f("expand", Ty::List, Empty),
        f("status", Ty::Text, Empty),
        f("project_id", Ty::Text, Empty),
    ]),
    route(KeyDelete, POST, "/key/delete", "Delete keys by secret, hash or alias", InternalUser, &[f("keys", Ty::List, Acted), f("key_aliases", Ty::List, Acted)]),
    route(KeyBlock, POST, "/key/block", "Block a key", Admin, &[f("key", Ty::Text, Acted)]),
    route(KeyUnblock, POST, "/key/unblock", "Unblock a key", Admin, &[f("key", Ty::Text, Acted)]),
    with(route(KeyRegenerate, POST, "/key/regenerate", "Replace a key's secret, keeping its settings and spend", InternalUser, KEY_REGENERATE), KEY_FIELDS),
    with(route(KeyRegenerateByPath, POST, "/key/{key}/regenerate", "Replace a key's secret (the key in the path)", InternalUser, KEY_REGENERATE), KEY_FIELDS),
    with(route(TeamNew, POST, "/team/new", "Create a team (the calling user becomes its admin)", Admin, TEAM_NEW), TEAM_FIELDS),
    with(route(TeamUpdate, POST, "/team/update", "Change a team's settings", Admin, TEAM_UPDATE), TEAM_FIELDS),
    route(TeamInfo, GET, "/team/info", "A team, its keys and members (keys: their own team)", Own, &[f("team_id", Ty::Text, Acted)]),
    route(TeamList, GET, "/team/list", "Teams", Admin, &[f("user_id", Ty::Text, Acted), f("organization_id", Ty::Text, Acted)]),
    route(TeamDelete, POST, "/team/delete", "Delete teams, their keys and memberships", Admin, &[f("team_ids", Ty::List, Acted)]),
    route(TeamMemberAdd, POST, "/team/member_add", "Add members to a team", Admin, &[f("team_id", Ty::Text, Acted), MEMBER, f("max_budget_in_team", Ty::Money, Acted)]),
    route(TeamMemberDelete, POST, "/team/member_delete", "Remove a member from a team", Admin, &[f("team_id", Ty::Text, Acted), NAMED_USER[0], NAMED_USER[1]]),
    route(TeamMemberUpdate, POST, "/team/member_update", "Change a member's role, budget or limits in a team", Admin, &[
        f("team_id", Ty::Text, Acted),
        NAMED_USER[0],
        NAMED_USER[1],
        f("role", Ty::Text, Acted),
        f("max_budget_in_team", Ty::Money, Acted),
        f("rpm_limit", Ty::Count, Acted),
        f("tpm_limit", Ty::Count, Acted),
    ]),
    route(TeamBlock, POST, "/team/block", "Block every key of a team", Admin, &[f("team_id", Ty::Text, Acted)]),
    route(TeamUnblock, POST, "/team/unblock", "Unblock a team", Admin, &[f("team_id", Ty::Text, Acted)]),
    with(route(UserNew, POST, "/user/new", "Create a user (and a key for it unless auto_create_key is false)", Admin, USER_NEW), USER_FIELDS),
    route(UserInfo, GET, "/user/info", "A user, its keys and teams (keys: their own user)", Own, &NAMED_USER),
    with(route(UserUpdate, POST, "/user/update", "Change a user (an unknown user_id is created)", Admin, USER_UPDATE), USER_FIELDS),
    route(UserDelete, POST, "/user/delete", "Delete users, their keys and memberships", Admin, &[f("user_ids", Ty::List, Acted)]),
    route(UserList, GET, "/user/list", "Users, newest first", Admin, &[
        f("page", Ty::Count, Acted),
        f("page_size", Ty::Count, Acted),
        f("role", Ty::Text, Acted),
        f("user_ids", Ty::List, Acted),
        f("user_email", Ty::Text, Acted),
        f("team_id", Ty::Text, Acted),
        f("sso_user_ids", Ty::List, Empty),
        f("sort_by", Ty::Text, Empty),
        f("sort_order", Ty::Text, Empty),
    ]),
    with(route(OrgNew, POST, "/organization/new", "Create an organization", Admin, ORG_FIELDS), LIMITS_ONLY),
    route(OrgInfo, GET_POST, "/organization/info", "An organization with its teams, members and budget", Admin, &[f("organization_id", Ty::Text, Acted), f("organizations", Ty::List, Acted)]),
    with(route(OrgUpdate, &["PATCH", "POST"], "/organization/update", "Change an organization", Admin, ORG_UPDATE), LIMITS_ONLY),
    route(OrgDelete, &["DELETE", "POST"], "/organization/delete", "Delete organizations", Admin, &[f("organization_ids", Ty::List, Acted)]),
    route(OrgList, GET, "/organization/list", "Organizations", Admin, &[f("org_id", Ty::Text, Acted), f("org_alias", Ty::Text, Acted)]),
    route(OrgMemberAdd, POST, "/organization/member_add", "Add members to an organization", Admin, &[f("organization_id", Ty::Text, Acted), MEMBER, f("max_budget_in_organization", Ty::Money, Empty)]),
    route(OrgMemberUpdate, &["PATCH", "POST"], "/organization/member_update", "Change a member's role in an organization", Admin, &[
        f("organization_id", Ty::Text, Acted),
        NAMED_USER[0],
        NAMED_USER[1],
        f("role", Ty::Text, Acted),
        f("max_budget_in_organization", Ty::Money, Empty),
    ]),
    route(OrgMemberDelete, &["DELETE", "POST"], "/organization/member_delete", "Remove a member from an organization", Admin, &[f("organization_id", Ty::Text, Acted), NAMED_USER[0], NAMED_USER[1]]),
    with(route(CustomerNew, POST, "/customer/new", "Create an end user", Admin, CUSTOMER_FIELDS), LIMITS_ONLY),
    route(CustomerInfo, GET, "/customer/info", "An end user with its spend and budget", Admin, &[f("end_user_id", Ty::Text, Acted), f("user_id", Ty::Text, Acted)]),
    with(route(CustomerUpdate, POST, "/customer/update", "Change an end user", Admin, CUSTOMER_FIELDS), LIMITS_ONLY),
    route(CustomerDelete, POST, "/customer/delete", "Delete end users", Admin, &[f("user_ids", Ty::List, Acted)]),
    route(CustomerList, GET, "/customer/list", "End users (created or seen in requests)", Admin, &[]),
    route(CustomerBlock, POST, "/customer/block", "Block end users", Admin, &[f("user_ids", Ty::List, Acted)]),
    route(CustomerUnblock, POST, "/customer/unblock", "Unblock end users", Admin, &[f("user_ids", Ty::List, Acted)]),
    with(route(BudgetNew, POST, "/budget/new", "Create a reusable budget", Admin, BUDGET_FIELDS), LIMITS_ONLY),
    route(BudgetInfo, GET_POST, "/budget/info", "Budgets by id", Admin, &[f("budgets", Ty::List, Acted), f("budget_id", Ty::Text, Acted)]),
    with(route(BudgetUpdate, POST, "/budget/update", "Change a budget", Admin, BUDGET_FIELDS), LIMITS_ONLY),
    route(BudgetDelete, POST, "/budget/delete", "Delete a budget nothing uses", Admin, &[f("id", Ty::Text, Acted), f("budget_id", Ty::Text, Acted)]),
    route(BudgetList, GET, "/budget/list", "Budgets", Admin, &[]),
    route(SpendLogs, GET, "/spend/logs", "Spend log rows, or daily totals (summarize)", Admin, &[
        f("api_key", Ty::Text, Acted),
        f("user_id", Ty::Text, Acted),
        f("team_id", Ty::Text, Acted),
        f("end_user", Ty::Text, Acted),
        f("organization_id", Ty::Text, Acted),
        f("request_id", Ty::Text, Acted),
        f("model", Ty::Text, Acted),
        f("model_group", Ty::Text, Acted),
        f("status", Ty::Text, Acted),
        f("start_date", Ty::Text, Acted),
        f("end_date", Ty::Text, Acted),
        f("summarize", Ty::Flag, Acted),
        f("page", Ty::Count, Acted),
        f("page_size", Ty::Count, Acted),
    ]),
    route(GlobalSpend, GET, "/global/spend", "The proxy's spend and budget", Admin, &[]),
    route(GlobalSpendReport, GET, "/global/spend/report", "Spend per day by team, end user or key", Admin, &[
        f("start_date", Ty::Text, Acted),
        f("end_date", Ty::Text, Acted),
        f("group_by", Ty::Text, Acted),
        f("api_key", Ty::Text, Acted),
        f("internal_user_id", Ty::Text, Acted),
        f("team_id", Ty::Text, Acted),
        f("customer_id", Ty::Text, Acted),
    ]),
    route(ModelNew, POST, "/model/new", "Add a model (stored in the database, live on every replica; store_model_in_db)", Admin, MODEL_FIELDS),
    route(ModelUpdate, POST, "/model/update", "Change a stored model (model_info.id names it; given values replace, null removes)", Admin, MODEL_FIELDS),
    route(ModelPatch, &["PATCH"], "/model/{id}/update", "Change a stored model (the id in the path)", Admin, MODEL_FIELDS),
    route(ModelDelete, POST, "/model/delete", "Delete a stored model", Admin, &[f("id", Ty::Text, Acted)]),
    route(ModelInfo, GET, "/model/info", "Deployments the caller may use, credentials left out (also /v1/model/info)", AnyKey, &[f("litellm_model_id", Ty::Text, Acted)]),
    route(ModelInfoV2, GET, "/v2/model/info", "Deployments the caller may use, filtered and paged", AnyKey, &[
        f("model", Ty::Text, Acted),
        f("modelId", Ty::Text, Acted),
        f("teamId", Ty::Text, Acted),
        f("search", Ty::Text, Acted),
        f("page", Ty::Count, Acted),
        f("size", Ty::Count, Acted),
        f("user_models_only", Ty::Flag, Empty),
        f("include_team_models", Ty::Flag, Ignored("the list holds the team models the caller may use")),
        f("debug", Ty::Flag, Ignored("no debug fields are added")),
        f("sortBy", Ty::Text, Empty),
        f("sortOrder", Ty::Text, Empty),
    ]),
    route(ModelGroupInfo, GET, "/model_group/info", "Model groups the caller may use, with providers, prices and limits", AnyKey, &[f("model_group", Ty::Text, Acted)]),
    route(ConfigReload, POST, "/config/reload", "Re-read config.yaml (and its include: files), validate it and swap it in; answers the validation errors, the old configuration serving on", Admin, &[]),
    route(UserDailyActivity, GET, "/user/daily/activity", "Usage per day by user, with breakdowns (daily tables; keys: their own)", Own, ACTIVITY_USER),
    route(UserDailyActivityAggregated, GET, "/user/daily/activity/aggregated", "Usage per day by user, every day in one answer", Own, ACTIVITY_USER),
    route(TeamDailyActivity, GET, "/team/daily/activity", "Usage per day by team, with breakdowns (daily tables; keys: their own)", Own, ACTIVITY_TEAM),
    route(TeamDailyActivityAggregated, GET, "/team/daily/activity/aggregated", "Usage per day by team, every day in one answer", Own, ACTIVITY_TEAM),
    route(TagDailyActivity, GET, "/tag/daily/activity", "Usage per day by tag, with breakdowns (daily tables; keys: their own)", Own, ACTIVITY_TAG),
    route(TagDailyActivityAggregated, GET, "/tag/daily/activity/aggregated", "Usage per day by tag, every day in one answer", Own, ACTIVITY_TAG),
    route(TollgateUsage, GET, "/tollgate/usage", "Usage per day or top-N by key, team, user, model group, model, provider or tag (JSON or CSV; keys: their own)", AnyKey, &[
        f("group_by", Ty::Text, Acted),
        f("start_date", Ty::Text, Acted),
        f("end_date", Ty::Text, Acted),
        f("api_key", Ty::Text, Acted),
        f("team_id", Ty::Text, Acted),
        f("user_id", Ty::Text, Acted),
        f("model_group", Ty::Text, Acted),
        f("model", Ty::Text, Acted),
        f("provider", Ty::Text, Acted),
        f("tag", Ty::Text, Acted),
        f("limit", Ty::Count, Acted),
        f("format", Ty::Text, Acted),
    ]),
    route(TollgateLogs, GET, "/tollgate/logs", "Spend log rows, newest first, keyset paged (keys: their own)", Own, &[
        f("api_key", Ty::Text, Acted),
        f("team_id", Ty::Text, Acted),
        f("user_id", Ty::Text, Acted),
        f("model", Ty::Text, Acted),
        f("model_group", Ty::Text, Acted),
        f("status", Ty::Text, Acted),
        f("start_date", Ty::Text, Acted),
        f("end_date", Ty::Text, Acted),
        f("limit", Ty::Count, Acted),
        f("cursor", Ty::Text, Acted),
    ]),
    route(TollgateLog, GET, "/tollgate/logs/{call_id}", "One request in detail: deployment, attempts, tokens, cost, latency, cache hit", Own, &[]),
    route(TollgateDeployments, GET, "/tollgate/deployments", "Every deployment with its settings and live state (cooldown, latency, error rate)", Admin, &[]),
    route(TollgateConfig, GET, "/tollgate/config", "The running config, secrets redacted", Admin, &[]),
];

/// The fields every daily activity route reads.
macro_rules! activity_fields {
    ($($extra:expr),*) => {
        &[
            f("start_date", Ty::Text, Acted),
            f("end_date", Ty::Text, Acted),
            f("model", Ty::Text, Acted),
            f("api_key", Ty::Text, Acted),
            f("page", Ty::Count, Acted),
            f("page_size", Ty::Count, Acted),
            $($extra),*
        ]
    };
}
const ACTIVITY_USER: &[Field] = activity_fields!(f("user_id", Ty::Text, Acted));
const ACTIVITY_TEAM: &[Field] = activity_fields!(
    f("team_ids", Ty::List, Acted),
    f("exclude_team_ids", Ty::List, Acted)
);
const ACTIVITY_TAG: &[Field] = activity_fields!(f("tags", Ty::List, Acted));

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: Value) -> Req {
        Req {
            body: match body {
                Value::Object(m) => m,
                _ => unreachable!(),
            },
            ..Req::default()
        }
    }

    fn route(path: &str) -> &'static RouteSpec {
        ROUTES.iter().find(|r| r.path == path).unwrap()
    }

    #[test]
    fn a_misspelled_field_is_named_with_the_field_it_probably_meant() {
        let e = route("/key/generate")
            .check(&req(json!({"max_budgett": 5})))
            .unwrap_err()
            .0;
        assert_eq!(e.param.as_deref(), Some("max_budgett"));
        assert!(
            e.message.contains("Did you mean `max_budget`?"),
            "{}",
            e.message
        );
        assert!(route("/key/generate")
            .check(&req(json!({"max_budget": 5, "key_alias": "a"})))
            .is_ok());
    }

    #[test]
    fn litellm_fields_tollgate_does_not_implement_are_refused_unless_empty() {
        let gen = route("/key/generate");
        assert!(gen.check(&req(json!({"allowed_routes": []}))).is_ok());
        let e = gen
            .check(&req(json!({"allowed_routes": ["/chat/completions"]})))
            .unwrap_err()
            .0;
        assert!(e.message.contains("not supported yet"), "{}", e.message);
        assert!(gen
            .check(&req(json!({"rpm_limit_type": "best_effort_throughput"})))
            .is_ok());
        assert!(gen
            .check(&req(json!({"rpm_limit_type": "guaranteed_throughput"})))
            .is_err());
        assert!(gen.check(&req(json!({"send_invite_email": true}))).is_ok());
    }

    #[test]
    fn path_parameters_match_one_segment_pattern() {
        let r = route("/key/{key}/regenerate");
        assert!(r.matches("/key/sk-abc/regenerate"));
        assert!(!r.matches("/key//regenerate"));
        assert!(!r.matches("/key/regenerate"));
        assert!(matches!(find("GET", "/key/generate"), Err(true)));
        assert!(matches!(find("GET", "/key/nothing"), Err(false)));
    }

    #[test]
    fn every_route_is_listed_once_and_no_field_twice() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    a.id != b.id
                        && !(a.path == b.path && a.methods.iter().any(|m| b.methods.contains(m))),
                    "{} listed twice",
                    a.path
                );
            }
            let names: Vec<&str> = a.extra.iter().map(|f| f.name).collect();
            for (j, n) in names.iter().enumerate() {
                assert!(!names[j + 1..].contains(n), "{}: {n} twice", a.path);
            }
        }
    }
}
