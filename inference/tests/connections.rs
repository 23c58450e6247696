//! The edges of the socket: a half-sent header is closed after the header-read timeout,
//! and connections beyond the limit get a 503 and are closed — over a real socket.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n";

/// Reads until the peer closes (`Ok(bytes)`), or gives up after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| all)
}

/// One request on an open keep-alive connection; the whole response (head and a body of
/// `content-length` bytes) as text.
async fn request(stream: &mut TcpStream, raw: &[u8]) -> String {
    stream.write_all(raw).await.expect("write");
    let mut response = Vec::new();
    let mut buf = vec![0u8; 8192];
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed mid-response");
            response.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&response);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length: usize = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().expect("length"))
                    })
                    .expect("content-length");
                if response.len() >= head_end + 4 + length {
                    return;
                }
            }
        }
    })
    .await
    .expect("an answer within 5 s");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_half_sent_header_is_closed_after_the_header_read_timeout() {
    let mut config = config();
    config.header_read_timeout = Duration::from_millis(400);
    let server = socket_server(config).await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-")
            .await
            .expect("write");
        stalled.push(stream);
    }
    let started = Instant::now();
    for stream in &mut stalled {
        let closed = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(
            closed.is_some(),
            "a half-sent header was still open after 5 s"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed after {waited:?}: before the timeout"
    );
    // A complete request on a fresh connection is still served.
    let mut fresh = TcpStream::connect(server.addr).await.expect("connect");
    assert!(request(&mut fresh, HEALTH)
        .await
        .starts_with("HTTP/1.1 200"));
    let metrics = request(&mut fresh, b"GET /metrics HTTP/1.1\r\nhost: test\r\n\r\n").await;
    let timeouts = metrics
        .lines()
        .find(|l| l.starts_with("vigil_http_connections_refused_total{reason=\"header_timeout\"}"))
        .expect("the header_timeout series");
    assert!(timeouts.ends_with(" 20"), "{timeouts}");
    drop(fresh);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_get_a_503_and_are_closed() {
    let mut config = config();
    config.max_connections = 2;
    let server = socket_server(config).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        assert!(request(&mut stream, HEALTH)
            .await
            .starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let mut extra = TcpStream::connect(server.addr).await.expect("connect");
    extra.write_all(HEALTH).await.expect("write");
    let answer = read_until_closed(&mut extra, Duration::from_secs(5))
        .await
        .expect("the extra connection is closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).expect("a body")).expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("too many open connections"),
        "{body}"
    );
    // Closing one frees its place.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = TcpStream::connect(server.addr).await.expect("connect");
        let answer = request(&mut again, HEALTH).await;
        if answer.starts_with("HTTP/1.1 200") {
            let metrics = request(&mut again, b"GET /metrics HTTP/1.1\r\nhost: test\r\n\r\n").await;
            assert!(
                metrics.contains("vigil_http_connections_open 2"),
                "{metrics}"
            );
            assert!(metrics.contains("vigil_http_connections_refused_total{reason=\"limit\"}"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a freed place was not reused: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    server.stop().await;
}
