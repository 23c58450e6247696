//! Column chunks of the Parquet log that this module encodes itself, for the row group
//! to splice in whole: string columns whose rows are codes into a dictionary of the
//! batch (categorical features, model version, predicted class) and the request ids.
//!
//! Why not the `parquet` crate's typed writer: it takes a string per row and interns it
//! again, hashing and comparing every row's bytes (with a `Bytes` reference count per
//! row to make and drop) — 15–20 % of the CPU of an OIP request of 1,000 rows, whose
//! categorical values already arrive as codes (`columns::Categories` in the server).
//! Here a row costs a `u32` code; a value costs one lookup when first seen in a request.
//!
//! What is written (all the Parquet format's own, read by every reader; the pyarrow and
//! DuckDB checks in `jobs/tests/drift.rs` read it):
//! * a dictionary column: a `PLAIN` dictionary page, then one v1 data page of
//!   `RLE_DICTIONARY` indices (one byte of bit width, then the RLE/bit-packing hybrid),
//!   preceded by the definition levels (RLE/bit-packing hybrid, 4-byte length) when the
//!   column is optional;
//! * the request ids: one v1 data page of `PLAIN` byte arrays (no dictionary: every id
//!   differs);
//! * a numeric feature (an optional DOUBLE): dictionary-encoded as above when that is
//!   smaller than `PLAIN` (an age, a count: few distinct values), else one `PLAIN` page
//!   (a continuous value), whichever the values make smaller — the crate's writer keeps a
//!   dictionary up to 1 MiB whatever it saves, and interns every row to find out.
//!
//! Pages are Snappy-compressed like the rest of the file and the chunk has no page
//! index. Statistics: min/max and the null count for a numeric feature, in the chunk's
//! metadata (for value filters); none for strings (no reader filters on them).

use std::collections::HashMap;

use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use crate::word_map::WordMap;

/// The code of a value in a batch's [`Dictionary`] (valid in that batch only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DictionaryCode(u32);

/// The distinct values of one string column of a batch, in the order first seen, and
/// the code of every present row.
#[derive(Debug, Default)]
pub struct Dictionary {
    /// The dictionary page's values as `PLAIN` encodes them: a 4-byte little-endian
    /// length, then the bytes.
    plain: Vec<u8>,
    codes_by_value: HashMap<Box<str>, DictionaryCode>,
    /// One per present row.
    codes: Vec<u32>,
}

impl Dictionary {
    pub fn with_capacity(rows: usize) -> Self {
        Dictionary {
            codes: Vec::with_capacity(rows),
            ..Dictionary::default()
        }
    }

    /// The code of `value`, added to the dictionary if it is new.
    pub fn code(&mut self, value: &str) -> DictionaryCode {
        if let Some(&code) = self.codes_by_value.get(value) {
            return code;
        }
        let code = DictionaryCode(self.codes_by_value.len() as u32);
        push_plain(&mut self.plain, value.as_bytes());
        self.codes_by_value.insert(value.into(), code);
        code
    }

    /// Adds a present row.
    pub fn push(&mut self, code: DictionaryCode) {
        self.codes.push(code.0);
    }

    /// Adds present rows.
    pub fn extend(&mut self, codes: impl Iterator<Item = DictionaryCode>) {
        self.codes.extend(codes.map(|code| code.0));
    }

    fn values(&self) -> usize {
        self.codes_by_value.len()
    }
}

