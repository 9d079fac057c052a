//! E2E: `/key/list` on many keys, loaded straight into the SQLite file before the gateway
//! starts. CI runs 5,000 keys: keyset paging stays exact (no duplicate, no gap) while keys are
//! created between pages, offset pages and every filter (team, user, organization, alias,
//! `search`, `key_hash`, sort order) answer exactly what a scan would, each call well under
//! 200 ms. The 100,000-key timings are `#[ignore]`d:
//!
//! ```text
//! cargo test -p gateway --test e2e admin_key_list_timings_100k -- --ignored --nocapture
//! ```

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use store::Store;

use crate::admin_support::*;
use crate::support::*;

const TEAMS: usize = 7;
const USERS: usize = 13;

/// A seeded key: what the filters read, and its place in list order.
#[derive(Clone)]
struct Seeded {
    token: String,
    alias: String,
    team: String,
    user: String,
    org: Option<String>,
    created: String,
}

fn seeded(n: usize) -> Vec<Seeded> {
    // A day ago, one second apart, three keys per second (ties broken by token).
    let base = chrono::Utc::now().timestamp_millis() - 86_400_000;
    (0..n)
        .map(|i| Seeded {
            token: token(i),
            alias: format!("Key-{i:06}"),
            team: format!("team-{}", i % TEAMS),
            user: format!("user-{}", i % USERS),
            org: (i % 2 == 0).then(|| format!("org-{}", i % 3)),
            created: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(
                base + (i / 3) as i64 * 1000,
            )
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
        .collect()
}

/// A token-like id (64 hex digits, spread out, distinct for every `i`).
fn token(i: usize) -> String {
    let x = (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    format!("{x:032x}{:032x}", x.rotate_left(17))
}

/// Newest first, then token: the list's order.
fn in_list_order(mut keys: Vec<Seeded>) -> Vec<Seeded> {
    keys.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.token.cmp(&b.token))
    });
    keys
}

