//! `GET /key/list`: LiteLLM's parameters and answer, read from the control plane's ordered key
//! index (`control::key_index`) so a page costs about its size plus the keys it skips, not a
//! copy and sort of every key. Tollgate adds `search` (alias substring or token prefix) and
//! keyset paging (`cursor` / `next_cursor`) that stays exact while keys are added.

// A set of keys orders them by their id and `created_at` text, which an entity never changes
// (its counters, the interior mutability clippy sees, play no part in the order).
#![allow(clippy::mutable_key_type)]

use std::sync::Arc;

use serde_json::{json, Value};

use super::access::{forbidden, Role, Who};
use super::error::AdminError;
use super::key_secrets::is_token;
use super::request::{page_param, Req};
use super::responses::key_object;
use crate::control::enforce::hash_key;
use crate::control::key_index::{walk, Cursor, Field, KeyIndex, Newest, Position, Set};
use crate::control::{Control, Entity, Kind};

/// The longest `search` accepted.
const MAX_SEARCH: usize = 200;

/// LiteLLM's exact-match filters and the index field each reads.
const FILTERS: [(&str, Field); 4] = [
    ("key_alias", Field::Alias),
    ("team_id", Field::Team),
    ("user_id", Field::User),
    ("organization_id", Field::Org),
];

/// `search`: a case-insensitive substring of `key_alias`, or (8+ hex digits) a token prefix.
struct Search {
    needle: String,
    finder: memchr::memmem::Finder<'static>,
    token_prefix: bool,
}

impl Search {
    fn new(s: &str) -> Search {
        let needle = s.to_lowercase();
        let token_prefix = needle.len() >= 8 && needle.bytes().all(|b| b.is_ascii_hexdigit());
        Search {
            finder: memchr::memmem::Finder::new(needle.as_bytes()).into_owned(),
            needle,
            token_prefix,
        }
    }

    fn matches(&self, k: &Entity) -> bool {
        (self.token_prefix && k.id.starts_with(&self.needle))
            || k.alias().is_some_and(|a| self.in_text(a))
    }

    /// Whether `hay` contains the needle, ignoring case; without allocating for short ASCII.
    fn in_text(&self, hay: &str) -> bool {
        let mut buf = [0u8; 128];
        if hay.is_ascii() && hay.len() <= buf.len() {
            let low = &mut buf[..hay.len()];
            low.copy_from_slice(hay.as_bytes());
            low.make_ascii_lowercase();
            return self.finder.find(low).is_some();
        }
        hay.to_lowercase().contains(&self.needle)
    }
}

/// What one call asks for, checked.
struct Query {
    page: usize,
    size: usize,
    exact: Vec<(Field, String)>,
    search: Option<Search>,
    ascending: bool,
    cursor: Option<Cursor>,
}

impl Query {
    fn matches(&self, k: &Entity, skip: Option<Field>) -> bool {
        self.exact
            .iter()
            .filter(|(f, _)| Some(*f) != skip)
            .all(|(f, v)| f.of(k) == Some(v.as_str()))
            && self.search.as_ref().is_none_or(|s| s.matches(k))
    }
}

/// A `next_cursor`: the last key's token, `:`, its `created_at`.
fn cursor_text(k: &Entity) -> String {
    format!("{}:{}", k.id, k.created_at().unwrap_or(""))
}

fn parse_cursor(s: &str) -> Result<Cursor, AdminError> {
    match s.split_once(':') {
        Some((id, created)) if !id.is_empty() => Ok(Cursor {
            created: created.to_string(),
            id: id.to_string(),
        }),
        _ => Err(AdminError::bad(
            "cursor",
            "cursor must be a next_cursor /key/list returned",
        )),
    }
}