/// Appends `bytes` as a `PLAIN` byte array.
pub fn push_plain(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A column chunk ready for `SerializedRowGroupWriter::append_column`: its bytes (its
/// offsets are into these) and what the row group records of it.
pub struct EncodedChunk {
    pub bytes: Bytes,
    pub close: ColumnCloseResult,
}

/// The chunk of a dictionary column of `rows` rows; `defined` is the definition level of
/// every row when the column is optional (1 present, 0 missing), `None` when required
/// (then every row is present).
pub fn dictionary_chunk(
    descr: ColumnDescPtr,
    dictionary: &Dictionary,
    defined: Option<&[i16]>,
    rows: usize,
) -> Result<EncodedChunk, ParquetError> {
    let values = DictionaryValues {
        plain: &dictionary.plain,
        count: dictionary.values(),
        codes: &dictionary.codes,
    };
    encoded_dictionary(descr, values, defined, rows, None)
}

/// A dictionary page's values (`PLAIN`), how many, and the code of every present row.
struct DictionaryValues<'a> {
    plain: &'a [u8],
    count: usize,
    codes: &'a [u32],
}

fn encoded_dictionary(
    descr: ColumnDescPtr,
    values: DictionaryValues<'_>,
    defined: Option<&[i16]>,
    rows: usize,
    statistics: Option<Statistics>,
) -> Result<EncodedChunk, ParquetError> {
    let (buf, uncompressed) = snappy(values.plain)?;
    let dictionary_page = Page::DictionaryPage {
        buf,
        num_values: values.count as u32,
        encoding: Encoding::PLAIN,
        is_sorted: false,
    };
    let dictionary_page = CompressedPage::new(dictionary_page, uncompressed);
    let mut data = Vec::with_capacity(values.codes.len() * 2 + rows / 8 + 16);
    push_levels(defined, &mut data);
    // A bit width of at least 1: some readers take 0 as a corrupt page.
    let bit_width = bits_for(values.count.saturating_sub(1) as u32).max(1);
    data.push(bit_width);
    let codes = values.codes;
    hybrid(codes.iter().copied(), codes.len(), bit_width, &mut data);
    let (buf, uncompressed) = snappy(&data)?;
    let data_page = Page::DataPage {
        buf,
        num_values: rows as u32,
        encoding: Encoding::RLE_DICTIONARY,
        def_level_encoding: Encoding::RLE,
        rep_level_encoding: Encoding::RLE,
        statistics: None,
    };
    let data_page = CompressedPage::new(data_page, uncompressed);
    chunk(
        descr,
        Some(dictionary_page),
        data_page,
        rows,
        &[Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY],
        statistics,
    )
}

/// Appends the definition levels of an optional column (a 4-byte length, then the
/// hybrid encoding at bit width 1); nothing for a required one.
fn push_levels(defined: Option<&[i16]>, data: &mut Vec<u8>) {
    if let Some(levels) = defined {
        let at = data.len();
        data.extend_from_slice(&[0; 4]);
        hybrid(levels.iter().map(|&l| l as u32), levels.len(), 1, data);
        let length = (data.len() - at - 4) as u32;
        data[at..at + 4].copy_from_slice(&length.to_le_bytes());
    }
}

/// The chunk of a required string column of `rows` rows whose values are `plain`, as
/// [`push_plain`] appends them.
pub fn plain_chunk(
    descr: ColumnDescPtr,
    plain: &[u8],
    rows: usize,
) -> Result<EncodedChunk, ParquetError> {
    let (buf, uncompressed) = snappy(plain)?;
    chunk(
        descr,
        None,
        plain_page(buf, uncompressed, rows),
        rows,
        &[Encoding::PLAIN],
        None,
    )
}

fn plain_page(buf: Bytes, uncompressed: usize, rows: usize) -> CompressedPage {
    let page = Page::DataPage {
        buf,
        num_values: rows as u32,
        encoding: Encoding::PLAIN,
        def_level_encoding: Encoding::RLE,
        rep_level_encoding: Encoding::RLE,
        statistics: None,
    };
    CompressedPage::new(page, uncompressed)
}

/// A value of an 8-byte column (DOUBLE, INT64), dictionary-coded by its bits.
pub trait Word: Copy {
    fn bits(self) -> u64;
    fn from_bits(bits: u64) -> Self;
}

impl Word for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn from_bits(bits: u64) -> Self {
        f64::from_bits(bits)
    }
}

impl Word for i64 {
    fn bits(self) -> u64 {
        self as u64
    }
    fn from_bits(bits: u64) -> Self {
        bits as i64
    }
}

/// The chunk of an optional DOUBLE column of `rows` rows: `values` are the present
/// rows' values in order, `defined` every row's definition level, with min/max and
/// null-count statistics. Encoded as [`word_chunk`] does; the bits of a dictionary's
/// values keep -0.0 and 0.0, and every NaN, as they are.
pub fn double_chunk(
    descr: ColumnDescPtr,
    values: &[f64],
    defined: &[i16],
    rows: usize,
) -> Result<EncodedChunk, ParquetError> {
    let missing = rows - values.len();
    let statistics = |values: &[f64]| Some(double_statistics(values.iter().copied(), missing));
    word_chunk(descr, values, Some(defined), rows, statistics)
}

