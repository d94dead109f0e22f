//! The two SQS calls the recording notifications need (`ReceiveMessage`, `DeleteMessage`, in
//! SQS's JSON protocol, signed with AWS Signature Version 4) and the S3 event notification body.
//!
//! Written here rather than with `aws-sdk-sqs`: the SDK brings a second HTTP and TLS stack (and a
//! C build of aws-lc) into every build on a two-core machine for two requests, while S3 itself
//! goes through `object_store`. The signing below is SigV4 as AWS documents it; the test checks
//! it against the example in AWS's documentation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::S3Connection;

/// `AWS_PROCESS_RECORDING_QUEUE_URL`.
pub const QUEUE_URL: &str = "AWS_PROCESS_RECORDING_QUEUE_URL";

#[derive(Debug, thiserror::Error)]
#[error("SQS: {0}")]
pub struct SqsError(pub String);

/// A message as received; delete it with its receipt handle once its work is queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub receipt_handle: String,
    pub body: String,
}

/// One queue, reached with the storage connection's region and keys.
#[derive(Clone)]
pub struct SqsQueue {
    http: reqwest::Client,
    url: String,
    endpoint: String,
    host: String,
    region: String,
    keys: Option<(String, String)>,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue").field("url", &self.url).finish()
    }
}

impl SqsQueue {
    /// `queue_url` is the queue's URL as AWS (or a compatible service) shows it; requests go to
    /// its origin. The region is the URL's (`sqs.{region}.amazonaws.com`), else the connection's.
    pub fn new(queue_url: &str, connection: &S3Connection) -> Result<Self, SqsError> {
        let parsed = url::Url::parse(queue_url)
            .map_err(|e| SqsError(format!("{QUEUE_URL} is not a URL: {e}")))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| SqsError(format!("{QUEUE_URL} has no host")))?;
        let host = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let region = host
            .strip_prefix("sqs.")
            .and_then(|rest| rest.split('.').next())
            .filter(|r| !r.is_empty() && host.ends_with(".amazonaws.com"))
            .map_or_else(|| connection.region.clone(), str::to_owned);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SqsError(e.to_string()))?;
        Ok(Self {
            http,
            url: queue_url.to_owned(),
            endpoint: format!("{}://{host}/", parsed.scheme()),
            host,
            region,
            keys: connection
                .access_key_id
                .clone()
                .zip(connection.secret_access_key.clone()),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Up to 10 messages that are available now (no long polling), hidden from other readers for
    /// `visibility` while we queue their work.
    pub async fn receive(&self, visibility: Duration) -> Result<Vec<Message>, SqsError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default, rename = "Messages")]
            messages: Vec<Wire>,
        }
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default, rename = "MessageId")]
            id: String,
            #[serde(rename = "ReceiptHandle")]
            receipt_handle: String,
            #[serde(default, rename = "Body")]
            body: String,
        }
        let answer: Answer = self
            .call(
                "ReceiveMessage",
                json!({
                    "QueueUrl": self.url,
                    "MaxNumberOfMessages": 10,
                    "WaitTimeSeconds": 0,
                    "VisibilityTimeout": visibility.as_secs(),
                }),
            )
            .await?;
        Ok(answer
            .messages
            .into_iter()
            .map(|m| Message {
                id: m.id,
                receipt_handle: m.receipt_handle,
                body: m.body,
            })
            .collect())
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), SqsError> {
        let _: serde_json::Value = self
            .call(
                "DeleteMessage",
                json!({"QueueUrl": self.url, "ReceiptHandle": receipt_handle}),
            )
            .await?;
        Ok(())
    }

    /// Sends a message (for tests and tools that stand in for S3's notifications).
    pub async fn send(&self, body: &str) -> Result<(), SqsError> {
        let _: serde_json::Value = self
            .call(
                "SendMessage",
                json!({"QueueUrl": self.url, "MessageBody": body}),
            )
            .await?;
        Ok(())
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        body: serde_json::Value,
    ) -> Result<T, SqsError> {
        let body = body.to_string();
        let target = format!("AmazonSQS.{action}");
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("content-type", CONTENT_TYPE)
            .header("x-amz-target", &target);
        if let Some((id, secret)) = &self.keys {
            let signed = sign(&SignInput {
                access_key_id: id,
                secret_access_key: secret,
                region: &self.region,
                service: "sqs",
                host: &self.host,
                target: &target,
                body: body.as_bytes(),
                now: Utc::now(),
            });
            request = request
                .header("x-amz-date", signed.amz_date)
                .header("authorization", signed.authorization);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| SqsError(format!("{action}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| SqsError(format!("{action}: {e}")))?;
        if !status.is_success() {
            return Err(SqsError(format!(
                "{action} answered HTTP {}: {}",
                status.as_u16(),
                text.chars().take(300).collect::<String>()
            )));
        }
        let text = if text.trim().is_empty() { "{}" } else { &text };
        serde_json::from_str(text)
            .map_err(|e| SqsError(format!("{action}: unexpected answer: {e}")))
    }
}

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

struct SignInput<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    region: &'a str,
    service: &'a str,
    host: &'a str,
    target: &'a str,
    body: &'a [u8],
    now: DateTime<Utc>,
}

struct Signed {
    amz_date: String,
    authorization: String,
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// SigV4 for a `POST /` with the JSON protocol's headers.
fn sign(input: &SignInput<'_>) -> Signed {
    let amz_date = input.now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = input.now.format("%Y%m%d").to_string();
    let signed_headers = "content-type;host;x-amz-date;x-amz-target";
    let canonical = format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{}\nx-amz-date:{amz_date}\nx-amz-target:{}\n\n{signed_headers}\n{}",
        input.host,
        input.target,
        hex::encode(Sha256::digest(input.body))
    );
    let scope = format!("{date}/{}/{}/aws4_request", input.region, input.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = [
        input.region.as_bytes(),
        input.service.as_bytes(),
        b"aws4_request",
    ]
    .iter()
    .fold(
        hmac(
            format!("AWS4{}", input.secret_access_key).as_bytes(),
            date.as_bytes(),
        ),
        |key, part| hmac(&key, part),
    );
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    Signed {
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            input.access_key_id
        ),
        amz_date,
    }
}

/// An object that an S3 event notification says was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
}