/// The page: its keys, how many keys match in all, and whether more follow it. Without
/// filters left to check, the set's size is the count and the walk stops at the page's end;
/// otherwise one pass counts the matches and picks the page.
fn run(base: &Set, q: &Query, skip: Option<Field>) -> (Vec<Arc<Entity>>, usize, bool) {
    let residual = q.exact.iter().any(|(f, _)| Some(*f) != skip) || q.search.is_some();
    let mut offset = if q.cursor.is_some() {
        0
    } else {
        (q.page - 1).saturating_mul(q.size)
    };
    let mut page: Vec<Arc<Entity>> = Vec::with_capacity(q.size + 1);
    let total = if residual {
        // Matches before the cursor are counted but not listed.
        let mut listing = q.cursor.is_none();
        let mut total = 0;
        for n in walk(base, None, q.ascending) {
            if let (false, Some(c)) = (listing, &q.cursor) {
                let (here, c): (&dyn Position, &dyn Position) = (n, c);
                listing = if q.ascending { here < c } else { here > c };
            }
            if !q.matches(&n.0, skip) {
                continue;
            }
            total += 1;
            if !listing || page.len() > q.size {
                continue;
            }
            if offset > 0 {
                offset -= 1;
            } else {
                page.push(n.0.clone());
            }
        }
        total
    } else {
        page.extend(
            walk(base, q.cursor.as_ref(), q.ascending)
                .skip(offset)
                .take(q.size + 1)
                .map(|n| n.0.clone()),
        );
        base.len()
    };
    let more = page.len() > q.size;
    page.truncate(q.size);
    (page, total, more)
}

/// The teams `user` administers (for `include_team_keys`).
fn admin_teams(c: &Control, user: &str) -> Vec<String> {
    c.list(Kind::Member)
        .into_iter()
        .filter(|m| m.user_id.as_deref() == Some(user))
        .filter_map(|m| m.team_id.clone())
        .filter(|team| super::access::is_team_admin(c, team, user))
        .collect()
}

/// Where the walk starts: a small set built before the index is locked (`key_hash`, an
/// internal user's scope), else the index's smallest exact-filter set, else every key.
enum Base {
    Owned(Set),
    /// The user's own keys and those of the teams it administers.
    Scope(String, Vec<String>),
    Index,
}

fn page_of(ix: &KeyIndex, base: &Base, q: &Query) -> (Vec<Arc<Entity>>, usize, bool) {
    let empty = Set::new();
    match base {
        Base::Owned(set) => run(set, q, None),
        Base::Scope(user, teams) => {
            let mut set: Set = ix.with(Field::User, user).cloned().unwrap_or_default();
            for t in teams {
                if let Some(s) = ix.with(Field::Team, t) {
                    set.extend(s.iter().cloned());
                }
            }
            run(&set, q, None)
        }
        Base::Index => {
            let smallest = q
                .exact
                .iter()
                .map(|(f, v)| (*f, ix.with(*f, v).unwrap_or(&empty)))
                .min_by_key(|(_, s)| s.len());
            match smallest {
                Some((f, set)) => run(set, q, Some(f)),
                None => run(ix.all(), q, None),
            }
        }
    }
}

