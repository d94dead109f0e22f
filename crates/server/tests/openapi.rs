//! The web app's API types are generated from `web/openapi.json`; this test keeps that file equal
//! to the document the server serves, so the types cannot drift from the API.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use reflector_testing::{Db, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_openapi_json_matches_the_served_document() {
    let app = TestApp::spawn(Db::Sqlite, &[]).await;
    let (status, served) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    app.stop().await;

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/openapi.json");
    let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &pretty).unwrap();
        return;
    }
    let checked_in: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(serde_json::Value::Null);
    assert!(
        checked_in == served,
        "web/openapi.json differs from the server's /openapi.json. Regenerate it and the web \
         app's types with:\n  UPDATE_OPENAPI=1 cargo test -p reflector-server --test openapi && \
         (cd web && npm run gen)"
    );
}
