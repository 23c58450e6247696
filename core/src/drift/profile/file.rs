//! The batch profile file: gzip-compressed JSON, so that any tool can read it. Numbers
//! that come in bulk are base64 of little-endian arrays; a numeric column is either
//! its exact counts or its KLL sketch in DataSketches' compact format, which Python's
//! `datasketches.kll_doubles_sketch.deserialize` reads as it is:
//!
//! ```json
//! {"format": "vigil.profile", "version": 1, "schema": "<fingerprint>", "rows": 5000,
//!  "firstSeen": "…", "lastSeen": "…",
//!  "columns": [{"name": "age", "kind": "numeric", "rows": 5000, "missing": 0,
//!               "parseErrors": 0, "outOfRange": 0,
//!               "numeric": {"count": 5000, "mean": 38.6, "m2": 9.4e5, "maxDistinct": 2048,
//!                           "form": "exact", "values": "<f64 LE>", "counts": "<u64 LE>"}},
//!              {"name": "fnlwgt", …, "numeric": {…, "form": "kll", "kll": "<KLL bytes>"}},
//!              {"name": "workclass", "kind": "categorical", …,
//!               "categories": {"counts": {"Private": 3461, …}, "pooled": 0}}],
//!  "predictions": {"classCounts": [3790, 1210], "unknownClasses": 0, "score": {…}},
//!  "requests": {"hashes": "<u64 LE per row>", "classes": "<u16 LE per row>"}}
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::schema::{FeatureSchema, FeatureType};

use super::super::sketch::{kll, CategoryCounts, IdSampler, KllError, Moments, NumericSketch};
use super::batch::BatchProfile;
use super::{ColumnProfile, LabelProfile, PredictionProfile, WindowProfile};

/// Bumped on incompatible changes of the file.
pub const PROFILE_FORMAT_VERSION: u32 = 1;
const FORMAT: &str = "vigil.profile";

/// A profile file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile `{uri}` is not gzip-compressed JSON: {message}")]
    Unreadable { uri: String, message: String },
    #[error(
        "profile `{uri}` is version {found}; this vigil reads version {PROFILE_FORMAT_VERSION}"
    )]
    Version { uri: String, found: u32 },
    #[error("profile `{uri}`: {what}")]
    Corrupt { uri: String, what: String },
}

