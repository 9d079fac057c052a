//! End-to-end tests: the real `tollgate` binary against mock providers on 127.0.0.1.
//! Files follow the request lifecycle (auth, admit, route, translate, forward) plus the
//! process-level behaviour (config, shutdown).

mod admin_access;
mod admin_docs;
mod admin_fields;
mod admin_health;
mod admin_keys;
mod admin_orgs;
mod admin_shapes;
mod admin_spend;
mod admin_support;
mod admin_users_teams;
mod admit;
mod agents_claude;
mod agents_codex;
mod auth;
mod budget_modes;
mod budgets;
mod cli;
mod cluster;
mod config;
mod connections;
mod failover;
mod fallback_access;
mod forward;
mod front_door;
mod import_litellm;
mod master_key;
mod provider_table;
mod providers;
mod raw_http;
mod replicas;
mod request_controls;
mod responses;
mod route;
mod router;
mod router_strategies;
mod routing_policy;
mod secrets;
mod shutdown;
mod spill;
mod streaming;
mod support;
mod token_budgets;
mod translate;
mod worst_case;
