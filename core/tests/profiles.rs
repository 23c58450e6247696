//! Batch profiles: what `vigil serve` writes beside each log batch and what a check
//! merges. Their file round-trips; the merge of shard profiles equals the profile of
//! the union (counts exactly, KLL sketches within their stated bound); the KS
//! statistic of two KLL sketches is within the stated bound of the exact one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, TimeZone, Utc};
use vigil_core::data::schema::{FeatureSchema, Value};
use vigil_core::drift::profile::{
    decode_profile, encode_profile, BatchProfiler, LoggedRow, ProfileFileEncoder, WindowProfile,
};
use vigil_core::drift::sketch::{NumericSketch, MISSING_CATEGORY};
use vigil_core::stats::{ks_2samp, ks_statistic_from_counts};
use vigil_core::train::split::SplitMix64;
use vigil_core::wire::PredictionRecord;

fn schema() -> FeatureSchema {
    serde_yaml::from_str(
        r#"
target: {name: y, classes: ["no", "yes"]}
features:
  - {name: age, type: numeric, min: 17, max: 90}
  - {name: income, type: numeric}
  - {name: colour, type: categorical, nullable: true}
"#,
    )
    .unwrap()
}

fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.next_f64().max(1e-300);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Records with an integer, a continuous and a categorical feature, some missing,
/// some out of range and some wrong-typed, and repeated request ids.
fn records(seed: u64, n: usize) -> Vec<PredictionRecord> {
    let mut rng = SplitMix64::new(seed);
    let start = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let age = match rng.next_f64() {
                u if u < 0.02 => Value::Missing,
                u if u < 0.03 => Value::Category("old".into()),
                _ => Value::Number((40.0 + 12.0 * normal(&mut rng)).round().clamp(10.0, 99.0)),
            };
            let income = Value::Number((1.0 + 0.5 * normal(&mut rng)).exp() * 30_000.0);
            let colour = match rng.next_f64() {
                u if u < 0.1 => Value::Missing,
                u if u < 0.5 => Value::Category("red".into()),
                u if u < 0.9 => Value::Category("blue".into()),
                _ => Value::Category(format!("c{}", i % 37)),
            };
            let p = rng.next_f64();
            PredictionRecord {
                request_id: format!("r{}", i - i % 50 * usize::from(i % 50 == 49)),
                timestamp: start + Duration::milliseconds(i as i64 * 37),
                model_version: "v1".into(),
                features: [("age", age), ("income", income), ("colour", colour)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                predicted_class: if p > 0.5 { "yes" } else { "no" }.into(),
                probabilities: vec![1.0 - p, p],
                latency_us: 10,
            }
        })
        .collect()
}

fn batch(
    schema: &FeatureSchema,
    rows: &[PredictionRecord],
) -> vigil_core::drift::profile::BatchProfile {
    let mut profiler = BatchProfiler::new(schema);
    for r in rows {
        profiler.observe_record(r);
    }
    profiler.finish()
}

fn categories(p: &WindowProfile, i: usize) -> Vec<(String, u64)> {
    let mut c: Vec<(String, u64)> = p.columns[i]
        .categories
        .iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    c.sort();
    c
}

