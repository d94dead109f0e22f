//! Our storage and SQS client against a real S3/SQS-compatible server (moto on loopback).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use reflector_core::Env;
use reflector_storage::sqs::SqsQueue;
use reflector_storage::{Storage, StorageSettings};
use reflector_testing::moto::Moto;

fn settings(moto: &Moto, dir: &std::path::Path) -> StorageSettings {
    let mut pairs = moto.env();
    pairs.extend([
        ("TRANSCRIPT_STORAGE_BACKEND", "aws".to_owned()),
        ("TRANSCRIPT_STORAGE_AWS_BUCKET_NAME", "ours".to_owned()),
    ]);
    StorageSettings::from_env(&Env::from_pairs(pairs), dir).unwrap()
}

#[tokio::test]
async fn s3_storage_stores_a_large_file_in_parts_and_reads_it_back() {
    let moto = Moto::start().await;
    moto.create_bucket("ours").await;
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(&settings(&moto, dir.path())).unwrap();
    assert_eq!(storage.location(), "s3://ours");
    // Over two 5 MiB parts, so the upload is a multipart one.
    let data: Vec<u8> = (0..11 * 1024 * 1024 + 7).map(|i| (i % 253) as u8).collect();
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    assert_eq!(
        storage.put_file("r/1/0.bin", &file).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(
        storage.size("r/1/0.bin").await.unwrap(),
        Some(data.len() as u64)
    );
    assert!(storage.get_bytes("r/1/0.bin").await.unwrap() == data);
    assert_eq!(
        moto.get("ours", "r/1/0.bin").await.map(|b| b.len()),
        Some(data.len())
    );
    assert_eq!(storage.list("r").await.unwrap(), ["r/1/0.bin"]);
    storage.delete("r/1/0.bin").await.unwrap();
    assert_eq!(storage.size("r/1/0.bin").await.unwrap(), None);
}

#[tokio::test]
async fn the_sqs_client_receives_and_deletes_messages() {
    let moto = Moto::start().await;
    let url = moto.create_queue("notes").await;
    let dir = tempfile::tempdir().unwrap();
    let queue = SqsQueue::new(&url, &settings(&moto, dir.path()).s3).unwrap();
    for n in 0..12 {
        queue.send(&format!("message {n}")).await.unwrap();
    }
    let mut seen = Vec::new();
    loop {
        let batch = queue.receive(Duration::from_secs(30)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 10);
        for m in batch {
            queue.delete(&m.receipt_handle).await.unwrap();
            seen.push(m.body);
        }
    }
    seen.sort();
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert_eq!(moto.visible_messages(&url).await, 0);
}
