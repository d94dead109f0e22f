//! Outgoing webhook delivery against real HTTP receivers on 127.0.0.1 (wiremock, or a raw TCP
//! server where a misbehaving receiver is needed). No test sends anything off this machine, DNS
//! queries included: public addresses appear only as IP literals passed to `check_url`, which
//! needs no lookup for them and never connects; the only host name resolved is `localhost`.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reflector_app::outgoing::{AttemptOutcome, OutgoingRequest, PREVIEW_CHARS, WebhookSender};
use reflector_app::url_guard::{NonPublic, UrlRefused, check_url};
use reflector_testing::fakes::verify_signature;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "room-secret";
const NOW: i64 = 1_750_000_000;

/// Accepts a request only if its `X-Webhook-Signature` is valid for its raw body, recomputed
/// here independently of the code under test.
struct ValidSignature(&'static str);

impl Match for ValidSignature {
    fn matches(&self, request: &Request) -> bool {
        request
            .headers
            .get("x-webhook-signature")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|value| verify_signature(self.0, value, &request.body))
    }
}

fn sender() -> WebhookSender {
    WebhookSender::new(true)
}

fn request<'a>(url: &'a str, body: &'a [u8]) -> OutgoingRequest<'a> {
    OutgoingRequest {
        url,
        secret: Some(SECRET),
        event: "transcript.completed",
        body,
        attempt: 0,
        timeout: Duration::from_secs(5),
        now_unix: NOW,
    }
}

/// A receiver answering every POST to /hook with `status`.
async fn answering(status: u16) -> (MockServer, String) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(status).set_body_string("receiver says no"))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/hook", server.uri());
    (server, url)
}

#[tokio::test]
async fn delivered_on_200_with_every_header_and_a_valid_signature() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("content-type", "application/json"))
        .and(header("user-agent", "Reflector-Webhook/1.0"))
        .and(header("x-webhook-event", "transcript.completed"))
        .and(header("x-webhook-retry", "3"))
        .and(ValidSignature(SECRET))
        .respond_with(ResponseTemplate::new(200).set_body_string("thanks"))
        .expect(1)
        .mount(&server)
        .await;
    // Non-canonical spacing and non-ASCII: the signature must cover these exact bytes.
    let body = r#"{"event": "transcript.completed",  "title":"Réunion ☕"}"#.as_bytes();
    let url = format!("{}/hook", server.uri());
    let outcome = sender()
        .send(&OutgoingRequest {
            attempt: 3,
            ..request(&url, body)
        })
        .await;

    assert_eq!(
        outcome,
        AttemptOutcome {
            delivered: true,
            status_code: Some(200),
            error: None,
            retry: false,
            response_preview: Some("thanks".into()),
        }
    );
    let received = server.received_requests().await.unwrap();
    assert_eq!(received[0].body, body, "the body must be sent unchanged");
    let signature = received[0].headers["x-webhook-signature"].to_str().unwrap();
    assert!(
        signature.starts_with(&format!("t={NOW},v1=")),
        "{signature}"
    );
}

#[tokio::test]
async fn a_wrong_secret_does_not_verify() {
    // Guards the verifier above: it must reject a signature made with another secret.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(ValidSignature("a-different-secret"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let url = format!("{}/hook", server.uri());
    let outcome = sender().send(&request(&url, b"{}")).await;
    // wiremock answers an unmatched request with 404, which fails for good.
    assert_eq!(outcome.status_code, Some(404));
    assert!(!outcome.delivered);
}