/// The created objects an S3 event notification names. S3's test event and other event types
/// name none; a body that is not an S3 notification at all is an error.
pub fn created_objects(body: &str) -> Result<Vec<CreatedObject>, String> {
    #[derive(Deserialize)]
    struct Notification {
        #[serde(default, rename = "Records")]
        records: Option<Vec<Record>>,
        #[serde(default, rename = "Event")]
        event: Option<String>,
    }
    #[derive(Deserialize)]
    struct Record {
        #[serde(default, rename = "eventName")]
        event_name: String,
        s3: S3Part,
    }
    #[derive(Deserialize)]
    struct S3Part {
        bucket: Named,
        object: Object,
    }
    #[derive(Deserialize)]
    struct Named {
        name: String,
    }
    #[derive(Deserialize)]
    struct Object {
        key: String,
        #[serde(default)]
        size: Option<u64>,
    }
    let n: Notification =
        serde_json::from_str(body).map_err(|e| format!("not an S3 event notification: {e}"))?;
    let Some(records) = n.records else {
        return match n.event.as_deref() {
            Some("s3:TestEvent") => Ok(Vec::new()),
            _ => Err("not an S3 event notification: no Records".into()),
        };
    };
    Ok(records
        .into_iter()
        .filter(|r| r.event_name.starts_with("ObjectCreated:"))
        .map(|r| CreatedObject {
            bucket: r.s3.bucket.name,
            // Keys arrive URL-encoded, with spaces as '+'.
            key: url::form_urlencoded::parse(format!("k={}", r.s3.object.key).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or(r.s3.object.key),
            size: r.s3.object.size,
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The signing key derivation of AWS's SigV4 documentation example
    /// (secret `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`, 20120215, us-east-1, iam).
    #[test]
    fn signing_key_matches_aws_documentation() {
        let key = ["us-east-1", "iam", "aws4_request"].iter().fold(
            hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215"),
            |key, part| hmac(&key, part.as_bytes()),
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn signatures_name_the_credential_scope() {
        let signed = sign(&SignInput {
            access_key_id: "AKID",
            secret_access_key: "secret",
            region: "eu-west-1",
            service: "sqs",
            host: "sqs.eu-west-1.amazonaws.com",
            target: "AmazonSQS.ReceiveMessage",
            body: b"{}",
            now: "2026-01-02T03:04:05Z".parse().unwrap(),
        });
        assert_eq!(signed.amz_date, "20260102T030405Z");
        assert!(signed.authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKID/20260102/eu-west-1/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
        ));
    }

    #[test]
    fn notifications_name_created_objects_with_decoded_keys() {
        let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"wb"},
            "object":{"key":"room-abc-2026-01-01T10%3A00%3A00Z+x.mp4","size":42}}},
            {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"wb"},"object":{"key":"gone"}}}]}"#;
        assert_eq!(
            created_objects(body).unwrap(),
            [CreatedObject {
                bucket: "wb".into(),
                key: "room-abc-2026-01-01T10:00:00Z x.mp4".into(),
                size: Some(42)
            }]
        );
        assert_eq!(created_objects(r#"{"Event":"s3:TestEvent"}"#).unwrap(), []);
        assert!(created_objects("hello").is_err());
    }
}
