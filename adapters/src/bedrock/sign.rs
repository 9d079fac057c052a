//! AWS Signature Version 4 for Bedrock requests (service `bedrock`), computed with `aws-sigv4`:
//! signs the method, path, `host`, `content-type` and body, and appends the `authorization`,
//! `x-amz-date` (and `x-amz-security-token`) headers. Pure: the time comes in as an argument.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign as sigv4_sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::target::ProviderRequest;

/// The SigV4 service name Bedrock runtime signs with.
pub const SERVICE: &str = "bedrock";

/// Static AWS credentials (the gateway reads them from the deployment or the AWS env vars).
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Credentials and region from a deployment's internal `litellm_params`
/// (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`, `aws_region_name`);
/// `None` unless the key id, the secret and the region are all set.
pub fn credentials_from(internal: &Map<String, Value>) -> Option<(AwsCredentials, String)> {
    let get = |k: &str| {
        internal
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let creds = AwsCredentials {
        access_key_id: get("aws_access_key_id")?,
        secret_access_key: get("aws_secret_access_key")?,
        session_token: get("aws_session_token"),
    };
    Some((creds, get("aws_region_name")?))
}

/// Signs `pr` (a POST to `https://{host}{pr.path}`) for `region` at time `now`, appending the
/// signature headers to `pr.headers`.
pub fn sign(
    pr: &mut ProviderRequest,
    host: &str,
    region: &str,
    creds: &AwsCredentials,
    now: SystemTime,
) -> Result<(), ApiError> {
    let failed = |what: &str, e: &dyn fmt::Display| {
        ApiError::new(
            500,
            "api_error",
            format!("bedrock request signing failed ({what}): {e}"),
        )
    };
    let identity: Identity = Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "tollgate",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed("parameters", &e))?
        .into();
    let uri = format!("https://{host}{}", pr.path);
    let headers = [("host", host), ("content-type", "application/json")];
    let request = SignableRequest::new(
        "POST",
        uri,
        headers.into_iter(),
        SignableBody::Bytes(&pr.body),
    )
    .map_err(|e| failed("request", &e))?;
    let (instructions, _signature) = sigv4_sign(request, &params)
        .map_err(|e| failed("signature", &e))?
        .into_parts();
    let (signed, _params) = instructions.into_parts();
    for h in signed {
        pr.headers.push((h.name(), h.value().to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_need_key_secret_and_region() {
        let m = json!({"aws_access_key_id": "AKID", "aws_secret_access_key": "s",
                       "aws_session_token": "", "aws_region_name": "us-east-1"});
        let (c, region) = credentials_from(m.as_object().unwrap()).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token, region.as_str()),
            ("AKID", None, "us-east-1")
        );
        let m = json!({"aws_access_key_id": "AKID", "aws_region_name": "us-east-1"});
        assert!(credentials_from(m.as_object().unwrap()).is_none());
        let m = json!({"aws_access_key_id": "AKID", "aws_secret_access_key": "s"});
        assert!(credentials_from(m.as_object().unwrap()).is_none());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = AwsCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "topsecret".into(),
            session_token: Some("tok".into()),
        };
        let s = format!("{c:?}");
        assert!(s.contains("AKID") && !s.contains("topsecret") && !s.contains("tok\""));
    }
}
