//! The blob store contract: what local files and S3 must both do, links included.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shared::ports::{BlobKey, BlobStore};

/// The store, and whether its backend enforces link expiry itself (moto does not).
struct Store {
    blobs: Arc<dyn BlobStore>,
    enforces_expiry: bool,
    _dir: Option<tempfile::TempDir>,
}

async fn files() -> Store {
    use shared::adapters::local::FileBlobStore;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let store = Arc::new(FileBlobStore::new(dir.path(), base).unwrap());
    let router = store.clone().link_router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Store {
        blobs: store,
        enforces_expiry: true,
        _dir: Some(dir),
    }
}

#[cfg(feature = "aws")]
async fn s3() -> Store {
    let clients = support::aws::clients().await;
    let bucket = support::aws::unique("blobs");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    Store {
        blobs: Arc::new(shared::adapters::aws::S3BlobStore::new(clients.s3, bucket)),
        enforces_expiry: false,
        _dir: None,
    }
}

contract!(files, s3 => put_get_delete, download_links, upload_links, links_expire, keys_are_checked, streamed_reads_and_sizes, prefixes_are_deleted_whole, writers_stream_large_objects);

fn key(s: &str) -> BlobKey {
    BlobKey::parse(s).unwrap()
}

async fn put_get_delete(s: Store) {
    let k = key("tenant-a/exports/e1.zip");
    assert_eq!(s.blobs.get(&k).await.unwrap(), None);
    s.blobs
        .put(&k, Bytes::from_static(b"\x00zip\xff"), "application/zip")
        .await
        .unwrap();
    let got = s.blobs.get(&k).await.unwrap().unwrap();
    assert_eq!(&got.bytes[..], b"\x00zip\xff");
    assert_eq!(got.content_type, "application/zip");
    s.blobs
        .put(&k, Bytes::from_static(b"v2"), "text/plain")
        .await
        .unwrap();
    assert_eq!(&s.blobs.get(&k).await.unwrap().unwrap().bytes[..], b"v2");
    s.blobs.delete(&k).await.unwrap();
    assert_eq!(s.blobs.get(&k).await.unwrap(), None);
    s.blobs.delete(&k).await.unwrap();
}

async fn download_links(s: Store) {
    let k = key("a/report.json");
    s.blobs
        .put(&k, Bytes::from_static(b"{\"ok\":true}"), "application/json")
        .await
        .unwrap();
    let url = s
        .blobs
        .download_link(&k, Duration::from_secs(60))
        .await
        .unwrap();
    let resp = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.bytes().await.unwrap(),
        Bytes::from_static(b"{\"ok\":true}")
    );
    // A link names one object: pointing it elsewhere breaks the signature.
    let forged = url.as_str().replace("report.json", "other.json");
    assert!(!reqwest::get(forged).await.unwrap().status().is_success());
}

async fn upload_links(s: Store) {
    let k = key("a/imports/i1.csv");
    let url = s
        .blobs
        .upload_link(&k, "text/csv", Duration::from_secs(60))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let resp = client
        .put(url)
        .header("content-type", "text/csv")
        .body("phone,name\n+441234,Ana\n")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let got = s.blobs.get(&k).await.unwrap().unwrap();
    assert_eq!(&got.bytes[..], b"phone,name\n+441234,Ana\n");
    assert_eq!(got.content_type, "text/csv");
}

async fn links_expire(s: Store) {
    let k = key("a/short.txt");
    s.blobs
        .put(&k, Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap();
    assert!(s.blobs.download_link(&k, Duration::ZERO).await.is_err());
    assert!(s
        .blobs
        .download_link(&k, Duration::from_secs(2 * 3600))
        .await
        .is_err());
    if !s.enforces_expiry {
        return;
    }
    let url = s
        .blobs
        .download_link(&k, Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(reqwest::get(url).await.unwrap().status(), 403);
}

async fn keys_are_checked(_: Store) {
    for bad in [
        "",
        "/abs",
        "a//b",
        "../etc/passwd",
        "a/../b",
        "a/./b",
        "sp ace",
        "a\\b",
    ] {
        assert!(BlobKey::parse(bad).is_err(), "{bad}");
    }
    assert!(BlobKey::parse("tenant_01/exports/2026-11-25/e=1.zip").is_ok());
}

async fn streamed_reads_and_sizes(s: Store) {
    use tokio::io::AsyncReadExt;
    let k = key("a/big.csv");
    assert!(s.blobs.read_from(&k, 0).await.unwrap().is_none());
    assert_eq!(s.blobs.size(&k).await.unwrap(), None);
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.blobs
        .put(&k, Bytes::from(body.clone()), "text/csv")
        .await
        .unwrap();
    assert_eq!(s.blobs.size(&k).await.unwrap(), Some(200_000));
    for from in [0u64, 1, 123_457, 199_999, 200_000] {
        let mut reader = s.blobs.read_from(&k, from).await.unwrap().unwrap();
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, body[from as usize..], "from {from}");
    }
}

async fn prefixes_are_deleted_whole(s: Store) {
    for k in [
        "media/acc_a/1",
        "media/acc_a/2",
        "media/acc_a/x/3",
        "media/acc_b/1",
        "media/acc_ab/1",
    ] {
        s.blobs
            .put(
                &key(k),
                Bytes::from_static(b"x"),
                "application/octet-stream",
            )
            .await
            .unwrap();
    }
    assert_eq!(s.blobs.delete_prefix("media/acc_a/").await.unwrap(), 3);
    for gone in ["media/acc_a/1", "media/acc_a/2", "media/acc_a/x/3"] {
        assert_eq!(s.blobs.get(&key(gone)).await.unwrap(), None, "{gone}");
    }
    for kept in ["media/acc_b/1", "media/acc_ab/1"] {
        assert!(s.blobs.get(&key(kept)).await.unwrap().is_some(), "{kept}");
    }
    assert_eq!(s.blobs.delete_prefix("media/acc_a/").await.unwrap(), 0);
    assert!(s.blobs.delete_prefix("../").await.is_err());
}

async fn writers_stream_large_objects(s: Store) {
    // Three S3 parts and a bit: 8 MiB parts, 25 MiB in 1 MiB writes.
    let k = key("exports/acc_a/e1.ndjson");
    let mut w = s.blobs.writer(&k, "application/x-ndjson").await.unwrap();
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    for _ in 0..25 {
        w.write(&chunk).await.unwrap();
    }
    w.write(b"end").await.unwrap();
    assert_eq!(
        s.blobs.get(&k).await.unwrap(),
        None,
        "nothing until finished"
    );
    assert_eq!(w.finish().await.unwrap(), 25 * 1024 * 1024 + 3);
    assert_eq!(s.blobs.size(&k).await.unwrap(), Some(25 * 1024 * 1024 + 3));
    let got = s.blobs.get(&k).await.unwrap().unwrap();
    assert_eq!(got.content_type, "application/x-ndjson");
    assert_eq!(&got.bytes[got.bytes.len() - 3..], b"end");
    assert_eq!(&got.bytes[..1024], &chunk[..1024]);
    // A small one is a single object too.
    let small = key("exports/acc_a/e2.ndjson");
    let mut w = s
        .blobs
        .writer(&small, "application/x-ndjson")
        .await
        .unwrap();
    w.write(b"{}\n").await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 3);
    assert_eq!(
        &s.blobs.get(&small).await.unwrap().unwrap().bytes[..],
        b"{}\n"
    );
}
