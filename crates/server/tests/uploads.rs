//! Uploads (issue 13): a file made elsewhere becomes a transcript through the same pipeline —
//! `POST /v1/transcripts`, then its chunks to `POST /v1/transcripts/{id}/record/upload` as
//! multipart `chunk` fields, over real HTTP, with real generated speech, ffprobe and the fake
//! OpenAI-compatible transcription server.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use reflector_testing::fakes::JwtKeys;
use reflector_testing::media;
use reflector_testing::transcription::FakeWhisper;
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

on_both_databases!(
    an_upload_in_chunks_becomes_an_ended_transcript,
    chunks_out_of_order_or_twice_are_refused_and_the_upload_resumes,
    a_file_without_audio_is_refused_and_nothing_is_queued,
    a_chunk_over_the_limit_is_refused_with_413_and_can_be_sent_again,
    an_upload_past_the_file_limit_is_refused_with_413,
    only_the_owner_may_upload,
    a_second_upload_while_one_is_received_is_refused,
    a_refused_chunk_is_answered_while_the_client_is_still_sending,
);

const SAID: &str = "the budget for next quarter is approved";

fn whisper_env(whisper: &FakeWhisper) -> Vec<(&'static str, String)> {
    vec![
        ("TRANSCRIPT_BACKEND", "openai".into()),
        ("TRANSCRIPT_URL", whisper.url.clone()),
        ("TRANSCRIPT_API_KEY", "transcribe-key".into()),
    ]
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Real speech (espeak-ng's WAV), which `whisper` learns to transcribe as [`SAID`]; another
/// sentence of another length is learnt too, so the answer depends on the audio sent.
fn speech(whisper: &FakeWhisper) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let wav = media::speech(dir.path(), "said", SAID);
    whisper.learn(&wav, SAID);
    let other = media::speech(dir.path(), "other", "hello");
    whisper.learn(&other, "hello");
    wav
}

async fn create(app: &TestApp, token: Option<&str>, name: &str) -> Value {
    let (status, t) = app
        .call(
            Method::POST,
            "/v1/transcripts",
            token,
            Some(json!({"name": name, "source_language": "en", "target_language": "en"})),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    t
}

fn upload_path(id: &str, chunk: i64, total: i64) -> String {
    format!("/v1/transcripts/{id}/record/upload?chunk_number={chunk}&total_chunks={total}")
}

async fn send(app: &TestApp, token: Option<&str>, path: &str, form: Form) -> (u16, Value) {
    let mut r = app.req(Method::POST, path).multipart(form);
    if let Some(token) = token {
        r = r.bearer_auth(token);
    }
    let response = r.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn chunk_form(bytes: &[u8]) -> Form {
    Form::new().part(
        "chunk",
        Part::bytes(bytes.to_vec()).file_name("meeting.wav"),
    )
}

async fn chunk(
    app: &TestApp,
    token: Option<&str>,
    id: &str,
    n: i64,
    total: i64,
    bytes: &[u8],
) -> (u16, Value) {
    send(app, token, &upload_path(id, n, total), chunk_form(bytes)).await
}

/// `bytes` cut into `n` pieces of nearly equal length.
fn pieces(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    bytes.chunks(bytes.len().div_ceil(n)).collect()
}

async fn finished(app: &TestApp, id: &str) -> Value {
    for _ in 0..300 {
        app.run_jobs().await;
        let (status, t) = app.get(&format!("/v1/transcripts/{id}")).await;
        assert_eq!(status, 200, "{t}");
        if t["status"] == "ended" || t["status"] == "error" {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the transcript did not finish within 60 s");
}

async fn text_of(app: &TestApp, id: &str) -> String {
    let (status, t) = app
        .get(&format!("/v1/transcripts/{id}?transcript_format=text"))
        .await;
    assert_eq!(status, 200, "{t}");
    t["transcript"].as_str().unwrap().to_owned()
}

async fn an_upload_in_chunks_becomes_an_ended_transcript(db: Db) {
    let whisper = FakeWhisper::start().await;
    let wav = speech(&whisper);
    let env = whisper_env(&whisper);
    let app = TestApp::spawn(db, &pairs(&env)).await;

    let created = create(&app, None, "Kitchen meeting").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "idle");
    assert_eq!(created["source_kind"], "file");
    assert_eq!(created["name"], "Kitchen meeting");
    assert_eq!(created["user_id"], "local");
    // The created transcript is exactly what GET answers, which adds its (empty) text.
    let (_, mut got) = app.get(&format!("/v1/transcripts/{id}")).await;
    let fields = got.as_object_mut().unwrap();
    assert_eq!(fields.remove("transcript_format"), Some(json!("text")));
    assert_eq!(fields.remove("transcript"), Some(json!("")));
    assert_eq!(created, got);

    let parts = pieces(&wav, 3);
    assert_eq!(parts.len(), 3);
    for (n, part) in parts.iter().enumerate() {
        let (status, body) = chunk(&app, None, &id, n as i64, 3, part).await;
        assert_eq!(status, 200, "chunk {n}: {body}");
        assert_eq!(body, json!({"status": "ok"}));
        let (_, t) = app.get(&format!("/v1/transcripts/{id}")).await;
        let expected = if n < 2 { "idle" } else { "uploaded" };
        assert_eq!(t["status"], expected, "after chunk {n}: {t}");
    }
    let t = finished(&app, &id).await;
    assert_eq!(t["status"], "ended", "{t}");
    assert_eq!(text_of(&app, &id).await, format!("Speaker 0: {SAID}"));
    // One pipeline run, one request to the backend.
    assert_eq!(app.run_jobs().await, 0);
    assert_eq!(whisper.requests().len(), 1, "{:?}", whisper.requests());
    // The stored file is the uploaded one, byte for byte.
    let audio = app
        .req(Method::GET, &format!("/v1/transcripts/{id}/audio/mp3"))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    assert_eq!(audio.headers()["content-type"], "audio/wav");
    same_bytes(&audio.bytes().await.unwrap(), &wav);
    // Searchable like any transcript.
    let (_, found) = app.get("/v1/transcripts/search?q=budget").await;
    assert_eq!(found["total"], 1, "{found}");
    // The transcript has its file: another upload is refused.
    let (status, body) = chunk(&app, None, &id, 0, 1, &wav).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("has its file already"),
        "{body}"
    );
    // Deleting it deletes the uploaded file too.
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/transcripts/{id}"), None, None)
        .await;
    assert_eq!(status, 200);
    let stored = app
        .data_dir
        .path()
        .join("storage")
        .join("uploads")
        .join(&id);
    assert!(!stored.join("upload.wav").exists());
    app.stop().await;
}

async fn chunks_out_of_order_or_twice_are_refused_and_the_upload_resumes(db: Db) {
    let whisper = FakeWhisper::start().await;
    let wav = speech(&whisper);
    let env = whisper_env(&whisper);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    let id = create(&app, None, "Phone call").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let parts = pieces(&wav, 3);

    let detail = |body: &Value| body["detail"].as_str().unwrap_or_default().to_owned();
    let (status, body) = chunk(&app, None, &id, 1, 3, parts[1]).await;
    assert_eq!(status, 409, "{body}");
    assert!(detail(&body).contains("before chunk 0"), "{body}");
    let (status, body) = chunk(&app, None, &id, 0, 3, parts[0]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chunk(&app, None, &id, 0, 3, parts[0]).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        detail(&body).contains("received already; send chunk 1 next"),
        "{body}"
    );
    let (status, body) = chunk(&app, None, &id, 2, 3, parts[2]).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        detail(&body).contains("out of order: send chunk 1"),
        "{body}"
    );
    for (n, total, field) in [
        (3, 3, "chunk_number"),
        (-1, 3, "chunk_number"),
        (1, 4, "total_chunks"),
        (0, 0, "total_chunks"),
    ] {
        let (status, body) = chunk(&app, None, &id, n, total, parts[1]).await;
        assert_eq!(status, 422, "{n}/{total}: {body}");
        assert!(detail(&body).starts_with(field), "{n}/{total}: {body}");
    }
    let (status, body) = send(
        &app,
        None,
        &format!("/v1/transcripts/{id}/record/upload"),
        chunk_form(parts[1]),
    )
    .await;
    assert_eq!(status, 422, "no numbers: {body}");
    let (status, body) = send(
        &app,
        None,
        &upload_path(&id, 1, 3),
        Form::new().part("file", Part::bytes(parts[1].to_vec())),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        detail(&body).contains("send one file field named chunk"),
        "{body}"
    );
    let (status, body) = app.post(&upload_path(&id, 1, 3), json!({})).await;
    assert_eq!(status, 422, "not multipart: {body}");
    // None of that was queued or changed the upload: it resumes at chunk 1.
    assert_eq!(app.run_jobs().await, 0);
    for n in [1, 2] {
        let (status, body) = chunk(&app, None, &id, n, 3, parts[n as usize]).await;
        assert_eq!(status, 200, "chunk {n}: {body}");
    }
    let t = finished(&app, &id).await;
    assert_eq!(t["status"], "ended", "{t}");
    assert_eq!(text_of(&app, &id).await, format!("Speaker 0: {SAID}"));
    assert_eq!(whisper.requests().len(), 1);
    app.stop().await;
}

async fn a_file_without_audio_is_refused_and_nothing_is_queued(db: Db) {
    let whisper = FakeWhisper::start().await;
    let wav = speech(&whisper);
    let env = whisper_env(&whisper);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    let id = create(&app, None, "Silent film").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let video = media::silent_video_mp4(dir.path(), "silent");
    let parts = pieces(&video, 2);
    let (status, body) = chunk(&app, None, &id, 0, 2, parts[0]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chunk(&app, None, &id, 1, 2, parts[1]).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("the file has no audio stream"),
        "{body}"
    );
    assert_eq!(app.run_jobs().await, 0, "nothing is queued");
    // A file that is not media at all: ffprobe's reason, without our file's path in it.
    let (status, body) = chunk(&app, None, &id, 0, 1, b"just some words, not a recording").await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("not readable media"), "{body}");
    assert!(
        !detail.contains("uploads") && !detail.contains("partial"),
        "a server path leaked: {body}"
    );
    let (_, t) = app.get(&format!("/v1/transcripts/{id}")).await;
    assert_eq!(t["status"], "idle", "{t}");
    assert_eq!(whisper.requests().len(), 0);
    let (status, _) = app.get(&format!("/v1/transcripts/{id}/audio/mp3")).await;
    assert_eq!(status, 404);
    // The refused file is forgotten: the upload starts again from chunk 0, with a file that has sound.
    let (status, body) = chunk(&app, None, &id, 0, 1, &wav).await;
    assert_eq!(status, 200, "{body}");
    let t = finished(&app, &id).await;
    assert_eq!(t["status"], "ended", "{t}");
    app.stop().await;
}

/// An app whose uploads are limited by the setting `limit_setting` (bytes), and the id of a new
/// transcript named `name` on it.
async fn limited_upload(
    db: Db,
    whisper: &FakeWhisper,
    limit_setting: &'static str,
    limit: usize,
    name: &str,
) -> (TestApp, String) {
    let env = whisper_env(whisper);
    let mut env = pairs(&env);
    let limit = limit.to_string();
    env.push((limit_setting, &limit));
    let app = TestApp::spawn(db, &env).await;
    let id = create(&app, None, name).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, id)
}