async fn load(store: &Store, keys: &[Seeded]) {
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for part in keys.chunks(keys.len().div_ceil(4)) {
        let (store, part) = (store.clone(), part.to_vec());
        tasks.spawn(async move {
            for k in part {
                let doc = json!({
                    "token": k.token, "key_name": "sk-...test", "key_alias": k.alias,
                    "team_id": k.team, "user_id": k.user, "organization_id": k.org,
                    "max_budget": 100.0, "budget_duration": "30d", "models": [],
                    "metadata": {}, "blocked": false,
                    "created_at": k.created, "updated_at": k.created,
                });
                store
                    .put_entity("key", &k.token, &doc.to_string(), 0)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    eprintln!(
        "loaded {} keys in {:.1} s",
        keys.len(),
        t.elapsed().as_secs_f64()
    );
}

/// A gateway whose database already holds `keys`.
async fn start_with(keys: &[Seeded]) -> Gateway {
    let dir = scratch_dir();
    let path = dir.join("keys.db");
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    load(&store, keys).await;
    store.close().await;
    Gateway::start_within(&keys_config(Some(&path)), Duration::from_secs(180)).await
}

fn tokens(list: &Value) -> Vec<String> {
    list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            k["token"]
                .as_str()
                .unwrap_or_else(|| k.as_str().unwrap())
                .to_string()
        })
        .collect()
}

/// GET, asserting a 200, with the time it took.
async fn timed(gw: &Gateway, path: &str) -> (Value, Duration) {
    let t = Instant::now();
    let v = ok(get(gw, path).await).await;
    (v, t.elapsed())
}

/// Follows `next_cursor` from the first page to the end; `between` runs after each page.
async fn walk(
    gw: &Gateway,
    query: &str,
    size: usize,
    mut between: impl AsyncFnMut(),
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = format!("/key/list?size={size}&{query}");
    loop {
        let (page, _) = timed(gw, &path).await;
        seen.extend(tokens(&page));
        between().await;
        match page["next_cursor"].as_str() {
            Some(c) => {
                let c: String = url_encode(c);
                path = format!("/key/list?size={size}&{query}&cursor={c}");
            }
            None => break,
        }
    }
    seen
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn expect(keys: &[Seeded], f: impl Fn(&Seeded) -> bool) -> Vec<String> {
    keys.iter()
        .filter(|k| f(k))
        .map(|k| k.token.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_key_list_pages_exactly_while_keys_are_added() {
    let keys = in_list_order(seeded(5_000));
    let gw = start_with(&keys).await;
    let all: Vec<String> = keys.iter().map(|k| k.token.clone()).collect();

    // Keyset paging: every seeded key once, in order, although a key is created per page.
    let mut added = 0;
    let seen = walk(&gw, "", 100, async || {
        generate(&gw, json!({"key_alias": format!("added-{added}")})).await;
        added += 1;
    })
    .await;
    assert_eq!(seen.len(), all.len(), "duplicates or gaps");
    assert_eq!(seen, all);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), all.len());
    // The added keys are the newest: they lead the list now.
    let first = ok(get(&gw, "/key/list?size=5&return_full_object=true").await).await;
    assert_eq!(
        first["total_count"],
        all.len() + added,
        "{}",
        first["total_count"]
    );
    assert_eq!(
        first["keys"][0]["key_alias"],
        format!("added-{}", added - 1)
    );

    // A filtered cursor walk, oldest first.
    let mut team3 = expect(&keys, |k| k.team == "team-3");
    team3.reverse();
    assert_eq!(
        walk(&gw, "team_id=team-3&sort_order=asc", 37, async || {}).await,
        team3
    );

    // Offset pages of a filter: the same keys, page by page, with LiteLLM's counts.
    let users5 = expect(&keys, |k| k.user == "user-5");
    let mut paged = Vec::new();
    for page in 1.. {
        let p = ok(get(
            &gw,
            &format!("/key/list?user_id=user-5&size=50&page={page}"),
        )
        .await)
        .await;
        assert_eq!(p["total_count"], users5.len());
        assert_eq!(p["total_pages"], users5.len().div_ceil(50));
        assert_eq!(p["current_page"], page);
        let t = tokens(&p);
        if t.is_empty() {
            break;
        }
        paged.extend(t);
    }
    assert_eq!(paged, users5);

    // Every filter, alone and combined, answers what a scan of the seeded keys would.
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            "team_id=team-2".into(),
            expect(&keys, |k| k.team == "team-2"),
        ),
        (
            "organization_id=org-1".into(),
            expect(&keys, |k| k.org.as_deref() == Some("org-1")),
        ),
        (
            "team_id=team-4&user_id=user-7&organization_id=org-0".into(),
            expect(&keys, |k| {
                k.team == "team-4" && k.user == "user-7" && k.org.as_deref() == Some("org-0")
            }),
        ),
        (
            "key_alias=Key-000042".into(),
            expect(&keys, |k| k.alias == "Key-000042"),
        ),
        ("key_alias=key-000042".into(), vec![]),
        // `search`: case-insensitive alias substring.
        (
            "search=key-00012".into(),
            expect(&keys, |k| k.alias.starts_with("Key-00012")),
        ),
        (
            "search=KEY-0001&team_id=team-1".into(),
            expect(&keys, |k| {
                k.alias.starts_with("Key-0001") && k.team == "team-1"
            }),
        ),
        ("search=no-such-alias".into(), vec![]),
        // A token prefix (8+ hex digits) finds its key.
        (
            format!("search={}", &keys[10].token[..12]),
            vec![keys[10].token.clone()],
        ),
        (
            format!("key_hash={}", keys[20].token),
            vec![keys[20].token.clone()],
        ),
        (
            format!("key_hash={}&team_id=team-nope", keys[20].token),
            vec![],
        ),
        ("team_id=team-nope".into(), vec![]),
    ];
    let mut worst = Duration::ZERO;
    for (query, want) in &cases {
        let (p, took) = timed(&gw, &format!("/key/list?size=100&{query}")).await;
        worst = worst.max(took);
        assert_eq!(p["total_count"], want.len(), "{query}: {p}");
        assert_eq!(tokens(&p), want[..want.len().min(100)], "{query}");
        assert_eq!(p["next_cursor"].is_string(), want.len() > 100, "{query}");
    }
    let full = ok(get(&gw, "/key/list?search=key-000042&return_full_object=true").await).await;
    assert_eq!(full["keys"][0]["key_alias"], "Key-000042");
    assert_eq!(
        full["keys"][0]["team_id"],
        keys.iter().find(|k| k.alias == "Key-000042").unwrap().team
    );

    // The last offset page and a deep one cost about as much as the first.
    for page in [1, 50, 100, 200] {
        let (p, took) = timed(
            &gw,
            &format!("/key/list?size=25&page={page}&return_full_object=true"),
        )
        .await;
        worst = worst.max(took);
        assert_eq!(p["keys"].as_array().unwrap().len(), 25);
    }
    eprintln!(
        "5,000 keys: slowest /key/list call {:.1} ms",
        worst.as_secs_f64() * 1e3
    );
    assert!(worst < Duration::from_millis(200), "slowest {worst:?}");

    bad(get(&gw, "/key/list?sort_by=spend").await, 400, "sort_by").await;
    bad(get(&gw, "/key/list?sort_order=up").await, 400, "sort_order").await;
    bad(get(&gw, "/key/list?cursor=garbage").await, 400, "cursor").await;
    let long = "x".repeat(201);
    bad(
        get(&gw, &format!("/key/list?search={long}")).await,
        400,
        "search",
    )
    .await;
}

/// p50 and max of `runs` calls (after a warm-up).
async fn bench(gw: &Gateway, name: &str, path: &str, runs: usize) -> Duration {
    timed(gw, path).await;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        times.push(timed(gw, path).await.1);
    }
    times.sort();
    let (p50, max) = (times[runs / 2], times[runs - 1]);
    eprintln!(
        "{name:36} p50 {:7.1} ms  max {:7.1} ms",
        p50.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "loads 100,000 keys; run for the numbers"]
async fn admin_key_list_timings_100k() {
    let keys = in_list_order(seeded(100_000));
    let gw = start_with(&keys).await;
    let deep = ok(get(&gw, "/key/list?size=25&page=2000").await).await;
    let last = tokens(&deep).pop().unwrap();
    let at = keys.iter().find(|k| k.token == last).unwrap();
    let cursor = url_encode(&format!("{}:{}", at.token, at.created));
    let ui = "size=25&return_full_object=true";
    let mut worst = Duration::ZERO;
    for (name, q) in [
        ("first page", String::new()),
        ("page 2,000 (offset 50,000)", "page=2000".into()),
        ("last page (4,000)", "page=4000".into()),
        ("cursor after 50,000", format!("cursor={cursor}")),
        ("oldest first", "sort_order=asc".into()),
        ("team (1 in 7)", "team_id=team-3".into()),
        ("team, last page", "team_id=team-3&page=571".into()),
        ("user + org", "user_id=user-5&organization_id=org-1".into()),
        ("alias exact", "key_alias=Key-054321".into()),
        ("search alias substring (1 in 10)", "search=1".into()),
        ("search alias, few matches", "search=key-05432".into()),
        ("search + team", "search=key-05&team_id=team-2".into()),
        ("search, none", "search=nothing-here".into()),
        ("key_hash", format!("key_hash={}", keys[777].token)),
    ] {
        let t = bench(&gw, name, &format!("/key/list?{ui}&{q}"), 11).await;
        worst = worst.max(t);
    }
    eprintln!("100,000 keys: worst {:.1} ms", worst.as_secs_f64() * 1e3);
}

/// GET `path` with `key`.
async fn get_as(gw: &Gateway, key: &str, path: &str) -> Value {
    ok(client()
        .get(gw.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap())
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_key_list_include_team_keys_adds_the_teams_a_user_administers() {
    let gw = start_keys().await;
    ok(post(&gw, "/team/new", &json!({"team_id": "eng"})).await).await;
    ok(post(&gw, "/team/new", &json!({"team_id": "ops"})).await).await;
    let mut secrets = Vec::new();
    for u in ["lead", "alice"] {
        let k = ok(post(&gw, "/user/new", &json!({"user_id": u})).await).await;
        secrets.push(secret(&k));
    }
    for (u, role) in [("lead", "admin"), ("alice", "user")] {
        let m = json!({"team_id": "eng", "member": {"user_id": u, "role": role}});
        ok(post(&gw, "/team/member_add", &m).await).await;
    }
    let eng_alice = generate(&gw, json!({"team_id": "eng", "user_id": "alice"})).await;
    let eng_none = generate(&gw, json!({"team_id": "eng"})).await;
    generate(&gw, json!({"team_id": "ops"})).await;
    let (lead, alice) = (&secrets[0], &secrets[1]);

    let own = get_as(&gw, lead, "/key/list").await;
    assert_eq!(own["total_count"], 1, "{own}");
    let with_team = get_as(&gw, lead, "/key/list?include_team_keys=true").await;
    assert_eq!(with_team["total_count"], 3, "{with_team}");
    let t = tokens(&with_team);
    for k in [&eng_alice, &eng_none] {
        assert!(
            t.contains(&k["token"].as_str().unwrap().to_string()),
            "{with_team}"
        );
    }
    // The filters still apply within that scope.
    let searched = get_as(&gw, lead, "/key/list?include_team_keys=true&team_id=eng").await;
    assert_eq!(searched["total_count"], 2, "{searched}");
    // A plain member of the team gets its own keys only.
    let member = get_as(&gw, alice, "/key/list?include_team_keys=true").await;
    assert_eq!(member["total_count"], 2, "{member}");
}
