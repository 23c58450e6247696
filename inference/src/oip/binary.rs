//! Triton's binary tensor extension, which `tritonclient` uses by default: the body is
//! the JSON request (`Inference-Header-Content-Length` bytes) followed by the raw data
//! of every input whose `parameters.binary_data_size` is set, in input order. Numbers
//! are little-endian; BYTES elements are a 4-byte little-endian length and the bytes.
//! An answer is the same way round when the request asks for binary outputs: the JSON
//! answer, then the data of every output whose `parameters.binary_data_size` is set.

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::tensor::{RequestInput, TensorData};
use crate::columns::Categories;
use crate::error::{AppError, Problem};

/// The header that says where the JSON ends.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

fn problem(input: &str, text: impl Into<String>) -> AppError {
    AppError::invalid(vec![Problem::new(
        format!("inputs.{input}"),
        text,
        "wrong_shape",
    )])
}

/// Appends a BYTES element: its 4-byte little-endian length, then its bytes.
pub fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A 200 answer of `json`, then `binary` (the binary outputs' data, in their order).
pub fn response(json: &impl Serialize, binary: Vec<u8>) -> Response {
    let mut body = match serde_json::to_vec(json) {
        Ok(body) => body,
        Err(_) => return crate::json::response(StatusCode::OK, json),
    };
    let length = body.len();
    body.extend_from_slice(&binary);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static(HEADER_LENGTH),
                length.to_string(),
            ),
        ],
        Body::from(body),
    )
        .into_response()
}

/// Fills the `data` of every binary input from `tail`, the bytes after the JSON.
pub fn attach(inputs: &mut [RequestInput], mut tail: &[u8]) -> Result<(), AppError> {
    for input in inputs.iter_mut() {
        let Some(size) = input.parameters.binary_data_size else {
            continue;
        };
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > tail.len() {
            return Err(problem(
                &input.name,
                format!(
                    "says binary_data_size {size} but only {} bytes follow",
                    tail.len()
                ),
            ));
        }
        let (bytes, rest) = tail.split_at(size);
        tail = rest;
        let elements = (input.shape.iter()).fold(1u64, |n, &d| {
            n.saturating_mul(u64::try_from(d).unwrap_or(0))
        });
        input.data = Some(decode(&input.name, &input.datatype, bytes, elements)?);
    }
    if !tail.is_empty() {
        return Err(AppError::invalid(vec![Problem::new(
            "inputs",
            format!(
                "{} bytes of binary data follow the inputs' binary_data_size",
                tail.len()
            ),
            "wrong_shape",
        )]));
    }
    Ok(())
}

fn numbers<const N: usize>(
    name: &str,
    bytes: &[u8],
    read: fn([u8; N]) -> f64,
) -> Result<TensorData, AppError> {
    if bytes.len() % N != 0 {
        return Err(problem(
            name,
            format!("has {} bytes, not a multiple of {N}", bytes.len()),
        ));
    }
    Ok(TensorData::Numbers(
        bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                read(a)
            })
            .collect(),
    ))
}

/// BYTES elements; `elements` (the shape's) only sizes the codes, within what the
/// bytes can hold (4 at least an element).
fn strings(name: &str, mut bytes: &[u8], elements: u64) -> Result<TensorData, AppError> {
    let rows = usize::try_from(elements)
        .unwrap_or(usize::MAX)
        .min(bytes.len() / 4);
    let mut c = Categories::with_capacity(rows);
    while !bytes.is_empty() {
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(problem(name, "ends inside a BYTES element's length"));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(problem(name, "ends inside a BYTES element"));
        }
        let (value, rest) = rest.split_at(len);
        if c.push_utf8(value).is_err() {
            return Err(problem(name, "holds a BYTES element that is not UTF-8"));
        }
        bytes = rest;
    }
    Ok(TensorData::Strings(c))
}

fn decode(name: &str, datatype: &str, bytes: &[u8], elements: u64) -> Result<TensorData, AppError> {
    match datatype {
        "FP64" => numbers::<8>(name, bytes, f64::from_le_bytes),
        "FP32" => numbers::<4>(name, bytes, |b| f64::from(f32::from_le_bytes(b))),
        "INT64" => numbers::<8>(name, bytes, |b| i64::from_le_bytes(b) as f64),
        "INT32" => numbers::<4>(name, bytes, |b| f64::from(i32::from_le_bytes(b))),
        "INT16" => numbers::<2>(name, bytes, |b| f64::from(i16::from_le_bytes(b))),
        "INT8" => numbers::<1>(name, bytes, |b| f64::from(i8::from_le_bytes(b))),
        "UINT64" => numbers::<8>(name, bytes, |b| u64::from_le_bytes(b) as f64),
        "UINT32" => numbers::<4>(name, bytes, |b| f64::from(u32::from_le_bytes(b))),
        "UINT16" => numbers::<2>(name, bytes, |b| f64::from(u16::from_le_bytes(b))),
        "UINT8" => numbers::<1>(name, bytes, |b| f64::from(b[0])),
        "BYTES" => strings(name, bytes, elements),
        // The datatype check names the input; here only its data is missing.
        _ => Ok(TensorData::Invalid("binary data of this datatype")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_numbers_and_length_prefixed_strings() {
        let mut bytes = Vec::new();
        for x in [1.5f32, -2.0] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        assert_eq!(
            decode("x", "FP32", &bytes, 4).expect("fp32"),
            TensorData::Numbers(vec![1.5, -2.0])
        );
        let mut bytes = Vec::new();
        for s in ["red", "", "red"] {
            bytes.extend_from_slice(&(s.len() as u32).to_le_bytes());
            bytes.extend_from_slice(s.as_bytes());
        }
        let TensorData::Strings(c) = decode("c", "BYTES", &bytes, 4).expect("bytes") else {
            panic!("strings");
        };
        assert_eq!(c.dictionary, vec!["red", ""]);
        assert_eq!(c.codes, vec![0, 1, 0]);
        assert!(decode("x", "FP64", &[0; 7], 4).is_err());
        assert!(decode("c", "BYTES", &[9, 0, 0, 0, b'a'], 4).is_err());
        let not_utf8 = [1, 0, 0, 0, b'a', 1, 0, 0, 0, 0xff];
        assert!(
            decode("c", "BYTES", &not_utf8, 4).is_err(),
            "a new value is validated"
        );
    }
}
