//! The API's HTTP tests: the real router on a random loopback port, on the local adapters or,
//! under `WHATATALK_TEST_BACKEND=aws`, on DynamoDB Local and moto (`infra/test.sh` runs both).
//! Every answer is held to openapi.yaml by the harness.

#[path = "../support/mod.rs"]
mod support;

mod accounts;
mod app;
mod billing;
mod contacts;
mod cross_tenant;
mod limits;
mod numbers;
mod privacy;
