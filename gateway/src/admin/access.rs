//! Who may call which management route, as LiteLLM decides it: proxy admins everything,
//! `proxy_admin_viewer` users every route that only reads, `internal_user` users their own keys
//! (minted within their team's limits), and every virtual key its own key, user and team. The
//! route-level check is here; the scope checks (whose key, which team) are the helpers the key,
//! user and team handlers call.

use std::sync::Arc;

use serde_json::Value;

use super::error::AdminError;
use crate::control::enforce::Caller;
use crate::control::{Control, Entity, Kind};
use crate::error::GatewayError;

/// What the caller may do, from its key's user's `user_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The master key, no master key configured, or a `proxy_admin` user's key.
    Admin,
    /// A `proxy_admin_viewer` user's key: every management route that only reads.
    Viewer,
    /// An `internal_user` user's key: its own keys, within its teams' limits.
    Internal,
    /// Any other virtual key (no user, or `internal_user_viewer`): its own key, user and team.
    Key,
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

/// The caller of a management route.
#[derive(Debug, Clone)]
pub struct Who {
    pub caller: Caller,
    pub role: Role,
    /// The user of the caller's key, if it has one.
    pub user_id: Option<String>,
}

impl Who {
    pub fn of(c: &Control, caller: Caller) -> Who {
        let key = caller.key().cloned();
        let user_id = key.as_ref().and_then(|k| k.user_id.clone());
        let role = match &caller {
            Caller::Open | Caller::Master => Role::Admin,
            Caller::Key(_) => {
                let user_role = user_id
                    .as_deref()
                    .and_then(|u| c.get(Kind::User, u))
                    .and_then(|u| u.role.clone());
                match user_role.as_deref() {
                    Some("proxy_admin") => Role::Admin,
                    Some("proxy_admin_viewer") => Role::Viewer,
                    Some("internal_user") => Role::Internal,
                    _ => Role::Key,
                }
            }
        };
        Who {
            caller,
            role,
            user_id,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The caller's own key.
    pub fn key(&self) -> Option<&Arc<Entity>> {
        self.caller.key()
    }

    /// The caller's user id, or 403 (LiteLLM's words) for a key without one.
    pub fn own_user(&self) -> Result<&str, AdminError> {
        self.user_id.as_deref().ok_or_else(|| {
            forbidden("You are not authorized to access this endpoint. No 'user_id' is associated with your API key.")
        })
    }

    /// `user_role` as LiteLLM prints it in messages.
    fn role_name(&self, c: &Control) -> String {
        self.user_id
            .as_deref()
            .and_then(|u| c.get(Kind::User, u))
            .and_then(|u| u.role.clone())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The caller's own key hash when it may see only its own usage (not an admin or viewer).
pub fn own_key_scope(who: &Who) -> Result<Option<String>, AdminError> {
    if matches!(who.role, Role::Admin | Role::Viewer) {
        return Ok(None);
    }
    match who.key() {
        Some(k) => Ok(Some(k.id.clone())),
        None => Err(forbidden("no key to scope the usage to")),
    }
}

/// A 403 `permission_error`.
pub fn forbidden(message: impl Into<String>) -> AdminError {
    AdminError::from(GatewayError::Forbidden(message.into()))
}

/// Whether the caller may call the route at all (403 with LiteLLM's message otherwise).
/// `access` is the route's, `reads` whether it only reads.
pub fn admit(
    c: &Control,
    who: &Who,
    access: Access,
    reads: bool,
    path: &str,
) -> Result<(), AdminError> {
    let ok = match who.role {
        Role::Admin => true,
        Role::Viewer => reads,
        Role::Internal => access != Access::Admin,
        Role::Key => matches!(access, Access::Own | Access::AnyKey),
    };
    if ok {
        return Ok(());
    }
    Err(forbidden(format!(
        "Only proxy admin can be used to generate, delete, update info for new keys/users/teams. Route={path}. Your role={}. Your user_id={}",
        who.role_name(c),
        mask(who.user_id.as_deref().unwrap_or("unknown"))
    )))
}

/// A user id as LiteLLM shows it in refusals: the first 6 and last 2 characters.
fn mask(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if id == "unknown" {
        return id.to_string();
    }
    if chars.len() <= 8 {
        return "***".into();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// Whether `user_id` is a member of `team_id` with role `admin`.
pub fn is_team_admin(c: &Control, team_id: &str, user_id: &str) -> bool {
    member_role(c, team_id, user_id).as_deref() == Some("admin")
}

/// `user_id`'s role in `team_id` (`admin` / `user`), if a member.
pub fn member_role(c: &Control, team_id: &str, user_id: &str) -> Option<String> {
    c.get(Kind::Member, &format!("{team_id}/{user_id}"))
        .map(|m| {
            m.doc()
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("user")
                .to_string()
        })
}

/// Whether the caller may manage `key` (update, delete, regenerate it): a proxy admin, the key's
/// user, or an admin of the key's team.
pub fn may_manage_key(c: &Control, who: &Who, key: &Entity) -> bool {
    if who.is_admin() {
        return true;
    }
    let Some(me) = who.user_id.as_deref() else {
        return false;
    };
    key.user_id.as_deref() == Some(me)
        || key
            .team_id
            .as_deref()
            .is_some_and(|t| is_team_admin(c, t, me))
}

/// Whether the caller may read `key`'s info: [`may_manage_key`], or the caller's own key.
pub fn may_read_key(c: &Control, who: &Who, key: &Entity) -> bool {
    who.key().is_some_and(|k| k.id == key.id) || may_manage_key(c, who, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_masked_as_litellm_masks_them() {
        assert_eq!(mask("alice"), "***");
        assert_eq!(mask("user-1234567"), "user-1****67");
        assert_eq!(mask("unknown"), "unknown");
    }
}
