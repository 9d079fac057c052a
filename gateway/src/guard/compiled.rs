//! The configured guardrails compiled once per configuration (held by the runtime, swapped
//! with it on reload): each guardrail's settings and, for a built-in one, its detector.

use std::sync::Arc;

use conf::guard::{GuardKind, Guardrail};
use pingora::connectors::http::Connector;

use super::detect::Detector;

/// One configured guardrail, compiled.
pub struct Guard {
    pub name: Arc<str>,
    pub conf: Guardrail,
    /// A built-in guardrail's detector (`None` for external ones, or when it failed to compile:
    /// then every request it runs on is refused, never let through unchecked).
    pub detector: Option<Arc<Detector>>,
}

/// Every configured guardrail, and the connection pools of the external ones (one for the
/// request path, one for `logging_only` runs on the control runtime).
pub struct Guards {
    pub list: Vec<Guard>,
    pub connector: Connector,
    pub log_connector: Connector,
}

impl std::fmt::Debug for Guards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|g| &*g.name))
            .finish()
    }
}

impl Guards {
    pub fn new(cfg: &[Guardrail]) -> Guards {
        let list = cfg
            .iter()
            .map(|g| {
                let detector = match &g.kind {
                    GuardKind::Local(rules) => match Detector::new(rules) {
                        Ok(d) => Some(Arc::new(d)),
                        Err(e) => {
                            log::error!(
                                "guardrail {}: {e}; requests it applies to are refused",
                                g.name
                            );
                            None
                        }
                    },
                    _ => None,
                };
                Guard {
                    name: Arc::from(g.name.as_str()),
                    conf: g.clone(),
                    detector,
                }
            })
            .collect();
        Guards {
            list,
            connector: Connector::new(None),
            log_connector: Connector::new(None),
        }
    }

    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|g| &*g.name == name)
    }
}
