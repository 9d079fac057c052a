//! E2E: management requests never lose a field silently. A misspelled or unknown field is a 400
//! naming it (with the field it probably meant) and nothing is written; every field LiteLLM's
//! request models define is known; a LiteLLM field Tollgate does not implement is refused by
//! name ("not supported yet") unless it is empty, or accepted without effect when that cannot
//! matter (documented in docs/keys-and-budgets.md).

use serde_json::{json, Map, Value};

use crate::admin_support::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelled_field_is_refused_by_name_and_nothing_is_created() {
    let gw = start_orgs().await;
    let e = bad(
        post(&gw, "/key/generate", &json!({"max_budgett": 5})).await,
        400,
        "max_budgett",
    )
    .await;
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("Unknown field `max_budgett`"), "{m}");
    assert!(m.contains("Did you mean `max_budget`?"), "{m}");
    let listed = ok(get(&gw, "/key/list").await).await;
    assert_eq!(listed["total_count"], 0, "no key was created: {listed}");

    for (path, body, field, meant) in [
        (
            "/team/new",
            json!({"team_alais": "x"}),
            "team_alais",
            "team_alias",
        ),
        (
            "/user/new",
            json!({"user_emial": "a@b.c"}),
            "user_emial",
            "user_email",
        ),
        (
            "/user/update",
            json!({"user_id": "u", "max_budget": 1, "rpm_limt": 5}),
            "rpm_limt",
            "rpm_limit",
        ),
        (
            "/organization/new",
            json!({"organization_alias": "o", "budget_duraton": "1d"}),
            "budget_duraton",
            "budget_duration",
        ),
        (
            "/budget/new",
            json!({"max_budgte": 1}),
            "max_budgte",
            "max_budget",
        ),
        (
            "/customer/new",
            json!({"user_id": "c", "max_budget": 1, "blokced": true}),
            "blokced",
            "blocked",
        ),
        (
            "/team/member_add",
            json!({"team_id": "t", "member": {"user_id": "u", "role": "user"}, "max_budget_in_tem": 1}),
            "max_budget_in_tem",
            "max_budget_in_team",
        ),
    ] {
        let e = bad(post(&gw, path, &body).await, 400, field).await;
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains(&format!("Did you mean `{meant}`?")),
            "{path}: {e}"
        );
    }
    // Query parameters of read routes too: a misspelled filter would widen the answer.
    let e = bad(get(&gw, "/key/list?team_idd=x").await, 400, "team_idd").await;
    assert!(e["message"].as_str().unwrap().contains("`team_id`"), "{e}");
    // Nothing of the above was written.
    assert_eq!(ok(get(&gw, "/team/list").await).await, json!([]));
    assert_eq!(ok(get(&gw, "/user/list").await).await["total"], 0);
    assert_eq!(ok(get(&gw, "/budget/list").await).await, json!([]));
}

