//! The management routes, their callers and their request fields, in LiteLLM's names (from
//! LiteLLM's request models: `GenerateKeyRequest`, `UpdateKeyRequest`, `NewTeamRequest`,
//! `NewUserRequest`, `NewOrganizationRequest`, `BudgetNewRequest`, `NewCustomerRequest`, the
//! member requests, and the routes' query parameters). Fields a handler reads come from its own
//! table (`handler`); `extra` lists the rest with what Tollgate does with each (see `spec.rs`).

use super::fields::{Ty, LIMITS};
use super::keys::KEY_FIELDS;
use super::spec::{f, Access, Field, RouteId, RouteSpec, Support};
use super::teams::TEAM_FIELDS;
use super::users::USER_FIELDS;

use Support::{Acted, Empty, Ignored, Only};

const BEST_EFFORT: Support = Only("best_effort_throughput");
const NO_CACHE: &str = "Tollgate has no response cache yet, so there is nothing to control";
const NO_EMAIL: &str = "Tollgate sends no email";
const TRACKING: &str = "a label LiteLLM tracks agents by; Tollgate keeps no agent registry";

/// The LiteLLM key fields generate, update and regenerate share, and `$more`.
macro_rules! key_fields {
    ($($more:expr),* $(,)?) => {
        &[
            f("duration", Ty::Duration, Acted),
            f("spend", Ty::Money, Acted),
            f("config", Ty::Object, Ignored("key-level config overrides are not applied")),
            f("allowed_cache_controls", Ty::List, Ignored(NO_CACHE)),
            f("agent_id", Ty::Text, Ignored(TRACKING)),
            f("permissions", Ty::Object, Empty),
            f("allowed_routes", Ty::List, Empty),
            f("allowed_passthrough_routes", Ty::List, Empty),
            f("allowed_vector_store_indexes", Ty::List, Empty),
            f("guardrails", Ty::List, Empty),
            f("policies", Ty::List, Empty),
            f("prompts", Ty::List, Empty),
            f("enforced_params", Ty::List, Empty),
            f("object_permission", Ty::Object, Empty),
            f("router_settings", Ty::Object, Empty),
            f("access_group_ids", Ty::List, Empty),
            f("rpm_limit_type", Ty::Text, BEST_EFFORT),
            f("tpm_limit_type", Ty::Text, BEST_EFFORT),
            f("auto_rotate", Ty::Flag, Empty),
            f("rotation_interval", Ty::Text, Empty),
            $($more),*
        ]
    };
}

/// `/key/generate`'s own fields besides the shared ones (regenerate takes them too).
macro_rules! generate_fields {
    ($($more:expr),* $(,)?) => {
        key_fields![
            f("key", Ty::Text, Acted),
            f("send_invite_email", Ty::Flag, Ignored(NO_EMAIL)),
            f("key_type", Ty::Text, Only("default")),
            f("project_id", Ty::Text, Empty),
            $($more),*
        ]
    };
}

const KEY_GENERATE: &[Field] = generate_fields![];

const KEY_UPDATE: &[Field] = key_fields![
    f("key", Ty::Text, Acted),
    f("temp_budget_increase", Ty::Money, Empty),
    f("temp_budget_expiry", Ty::Text, Empty),
    f("budget_limits", Ty::List, Empty),
];

const KEY_REGENERATE: &[Field] = generate_fields![
    f("new_key", Ty::Text, Acted),
    f("new_master_key", Ty::Text, Empty),
    f("grace_period", Ty::Text, Empty),
];

/// The LiteLLM team fields new and update share, and `$more`.
macro_rules! team_fields {
    ($($more:expr),* $(,)?) => {
        &[
            f("team_id", Ty::Text, Acted),
            f("admins", Ty::List, Empty),
            f("members", Ty::List, Empty),
            f("guardrails", Ty::List, Empty),
            f("policies", Ty::List, Empty),
            f("prompts", Ty::List, Empty),
            f("object_permission", Ty::Object, Empty),
            f("router_settings", Ty::Object, Empty),
            f("access_group_ids", Ty::List, Empty),
            f("allowed_passthrough_routes", Ty::List, Empty),
            f("allowed_vector_store_indexes", Ty::List, Empty),
            f("secret_manager_settings", Ty::Object, Empty),
            f("model_rpm_limit", Ty::ModelCount, Empty),
            f("model_tpm_limit", Ty::ModelCount, Empty),
            f("rpm_limit_type", Ty::Text, BEST_EFFORT),
            f("tpm_limit_type", Ty::Text, BEST_EFFORT),
            f("team_member_budget", Ty::Money, Empty),
            f("team_member_budget_duration", Ty::Duration, Empty),
            f("team_member_rpm_limit", Ty::Count, Empty),
            f("team_member_tpm_limit", Ty::Count, Empty),
            f("team_member_key_duration", Ty::Duration, Empty),
            f("enforced_batch_output_expires_after", Ty::Object, Empty),
            f("enforced_file_expires_after", Ty::Object, Empty),
            $($more),*
        ]
    };
}