/// The chunk of a required INT64 column, with min/max statistics when `bounds`.
pub fn int64_chunk(
    descr: ColumnDescPtr,
    values: &[i64],
    bounds: bool,
) -> Result<EncodedChunk, ParquetError> {
    let statistics = |values: &[i64]| {
        let (min, max) = (values.iter().min().copied(), values.iter().max().copied());
        bounds.then(|| Statistics::int64(min, max, None, Some(0), false))
    };
    word_chunk(descr, values, None, values.len(), statistics)
}

/// The chunk of an 8-byte column of `rows` rows, `values` its present rows' values and
/// `defined` every row's definition level (`None`: required). A dictionary of the
/// values' bits when it is smaller than `PLAIN`, which is decided while it is built: it
/// stops at the first value that makes it the larger. `statistics` is given the
/// distinct values, or all of them: bounds of either are the column's.
fn word_chunk<T: Word>(
    descr: ColumnDescPtr,
    values: &[T],
    defined: Option<&[i16]>,
    rows: usize,
    statistics: impl FnOnce(&[T]) -> Option<Statistics>,
) -> Result<EncodedChunk, ParquetError> {
    if let Some((distinct, codes)) = word_dictionary(values) {
        let statistics = statistics(&distinct);
        let plain: Vec<u8> = distinct
            .iter()
            .flat_map(|x| x.bits().to_le_bytes())
            .collect();
        let values = DictionaryValues {
            plain: &plain,
            count: distinct.len(),
            codes: &codes,
        };
        return encoded_dictionary(descr, values, defined, rows, statistics);
    }
    let statistics = statistics(values);
    let mut data = Vec::with_capacity(values.len() * 8 + rows / 8 + 16);
    push_levels(defined, &mut data);
    for x in values {
        data.extend_from_slice(&x.bits().to_le_bytes());
    }
    let (buf, uncompressed) = snappy(&data)?;
    let encodings: &[Encoding] = match defined {
        Some(_) => &[Encoding::PLAIN, Encoding::RLE],
        None => &[Encoding::PLAIN],
    };
    chunk(
        descr,
        None,
        plain_page(buf, uncompressed, rows),
        rows,
        encodings,
        statistics,
    )
}

/// The dictionary of `values` (its values in the order first seen, a code per value),
/// or `None` when its page and the codes would take more bytes than the values `PLAIN`.
fn word_dictionary<T: Word>(values: &[T]) -> Option<(Vec<T>, Vec<u32>)> {
    if values.is_empty() {
        // Nothing present: no dictionary of nothing.
        return None;
    }
    let plain_bytes = values.len() * 8;
    // Its entries, in the order first seen, are the distinct values by code.
    let mut distinct: WordMap<()> = WordMap::with_capacity(values.len().min(1_024));
    let mut codes = Vec::with_capacity(values.len());
    for &x in values {
        let (code, new) = distinct.index_or_insert(x.bits(), || ());
        if new {
            let codes_bytes = values.len() * usize::from(bits_for(code as u32).max(1)) / 8;
            if distinct.len() * 8 + codes_bytes >= plain_bytes {
                return None;
            }
        }
        codes.push(code as u32);
    }
    let distinct = distinct
        .entries()
        .iter()
        .map(|&(bits, ())| T::from_bits(bits));
    Some((distinct.collect(), codes))
}

/// Min/max of the values that are numbers (NaN orders nowhere, so readers skip it; a
/// column of NaN alone has none), with the zeros signed as the format asks (min -0.0,
/// max +0.0, so that a filter on either zero keeps the chunk), and the missing rows.
fn double_statistics(values: impl Iterator<Item = f64>, missing: usize) -> Statistics {
    let bounds = values
        .filter(|x| !x.is_nan())
        .fold(None, |bounds: Option<(f64, f64)>, x| match bounds {
            None => Some((x, x)),
            Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
        });
    let zero_signed = |x: f64, zero: f64| if x == 0.0 { zero } else { x };
    Statistics::double(
        bounds.map(|(lo, _)| zero_signed(lo, -0.0)),
        bounds.map(|(_, hi)| zero_signed(hi, 0.0)),
        None,
        Some(missing as u64),
        false,
    )
}

