//! 12,000 malformed and edge-case requests from a seeded generator: not one answer may be
//! a 5xx, and the server must still answer afterwards. Deterministic: a failure reproduces.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{json, Value};

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ODD_VALUES: &[&str] = &[
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e308",
    "-0",
    "0.0",
    "5e-324",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "null",
    "true",
    "false",
    "\"\"",
    "\"12\"",
    "\"red\"",
    "\"missing\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "[]",
    "{}",
    "[1,2]",
    "{\"a\":1}",
    "\"S\"",
    "\"XL\"",
    "42",
    "-1",
    "101",
    "1.5",
    "\"\u{1F600}\"",
];
const KEYS: &[&str] = &[
    "x",
    "color",
    "size",
    "X",
    "bogus",
    "",
    "request_id",
    "features",
    "x ",
    "\u{0}",
];

fn feature_object(rng: &mut Rng) -> String {
    let n = rng.below(6);
    let mut parts = Vec::new();
    for _ in 0..n {
        parts.push(format!(
            "{}: {}",
            json!(rng.pick(KEYS)),
            rng.pick(ODD_VALUES)
        ));
    }
    format!("{{{}}}", parts.join(", "))
}

fn deep(depth: usize, open: char, close: char) -> String {
    let mut s = String::with_capacity(depth * 2 + 1);
    s.extend(std::iter::repeat_n(open, depth));
    s.push('1');
    s.extend(std::iter::repeat_n(close, depth));
    s
}

fn body(rng: &mut Rng, good: &str) -> Vec<u8> {
    match rng.below(14) {
        // Byte-level mutations of a valid request.
        0 => {
            let mut b = good.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            b
        }
        1 => good.as_bytes()[..rng.below(good.len())].to_vec(),
        2 => {
            let mut b = good.as_bytes().to_vec();
            let i = rng.below(b.len());
            const JUNK: &[&[u8]] = &[b"\xff\xfe", b"\xc3\x28", b"\x00", b"}}}", b",,", b"\"", b"\\"];
            let junk = *rng.pick(JUNK);
            b.splice(i..i, junk.iter().copied());
            b
        }
        // Random feature objects.
        3 | 4 => format!(r#"{{"request_id": "f", "features": {}}}"#, feature_object(rng)).into_bytes(),
        // One good feature replaced by an odd value.
        5 => {
            let key = rng.pick(&["x", "color", "size"]);
            let value = rng.pick(ODD_VALUES);
            let features = match *key {
                "x" => format!(r#"{{"x": {value}, "color": "red", "size": "S"}}"#),
                "color" => format!(r#"{{"x": 1, "color": {value}, "size": "S"}}"#),
                _ => format!(r#"{{"x": 1, "color": "red", "size": {value}}}"#),
            };
            format!(r#"{{"features": {features}}}"#).into_bytes()
        }
        // Duplicate keys at both levels.
        6 => format!(
            r#"{{"request_id": "a", "features": {{"x": 1, "x": {}, "color": "red", "size": "S"}}, "features": {{}}}}"#,
            rng.pick(ODD_VALUES)
        )
        .into_bytes(),
        // Deep nesting, as a feature value and as the whole body.
        7 => {
            let depth = 1 + rng.below(5000);
            let (o, c) = *rng.pick(&[('[', ']'), ('{', '}')]);
            if rng.below(2) == 0 {
                format!(r#"{{"features": {{"x": {}}}}}"#, deep(depth, o, c)).into_bytes()
            } else {
                deep(depth, o, c).into_bytes()
            }
        }
        // Huge bodies: big strings, many keys, over the limit.
        8 => {
            let n = rng.below(100_000);
            format!(r#"{{"request_id": "{}", "features": {{}}}}"#, "a".repeat(n)).into_bytes()
        }
        9 => {
            let n = rng.below(5_000);
            let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {i}")).collect();
            format!(r#"{{"features": {{{}}}}}"#, keys.join(",")).into_bytes()
        }
        // Empty and whitespace.
        10 => {
            const EMPTYISH: &[&[u8]] = &[b"", b" ", b"\n\t", b"null", b"0", b"\"\"", b"[]", b"{}"];
            rng.pick(EMPTYISH).to_vec()
        }
        // Odd top-level values and shapes.
        11 => rng.pick(ODD_VALUES).as_bytes().to_vec(),
        // Request ids of every type and length.
        12 => format!(
            r#"{{"request_id": {}, "features": {{"x": 1, "color": "red", "size": "S"}}}}"#,
            if rng.below(2) == 0 { json!("r".repeat(rng.below(600))).to_string() } else { rng.pick(ODD_VALUES).to_string() }
        )
        .into_bytes(),
        // Random printable noise.
        _ => (0..rng.below(200)).map(|_| (32 + rng.below(95)) as u8).collect(),
    }
}

fn batch_of(rng: &mut Rng, good: &str) -> Vec<u8> {
    let n = rng.below(60);
    let rows: Vec<String> = (0..n)
        .map(|_| {
            let b = body(rng, good);
            String::from_utf8(b).unwrap_or_else(|_| "\"\u{FFFD}\"".into())
        })
        .collect();
    let mut out = format!(r#"{{"requests": [{}]}}"#, rows.join(",")).into_bytes();
    if rng.below(5) == 0 {
        out.truncate(rng.below(out.len() + 1));
    }
    out
}

#[tokio::test]
async fn twelve_thousand_bad_requests_never_get_a_5xx() {
    let s = server().await;
    let good = good_request("fuzz").to_string();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    let total = 12_000;
    for i in 0..total {
        let (path, bytes) = match rng.below(10) {
            0..=5 => ("/predict", body(&mut rng, &good)),
            6..=8 => ("/predict/batch", batch_of(&mut rng, &good)),
            _ => (
                "/feedback",
                body(&mut rng, r#"{"request_id": "r", "label": "yes"}"#),
            ),
        };
        let mut request = Request::post(path);
        match rng.below(20) {
            0 => request = request.header("content-type", "text/plain"),
            1 => {}
            2 => request = request.header("content-type", "application/json; charset=utf-8"),
            _ => request = request.header("content-type", "application/json"),
        }
        let request = request.body(Body::from(bytes.clone())).expect("request");
        let (status, answer) = s.call(request).await;
        assert!(
            status.as_u16() < 500,
            "case {i}: {path} {} → {status} {answer}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
        if status != StatusCode::OK && status != StatusCode::ACCEPTED {
            assert!(
                answer["error"].is_string(),
                "case {i}: not our error body: {answer}"
            );
        }
        *by_status.entry(status.as_u16()).or_default() += 1;
    }
    eprintln!("status counts over {total} requests: {by_status:?}");
    // The generator must reach the interesting answers, or it proves little.
    for code in [200u16, 400, 413, 415, 422] {
        assert!(
            by_status.get(&code).copied().unwrap_or(0) > 10,
            "too few {code}: {by_status:?}"
        );
    }
    let (status, _) = s.post("/predict", &good_request("after-fuzz")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    let text = s.metrics_text().await;
    assert!(!text.contains("status=\"5"), "a 5xx was counted");
}

#[test]
fn the_generator_is_deterministic() {
    let good = good_request("fuzz").to_string();
    let run = || {
        let mut rng = Rng(7);
        (0..50).map(|_| body(&mut rng, &good)).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
    let _: Value = json!(null);
}
