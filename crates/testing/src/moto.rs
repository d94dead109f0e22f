//! A real S3- and SQS-compatible server for tests: `moto_server` (PyPI `moto[server]`, which
//! `scripts/test` installs) on a free loopback port, killed when dropped.

use std::time::Duration;

use serde_json::{Value, json};

use crate::process::{Process, free_port, wait_until};

pub struct Moto {
    pub url: String,
    _process: Process,
    http: reqwest::Client,
}

/// The `moto_server` to run: `MOTO_SERVER` if set, else the one on `PATH`.
fn binary() -> String {
    std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned())
}

impl Moto {
    pub async fn start() -> Moto {
        let port = free_port();
        let child = std::process::Command::new(binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server ({e}): install it with pip install 'moto[server]' (scripts/test does)")
            });
        let process = Process(child);
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        wait_until("moto_server answers", Duration::from_secs(30), || {
            let request = http.get(format!("{url}/moto-api/")).send();
            async move { request.await.is_ok() }
        })
        .await;
        Moto {
            url,
            _process: process,
            http,
        }
    }

    /// The settings that point our S3 connection (`TRANSCRIPT_STORAGE_AWS_*`) here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TRANSCRIPT_STORAGE_AWS_ENDPOINT_URL", self.url.clone()),
            ("TRANSCRIPT_STORAGE_AWS_REGION", "us-east-1".to_owned()),
            ("TRANSCRIPT_STORAGE_AWS_ACCESS_KEY_ID", "test".to_owned()),
            (
                "TRANSCRIPT_STORAGE_AWS_SECRET_ACCESS_KEY",
                "test".to_owned(),
            ),
        ]
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let r = self
            .http
            .put(format!("{}/{bucket}", self.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        let r = self
            .http
            .put(format!("{}/{bucket}/{key}", self.url))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "put {key}: {}", r.status());
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let r = self
            .http
            .get(format!("{}/{bucket}/{key}", self.url))
            .send()
            .await
            .unwrap();
        r.status()
            .is_success()
            .then_some(r.bytes().await.unwrap().to_vec())
    }

    async fn sqs(&self, action: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/", self.url))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{action}: {}", r.status());
        let text = r.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Creates a queue; returns its URL.
    pub async fn create_queue(&self, name: &str) -> String {
        self.sqs("CreateQueue", json!({"QueueName": name})).await["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn send_message(&self, queue_url: &str, body: &str) {
        self.sqs(
            "SendMessage",
            json!({"QueueUrl": queue_url, "MessageBody": body}),
        )
        .await;
    }

    /// Messages visible on the queue now (approximately, as SQS counts them).
    pub async fn visible_messages(&self, queue_url: &str) -> i64 {
        let answer = self
            .sqs(
                "GetQueueAttributes",
                json!({"QueueUrl": queue_url, "AttributeNames": ["All"]}),
            )
            .await;
        let count = |name: &str| {
            answer["Attributes"][name]
                .as_str()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        count("ApproximateNumberOfMessages") + count("ApproximateNumberOfMessagesNotVisible")
    }
}

/// An S3 ObjectCreated event notification for `bucket/key`, as S3 sends it to SQS.
pub fn object_created(bucket: &str, key: &str, size: usize) -> String {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}}
    }]})
    .to_string()
}