async fn a_chunk_over_the_limit_is_refused_with_413_and_can_be_sent_again(db: Db) {
    let whisper = FakeWhisper::start().await;
    let wav = speech(&whisper);
    // Well above a real chunk (a third of the file), so that a refused chunk reaches the disk
    // (past the writer's 256 KiB buffer) before it is refused.
    let limit = 600_000;
    assert!(wav.len() < limit);
    let (app, id) = limited_upload(db, &whisper, "UPLOAD_CHUNK_MAX_BYTES", limit, "Long one").await;
    let parts = pieces(&wav, 3);
    let (status, body) = chunk(&app, None, &id, 0, 3, parts[0]).await;
    assert_eq!(status, 200, "{body}");

    // Declared too large by its Content-Length: refused before it is read.
    let big = vec![7u8; 2 * limit];
    let (status, body) = chunk(&app, None, &id, 1, 3, &big).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("UPLOAD_CHUNK_MAX_BYTES"),
        "{body}"
    );
    // Streamed with no length: refused once the limit is passed, after part of it was written.
    let over = vec![7u8; limit + 1];
    let stream = futures::stream::iter(
        over.chunks(4096)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let form = Form::new().part(
        "chunk",
        Part::stream(reqwest::Body::wrap_stream(stream)).file_name("meeting.wav"),
    );
    let (status, body) = send(&app, None, &upload_path(&id, 1, 3), form).await;
    assert_eq!(status, 413, "{body}");

    // A body that never reaches its first boundary is bounded too.
    let endless = vec![b'x'; limit + 100_000];
    let stream = futures::stream::iter(
        endless
            .chunks(4096)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = app
        .req(Method::POST, &upload_path(&id, 1, 3))
        .header("content-type", "multipart/form-data; boundary=never")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // The refused bytes were cut off: the real chunks complete the file exactly.
    for n in [1, 2] {
        let (status, body) = chunk(&app, None, &id, n, 3, parts[n as usize]).await;
        assert_eq!(status, 200, "{body}");
    }
    let t = finished(&app, &id).await;
    assert_eq!(t["status"], "ended", "{t}");
    let audio = app
        .req(Method::GET, &format!("/v1/transcripts/{id}/audio/mp3"))
        .send()
        .await
        .unwrap();
    same_bytes(&audio.bytes().await.unwrap(), &wav);
    app.stop().await;
}

async fn an_upload_past_the_file_limit_is_refused_with_413(db: Db) {
    let whisper = FakeWhisper::start().await;
    let wav = speech(&whisper);
    // The whole file fits, with 10 bytes to spare.
    let (app, id) =
        limited_upload(db, &whisper, "UPLOAD_MAX_BYTES", wav.len() + 10, "Capped").await;
    let parts = pieces(&wav, 3);
    for n in [0, 1] {
        let (status, body) = chunk(&app, None, &id, n, 3, parts[n as usize]).await;
        assert_eq!(status, 200, "{body}");
    }
    // The last chunk with 100 bytes too many takes the file past the limit.
    let padded = [parts[2], &[0u8; 100][..]].concat();
    let (status, body) = chunk(&app, None, &id, 2, 3, &padded).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("UPLOAD_MAX_BYTES"),
        "{body}"
    );
    // The refused bytes were cut off: the real last chunk completes the file exactly.
    let (status, body) = chunk(&app, None, &id, 2, 3, parts[2]).await;
    assert_eq!(status, 200, "{body}");
    let t = finished(&app, &id).await;
    assert_eq!(t["status"], "ended", "{t}");
    app.stop().await;
}