/// `GET /key/list`: `page`, `size` (default 10, at most 100), exact filters `key_alias`,
/// `team_id`, `user_id`, `organization_id`, `key_hash`; `search`; `sort_by=created_at`,
/// `sort_order`; `cursor`; `return_full_object=true` gives key objects, otherwise tokens.
/// An internal user lists its own keys, and with `include_team_keys=true` also those of the
/// teams it administers.
pub async fn list(c: &Control, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let page = page_param(req, "page", usize::MAX)?.unwrap_or(1);
    let size = page_param(req, "size", 100)?.unwrap_or(10);
    let full = req.boolean("return_full_object")?.unwrap_or(false);
    let mut exact = Vec::new();
    for (name, f) in FILTERS {
        if let Some(v) = req.string(name)?.filter(|v| !v.is_empty()) {
            exact.push((f, v));
        }
    }
    let mut base = Base::Index;
    if !(who.is_admin() || who.role == Role::Viewer) {
        let me = who.own_user()?.to_string();
        if let Some((_, other)) = exact.iter().find(|(f, v)| *f == Field::User && *v != me) {
            return Err(forbidden(format!(
                "You are not authorized to check another user's keys. Your user_id={me}, requested user_id={other}"
            )));
        }
        if req.boolean("include_team_keys")?.unwrap_or(false) {
            let teams = admin_teams(c, &me);
            base = Base::Scope(me, teams);
        } else if !exact.iter().any(|(f, _)| *f == Field::User) {
            exact.push((Field::User, me));
        }
    }
    if let Some(h) = req.string("key_hash")?.filter(|v| !v.is_empty()) {
        let token = if is_token(&h) {
            h.to_ascii_lowercase()
        } else {
            hash_key(&h)
        };
        let found: Set = c.get(Kind::Key, &token).map(Newest).into_iter().collect();
        base = match base {
            // An internal user's scope still applies to the one key.
            Base::Scope(user, teams) => {
                let ok = found.iter().all(|n| {
                    n.0.user_id.as_deref() == Some(user.as_str())
                        || n.0.team_id.as_ref().is_some_and(|t| teams.contains(t))
                });
                Base::Owned(if ok { found } else { Set::new() })
            }
            _ => Base::Owned(found),
        };
    }
    let search = req.string("search")?.map(|s| s.trim().to_string());
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SEARCH)
    {
        return Err(AdminError::bad(
            "search",
            format!("search must be at most {MAX_SEARCH} characters"),
        ));
    }
    match req.string("sort_by")?.as_deref() {
        None | Some("") | Some("created_at") => {}
        Some(other) => {
            return Err(AdminError::bad(
                "sort_by",
                format!(
                    "sort_by must be created_at (keys are kept in creation order), got {other}"
                ),
            ))
        }
    }
    let ascending = match req.string("sort_order")?.as_deref() {
        None | Some("") | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(AdminError::bad(
                "sort_order",
                format!("sort_order must be asc or desc, got {other}"),
            ))
        }
    };
    let cursor = match req.string("cursor")?.filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_cursor(&s)?),
        None => None,
    };
    let q = Query {
        page,
        size,
        exact,
        search: search.filter(|s| !s.is_empty()).map(|s| Search::new(&s)),
        ascending,
        cursor,
    };
    // The index lock is held only to pick the page: building key objects reads other entities.
    let (keys, total, more) = c.with_key_index(|ix| page_of(ix, &base, &q));
    let next = if more {
        keys.last().map(|k| Value::String(cursor_text(k)))
    } else {
        None
    };
    let items: Vec<Value> = keys
        .iter()
        .map(|k| {
            if full {
                Value::Object(key_object(c, k))
            } else {
                Value::String(k.id.clone())
            }
        })
        .collect();
    Ok(json!({
        "keys": items,
        "total_count": total,
        "current_page": page,
        "total_pages": total.div_ceil(size),
        "next_cursor": next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_ignores_case_and_matches_token_prefixes() {
        let s = Search::new("Team-A");
        assert!(s.in_text("my-TEAM-a-key"));
        assert!(!s.in_text("team-b"));
        assert!(!s.token_prefix);
        assert!(Search::new("équipe").in_text("ÉQUIPE 1"));
        assert!(s.in_text(&format!("{}team-a", "x".repeat(300))));
        assert!(Search::new("0123abcd").token_prefix);
        assert!(!Search::new("0123abc").token_prefix);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_a_400() {
        let c = parse_cursor("abc:2026-01-01T00:00:00.000Z").unwrap();
        assert_eq!(
            (c.id.as_str(), c.created.as_str()),
            ("abc", "2026-01-01T00:00:00.000Z")
        );
        assert_eq!(parse_cursor("abc:").unwrap().created, "");
        assert!(parse_cursor("abc").is_err());
        assert!(parse_cursor(":x").is_err());
    }
}
