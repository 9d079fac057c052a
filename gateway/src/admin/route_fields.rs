//! The request fields of LiteLLM's management request models that a route knows besides the ones
//! its handler reads (from `GenerateKeyRequest`, `UpdateKeyRequest`, `NewTeamRequest`,
//! `NewUserRequest`, `NewOrganizationRequest`, `BudgetNewRequest`, `NewCustomerRequest`, the
//! member requests, and the routes' query parameters), each with what Tollgate does with it.
//! The route table in `spec.rs` names these lists.

use super::validate::Ty;

/// What Tollgate does with a LiteLLM field its handler does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Read by the handler (listed here for its type and for the docs).
    Acted,
    /// Accepted with any value and without effect; the text says why that is harmless.
    Ignored(&'static str),
    /// Accepted only when absent, `null`, empty (`[]`, `{}`, `""`) or `false`; otherwise 400
    /// "not supported yet" — money and access settings are never silently dropped.
    Empty,
    /// Accepted only when absent, `null` or this value; otherwise 400 "not supported yet".
    Only(&'static str),
}

/// One request field a route knows besides its handler's table.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub support: Support,
}

/// Shorthand for the tables.
pub const fn f(name: &'static str, ty: Ty, support: Support) -> Field {
    Field { name, ty, support }
}

use Support::{Acted, Empty, Ignored, Only};

const BEST_EFFORT: Support = Only("best_effort_throughput");
const NO_EMAIL: &str = "Tollgate sends no email";
const TRACKING: &str = "a label LiteLLM tracks agents by; Tollgate keeps no agent registry";

/// The LiteLLM key fields generate, update and regenerate share, and `$more`.
macro_rules! key_fields {
    ($($more:expr),* $(,)?) => {
        &[
            f("duration", Ty::Duration, Acted),
            f("spend", Ty::Money, Acted),
            f("config", Ty::Object, Ignored("key-level config overrides are not applied")),
            f("allowed_cache_controls", Ty::List, Acted),
            f("agent_id", Ty::Text, Ignored(TRACKING)),
            f("allowed_routes", Ty::List, Empty),
            f("allowed_passthrough_routes", Ty::List, Empty),
            f("allowed_vector_store_indexes", Ty::List, Empty),
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

pub(super) const KEY_GENERATE: &[Field] = generate_fields![];

pub(super) const KEY_UPDATE: &[Field] = key_fields![
    f("key", Ty::Text, Acted),
    f("temp_budget_increase", Ty::Money, Empty),
    f("temp_budget_expiry", Ty::Text, Empty),
    f("budget_limits", Ty::List, Empty),
];

pub(super) const KEY_REGENERATE: &[Field] = generate_fields![
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
            f("guardrails", Ty::List, Acted),
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

pub(super) const TEAM_NEW: &[Field] = team_fields![f("members_with_roles", Ty::List, Acted)];
/// Members change through `/team/member_*` (LiteLLM's update request has no member list).
pub(super) const TEAM_UPDATE: &[Field] = team_fields![f("members_with_roles", Ty::List, Empty)];

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

pub(super) const USER_NEW: &[Field] = user_fields![
    f("key_alias", Ty::Text, Acted),
    f("duration", Ty::Duration, Acted),
    f("tags", Ty::List, Acted),
    f("allowed_cache_controls", Ty::List, Acted),
    f("teams", Ty::List, Acted),
    f("organizations", Ty::List, Acted),
    f("auto_create_key", Ty::Flag, Acted),
    f("send_invite_email", Ty::Flag, Ignored(NO_EMAIL)),
];

pub(super) const USER_UPDATE: &[Field] = user_fields![
    f("key_alias", Ty::Text, Empty),
    f("duration", Ty::Duration, Empty),
    f(
        "allowed_cache_controls",
        Ty::List,
        Ignored("cache controls are a key's, not a user's: set them with /key/update")
    ),
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

pub(super) const ORG_FIELDS: &[Field] = limit_litellm_fields![
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

pub(super) const ORG_UPDATE: &[Field] = limit_litellm_fields![
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

pub(super) const CUSTOMER_FIELDS: &[Field] = limit_litellm_fields![
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

pub(super) const BUDGET_FIELDS: &[Field] =
    limit_litellm_fields![f("budget_reset_at", Ty::Text, Empty)];

pub(super) const MEMBER: Field = f("member", Ty::Object, Acted);
pub(super) const NAMED_USER: [Field; 2] = [
    f("user_id", Ty::Text, Acted),
    f("user_email", Ty::Text, Acted),
];