const TEAM_NEW: &[Field] = team_fields![f("members_with_roles", Ty::List, Acted)];
/// Members change through `/team/member_*` (LiteLLM's update request has no member list).
const TEAM_UPDATE: &[Field] = team_fields![f("members_with_roles", Ty::List, Empty)];

/// The LiteLLM user fields new and update share, and `$more`.
macro_rules! user_fields {
    ($($more:expr),* $(,)?) => {
        &[
            f("user_id", Ty::Text, Acted),
            f("spend", Ty::Money, Acted),
            f("password", Ty::Text, Empty),
            f("team_id", Ty::Text, Empty),
            f("agent_id", Ty::Text, Ignored(TRACKING)),
            f("config", Ty::Object, Ignored("key-level config overrides are not applied")),
            f("allowed_cache_controls", Ty::List, Ignored(NO_CACHE)),
            f("permissions", Ty::Object, Empty),
            f("model_max_budget", Ty::ModelBudget, Empty),
            f("model_rpm_limit", Ty::ModelCount, Empty),
            f("model_tpm_limit", Ty::ModelCount, Empty),
            f("guardrails", Ty::List, Empty),
            f("policies", Ty::List, Empty),
            f("prompts", Ty::List, Empty),
            f("blocked", Ty::Flag, Empty),
            f("aliases", Ty::Aliases, Empty),
            f("object_permission", Ty::Object, Empty),
            $($more),*
        ]
    };
}

const USER_NEW: &[Field] = user_fields![
    f("key_alias", Ty::Text, Acted),
    f("duration", Ty::Duration, Acted),
    f("tags", Ty::List, Acted),
    f("teams", Ty::List, Acted),
    f("organizations", Ty::List, Acted),
    f("auto_create_key", Ty::Flag, Acted),
    f("send_invite_email", Ty::Flag, Ignored(NO_EMAIL)),
];

const USER_UPDATE: &[Field] = user_fields![
    f("key_alias", Ty::Text, Empty),
    f("duration", Ty::Duration, Empty),
];

/// The limit fields of organizations, end users and budgets (`read_limits`) beyond [`LIMITS`].
macro_rules! limit_litellm_fields {
    ($($more:expr),* $(,)?) => {
        &[
            f("budget_id", Ty::Text, Acted),
            f("model_max_budget", Ty::ModelBudget, Empty),
            $($more),*
        ]
    };
}

const ORG_FIELDS: &[Field] = limit_litellm_fields![
    f("organization_id", Ty::Text, Acted),
    f("organization_alias", Ty::Text, Acted),
    f("models", Ty::List, Acted),
    f("tags", Ty::List, Acted),
    f("blocked", Ty::Flag, Acted),
    f("metadata", Ty::Object, Acted),
    f("model_rpm_limit", Ty::ModelCount, Empty),
    f("model_tpm_limit", Ty::ModelCount, Empty),
    f("object_permission", Ty::Object, Empty),
];

const ORG_UPDATE: &[Field] = limit_litellm_fields![
    f("organization_id", Ty::Text, Acted),
    f("organization_alias", Ty::Text, Acted),
    f("models", Ty::List, Acted),
    f("tags", Ty::List, Acted),
    f("blocked", Ty::Flag, Acted),
    f("metadata", Ty::Object, Acted),
    f("spend", Ty::Money, Acted),
    f(
        "updated_by",
        Ty::Text,
        Ignored("Tollgate stamps `updated_by` itself")
    ),
    f("model_rpm_limit", Ty::ModelCount, Empty),
    f("model_tpm_limit", Ty::ModelCount, Empty),
    f("object_permission", Ty::Object, Empty),
];

const CUSTOMER_FIELDS: &[Field] = limit_litellm_fields![
    f("user_id", Ty::Text, Acted),
    f("alias", Ty::Text, Acted),
    f("blocked", Ty::Flag, Acted),
    f("spend", Ty::Money, Acted),
    f("allowed_model_region", Ty::Text, Acted),
    f(
        "default_model",
        Ty::Text,
        Ignored("stored and shown; requests are not rerouted to it")
    ),
    f("metadata", Ty::Object, Acted),
    f("budget_reset_at", Ty::Text, Empty),
    f("object_permission", Ty::Object, Empty),
];

const BUDGET_FIELDS: &[Field] = limit_litellm_fields![f("budget_reset_at", Ty::Text, Empty)];

const MEMBER: Field = f("member", Ty::Object, Acted);
const NAMED_USER: [Field; 2] = [
    f("user_id", Ty::Text, Acted),
    f("user_email", Ty::Text, Acted),
];

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

use Access::{Admin, AnyKey, InternalUser, Own};
use RouteId::*;

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
        f("include_team_keys", Ty::Flag, Ignored("the list already holds every key the caller may see")),
        f("include_created_by_keys", Ty::Flag, Empty),
        f("sort_by", Ty::Text, Empty),
        f("sort_order", Ty::Text, Empty),
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
    route(ModelGroupInfo, GET, "/model_group/info", "Model groups the caller may use, with providers, prices and limits", AnyKey, &[f("model_group", Ty::Text, Acted)]),
];
