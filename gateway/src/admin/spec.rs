//! What a management route accepts, and the check every request passes before its handler: the
//! route's request fields (the ones its handler reads, plus LiteLLM's fields Tollgate does not
//! act on, each with what Tollgate does with it) and who may call it. A field no route knows is
//! a 400 naming it, with the closest known name; a LiteLLM field Tollgate does not implement is
//! a 400 "not supported yet" unless it is empty — nothing is silently dropped. The table itself
//! is in `spec_table.rs`; `/routes` and `/openapi.json` are generated from it.

use serde_json::{json, Value};

use super::fields::Ty;
use super::{AdminError, Req};

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
}

/// Who may call a route (besides proxy admins, who may call every route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Proxy admins only (`proxy_admin_viewer` users too when the route only reads).
    Admin,
    /// Any virtual key; the handler limits what it sees to its own key, user or team.
    Own,
    /// Proxy admins and `internal_user` users; the handler limits them to their own keys.
    InternalUser,
    /// Any virtual key; the answer is limited to the models the key may call.
    AnyKey,
}

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
        Ty::Role => json!({"type": "string", "enum": super::fields::ROLES}),
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
    super::spec_table::ROUTES
}

/// The route serving `method` + `path`, if any; `Err(true)` when the path is known but not
/// with this method.
pub fn find(method: &str, path: &str) -> Result<&'static RouteSpec, bool> {
    let mut known_path = false;
    for r in super::spec_table::ROUTES {
        if r.matches(path) {
            if r.methods.contains(&method) {
                return Ok(r);
            }
            known_path = true;
        }
    }
    Err(known_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::spec_table::ROUTES;

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