/// A body naming each of `fields` with `null`.
fn nulls(fields: &[&str], with: Value) -> Value {
    let mut m: Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), Value::Null))
        .collect();
    if let Value::Object(w) = with {
        m.extend(w);
    }
    Value::Object(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_of_litellm_s_request_models_is_known() {
    let gw = start_orgs().await;
    // LiteLLM's `GenerateRequestBase` + `KeyRequestBase` + `GenerateKeyRequest` fields.
    const KEY: &[&str] = &[
        "key_alias",
        "duration",
        "models",
        "spend",
        "max_budget",
        "user_id",
        "team_id",
        "agent_id",
        "max_parallel_requests",
        "metadata",
        "tpm_limit",
        "rpm_limit",
        "budget_duration",
        "allowed_cache_controls",
        "config",
        "permissions",
        "model_max_budget",
        "model_rpm_limit",
        "model_tpm_limit",
        "guardrails",
        "policies",
        "prompts",
        "blocked",
        "aliases",
        "object_permission",
        "key",
        "budget_id",
        "tags",
        "enforced_params",
        "allowed_routes",
        "allowed_passthrough_routes",
        "allowed_vector_store_indexes",
        "rpm_limit_type",
        "tpm_limit_type",
        "router_settings",
        "access_group_ids",
        "soft_budget",
        "send_invite_email",
        "key_type",
        "auto_rotate",
        "rotation_interval",
        "organization_id",
        "project_id",
    ];
    let k = ok(post(&gw, "/key/generate", &nulls(KEY, json!({}))).await).await;
    // `UpdateKeyRequest` adds these.
    let update: Vec<&str> = KEY
        .iter()
        .copied()
        .filter(|f| !["send_invite_email", "key_type", "project_id", "soft_budget"].contains(f))
        .chain(["temp_budget_increase", "temp_budget_expiry"])
        .collect();
    ok(post(
        &gw,
        "/key/update",
        &nulls(&update, json!({"key": k["key"]})),
    )
    .await)
    .await;
    let regen: Vec<&str> = KEY
        .iter()
        .copied()
        .chain(["new_key", "new_master_key", "grace_period"])
        .collect();
    ok(post(
        &gw,
        "/key/regenerate",
        &nulls(&regen, json!({"key": k["key"]})),
    )
    .await)
    .await;

    // `NewTeamRequest` / `UpdateTeamRequest`.
    const TEAM: &[&str] = &[
        "team_alias",
        "team_id",
        "organization_id",
        "admins",
        "members",
        "members_with_roles",
        "team_member_permissions",
        "metadata",
        "tpm_limit",
        "rpm_limit",
        "max_budget",
        "soft_budget",
        "budget_duration",
        "models",
        "blocked",
        "router_settings",
        "access_group_ids",
        "model_aliases",
        "tags",
        "guardrails",
        "policies",
        "prompts",
        "object_permission",
        "allowed_passthrough_routes",
        "secret_manager_settings",
        "model_rpm_limit",
        "rpm_limit_type",
        "tpm_limit_type",
        "model_tpm_limit",
        "team_member_budget",
        "team_member_rpm_limit",
        "team_member_tpm_limit",
        "team_member_key_duration",
        "team_member_budget_duration",
        "allowed_vector_store_indexes",
        "enforced_batch_output_expires_after",
        "enforced_file_expires_after",
    ];
    ok(post(&gw, "/team/new", &nulls(TEAM, json!({"team_id": "t"}))).await).await;
    ok(post(&gw, "/team/update", &nulls(TEAM, json!({"team_id": "t"}))).await).await;
    ok(post(&gw, "/team/member_add", &json!({"team_id": "t", "member": {"user_id": "u", "role": "user"}, "max_budget_in_team": null})).await).await;
    ok(post(
        &gw,
        "/team/member_update",
        &nulls(
            &[
                "user_email",
                "max_budget_in_team",
                "role",
                "tpm_limit",
                "rpm_limit",
            ],
            json!({"team_id": "t", "user_id": "u"}),
        ),
    )
    .await)
    .await;

    // `NewUserRequest` / `UpdateUserRequest`.
    const USER: &[&str] = &[
        "key_alias",
        "duration",
        "models",
        "spend",
        "max_budget",
        "user_id",
        "team_id",
        "agent_id",
        "max_parallel_requests",
        "metadata",
        "tpm_limit",
        "rpm_limit",
        "budget_duration",
        "allowed_cache_controls",
        "config",
        "permissions",
        "model_max_budget",
        "model_rpm_limit",
        "model_tpm_limit",
        "guardrails",
        "policies",
        "prompts",
        "blocked",
        "aliases",
        "object_permission",
        "user_email",
        "user_alias",
        "user_role",
    ];
    let new_user: Vec<&str> = USER
        .iter()
        .copied()
        .chain([
            "teams",
            "auto_create_key",
            "send_invite_email",
            "sso_user_id",
            "organizations",
        ])
        .collect();
    ok(post(&gw, "/user/new", &nulls(&new_user, json!({"user_id": "v"}))).await).await;
    let upd_user: Vec<&str> = USER.iter().copied().chain(["password"]).collect();
    ok(post(
        &gw,
        "/user/update",
        &nulls(&upd_user, json!({"user_id": "v"})),
    )
    .await)
    .await;

    // `NewOrganizationRequest` / `LiteLLM_OrganizationTableUpdate`.
    const ORG: &[&str] = &[
        "budget_id",
        "soft_budget",
        "max_budget",
        "max_parallel_requests",
        "tpm_limit",
        "rpm_limit",
        "model_max_budget",
        "budget_duration",
        "organization_id",
        "models",
        "metadata",
        "model_rpm_limit",
        "model_tpm_limit",
        "object_permission",
    ];
    ok(post(
        &gw,
        "/organization/new",
        &nulls(
            ORG,
            json!({"organization_alias": "o", "organization_id": "o"}),
        ),
    )
    .await)
    .await;
    let upd_org: Vec<&str> = ORG
        .iter()
        .copied()
        .chain(["organization_alias", "spend", "updated_by"])
        .collect();
    ok(call(
        &gw,
        reqwest::Method::PATCH,
        "/organization/update",
        Some(&nulls(&upd_org, json!({"organization_id": "o"}))),
    )
    .await)
    .await;
    ok(post(&gw, "/organization/member_add", &json!({"organization_id": "o", "member": {"user_id": "v", "role": "internal_user"}, "max_budget_in_organization": null})).await).await;

    // `BudgetNewRequest`, `NewCustomerRequest`.
    const BUDGET: &[&str] = &[
        "budget_id",
        "max_budget",
        "soft_budget",
        "max_parallel_requests",
        "tpm_limit",
        "rpm_limit",
        "budget_duration",
        "model_max_budget",
        "budget_reset_at",
    ];
    ok(post(
        &gw,
        "/budget/new",
        &nulls(BUDGET, json!({"budget_id": "b"})),
    )
    .await)
    .await;
    let customer: Vec<&str> = BUDGET
        .iter()
        .copied()
        .chain([
            "alias",
            "blocked",
            "spend",
            "allowed_model_region",
            "default_model",
            "object_permission",
        ])
        .collect();
    ok(post(
        &gw,
        "/customer/new",
        &nulls(&customer, json!({"user_id": "c"})),
    )
    .await)
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litellm_fields_tollgate_does_not_implement_are_refused_by_name_unless_empty() {
    let gw = start_orgs().await;
    for (field, value) in [
        ("allowed_routes", json!(["/chat/completions"])),
        ("permissions", json!({"get_spend_routes": true})),
        ("enforced_params", json!(["user"])),
        ("object_permission", json!({"models": ["test-model"]})),
        ("rpm_limit_type", json!("guaranteed_throughput")),
        ("key_type", json!("read_only")),
        ("auto_rotate", json!(true)),
    ] {
        let mut body = json!({});
        body[field] = value;
        let e = bad(post(&gw, "/key/generate", &body).await, 400, field).await;
        assert!(
            e["message"].as_str().unwrap().contains("not supported yet"),
            "{field}: {e}"
        );
    }
    let e = bad(
        post(
            &gw,
            "/user/new",
            &json!({"model_max_budget": {"test-model": 1}}),
        )
        .await,
        400,
        "model_max_budget",
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("not supported yet"),
        "{e}"
    );
    bad(
        post(&gw, "/team/new", &json!({"team_member_budget": 5})).await,
        400,
        "team_member_budget",
    )
    .await;
    assert_eq!(ok(get(&gw, "/key/list").await).await["total_count"], 0);

    // Empty, or the value that is Tollgate's behaviour, is fine; so are fields without effect.
    let k = ok(post(
        &gw,
        "/key/generate",
        &json!({
            "allowed_routes": [], "permissions": {}, "guardrails": [], "rpm_limit_type": "best_effort_throughput",
            "key_type": "default", "auto_rotate": false, "send_invite_email": true, "agent_id": "a1",
        }),
    )
    .await)
    .await;
    assert_eq!(chat(&gw, &secret(&k), "test-model").await, 200);
}