#[test]
fn a_profile_compressed_in_slices_is_the_same_file() {
    // Slices of every size, down to one byte, then finish with nothing left (what the
    // server's writer does) or with some left.
    use std::io::Read;
    let s = schema();
    let written = batch(&s, &records(1, 2_000));
    let plain = |gz: &[u8]| {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    let file = encode_profile(&written);
    let whole = plain(&file);
    assert!(whole.len() > 10_000, "{}", whole.len());
    // Two members: the JSON deflated up to the request hashes, then the hashes stored.
    let mut first = Vec::new();
    flate2::read::GzDecoder::new(&file[..])
        .read_to_end(&mut first)
        .unwrap();
    assert!(first.ends_with(br#""hashes":""#));
    let hashes = &whole[first.len()..];
    let base64 = (2_000_usize * 8).div_ceil(3) * 4;
    assert_eq!(
        hashes.len(),
        base64 + 3,
        "2,000 u64 in base64, then the closing \"}}"
    );
    let stored = file.windows(hashes.len()).any(|w| w == hashes);
    assert!(stored, "the hashes are in the file as they are");
    for slice in [1, 4096, whole.len(), whole.len() + 1] {
        let mut file = ProfileFileEncoder::new(&written);
        let mut slices = 1;
        while file.compress(slice) {
            slices += 1;
        }
        assert_eq!(slices, whole.len().div_ceil(slice));
        assert!(!file.compress(slice), "nothing is left to compress");
        assert_eq!(plain(&file.finish()), whole, "slices of {slice}");
    }
    let mut part = ProfileFileEncoder::new(&written);
    assert!(part.compress(100));
    assert_eq!(plain(&part.finish()), whole);
}

#[test]
fn a_batch_profile_round_trips_through_its_file() {
    let s = schema();
    let rows = records(1, 5_000);
    let written = batch(&s, &rows);
    let bytes = encode_profile(&written);
    let read = decode_profile(&bytes, "p.json.gz").unwrap();
    assert_eq!(read.schema, written.schema);
    assert_eq!(read.requests, written.requests);
    let (a, b) = (&written.profile, &read.profile);
    assert_eq!(
        (a.rows, a.first_seen, a.last_seen),
        (b.rows, b.first_seen, b.last_seen)
    );
    for (x, y) in a.columns.iter().zip(&b.columns) {
        assert_eq!(
            (x.rows, x.missing, x.parse_errors, x.out_of_range),
            (y.rows, y.missing, y.parse_errors, y.out_of_range)
        );
        assert_eq!(x.numeric.sorted(), y.numeric.sorted(), "{}", x.name);
        assert_eq!(x.numeric.is_exact(), y.numeric.is_exact());
        if let (Some((xm, xs)), Some((ym, ys))) = (x.numeric.mean_std(), y.numeric.mean_std()) {
            assert!((xm - ym).abs() <= 1e-12 * xm.abs() && (xs - ys).abs() <= 1e-9 * xs);
        }
    }
    // 5 000 distinct incomes are more than a batch keeps exactly: a KLL sketch.
    assert!(b.columns[0].numeric.is_exact() && !b.columns[1].numeric.is_exact());
    assert_eq!(categories(a, 2), categories(b, 2));
    let (pa, pb) = (
        a.predictions.as_ref().unwrap(),
        b.predictions.as_ref().unwrap(),
    );
    assert_eq!(pa.class_counts, pb.class_counts);
    assert_eq!(pa.score.sorted(), pb.score.sorted());
    assert_eq!(
        a.ids.as_ref().unwrap().duplicate_rate(),
        b.ids.as_ref().unwrap().duplicate_rate()
    );
    let err = decode_profile(b"not gzip", "bad.json.gz").unwrap_err();
    assert!(err.to_string().contains("bad.json.gz"), "{err}");
}

#[test]
fn merged_shard_profiles_equal_the_profile_of_the_union() {
    let s = schema();
    let rows = records(2, 23_456);
    let mut union = WindowProfile::new(&s);
    for r in &rows {
        union.observe_record(&s, r, None);
    }
    let mut merged = WindowProfile::new(&s);
    for shard in rows.chunks(3_000) {
        let file = encode_profile(&batch(&s, shard));
        merged
            .merge(&decode_profile(&file, "shard").unwrap().profile)
            .unwrap();
    }
    assert_eq!(merged.rows, union.rows);
    assert_eq!(
        (merged.first_seen, merged.last_seen),
        (union.first_seen, union.last_seen)
    );
    for (m, u) in merged.columns.iter().zip(&union.columns) {
        assert_eq!(
            (m.rows, m.missing, m.parse_errors, m.out_of_range),
            (u.rows, u.missing, u.parse_errors, u.out_of_range),
            "{}",
            m.name
        );
        assert_eq!(m.numeric.count(), u.numeric.count());
    }
    // Integer ages: exact counts, exactly equal.
    assert!(merged.columns[0].numeric.is_exact());
    assert_eq!(
        merged.columns[0].numeric.sorted(),
        union.columns[0].numeric.sorted()
    );
    assert_eq!(categories(&merged, 2), categories(&union, 2));
    assert!(categories(&merged, 2)
        .iter()
        .any(|(k, _)| k == MISSING_CATEGORY));
    // Continuous incomes: each batch wrote a KLL sketch; the merged sketch is within
    // its bound of the exact distribution, and its moments are exact.
    let (m, u) = (&merged.columns[1].numeric, &union.columns[1].numeric);
    assert!(!m.is_exact() && u.is_exact());
    let (d, _, _) = ks_statistic_from_counts(&m.sorted(), &u.sorted()).unwrap();
    assert!(d <= m.cdf_error(), "D {d} > bound {}", m.cdf_error());
    let ((mm, ms), (um, us)) = (m.mean_std().unwrap(), u.mean_std().unwrap());
    assert!((mm - um).abs() < 1e-9 * um && (ms - us).abs() < 1e-9 * us);
    let (mp, up) = (
        merged.predictions.as_ref().unwrap(),
        union.predictions.as_ref().unwrap(),
    );
    assert_eq!(mp.class_counts, up.class_counts);
    let (mi, ui) = (merged.ids.as_ref().unwrap(), union.ids.as_ref().unwrap());
    assert_eq!(
        (mi.rows(), mi.duplicate_rate()),
        (ui.rows(), ui.duplicate_rate())
    );
    assert!(mi.duplicate_rate() > 0.01);
}

#[test]
fn rows_in_schema_order_profile_like_records() {
    let s = schema();
    let rows = records(3, 500);
    let mut by_row = BatchProfiler::new(&s);
    for r in &rows {
        let values: Vec<Value> = s
            .features
            .iter()
            .map(|f| r.features.get(&f.name).cloned().unwrap_or(Value::Missing))
            .collect();
        by_row.observe(LoggedRow {
            request_id: &r.request_id,
            timestamp: r.timestamp,
            values: &values,
            class: s.class_index(&r.predicted_class),
            probabilities: &r.probabilities,
        });
    }
    let (a, b) = (by_row.finish(), batch(&s, &rows));
    assert_eq!(a.requests, b.requests);
    assert_eq!(encode_profile(&a).len(), encode_profile(&b).len());
}

/// `sample(seed)` of `n` values: a normal, shifted and scaled by the seed.
fn continuous(seed: u64, n: usize, shift: f64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| 100.0 + 15.0 * (normal(&mut rng) + shift))
        .collect()
}

/// KLL sketches built as the serving path builds them: batches of 5 000, merged.
fn sketched(values: &[f64]) -> NumericSketch {
    let mut merged = NumericSketch::default();
    for chunk in values.chunks(5_000) {
        let mut part = NumericSketch::with_max_distinct(2_048);
        for &v in chunk {
            part.add(v);
        }
        merged.merge(&part).unwrap();
    }
    merged
}

#[test]
fn sketch_ks_is_within_its_stated_bound_on_100_seeds() {
    let mut worst = 0.0f64;
    for seed in 0..100u64 {
        let n1 = 20_000 + (seed as usize * 7_919) % 60_000;
        let n2 = 30_000 + (seed as usize * 104_729) % 120_000;
        let shift = (seed % 7) as f64 * 0.02;
        let a = continuous(seed * 2 + 1, n1, 0.0);
        let b = continuous(seed * 2 + 2, n2, shift);
        let (sa, sb) = (sketched(&a), sketched(&b));
        assert!(!sa.is_exact() && !sb.is_exact());
        let (d, _, _) = ks_statistic_from_counts(&sa.sorted(), &sb.sorted()).unwrap();
        let exact = ks_2samp(&a, &b).unwrap().statistic;
        let bound = sa.cdf_error() + sb.cdf_error();
        assert!(
            (d - exact).abs() <= bound,
            "seed {seed}: sketch D {d}, exact {exact}, bound {bound}"
        );
        worst = worst.max((d - exact).abs() / bound);
    }
    eprintln!("worst |D_sketch - D_exact| / bound over 100 seeds: {worst:.3}");
}
