//! Runs the embedded broker alone: `cargo run -p kgate-broker --example standalone --
//! 127.0.0.1:9092 ./data`. Handy for trying clients such as kcat against it.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let data = args.next().unwrap_or_else(|| "./kgate-data/broker".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let config = kgate_broker::BrokerConfig::new(data);
    println!("listening on {}", listener.local_addr()?);
    kgate_broker::serve(listener, config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