async fn only_the_owner_may_upload(db: Db) {
    let whisper = FakeWhisper::start().await;
    let wav = speech(&whisper);
    let keys = JwtKeys::generate();
    let mut env = whisper_env(&whisper);
    env.push(("AUTH_BACKEND", "jwt".into()));
    env.push(("AUTH_JWT_PUBLIC_KEY", keys.public_key_path.clone()));
    let app = TestApp::spawn(db, &pairs(&env)).await;
    let (alice, bob) = (keys.token("alice"), keys.token("bob"));

    let (status, body) = app
        .call(
            Method::POST,
            "/v1/transcripts",
            None,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 401, "anonymous may not create: {body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/transcripts",
            Some(&alice),
            Some(json!({"name": " "})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/transcripts",
            Some(&alice),
            Some(json!({"name": "x", "source_language": "not a language"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    let created = create(&app, Some(&alice), "Alice's notes").await;
    assert_eq!(created["user_id"], "alice");
    let id = created["id"].as_str().unwrap().to_owned();
    // A private transcript is hidden from others; anonymous callers are told to sign in.
    let (status, body) = chunk(&app, Some(&bob), &id, 0, 1, &wav).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = chunk(&app, None, &id, 0, 1, &wav).await;
    assert_eq!(status, 401, "{body}");
    // Public, bob may read it but not upload to it.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/transcripts/{id}"),
            Some(&alice),
            Some(json!({"share_mode": "public"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = chunk(&app, Some(&bob), &id, 0, 1, &wav).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(app.run_jobs().await, 0);
    let (status, body) = chunk(&app, Some(&alice), &id, 0, 1, &wav).await;
    assert_eq!(status, 200, "{body}");
    let t = finished(&app, &id).await;
    assert_eq!(t["status"], "ended", "{t}");
    app.stop().await;
}

async fn a_second_upload_while_one_is_received_is_refused(db: Db) {
    let whisper = FakeWhisper::start().await;
    let wav = speech(&whisper);
    let env = whisper_env(&whisper);
    let app = TestApp::spawn(db, &pairs(&env)).await;
    let id = create(&app, None, "Busy").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let parts = pieces(&wav, 2);

    // Chunk 0 arrives slowly: its first half, then nothing until the test lets it go on.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let form = Form::new().part(
        "chunk",
        Part::stream(reqwest::Body::wrap_stream(stream)).file_name("meeting.wav"),
    );
    let slow = {
        let request = app
            .req(Method::POST, &upload_path(&id, 0, 2))
            .multipart(form);
        tokio::spawn(async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    let half = parts[0].len() / 2;
    tx.send(Ok(parts[0][..half].to_vec())).await.unwrap();
    // The server has started receiving it once its partial file exists.
    let partial = app
        .data_dir
        .path()
        .join("tmp")
        .join("uploads")
        .join(&id)
        .join("partial");
    for _ in 0..200 {
        if partial.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        partial.exists(),
        "the first chunk's reception did not start"
    );

    for (n, part) in [(0, parts[0]), (1, parts[1])] {
        let (status, body) = chunk(&app, None, &id, n, 2, part).await;
        assert_eq!(status, 409, "chunk {n}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("already an upload in progress"),
            "{body}"
        );
    }
    tx.send(Ok(parts[0][half..].to_vec())).await.unwrap();
    drop(tx);
    let (status, text) = slow.await.unwrap();
    assert_eq!(status, 200, "{text}");
    let (status, body) = chunk(&app, None, &id, 1, 2, parts[1]).await;
    assert_eq!(status, 200, "{body}");
    let t = finished(&app, &id).await;
    assert_eq!(t["status"], "ended", "{t}");
    assert_eq!(text_of(&app, &id).await, format!("Speaker 0: {SAID}"));
    app.stop().await;
}

/// `stored` is `uploaded`, byte for byte (said briefly when not: these are files).
fn same_bytes(stored: &[u8], uploaded: &[u8]) {
    assert!(
        stored == uploaded,
        "the stored file ({} bytes) is not the uploaded one ({} bytes)",
        stored.len(),
        uploaded.len()
    );
}

/// A chunk refused at once (here by its declared length) is still read to its end, bounded,
/// before the answer: a client still sending it (several MB, more than the sockets buffer)
/// gets the 413 and its reason rather than a broken pipe.
async fn a_refused_chunk_is_answered_while_the_client_is_still_sending(db: Db) {
    let limit = 4_000_000;
    let limit_text = limit.to_string();
    let app = TestApp::spawn(db, &[("UPLOAD_CHUNK_MAX_BYTES", limit_text.as_str())]).await;
    let id = create(&app, None, "Too big").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..6 {
        let big = vec![7u8; limit + limit / 2];
        let (status, body) = chunk(&app, None, &id, 0, 1, &big).await;
        assert_eq!(status, 413, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("UPLOAD_CHUNK_MAX_BYTES"),
            "{body}"
        );
    }
    app.stop().await;
}
