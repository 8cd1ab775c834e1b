//! `graph-standin`: the Graph API stand-in on its own port (`WHATATALK_STANDIN_ADDR`, default
//! 127.0.0.1:3001). `whatatalk-local` starts one in-process by default; this is for poking at
//! it by hand: `curl localhost:3001/_standin/requests`.

use infra::standin::{StandIn, StandInConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init();
    let addr = std::env::var("WHATATALK_STANDIN_ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let standin = StandIn::new(StandInConfig::default());
    standin.add_business(infra::standin::demo_business());
    let url = standin.serve(listener)?;
    println!("graph stand-in listening on {url}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