/// A short, stable fingerprint of a schema: a batch profile is used only by a check
/// with the schema it was folded by.
pub fn schema_fingerprint(schema: &FeatureSchema) -> String {
    let json = serde_json::to_vec(schema).unwrap_or_default();
    let digest = Sha256::digest(&json);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileV1 {
    format: String,
    version: u32,
    schema: String,
    rows: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_seen: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen: Option<DateTime<Utc>>,
    columns: Vec<ColumnV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    predictions: Option<PredictionsV1>,
    /// A partial of many batches: the id sampler instead of the rows' hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ids: Option<IdsV1>,
    /// A partial: the labels joined so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    labels: Option<LabelsV1>,
    /// Per row (a batch): predicted classes and request-id hashes. Last, and the hashes
    /// last in it, so that the file's stored member is the end of the JSON
    /// ([`ProfileFileEncoder`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requests: Option<RequestsV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdsV1 {
    /// As a string: JSON numbers lose the low bits of a u64 in many readers.
    threshold: String,
    rows: u64,
    hashes: String,
    counts: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabelsV1 {
    labelled: u64,
    correct: u64,
    unknown_labels: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ColumnV1 {
    name: String,
    kind: FeatureType,
    rows: u64,
    missing: u64,
    parse_errors: u64,
    out_of_range: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    numeric: Option<NumericV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    categories: Option<CategoriesV1>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NumericV1 {
    count: u64,
    mean: f64,
    m2: f64,
    max_distinct: usize,
    #[serde(flatten)]
    data: NumericData,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "camelCase")]
enum NumericData {
    Exact { values: String, counts: String },
    Kll { kll: String },
}

#[derive(Serialize, Deserialize)]
struct CategoriesV1 {
    counts: BTreeMap<String, u64>,
    pooled: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PredictionsV1 {
    class_counts: Vec<u64>,
    unknown_classes: u64,
    score: NumericV1,
}

#[derive(Serialize, Deserialize)]
struct RequestsV1 {
    classes: String,
    hashes: String,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn le_bytes<T: Copy, const N: usize>(values: &[T], to: fn(T) -> [u8; N]) -> String {
    b64(&values.iter().flat_map(|&v| to(v)).collect::<Vec<u8>>())
}

fn numeric_v1(sketch: &NumericSketch) -> NumericV1 {
    let m = sketch.moments();
    let data = match sketch.kll() {
        Some(sketch) => NumericData::Kll {
            kll: b64(&kll::to_bytes(sketch)),
        },
        None => {
            let sorted = sketch.sorted();
            let values: Vec<f64> = sorted.iter().map(|x| x.0).collect();
            let counts: Vec<u64> = sorted.iter().map(|x| x.1).collect();
            NumericData::Exact {
                values: le_bytes(&values, f64::to_le_bytes),
                counts: le_bytes(&counts, u64::to_le_bytes),
            }
        }
    };
    NumericV1 {
        count: sketch.count(),
        mean: m.mean,
        m2: m.m2,
        max_distinct: sketch.max_distinct(),
        data,
    }
}

fn ids_v1(ids: &IdSampler) -> IdsV1 {
    let (threshold, kept) = ids.parts();
    let (hashes, counts): (Vec<u64>, Vec<u32>) = kept.unzip();
    IdsV1 {
        threshold: threshold.to_string(),
        rows: ids.rows(),
        hashes: le_bytes(&hashes, u64::to_le_bytes),
        counts: le_bytes(&counts, u32::to_le_bytes),
    }
}

/// The file of a batch profile, or of a partial (no per-row requests: its id sampler
/// and joined labels instead).
pub fn encode_profile(batch: &BatchProfile) -> Bytes {
    ProfileFileEncoder::new(batch).finish()
}

/// A profile's file compressed a slice at a time, so that a server can spread the work
/// between requests: a batch's profile is ~120 KB of JSON, about a millisecond of deflate
/// in one go.
///
/// The file is two gzip members one after the other (RFC 1952 §2.2: `gzip -d`, `zcat`,
/// Python's `gzip`, Go's and Java's readers and `MultiGzDecoder` read them as one
/// stream): the JSON deflated up to the request hashes, then the hashes (~45 % of a
/// batch's JSON, and the end of it) in stored blocks. They are random bytes in base64,
/// which deflate shrinks by a quarter at most while spending more than half of its time
/// on them.
pub struct ProfileFileEncoder {
    json: Vec<u8>,
    /// Bytes of `json` compressed so far.
    compressed: usize,
    /// Where the stored member starts in `json` (its end when there is none).
    stored_from: usize,
    member: Member,
    /// Of the stored member's bytes so far.
    crc: crc32fast::Hasher,
}

enum Member {
    Deflating(flate2::write::GzEncoder<Vec<u8>>),
    /// The file so far: the deflated member, then the stored one's header and blocks.
    Storing(Vec<u8>),
}

/// A gzip member's header: deflate, no flags, no time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
/// The most bytes a stored deflate block holds.
const STORED_BLOCK_BYTES: usize = 65_535;

impl ProfileFileEncoder {
    /// Serialises the profile (compressing nothing yet).
    pub fn new(batch: &BatchProfile) -> ProfileFileEncoder {
        let (json, stored_from) = profile_json(batch);
        let gzip = flate2::write::GzEncoder::new(
            Vec::with_capacity(json.len() * 2 / 3),
            flate2::Compression::fast(),
        );
        ProfileFileEncoder {
            json,
            compressed: 0,
            stored_from,
            member: Member::Deflating(gzip),
            crc: crc32fast::Hasher::new(),
        }
    }

    /// Compresses up to `bytes` more of the file; returns whether any is left.
    pub fn compress(&mut self, bytes: usize) -> bool {
        let len = self.json.len();
        let end = self.compressed.saturating_add(bytes).min(len);
        if let Member::Deflating(gzip) = &mut self.member {
            let upto = end.min(self.stored_from);
            // Compressing into memory cannot fail.
            let _ = gzip.write_all(&self.json[self.compressed..upto]);
            self.compressed = upto;
            if upto == self.stored_from && upto < len {
                let placeholder = Member::Storing(Vec::new());
                if let Member::Deflating(gzip) = std::mem::replace(&mut self.member, placeholder) {
                    let mut file = gzip.finish().unwrap_or_default();
                    file.extend_from_slice(&GZIP_HEADER);
                    self.member = Member::Storing(file);
                }
            }
        }
        if let Member::Storing(file) = &mut self.member {
            let part = &self.json[self.compressed..end];
            self.crc.update(part);
            for block in part.chunks(STORED_BLOCK_BYTES) {
                self.compressed += block.len();
                // BFINAL on the block that ends the data; BTYPE 00 (stored).
                file.push(u8::from(self.compressed == len));
                let length = block.len() as u16;
                file.extend_from_slice(&length.to_le_bytes());
                file.extend_from_slice(&(!length).to_le_bytes());
                file.extend_from_slice(block);
            }
            if self.compressed == len && !part.is_empty() {
                file.extend_from_slice(&self.crc.clone().finalize().to_le_bytes());
                let stored = (len - self.stored_from) as u32;
                file.extend_from_slice(&stored.to_le_bytes());
            }
        }
        self.compressed < len
    }

    /// The file, with what is left compressed.
    pub fn finish(mut self) -> Bytes {
        self.compress(usize::MAX);
        Bytes::from(match self.member {
            Member::Deflating(gzip) => gzip.finish().unwrap_or_default(),
            Member::Storing(file) => file,
        })
    }
}

/// The profile's JSON, and where the request hashes start in it (its end when there are
/// none).
fn profile_json(batch: &BatchProfile) -> (Vec<u8>, usize) {
    let p = &batch.profile;
    let hashes: Vec<u64> = batch.requests.iter().map(|r| r.0).collect();
    let classes: Vec<u16> = batch.requests.iter().map(|r| r.1).collect();
    let partial = batch.requests.is_empty() && p.rows > 0;
    let file = FileV1 {
        format: FORMAT.into(),
        version: PROFILE_FORMAT_VERSION,
        schema: batch.schema.clone(),
        rows: p.rows,
        first_seen: p.first_seen,
        last_seen: p.last_seen,
        columns: p
            .columns
            .iter()
            .map(|c| ColumnV1 {
                name: c.name.clone(),
                kind: c.kind,
                rows: c.rows,
                missing: c.missing,
                parse_errors: c.parse_errors,
                out_of_range: c.out_of_range,
                numeric: (c.kind == FeatureType::Numeric).then(|| numeric_v1(&c.numeric)),
                categories: (c.kind == FeatureType::Categorical).then(|| CategoriesV1 {
                    counts: c
                        .categories
                        .iter()
                        .map(|(k, n)| (k.to_string(), n))
                        .collect(),
                    pooled: c.categories.pooled(),
                }),
            })
            .collect(),
        predictions: p.predictions.as_ref().map(|pr| PredictionsV1 {
            class_counts: pr.class_counts.clone(),
            unknown_classes: pr.unknown_classes,
            score: numeric_v1(&pr.score),
        }),
        ids: p.ids.as_ref().filter(|_| partial).map(ids_v1),
        labels: p.labels.as_ref().map(|l| LabelsV1 {
            labelled: l.labelled,
            correct: l.correct,
            unknown_labels: l.unknown_labels,
        }),
        requests: (!partial).then(|| RequestsV1 {
            classes: le_bytes(&classes, u16::to_le_bytes),
            // Spliced in below.
            hashes: String::new(),
        }),
    };
    let mut json = serde_json::to_vec(&file).unwrap_or_default();
    // The hashes' base64, then the closing `"}}`, end the document: spliced in as they
    // are (base64 needs no escaping) rather than scanned byte by byte by the serialiser.
    const EMPTY_TAIL: &[u8] = br#""}}"#;
    if partial || !json.ends_with(br#""hashes":""}}"#) {
        let end = json.len();
        return (json, end);
    }
    json.truncate(json.len() - EMPTY_TAIL.len());
    let stored_from = json.len();
    json.extend_from_slice(le_bytes(&hashes, u64::to_le_bytes).as_bytes());
    json.extend_from_slice(EMPTY_TAIL);
    (json, stored_from)
}

/// Reads a batch profile file; `uri` is for messages.
pub fn decode_profile(bytes: &[u8], uri: &str) -> Result<BatchProfile, ProfileError> {
    let unreadable = |message: String| ProfileError::Unreadable {
        uri: uri.to_string(),
        message,
    };
    let mut json = Vec::with_capacity(bytes.len() * 3);
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut json)
        .map_err(|e| unreadable(e.to_string()))?;
    let file: FileV1 = serde_json::from_slice(&json).map_err(|e| unreadable(e.to_string()))?;
    if file.format != FORMAT || file.version != PROFILE_FORMAT_VERSION {
        return Err(ProfileError::Version {
            uri: uri.to_string(),
            found: file.version,
        });
    }
    let corrupt = |what: String| ProfileError::Corrupt {
        uri: uri.to_string(),
        what,
    };
    from_file(file).map_err(corrupt)
}

fn requests_from(file: &FileV1) -> Result<Vec<(u64, u16)>, String> {
    let Some(requests) = &file.requests else {
        return Ok(Vec::new());
    };
    let hashes = unb64(&requests.hashes, u64::from_le_bytes)?;
    let classes = unb64(&requests.classes, u16::from_le_bytes)?;
    if hashes.len() != classes.len() || hashes.len() as u64 != file.rows {
        return Err(format!(
            "{} rows, {} request hashes, {} classes",
            file.rows,
            hashes.len(),
            classes.len()
        ));
    }
    Ok(hashes.into_iter().zip(classes).collect())
}

fn ids_from(ids: &IdsV1) -> Result<IdSampler, String> {
    let threshold: u64 = ids
        .threshold
        .parse()
        .map_err(|e| format!("ids threshold: {e}"))?;
    let hashes = unb64(&ids.hashes, u64::from_le_bytes)?;
    let counts = unb64(&ids.counts, u32::from_le_bytes)?;
    if hashes.len() != counts.len() {
        return Err(format!(
            "{} id hashes, {} counts",
            hashes.len(),
            counts.len()
        ));
    }
    Ok(IdSampler::from_parts(
        threshold,
        ids.rows,
        hashes.into_iter().zip(counts),
    ))
}

fn from_file(file: FileV1) -> Result<BatchProfile, String> {
    let requests = requests_from(&file)?;
    let ids = match &file.ids {
        Some(ids) => ids_from(ids)?,
        None => {
            let mut ids = IdSampler::default();
            for &(h, _) in &requests {
                ids.add_hash(h, 1);
            }
            ids
        }
    };
    let columns = file
        .columns
        .into_iter()
        .map(column_from)
        .collect::<Result<Vec<_>, _>>()?;
    let predictions = match file.predictions {
        Some(p) => Some(PredictionProfile {
            class_counts: p.class_counts,
            unknown_classes: p.unknown_classes,
            score: numeric_from(p.score).map_err(|e| format!("score: {e}"))?,
        }),
        None => None,
    };
    Ok(BatchProfile {
        schema: file.schema,
        profile: WindowProfile {
            rows: file.rows,
            columns,
            predictions,
            labels: file.labels.map(|l| LabelProfile {
                labelled: l.labelled,
                correct: l.correct,
                unknown_labels: l.unknown_labels,
            }),
            ids: Some(ids),
            first_seen: file.first_seen,
            last_seen: file.last_seen,
        },
        requests,
    })
}

fn column_from(c: ColumnV1) -> Result<ColumnProfile, String> {
    let numeric = match c.numeric {
        Some(n) => numeric_from(n).map_err(|e| format!("column `{}`: {e}", c.name))?,
        None => NumericSketch::default(),
    };
    let categories = c
        .categories
        .map(|k| CategoryCounts::from_parts(k.counts, k.pooled))
        .unwrap_or_default();
    Ok(ColumnProfile {
        name: c.name,
        kind: c.kind,
        rows: c.rows,
        missing: c.missing,
        parse_errors: c.parse_errors,
        out_of_range: c.out_of_range,
        numeric,
        categories,
    })
}

fn numeric_from(n: NumericV1) -> Result<NumericSketch, String> {
    match n.data {
        NumericData::Exact { values, counts } => {
            let values = unb64(&values, f64::from_le_bytes)?;
            let counts = unb64(&counts, u64::from_le_bytes)?;
            if values.len() != counts.len() || counts.iter().sum::<u64>() != n.count {
                return Err(format!(
                    "{} values, {} counts, count {}",
                    values.len(),
                    counts.len(),
                    n.count
                ));
            }
            let pairs: Vec<(f64, u64)> = values.into_iter().zip(counts).collect();
            Ok(NumericSketch::from_counts(&pairs, n.max_distinct))
        }
        NumericData::Kll { kll: text } => {
            let bytes = unb64_raw(&text)?;
            let sketch = kll::from_bytes(&bytes).map_err(|e: KllError| e.to_string())?;
            if sketch.n() != n.count {
                return Err(format!("KLL of {} values, count {}", sketch.n(), n.count));
            }
            let moments = Moments {
                n: n.count,
                mean: n.mean,
                m2: n.m2,
            };
            Ok(NumericSketch::from_kll(sketch, moments, n.max_distinct))
        }
    }
}

fn unb64_raw(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))
}

fn unb64<T, const N: usize>(text: &str, from: fn([u8; N]) -> T) -> Result<Vec<T>, String> {
    let bytes = unb64_raw(text)?;
    if bytes.len() % N != 0 {
        return Err(format!("{} bytes is not a multiple of {N}", bytes.len()));
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|chunk| {
            let mut word = [0u8; N];
            word.copy_from_slice(chunk);
            from(word)
        })
        .collect())
}
