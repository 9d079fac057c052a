//! Stage 3, route: model group → the deployment to call. Round-robin within the group for now;
//! strategies, cooldowns and fallbacks arrive with the router.

use std::sync::Arc;

use crate::error::GatewayError;
use crate::state::{DeploymentRt, Runtime};

pub fn pick(runtime: &Runtime, model: &str) -> Result<Arc<DeploymentRt>, GatewayError> {
    match runtime.groups.get(model) {
        Some(group) => Ok(group.pick().clone()),
        None => Err(GatewayError::UnknownModel {
            model: model.to_string(),
            available: if runtime.group_names.is_empty() {
                "(none configured)".to_string()
            } else {
                runtime.group_names.join(", ")
            },
        }),
    }
}