/// Writes the pages, and describes the chunk.
fn chunk(
    descr: ColumnDescPtr,
    dictionary_page: Option<CompressedPage>,
    data_page: CompressedPage,
    rows: usize,
    encodings: &[Encoding],
    statistics: Option<Statistics>,
) -> Result<EncodedChunk, ParquetError> {
    let mut sink = TrackedWrite::new(Vec::new());
    let mut pages = SerializedPageWriter::new(&mut sink);
    let (mut compressed, mut uncompressed) = (0, 0);
    let dictionary_offset = match dictionary_page {
        Some(page) => {
            let spec = pages.write_page(page)?;
            compressed += spec.compressed_size as i64;
            uncompressed += spec.uncompressed_size as i64;
            Some(spec.offset as i64)
        }
        None => None,
    };
    let spec = pages.write_page(data_page)?;
    compressed += spec.compressed_size as i64;
    uncompressed += spec.uncompressed_size as i64;
    pages.close()?;
    let mut metadata = ColumnChunkMetaData::builder(descr);
    if let Some(statistics) = statistics {
        metadata = metadata.set_statistics(statistics);
    }
    let metadata = metadata
        .set_compression(Compression::SNAPPY)
        .set_encodings(encodings.to_vec())
        .set_num_values(rows as i64)
        .set_total_compressed_size(compressed)
        .set_total_uncompressed_size(uncompressed)
        .set_dictionary_page_offset(dictionary_offset)
        .set_data_page_offset(spec.offset as i64)
        .build()?;
    let bytes = Bytes::from(sink.into_inner()?);
    Ok(EncodedChunk {
        close: ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        },
        bytes,
    })
}

thread_local! {
    /// One encoder per thread (a new one zeroes its hash table, a third of the cost of
    /// compressing a small page), and the scratch buffer `snappy` compresses into.
    static SNAPPY: std::cell::RefCell<(snap::raw::Encoder, Vec<u8>)> =
        std::cell::RefCell::new((snap::raw::Encoder::new(), Vec::new()));
}

/// A page's buffer Snappy-compressed, and its size before. Compressed into the thread's
/// scratch buffer (zeroed once, as large as the largest page so far) and copied out at
/// its compressed size: `compress_vec` zeroed a buffer of the worst-case size a page.
fn snappy(buf: &[u8]) -> Result<(Bytes, usize), ParquetError> {
    let compressed = SNAPPY.with_borrow_mut(|(encoder, scratch)| {
        let room = snap::raw::max_compress_len(buf.len());
        if scratch.len() < room {
            scratch.resize(room, 0);
        }
        let n = encoder.compress(buf, scratch)?;
        Ok(Bytes::copy_from_slice(&scratch[..n]))
    });
    let compressed = compressed.map_err(|e: snap::Error| ParquetError::External(Box::new(e)))?;
    Ok((compressed, buf.len()))
}

