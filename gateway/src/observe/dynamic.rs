//! Per-key / per-team callback credentials (LiteLLM's key- and team-based logging): a key's or
//! team's `metadata.logging` entry with `callback_vars.langfuse_public_key` /
//! `langfuse_secret_key` (/ `langfuse_host`) sends that key's events to its own Langfuse
//! project. One sink per (host, public key), built on first use with its own bounded queue and
//! sender task on the control runtime, like the configured sinks; at most [`MAX_SINKS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use conf::observe::callbacks::{QueueSettings, SinkKind};
use conf::Secret;
use pingora::connectors::http::Connector;
use serde_json::Value;

use super::langfuse::Langfuse;
use super::queue::Sink;

/// Distinct Langfuse projects keys and teams may log to; more are refused (warned once).
pub const MAX_SINKS: usize = 256;
/// Langfuse's host when `langfuse_host` is not given (LiteLLM's default).
const DEFAULT_HOST: &str = "https://cloud.langfuse.com";

/// A key's or team's own Langfuse credentials, from one `metadata.logging` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    /// The entry's `callback_name` (`langfuse`): the configured sink of that name is replaced.
    pub name: String,
    pub host: String,
    pub public_key: String,
    pub secret_key: String,
}

impl Creds {
    /// The credentials of a `metadata.logging` entry, if it carries Langfuse keys; values may
    /// be `os.environ/NAME` references.
    pub fn of(entry: &Value, name: &str) -> Option<Creds> {
        let vars = entry.get("callback_vars")?;
        let var = |k: &str| -> Option<String> {
            let v = vars.get(k)?.as_str()?;
            match v.strip_prefix("os.environ/") {
                Some(env) => std::env::var(env).ok(),
                None => Some(v.to_string()),
            }
            .filter(|v| !v.is_empty())
        };
        Some(Creds {
            name: name.to_string(),
            public_key: var("langfuse_public_key")?,
            secret_key: var("langfuse_secret_key")?,
            host: var("langfuse_host")
                .unwrap_or_else(|| DEFAULT_HOST.to_string())
                .trim_end_matches('/')
                .to_string(),
        })
    }
}

/// (host, public key) → its sink (`None`: could not be built, or over [`MAX_SINKS`]).
type Sinks = HashMap<(String, String), Option<Arc<Sink>>>;

/// The sinks built for keys' and teams' own credentials.
pub struct Dynamic {
    sinks: Mutex<Sinks>,
    /// [`MAX_SINKS`] reached (warned once).
    full: std::sync::atomic::AtomicBool,
    queue: QueueSettings,
    wants_text: bool,
    rt: tokio::runtime::Handle,
    connector: Arc<Connector>,
}

impl Dynamic {
    pub fn new(
        queue: QueueSettings,
        wants_text: bool,
        rt: tokio::runtime::Handle,
        connector: Arc<Connector>,
    ) -> Dynamic {
        Dynamic {
            sinks: Mutex::default(),
            full: Default::default(),
            queue,
            wants_text,
            rt,
            connector,
        }
    }

    /// The sink of `c`, built (and its sender started) on first use; `None` when it cannot be
    /// built (a bad host) or there are [`MAX_SINKS`] already.
    pub fn sink(&self, c: &Creds) -> Option<Arc<Sink>> {
        let id = (c.host.clone(), c.public_key.clone());
        let mut sinks = self.sinks.lock().expect("dynamic sinks lock");
        if let Some(s) = sinks.get(&id) {
            return s.clone();
        }
        if sinks.len() >= MAX_SINKS {
            if !self.full.swap(true, std::sync::atomic::Ordering::Relaxed) {
                log::warn!(
                    "callback {}: more than {MAX_SINKS} key/team Langfuse projects; the events of further ones are dropped",
                    c.name
                );
            }
            return None;
        }
        let conf = conf::observe::callbacks::Sink {
            name: c.name.clone(),
            on_success: true,
            on_failure: true,
            kind: SinkKind::Langfuse {
                host: c.host.clone(),
                public_key: Secret::new(c.public_key.clone()),
                secret_key: Secret::new(c.secret_key.clone()),
            },
            queue: self.queue,
        };
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.public_key, c.secret_key));
        let built = Sink::new(
            &conf,
            &format!("{}/api/public/ingestion", c.host),
            vec![("authorization".into(), format!("Basic {auth}"))],
            Box::new(Langfuse),
            self.wants_text,
        );
        let sink = match built {
            Ok(s) => {
                let s = Arc::new(s);
                self.rt.spawn(s.clone().run(self.connector.clone()));
                log::info!(
                    "callback {}: a key's or team's own project at {}",
                    c.name,
                    c.host
                );
                Some(s)
            }
            Err(e) => {
                log::warn!(
                    "callback {}: a key's or team's Langfuse host: {e}; off",
                    c.name
                );
                None
            }
        };
        sinks.insert(id, sink.clone());
        sink
    }

    /// Every sink built so far (shutdown flush).
    pub fn all(&self) -> Vec<Arc<Sink>> {
        self.sinks
            .lock()
            .expect("dynamic sinks lock")
            .values()
            .flatten()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Creds;

    #[test]
    fn creds_from_callback_vars() {
        let e = json!({"callback_name": "langfuse", "callback_vars": {
            "langfuse_public_key": "pk-1", "langfuse_secret_key": "sk-1",
            "langfuse_host": "http://lf.example/"}});
        let c = Creds::of(&e, "langfuse").unwrap();
        assert_eq!(c.host, "http://lf.example");
        assert_eq!(
            (c.public_key.as_str(), c.secret_key.as_str()),
            ("pk-1", "sk-1")
        );
        let e = json!({"callback_vars": {"langfuse_public_key": "pk-1"}});
        assert_eq!(Creds::of(&e, "langfuse"), None);
        let e = json!({"callback_vars": {"langfuse_public_key": "pk",
            "langfuse_secret_key": "os.environ/TOLLGATE_TEST_UNSET_LF_SECRET"}});
        assert_eq!(Creds::of(&e, "langfuse"), None);
    }
}
