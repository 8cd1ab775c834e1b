//! `openapi.yaml` describes exactly the routes the functions serve, and the API serves it.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;

fn spec() -> Value {
    serde_yaml::from_str(include_str!("../../openapi.yaml")).unwrap()
}

#[test]
fn the_spec_and_the_routers_name_the_same_routes() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = api::served_routes()
        .into_iter()
        .chain(webhook::served_routes())
        .chain(billing::served_routes())
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in openapi.yaml but not served: {extra:?}"
    );
    // Every operation answers problems for errors, and names its path parameters.
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["responses"]["default"].is_object(), "{method} {path}");
            for name in path
                .split('{')
                .skip(1)
                .map(|s| s.split('}').next().unwrap())
            {
                assert!(
                    op["parameters"].as_array().is_some_and(|ps| ps
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path")),
                    "{method} {path} does not declare {name}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_api_serves_its_spec() {
    let dir = tempfile::tempdir().unwrap();
    let app = std::sync::Arc::new(shared::testing::local_app(dir.path()));
    let base = support::serve(app).await;
    let got: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, spec());
}