#[tokio::test]
async fn no_signature_header_without_a_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-webhook-event", "test"))
        .and(header("x-webhook-retry", "0"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/hook", server.uri());
    let outcome = sender()
        .send(&OutgoingRequest {
            secret: None,
            event: "test",
            ..request(&url, br#"{"event":"test"}"#)
        })
        .await;
    assert!(outcome.delivered, "{outcome:?}");
    assert_eq!(outcome.status_code, Some(204));
    assert_eq!(outcome.response_preview, None);
    let received = server.received_requests().await.unwrap();
    assert!(!received[0].headers.contains_key("x-webhook-signature"));
}

#[tokio::test]
async fn client_errors_fail_for_good() {
    for status in [400, 401, 403, 404, 410, 422] {
        let (_server, url) = answering(status).await;
        let outcome = sender().send(&request(&url, b"{}")).await;
        assert_eq!(
            outcome,
            AttemptOutcome {
                delivered: false,
                status_code: Some(status),
                error: Some(format!("HTTP {status}")),
                retry: false,
                response_preview: Some("receiver says no".into()),
            },
            "HTTP {status}"
        );
    }
}

#[tokio::test]
async fn timeouts_rate_limits_and_server_errors_are_retried() {
    for status in [408, 429, 500, 502, 503] {
        let (_server, url) = answering(status).await;
        let outcome = sender().send(&request(&url, b"{}")).await;
        assert!(!outcome.delivered, "HTTP {status}");
        assert!(outcome.retry, "HTTP {status} must be retried");
        assert_eq!(outcome.status_code, Some(status));
        assert_eq!(
            outcome.error.as_deref(),
            Some(format!("HTTP {status}").as_str())
        );
    }
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let url = format!("{}/hook", server.uri());
    let started = Instant::now();
    let outcome = sender()
        .send(&OutgoingRequest {
            timeout: Duration::from_millis(300),
            ..request(&url, b"{}")
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "did not give up in time"
    );
    assert_eq!(
        outcome,
        AttemptOutcome {
            delivered: false,
            status_code: None,
            error: Some("timed out after 300 ms".into()),
            retry: true,
            response_preview: None,
        }
    );
}

#[tokio::test]
async fn connection_refused_is_retried() {
    // A port that was just free and has nothing listening on it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let outcome = sender().send(&request(&url, b"{}")).await;
    assert_eq!(
        outcome,
        AttemptOutcome {
            delivered: false,
            status_code: None,
            error: Some("connection refused".into()),
            retry: true,
            response_preview: None,
        }
    );
}

#[tokio::test]
async fn redirects_are_not_followed_nor_retried() {
    let server = MockServer::start().await;
    let target = format!("{}/elsewhere", server.uri());
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", target.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let url = format!("{}/hook", server.uri());
    let outcome = sender().send(&request(&url, b"{}")).await;
    assert!(!outcome.delivered);
    assert!(!outcome.retry, "a redirect must not be retried");
    assert_eq!(outcome.status_code, Some(302));
    let error = outcome.error.unwrap();
    assert!(error.starts_with("HTTP 302"), "{error}");
    assert!(error.contains("not followed"), "{error}");
    assert!(error.contains(&target), "{error}");
}

#[tokio::test]
async fn the_preview_keeps_the_first_1000_characters() {
    let server = MockServer::start().await;
    // Two-byte characters: truncation must count characters and keep the text valid.
    let body = "é".repeat(5000);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string(body.clone()))
        .mount(&server)
        .await;
    let url = format!("{}/hook", server.uri());
    let outcome = sender().send(&request(&url, b"{}")).await;
    let preview = outcome.response_preview.unwrap();
    assert_eq!(preview.chars().count(), PREVIEW_CHARS);
    assert!(body.starts_with(&preview));
    assert!(outcome.retry);
}

/// A receiver that answers `head` to the first request, then `tail` forever (or, with
/// `tail = None`, sends nothing more but keeps the connection open).
async fn misbehaving_receiver(head: &'static str, tail: Option<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut buf = [0_u8; 4096];
        let _ = socket.read(&mut buf).await;
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        match tail {
            // Stops only when the client hangs up.
            Some(chunk) => while socket.write_all(&chunk).await.is_ok() {},
            None => tokio::time::sleep(Duration::from_secs(60)).await,
        }
    });
    addr
}

