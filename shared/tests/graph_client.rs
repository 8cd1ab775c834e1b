//! The Graph API client base against a small fake of Meta's responses on loopback: the URL
//! shape, the bearer token, and every way a call can fail.

use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use shared::domain::AccessToken;
use shared::graph::{GraphClient, GraphConfig, GraphError};

async fn serve(router: Router) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn token() -> AccessToken {
    AccessToken::parse("EAAGtesttoken1234567890").unwrap()
}

async fn messages(
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    assert_eq!(headers["authorization"], "Bearer EAAGtesttoken1234567890");
    match body["to"].as_str() {
        Some("window-closed") => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {
                "message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047,
                "error_subcode": 2494010, "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})),
        )
            .into_response(),
        Some("proxy") => (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response(),
        Some("slow") => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(json!({})).into_response()
        }
        _ => Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": format!("wamid.{version}.{id}")}]
        }))
        .into_response(),
    }
}

async fn client() -> GraphClient {
    let base = serve(
        Router::new()
            .route("/{version}/{id}/messages", post(messages))
            .route(
                "/{version}/{id}",
                get(|| async { Json(json!({"verified_name": "Example"})) }),
            ),
    )
    .await;
    let mut config = GraphConfig::new(base, "v23.0");
    config.request_timeout = Duration::from_millis(500);
    GraphClient::new(config)
}

#[tokio::test]
async fn calls_land_on_the_versioned_path_with_the_token() {
    let c = client().await;
    let sent: Value = c
        .post_json(
            "106540352242922/messages",
            &token(),
            &json!({"to": "15551234567"}),
        )
        .await
        .unwrap();
    assert_eq!(sent["messages"][0]["id"], "wamid.v23.0.106540352242922");
    let got: Value = c.get_json("/106540352242922", &token()).await.unwrap();
    assert_eq!(got["verified_name"], "Example");
}

#[tokio::test]
async fn graph_errors_are_typed() {
    let c = client().await;
    let err = c
        .post_json::<_, Value>("1/messages", &token(), &json!({"to": "window-closed"}))
        .await
        .unwrap_err();
    let GraphError::Api { status, error } = err else {
        panic!("{err:?}")
    };
    assert_eq!(status, 400);
    assert_eq!((error.code, error.subcode), (131047, Some(2494010)));
    assert_eq!(error.fbtrace_id.as_deref(), Some("Az8or2yhqkZfEZ-_4Qn_Bam"));
    assert!(error
        .error_data
        .unwrap()
        .details
        .unwrap()
        .contains("24 hours"));
}

#[tokio::test]
async fn non_graph_failures_are_told_apart() {
    let c = client().await;
    let proxy = c
        .post_json::<_, Value>("1/messages", &token(), &json!({"to": "proxy"}))
        .await
        .unwrap_err();
    assert!(
        matches!(proxy, GraphError::Http { status: 502 }),
        "{proxy:?}"
    );
    let slow = c
        .post_json::<_, Value>("1/messages", &token(), &json!({"to": "slow"}))
        .await
        .unwrap_err();
    assert!(matches!(slow, GraphError::Timeout), "{slow:?}");

    // Nothing listens on this port: a transport error, not a panic.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let c = GraphClient::new(GraphConfig::new(dead, "v23.0"));
    let down = c.get_json::<Value>("1", &token()).await.unwrap_err();
    assert!(matches!(down, GraphError::Connect(_)), "{down:?}");
}
