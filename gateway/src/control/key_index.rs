//! The virtual keys in list order (newest `created_at` first, then token), with the subsets a
//! key list filters on exactly — per team, per user, per organization, per alias — kept up to
//! date as keys are installed and removed, so `/key/list` pages through 100,000 keys without
//! copying or sorting them on every call.
//!
//! Each set holds the key's `Arc` (one pointer per entry) and orders it by the key's own
//! `created_at` and id; a cursor (`created_at`, id) seeks into a set through the same order.

// A set of keys orders them by their id and `created_at` text, which an entity never changes
// (its counters, the interior mutability clippy sees, play no part in the order).
#![allow(clippy::mutable_key_type)]

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use super::entity::Entity;

/// A place in list order: what a set's entries and a cursor have in common.
pub trait Position {
    /// `created_at` as stored (empty when unset: such keys come last).
    fn created(&self) -> &str;
    fn id(&self) -> &str;
}

impl Ord for dyn Position + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .created()
            .cmp(self.created())
            .then_with(|| self.id().cmp(other.id()))
    }
}

impl PartialOrd for dyn Position + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for dyn Position + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for dyn Position + '_ {}

/// A key in a set, ordered newest first.
#[derive(Clone)]
pub struct Newest(pub Arc<Entity>);

impl Position for Newest {
    fn created(&self) -> &str {
        self.0.created_at().unwrap_or("")
    }
    fn id(&self) -> &str {
        &self.0.id
    }
}

impl<'a> Borrow<dyn Position + 'a> for Newest {
    fn borrow(&self) -> &(dyn Position + 'a) {
        self
    }
}

impl Ord for Newest {
    fn cmp(&self, other: &Self) -> Ordering {
        (self as &dyn Position).cmp(other as &dyn Position)
    }
}

impl PartialOrd for Newest {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Newest {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Newest {}

/// Where the previous page ended: the last key's `created_at` and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created: String,
    pub id: String,
}

impl Position for Cursor {
    fn created(&self) -> &str {
        &self.created
    }
    fn id(&self) -> &str {
        &self.id
    }
}

impl Cursor {
    #[cfg(test)]
    pub fn after(e: &Entity) -> Cursor {
        Cursor {
            created: e.created_at().unwrap_or("").to_string(),
            id: e.id.clone(),
        }
    }
}

/// A field a key list filters on exactly, with a set per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Team,
    User,
    Org,
    Alias,
}

impl Field {
    pub const ALL: [Field; 4] = [Field::Team, Field::User, Field::Org, Field::Alias];

    /// The key's value of this field (an empty value counts as unset).
    pub fn of(self, k: &Entity) -> Option<&str> {
        match self {
            Field::Team => k.team_id.as_deref(),
            Field::User => k.user_id.as_deref(),
            Field::Org => k.org_id.as_deref(),
            Field::Alias => k.alias(),
        }
        .filter(|v| !v.is_empty())
    }
}

pub type Set = BTreeSet<Newest>;

/// Every key, and the keys per value of each [`Field`].
#[derive(Default)]
pub struct KeyIndex {
    all: Set,
    by: HashMap<(Field, Box<str>), Set>,
}

impl KeyIndex {
    pub fn insert(&mut self, e: &Arc<Entity>) {
        self.all.insert(Newest(e.clone()));
        for f in Field::ALL {
            if let Some(v) = f.of(e) {
                self.by
                    .entry((f, v.into()))
                    .or_default()
                    .insert(Newest(e.clone()));
            }
        }
    }

    pub fn remove(&mut self, e: &Arc<Entity>) {
        let n = Newest(e.clone());
        self.all.remove(&n);
        for f in Field::ALL {
            if let Some(v) = f.of(e) {
                let k = (f, Box::<str>::from(v));
                if let Some(set) = self.by.get_mut(&k) {
                    set.remove(&n);
                    if set.is_empty() {
                        self.by.remove(&k);
                    }
                }
            }
        }
    }

    pub fn all(&self) -> &Set {
        &self.all
    }

    /// The keys whose `f` is `v`, if any.
    pub fn with(&self, f: Field, v: &str) -> Option<&Set> {
        self.by.get(&(f, Box::<str>::from(v)))
    }
}

/// The entries of `set` strictly after `cursor` in list order (newest first), or in reverse
/// order (`ascending`).
pub fn walk<'a>(
    set: &'a Set,
    cursor: Option<&'a Cursor>,
    ascending: bool,
) -> Box<dyn Iterator<Item = &'a Newest> + 'a> {
    match (cursor, ascending) {
        (None, false) => Box::new(set.iter()),
        (None, true) => Box::new(set.iter().rev()),
        (Some(c), false) => Box::new(
            set.range::<dyn Position, _>((Bound::Excluded(c as &dyn Position), Bound::Unbounded)),
        ),
        (Some(c), true) => Box::new(
            set.range::<dyn Position, _>((Bound::Unbounded, Bound::Excluded(c as &dyn Position)))
                .rev(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn key(id: &str, created: &str, team: Option<&str>) -> Arc<Entity> {
        let mut doc = json!({"created_at": created, "key_alias": format!("alias-{id}")});
        if let Some(t) = team {
            doc["team_id"] = Value::String(t.into());
        }
        let Value::Object(doc) = doc else { panic!() };
        Arc::new(Entity::new(super::super::Kind::Key, id, doc, None))
    }

    fn ids<'a>(it: impl Iterator<Item = &'a Newest>) -> Vec<String> {
        it.map(|n| n.0.id.clone()).collect()
    }

    #[test]
    fn keys_are_ordered_newest_first_and_cursors_seek() {
        let mut ix = KeyIndex::default();
        let a = key("a", "2026-01-01T00:00:00.000Z", Some("t"));
        let b = key("b", "2026-01-02T00:00:00.000Z", None);
        let c = key("c", "2026-01-02T00:00:00.000Z", Some("t"));
        let d = key("d", "", None);
        for k in [&a, &b, &c, &d] {
            ix.insert(k);
        }
        assert_eq!(ids(walk(ix.all(), None, false)), ["b", "c", "a", "d"]);
        assert_eq!(ids(walk(ix.all(), None, true)), ["d", "a", "c", "b"]);
        let after_c = Cursor::after(&c);
        assert_eq!(ids(walk(ix.all(), Some(&after_c), false)), ["a", "d"]);
        assert_eq!(ids(walk(ix.all(), Some(&after_c), true)), ["b"]);
        // A cursor whose key is gone still seeks to the same place.
        ix.remove(&c);
        assert_eq!(ids(walk(ix.all(), Some(&after_c), false)), ["a", "d"]);
        assert_eq!(
            ids(walk(ix.with(Field::Team, "t").unwrap(), None, false)),
            ["a"]
        );
        ix.remove(&a);
        assert!(ix.with(Field::Team, "t").is_none());
        assert_eq!(ix.all().len(), 2);
        assert_eq!(
            ids(walk(ix.with(Field::Alias, "alias-b").unwrap(), None, false)),
            ["b"]
        );
    }
}