/// One 1 KiB chunk of a chunked body, repeated forever by the receiver.
fn endless_chunk() -> Vec<u8> {
    let mut chunk = b"400\r\n".to_vec();
    chunk.extend_from_slice(&[b'x'; 0x400]);
    chunk.extend_from_slice(b"\r\n");
    chunk
}

#[tokio::test]
async fn an_endless_body_is_read_only_up_to_the_cap() {
    let addr = misbehaving_receiver(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n",
        Some(endless_chunk()),
    )
    .await;
    let url = format!("http://{addr}/hook");
    // A generous timeout: the attempt must end because of the size cap, not the deadline.
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        sender().send(&OutgoingRequest {
            timeout: Duration::from_secs(30),
            ..request(&url, b"{}")
        }),
    )
    .await
    .expect("an endless body must not hold the attempt open");
    assert!(outcome.delivered, "{outcome:?}");
    assert_eq!(outcome.response_preview.unwrap(), "x".repeat(PREVIEW_CHARS));
}

#[tokio::test]
async fn a_stalled_body_after_a_2xx_still_counts_as_delivered() {
    let addr = misbehaving_receiver(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\naccepted",
        None,
    )
    .await;
    let url = format!("http://{addr}/hook");
    let started = Instant::now();
    let outcome = sender()
        .send(&OutgoingRequest {
            timeout: Duration::from_millis(300),
            ..request(&url, b"{}")
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited past the deadline"
    );
    assert!(outcome.delivered, "{outcome:?}");
    assert_eq!(outcome.status_code, Some(200));
    assert_eq!(outcome.response_preview.as_deref(), Some("accepted"));
}

#[tokio::test]
async fn urls_that_are_not_absolute_http_without_credentials_are_refused() {
    let scheme_ftp = UrlRefused::UnsupportedScheme {
        scheme: "ftp".into(),
    };
    let scheme_file = UrlRefused::UnsupportedScheme {
        scheme: "file".into(),
    };
    let cases = [
        ("ftp://x/feed", Some(scheme_ftp)),
        ("file:///etc/passwd", Some(scheme_file)),
        (
            "http://user:pass@example.com/",
            Some(UrlRefused::Credentials),
        ),
        ("https://token@example.com/", Some(UrlRefused::Credentials)),
        // Relative and malformed: the parser's reason is passed on, so only the variant counts.
        ("/hooks/reflector", None),
        ("not a url", None),
    ];
    for (url, expected) in cases {
        let refused = check_url(url, true).await.unwrap_err();
        match expected {
            Some(expected) => assert_eq!(refused, expected, "{url}"),
            None => assert!(
                matches!(refused, UrlRefused::Invalid { .. }),
                "{url}: {refused:?}"
            ),
        }
        assert!(!refused.is_retryable(), "{url}");
    }
}

#[tokio::test]
async fn the_sender_reports_a_refused_url_as_failed_for_good_without_sending() {
    let outcome = sender()
        .send(&request("http://alice:s3cr3t-pw@127.0.0.1:9/hook", b"{}"))
        .await;
    assert!(!outcome.delivered);
    assert!(!outcome.retry);
    assert_eq!(outcome.status_code, None);
    let error = outcome.error.unwrap();
    assert!(error.starts_with("URL refused: "), "{error}");
    assert!(
        !error.contains("s3cr3t"),
        "credentials must not be echoed: {error}"
    );
}

#[tokio::test]
async fn loopback_receivers_need_allow_private() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2) // only the two allowed attempts below
        .mount(&server)
        .await;
    let port = server.address().port();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
    ] {
        let refused = WebhookSender::new(false).send(&request(&url, b"{}")).await;
        assert!(!refused.delivered && !refused.retry, "{url}: {refused:?}");
        let error = refused.error.unwrap();
        assert!(error.contains("loopback address"), "{error}");
        assert!(error.contains("ALLOW_PRIVATE_NETWORK_URLS=true"), "{error}");

        let allowed = WebhookSender::new(true).send(&request(&url, b"{}")).await;
        assert!(allowed.delivered, "{url}: {allowed:?}");
    }
}

