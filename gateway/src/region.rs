//! Data residency: the region (`eu` / `us`) a deployment serves from, read once from its
//! `litellm_params`, and an end user's `allowed_model_region`. Routing keeps a region-bound
//! request on the deployments of its region (`routing::select::candidates`).
//!
//! LiteLLM's router compares `litellm_params.region_name` with the end user's region, so only
//! `region_name: eu|us` counts there. LiteLLM also knows which provider regions are in the EU or
//! the US (`AzureOpenAIConfig`, `VertexAIConfig`, `AmazonBedrockGlobalConfig`
//! `get_eu_regions`/`get_us_regions`, matched by substring); Tollgate classifies those names
//! too, by whole-name rules, so a deployment configured as `region_name: westeurope`,
//! `aws_region_name: eu-central-1` or `vertex_location: europe-west4` counts as `eu` as well.

use conf::Deployment;

/// A data-residency region an end user may be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Eu,
    Us,
}

impl Region {
    /// `eu` / `us` (any case), as `allowed_model_region` and `region_name` take it.
    pub fn parse(s: &str) -> Option<Region> {
        if s.eq_ignore_ascii_case("eu") {
            Some(Region::Eu)
        } else if s.eq_ignore_ascii_case("us") {
            Some(Region::Us)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Region::Eu => "eu",
            Region::Us => "us",
        }
    }
}

/// Azure region names in Europe (LiteLLM's list — `europe`, `sweden`, `switzerland`,
/// `france`, `uk` — plus the other European Azure regions).
const AZURE_EU: &[&str] = &[
    "europe",
    "sweden",
    "switzerland",
    "france",
    "uk",
    "germany",
    "norway",
    "poland",
    "italy",
    "spain",
];

/// The region a provider region name is in: `eu`/`us` themselves; AWS (`eu-central-1`,
/// `us-east-1`, `us-gov-west-1`) and Google Cloud (`europe-west4`, `us-central1`) names by
/// prefix; Azure names (`westeurope`, `swedencentral`, `uksouth`; `eastus2`, `southcentralus`)
/// by what they contain or end with. Anything else (`global`, `asia-east1`, `australiaeast`,
/// `northamerica-northeast1`) is in neither.
pub fn classify(name: &str) -> Option<Region> {
    let n = name.trim().to_ascii_lowercase();
    if let Some(r) = Region::parse(&n) {
        return Some(r);
    }
    if n.starts_with("eu-") || n.starts_with("europe-") {
        return Some(Region::Eu);
    }
    if n.starts_with("us-") {
        return Some(Region::Us);
    }
    if n.contains(['-', '_', ' ']) {
        return None;
    }
    // Azure: one word, letters then an optional number (`eastus2`, `westeurope`).
    if AZURE_EU.iter().any(|e| n.contains(e)) {
        return Some(Region::Eu);
    }
    let word = n.trim_end_matches(|c: char| c.is_ascii_digit());
    let word = word.strip_suffix("euap").unwrap_or(word);
    let word = word.trim_end_matches(|c: char| c.is_ascii_digit());
    word.ends_with("us").then_some(Region::Us)
}

/// The region a deployment serves from: its `region_name`, and where the provider table names
/// a region param (`Dialect::region_param`: Bedrock's `aws_region_name`, Vertex AI's
/// `vertex_location` — us-central1 when unset) the cloud region it actually calls. When both
/// are known and disagree the deployment is in no region: data goes where the cloud region
/// says, whatever `region_name` claims. `None` when unknown: such a deployment serves no
/// region-bound request.
pub fn of_deployment(d: &Deployment) -> Option<Region> {
    let param = |k: &str| d.internal_params.get(k).and_then(|v| v.as_str());
    let declared = param("region_name").map(classify);
    let cloud = d
        .provider
        .dialect()
        .region_param()
        .and_then(param)
        .map(classify);
    match (declared, cloud) {
        (Some(a), Some(b)) if a != b => None,
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_each_cloud_are_classified_by_whole_name() {
        for (name, want) in [
            ("eu", Some(Region::Eu)),
            ("US", Some(Region::Us)),
            // AWS
            ("eu-central-1", Some(Region::Eu)),
            ("eu-north-1", Some(Region::Eu)),
            ("us-east-1", Some(Region::Us)),
            ("us-gov-west-1", Some(Region::Us)),
            ("ap-northeast-1", None),
            ("ca-central-1", None),
            // Google Cloud
            ("europe-west4", Some(Region::Eu)),
            ("us-central1", Some(Region::Us)),
            ("northamerica-northeast1", None),
            ("asia-east1", None),
            ("global", None),
            // Azure
            ("westeurope", Some(Region::Eu)),
            ("swedencentral", Some(Region::Eu)),
            ("uksouth", Some(Region::Eu)),
            ("germanywestcentral", Some(Region::Eu)),
            ("eastus", Some(Region::Us)),
            ("eastus2", Some(Region::Us)),
            ("eastus2euap", Some(Region::Us)),
            ("southcentralus", Some(Region::Us)),
            ("westus3", Some(Region::Us)),
            // LiteLLM matches `us` anywhere in the name, so it counts these as US; they are not.
            ("australiaeast", None),
            ("brazilsouth", None),
            ("canadacentral", None),
            ("", None),
        ] {
            assert_eq!(classify(name), want, "{name}");
        }
    }

    fn deployment(yaml_params: &str) -> Deployment {
        let yaml = format!("model_list:\n  - model_name: g\n    litellm_params: {yaml_params}\n");
        let loaded = conf::load_str(&yaml, None, conf::LoadOptions::default())
            .unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
        loaded.config.model_list[0].clone()
    }

    #[test]
    fn a_deployment_region_comes_from_region_name_else_its_cloud_region() {
        let d = deployment("{model: openai/gpt-4o, api_key: k, region_name: eu}");
        assert_eq!(of_deployment(&d), Some(Region::Eu));
        let d = deployment("{model: openai/gpt-4o, api_key: k}");
        assert_eq!(of_deployment(&d), None);
        let d = deployment(
            "{model: azure/gpt-4o, api_key: k, api_base: \"https://x.openai.azure.com\", api_version: \"2024-02-01\", region_name: swedencentral}",
        );
        assert_eq!(of_deployment(&d), Some(Region::Eu));
        let d = deployment(
            "{model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, aws_region_name: eu-central-1, aws_access_key_id: a, aws_secret_access_key: s}",
        );
        assert_eq!(of_deployment(&d), Some(Region::Eu));
        // A `region_name` the cloud region contradicts puts the deployment in no region.
        let d = deployment(
            "{model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, aws_region_name: us-east-1, aws_access_key_id: a, aws_secret_access_key: s, region_name: eu}",
        );
        assert_eq!(of_deployment(&d), None);
        let d = deployment(
            "{model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, aws_region_name: us-east-1, aws_access_key_id: a, aws_secret_access_key: s, region_name: us}",
        );
        assert_eq!(of_deployment(&d), Some(Region::Us));
    }
}
