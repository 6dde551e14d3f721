//! The generator against a stub HTTP server that stalls once for a second: the stall must show in p99 and
//! max (latency from intended start), not be hidden by the generator waiting for the server.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::json;
use shop_loadtest::{
    gql::Gql,
    schedule::{ArrivalKind, LoadSpec, run_open_loop},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::Mutex,
};

/// Answers every POST with `{"data":{"ok":true}}`; the 100th request stalls the whole server for a second.
async fn stub_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gate = Arc::new(Mutex::new(()));
    let seen = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (gate, seen) = (gate.clone(), seen.clone());
            tokio::spawn(async move {
                let mut conn = BufReader::new(sock);
                loop {
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if conn.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    {
                        let _pause = gate.lock().await;
                        if seen.fetch_add(1, Ordering::SeqCst) == 100 {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    let answer = r#"{"data":{"ok":true}}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if conn.get_mut().write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/graphql")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stalled_for_a_second_shows_in_p99_and_max() {
    let url = stub_server().await;
    let gql = Arc::new(Gql::new(&url, 1000).unwrap());
    let spec = LoadSpec {
        rate: 200.0,
        arrival: ArrivalKind::Constant,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(3),
        max_in_flight: 1000,
        timeout: Duration::from_secs(10),
        seed: 1,
    };
    let m = run_open_loop(
        &spec,
        |_| "ok",
        move |_| {
            let gql = gql.clone();
            async move { gql.read("{ ok }", &json!({}), None).await }
        },
    )
    .await;
    let op = &m.ops["ok"];
    assert_eq!(op.scheduled, 600);
    assert_eq!(op.ok, 600, "every request answered");
    assert_eq!(op.dropped + op.timeouts + op.transport, 0);
    // About 200 arrivals (a third) wait behind the stall, from ~1 s down to 0.
    let (max, p99) = (op.latency.max(), op.latency.value_at_quantile(0.99));
    assert!(max >= 990_000, "max {max} µs");
    assert!(p99 >= 900_000, "p99 {p99} µs");
    assert!(op.latency.value_at_quantile(0.9) >= 300_000);
}