#[tokio::test]
async fn check_url_refuses_non_public_literals() {
    let cases = [
        ("http://127.0.0.1/", NonPublic::Loopback),
        ("http://2130706433/", NonPublic::Loopback), // 127.0.0.1 in decimal
        ("http://0x7f.1/", NonPublic::Loopback),
        ("http://[::1]/", NonPublic::Loopback),
        ("http://0.0.0.0/", NonPublic::Unspecified),
        ("http://10.0.0.5/", NonPublic::Private),
        ("http://172.20.1.1/", NonPublic::Private),
        ("https://192.168.1.10/", NonPublic::Private),
        (
            "http://169.254.169.254/latest/meta-data/",
            NonPublic::LinkLocal,
        ),
        ("http://[fe80::1]/", NonPublic::LinkLocal),
        ("http://100.64.0.1/", NonPublic::SharedAddressSpace),
        ("http://[fd00::1]/", NonPublic::UniqueLocal),
        ("http://[::ffff:127.0.0.1]/", NonPublic::Loopback),
        ("http://[::ffff:192.168.0.1]/", NonPublic::Private),
        ("http://224.0.0.1/", NonPublic::Multicast),
        ("http://255.255.255.255/", NonPublic::Broadcast),
    ];
    for (url, kind) in cases {
        match check_url(url, false).await {
            Err(UrlRefused::NonPublicAddress { kind: got, .. }) => assert_eq!(got, kind, "{url}"),
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
        // The same URL is fine when private networks are allowed.
        assert!(check_url(url, true).await.is_ok(), "{url}");
    }
}

#[tokio::test]
async fn a_refusal_does_not_reveal_the_address_a_name_resolved_to() {
    let refused = check_url("http://localhost:9/hook", false)
        .await
        .unwrap_err();
    let text = refused.to_string();
    assert!(
        matches!(
            refused,
            UrlRefused::NonPublicAddress {
                kind: NonPublic::Loopback,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(text.contains("localhost"), "{text}");
    for internal in ["127.0.0.1", "::1"] {
        assert!(!text.contains(internal), "{text}");
    }
}

#[tokio::test]
async fn check_url_refuses_the_local_nat64_prefix() {
    match check_url("http://[64:ff9b:1::a00:1]/hook", false).await {
        Err(UrlRefused::NonPublicAddress { kind, .. }) => assert_eq!(kind, NonPublic::Reserved),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn check_url_accepts_public_literals_and_keeps_their_addresses() {
    // Only checked, never sent to: this machine must not send traffic off-box.
    let checked = check_url("http://93.184.216.34/hook", false).await.unwrap();
    assert_eq!(checked.url().as_str(), "http://93.184.216.34/hook");
    assert_eq!(checked.addrs(), ["93.184.216.34:80".parse().unwrap()]);

    let checked = check_url("https://[2606:2800:220:1:248:1893:25c8:1946]:8443/", false)
        .await
        .unwrap();
    assert_eq!(
        checked.addrs(),
        ["[2606:2800:220:1:248:1893:25c8:1946]:8443".parse().unwrap()]
    );
}

#[tokio::test]
async fn check_url_pins_what_a_host_name_resolved_to() {
    let checked = check_url("http://localhost:4321/x", true).await.unwrap();
    assert!(!checked.addrs().is_empty());
    assert!(
        checked
            .addrs()
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 4321),
        "{:?}",
        checked.addrs()
    );
}

#[tokio::test]
async fn an_unbounded_timeout_is_accepted() {
    let (_server, url) = answering(200).await;
    let outcome = sender()
        .send(&OutgoingRequest {
            timeout: Duration::MAX,
            ..request(&url, b"{}")
        })
        .await;
    assert!(outcome.delivered, "{outcome:?}");
}