/// The bits that hold `max`.
fn bits_for(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Values in one bit-packed run at most: 63 groups of 8, so that a run's header is one
/// byte (as parquet-mr writes them; every reader takes longer runs too, but nothing is
/// gained by them).
const BIT_PACKED_RUN_MAX: usize = 63 * 8;

/// Appends `count` values (each below `1 << bit_width`) in the RLE/bit-packing hybrid
/// encoding: one RLE run when they are all equal (a required column of one model
/// version, an optional one with nothing missing), bit-packed runs otherwise, the last
/// group of 8 padded with zeros (the page's value count says where the values end).
fn hybrid(
    mut values: impl Iterator<Item = u32> + Clone,
    count: usize,
    bit_width: u8,
    out: &mut Vec<u8>,
) {
    let mut all = values.clone();
    if let Some(first) = all.next() {
        if all.all(|v| v == first) {
            push_varint(out, (count as u64) << 1);
            let bytes = usize::from(bit_width).div_ceil(8);
            out.extend_from_slice(&first.to_le_bytes()[..bytes]);
            return;
        }
    }
    let mut left = count;
    while left > 0 {
        let run = left.min(BIT_PACKED_RUN_MAX);
        let groups = run.div_ceil(8);
        push_varint(out, ((groups as u64) << 1) | 1);
        for _ in 0..groups {
            let mut group = [0u32; 8];
            for slot in group.iter_mut().take(left.min(8)) {
                *slot = values.next().unwrap_or(0);
            }
            left = left.saturating_sub(8);
            push_group(&group, bit_width, out);
        }
    }
}

/// Appends 8 values bit-packed: `bit_width` bytes, the first value in the lowest bits.
fn push_group(group: &[u32; 8], bit_width: u8, out: &mut Vec<u8>) {
    let width = usize::from(bit_width);
    if width <= 8 {
        // A definition level or a code of up to 256 values: in one machine word.
        let bits = (group.iter().enumerate())
            .fold(0u64, |bits, (k, &v)| bits | u64::from(v) << (k * width));
        out.extend_from_slice(&bits.to_le_bytes()[..width]);
        return;
    }
    if width <= 16 {
        // The whole group in one word (8 × 16 bits), written at once.
        let bits = (group.iter().enumerate())
            .fold(0u128, |bits, (k, &v)| bits | u128::from(v) << (k * width));
        out.extend_from_slice(&bits.to_le_bytes()[..width]);
        return;
    }
    let (mut bits, mut held) = (0u64, 0usize);
    for &value in group {
        bits |= u64::from(value) << held;
        held += width;
        while held >= 8 {
            out.push(bits as u8);
            bits >>= 8;
            held -= 8;
        }
    }
}

/// Appends `value` as an unsigned LEB128 varint.
fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the hybrid encoding (the format's definition, written out independently).
    fn decode(mut bytes: &[u8], bit_width: u8, count: usize) -> Vec<u32> {
        let varint = |bytes: &mut &[u8]| {
            let (mut value, mut shift) = (0u64, 0);
            loop {
                let b = bytes[0];
                *bytes = &bytes[1..];
                value |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return value;
                }
            }
        };
        let mut out = Vec::new();
        while out.len() < count {
            let header = varint(&mut bytes);
            if header & 1 == 0 {
                let width = usize::from(bit_width).div_ceil(8);
                let mut value = [0u8; 4];
                value[..width].copy_from_slice(&bytes[..width]);
                bytes = &bytes[width..];
                out.extend(std::iter::repeat_n(
                    u32::from_le_bytes(value),
                    (header >> 1) as usize,
                ));
            } else {
                let n = (header >> 1) as usize * 8;
                for i in 0..n {
                    let mut v = 0u32;
                    for b in 0..usize::from(bit_width) {
                        let bit = i * usize::from(bit_width) + b;
                        v |= u32::from((bytes[bit / 8] >> (bit % 8)) & 1) << b;
                    }
                    out.push(v);
                }
                bytes = &bytes[n * usize::from(bit_width) / 8..];
            }
        }
        assert!(bytes.is_empty(), "{} bytes left over", bytes.len());
        out.truncate(count);
        out
    }

    #[test]
    fn hybrid_runs_decode_to_the_values() {
        let mixed: Vec<u32> = (0..1_234).map(|i| (i * 7 + i / 3) % 41).collect();
        let same = vec![5u32; 2_000];
        let levels: Vec<u32> = (0..77).map(|i| u32::from(i % 5 != 0)).collect();
        let wide: Vec<u32> = (0..1_000).map(|i| (i * 104_729) % (1 << 20)).collect();
        let sixteen: Vec<u32> = (0..77).map(|i| u32::from(u16::MAX) - i * 3).collect();
        for (values, width) in [
            (&mixed, 6),
            (&same, 3),
            (&levels, 1),
            (&vec![1u32, 0], 1),
            (&sixteen, 16),
            (&wide, 20),
        ] {
            let mut out = Vec::new();
            hybrid(values.iter().copied(), values.len(), width, &mut out);
            assert_eq!(&decode(&out, width, values.len()), values, "width {width}");
        }
        let mut out = Vec::new();
        hybrid(same.iter().copied(), same.len(), 3, &mut out);
        assert_eq!(
            out,
            [0xa0, 0x1f, 5],
            "one RLE run: varint 4,000 then the value"
        );
    }

    #[test]
    fn a_dictionary_codes_each_value_once_in_order_first_seen() {
        let mut dictionary = Dictionary::default();
        let codes: Vec<DictionaryCode> = ["b", "a", "b", "c", "a"]
            .iter()
            .map(|v| dictionary.code(v))
            .collect();
        assert_eq!(
            codes,
            [0, 1, 0, 2, 1].map(DictionaryCode),
            "codes in the order first seen"
        );
        assert_eq!(dictionary.plain, b"\x01\0\0\0b\x01\0\0\0a\x01\0\0\0c");
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(40), 6);
        assert_eq!(bits_for(u32::MAX), 32);
    }
}
