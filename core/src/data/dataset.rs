//! Tabular data in, typed frames out.
//!
//! Reading is two steps so that validation can see everything that is wrong:
//! bytes → [`RawTable`] (text cells, any columns) → [`Frame`] (the schema's
//! columns, typed, target as class indices).

use std::io::Read;

use bytes::Bytes;

use serde::{Deserialize, Serialize};

use crate::data::schema::{FeatureSchema, FieldProblem, Value};

/// File format of a dataset. Gzip compression is detected from the content.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Decide from the file name: `.parquet`/`.pq` is Parquet, `.jsonl`/`.ndjson`
    /// (optionally `.gz`) JSON Lines, anything else CSV.
    #[default]
    Auto,
    /// Comma-separated values with a header row; an empty cell is missing.
    Csv,
    /// One JSON object per line; `null` or an absent key is missing.
    Jsonl,
    /// Apache Parquet (flat columns; snappy, zstd, lz4 or gzip pages); a null is missing.
    Parquet,
}

impl DataFormat {
    /// Resolves `Auto` from a file name or URI.
    pub fn resolve(self, name: &str) -> DataFormat {
        match self {
            DataFormat::Auto => {
                if name.ends_with(".parquet") || name.ends_with(".pq") {
                    return DataFormat::Parquet;
                }
                let name = name.strip_suffix(".gz").unwrap_or(name);
                if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
                    DataFormat::Jsonl
                } else {
                    DataFormat::Csv
                }
            }
            other => other,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("more than {limit} rows (training.data.maxRows); raise it or select fewer rows")]
    TooManyRows { limit: usize },
    #[error("Parquet: {0}")]
    Parquet(String),
    #[error("column `{column}` is {kind}; only flat columns can be read")]
    UnsupportedColumn { column: String, kind: &'static str },
    #[error("dataset is empty (no header and no rows)")]
    Empty,
    #[error("dataset has a header but no rows")]
    NoRows,
    #[error("could not decompress gzip data: {0}")]
    Gzip(std::io::Error),
    #[error("CSV line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error("CSV line {line}: expected {expected} cells like the header, found {found}")]
    Ragged {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("JSON Lines line {line}: {message}")]
    Json { line: usize, message: String },
    #[error("column `{0}` appears twice in the header")]
    DuplicateColumn(String),
    #[error("{count} rows have a missing or unknown class in target column `{column}`")]
    BadTarget { column: String, count: usize },
    #[error("required column `{0}` is missing")]
    MissingColumn(String),
}

/// Text cells by column, exactly as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawTable {
    pub columns: Vec<String>,
    /// Column-major: `cells[column][row]`; `None` is a missing cell.
    pub cells: Vec<Vec<Option<String>>>,
}

impl RawTable {
    pub fn n_rows(&self) -> usize {
        self.cells.first().map_or(0, Vec::len)
    }

    pub fn column(&self, name: &str) -> Option<&[Option<String>]> {
        let index = self.columns.iter().position(|c| c == name)?;
        Some(&self.cells[index])
    }

    /// Parses bytes (optionally gzip-compressed) in the given format.
    pub fn parse(bytes: &[u8], format: DataFormat) -> Result<RawTable, DatasetError> {
        RawTable::read(Bytes::copy_from_slice(bytes), format, usize::MAX)
    }

    /// [`parse`](Self::parse) with a row limit: more than `max_rows` rows is an error
    /// (a Parquet file's is raised before its rows are decoded).
    pub fn read(
        bytes: Bytes,
        format: DataFormat,
        max_rows: usize,
    ) -> Result<RawTable, DatasetError> {
        let table = match format {
            DataFormat::Parquet => super::parquet::parse(bytes, max_rows)?,
            DataFormat::Jsonl => parse_jsonl(&decompress(&bytes)?)?,
            DataFormat::Csv | DataFormat::Auto => parse_csv(&decompress(&bytes)?)?,
        };
        if table.n_rows() > max_rows {
            return Err(DatasetError::TooManyRows { limit: max_rows });
        }
        if table.columns.is_empty() {
            return Err(DatasetError::Empty);
        }
        if table.n_rows() == 0 {
            return Err(DatasetError::NoRows);
        }
        Ok(table)
    }

    /// Keeps the rows for which `keep(row)` is true.
    pub fn filter_rows(&self, keep: impl Fn(usize) -> bool) -> RawTable {
        let rows: Vec<usize> = (0..self.n_rows()).filter(|&r| keep(r)).collect();
        RawTable {
            columns: self.columns.clone(),
            cells: self
                .cells
                .iter()
                .map(|col| rows.iter().map(|&r| col[r].clone()).collect())
                .collect(),
        }
    }
}

fn decompress(bytes: &[u8]) -> Result<Vec<u8>, DatasetError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(DatasetError::Gzip)?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

fn parse_csv(bytes: &[u8]) -> Result<RawTable, DatasetError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DatasetError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let csv_error = |e: csv::Error| DatasetError::Csv {
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    let header = reader.headers().map_err(csv_error)?.clone();
    let columns: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    check_unique(&columns)?;
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::new(); columns.len()];
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        if record.len() != columns.len() {
            return Err(DatasetError::Ragged {
                line: record.position().map_or(0, |p| p.line()),
                expected: columns.len(),
                found: record.len(),
            });
        }
        for (column, cell) in cells.iter_mut().zip(record.iter()) {
            column.push((!cell.is_empty()).then(|| cell.to_string()));
        }
    }
    Ok(RawTable { columns, cells })
}

fn parse_jsonl(bytes: &[u8]) -> Result<RawTable, DatasetError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DatasetError::Json {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        message: "invalid UTF-8".to_string(),
    })?;
    let mut table = RawTable::default();
    let mut n_rows = 0usize;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let json_error = |message: String| DatasetError::Json {
            line: index + 1,
            message,
        };
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| json_error(e.to_string()))?;
        for (key, value) in object {
            let cell = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) if s.is_empty() => None,
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => {
                    return Err(json_error(format!(
                        "key `{key}` holds an array or object; only scalars are allowed"
                    )))
                }
            };
            let column = match table.columns.iter().position(|c| *c == key) {
                Some(c) => c,
                None => {
                    table.columns.push(key);
                    table.cells.push(vec![None; n_rows]);
                    table.columns.len() - 1
                }
            };
            table.cells[column].push(cell);
        }
        n_rows += 1;
        for column in &mut table.cells {
            column.resize(n_rows, None);
        }
    }
    Ok(table)
}

pub(crate) fn check_unique(columns: &[String]) -> Result<(), DatasetError> {
    let mut seen = std::collections::HashSet::new();
    for c in columns {
        if !seen.insert(c) {
            return Err(DatasetError::DuplicateColumn(c.clone()));
        }
    }
    Ok(())
}

/// The schema's features, typed, plus the target as class indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// `columns[feature][row]`, in schema order.
    pub columns: Vec<Vec<Value>>,
    /// Class index into `schema.target.classes` for every row.
    pub target: Vec<usize>,
}

/// A cell that did not parse as its declared type.
#[derive(Clone, Debug, PartialEq)]
pub struct CellError {
    pub row: usize,
    pub column: String,
    pub problem: FieldProblem,
}

impl Frame {
    pub fn n_rows(&self) -> usize {
        self.target.len()
    }

    /// Types a raw table by the schema. Cells that fail to parse become
    /// missing and are returned as errors; rows whose target is missing or not
    /// a known class are an error too (validation reports both before this is
    /// called for training).
    pub fn from_raw(
        raw: &RawTable,
        schema: &FeatureSchema,
    ) -> Result<(Frame, Vec<CellError>), DatasetError> {
        let mut cell_errors = Vec::new();
        let mut columns = Vec::with_capacity(schema.features.len());
        for feature in &schema.features {
            let raw_column = raw
                .column(&feature.name)
                .ok_or_else(|| DatasetError::MissingColumn(feature.name.clone()))?;
            let mut column = Vec::with_capacity(raw_column.len());
            for (row, cell) in raw_column.iter().enumerate() {
                match feature.parse(cell.as_deref()) {
                    Ok(value) => column.push(value),
                    Err(problem) => {
                        cell_errors.push(CellError {
                            row,
                            column: feature.name.clone(),
                            problem,
                        });
                        column.push(Value::Missing);
                    }
                }
            }
            columns.push(column);
        }
        let target_column = raw
            .column(&schema.target.name)
            .ok_or_else(|| DatasetError::MissingColumn(schema.target.name.clone()))?;
        let mut target = Vec::with_capacity(target_column.len());
        for (row, cell) in target_column.iter().enumerate() {
            let class = cell.as_deref().map(str::trim).unwrap_or_default();
            match schema.class_index(class) {
                Some(index) => target.push(index),
                None => cell_errors.push(CellError {
                    row,
                    column: schema.target.name.clone(),
                    problem: FieldProblem::NotAllowed(crate::text::shorten(class, 40)),
                }),
            }
        }
        if target.len() != target_column.len() {
            return Err(DatasetError::BadTarget {
                column: schema.target.name.clone(),
                count: target_column.len() - target.len(),
            });
        }
        Ok((Frame { columns, target }, cell_errors))
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Frame {
        Frame {
            columns: self
                .columns
                .iter()
                .map(|col| indices.iter().map(|&i| col[i].clone()).collect())
                .collect(),
            target: indices.iter().map(|&i| self.target[i]).collect(),
        }
    }

    /// One row's values in schema order.
    pub fn row(&self, index: usize) -> Vec<Value> {
        self.columns.iter().map(|col| col[index].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_jsonl_read_the_same_table() {
        let csv = b"a,b\n1,x\n,y\n3,\n";
        let jsonl = b"{\"a\": 1, \"b\": \"x\"}\n{\"a\": null, \"b\": \"y\"}\n\n{\"a\": 3}\n";
        let from_csv = RawTable::parse(csv, DataFormat::Csv).expect("csv");
        let from_jsonl = RawTable::parse(jsonl, DataFormat::Jsonl).expect("jsonl");
        assert_eq!(from_csv, from_jsonl);
        assert_eq!(from_csv.n_rows(), 3);
        assert_eq!(from_csv.column("b").expect("b")[2], None);
    }

    #[test]
    fn gzip_is_detected() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"a,b\n1,2\n").expect("write");
        let gz = encoder.finish().expect("finish");
        let table = RawTable::parse(&gz, DataFormat::Csv).expect("gz");
        assert_eq!(table.columns, vec!["a", "b"]);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let err = |bytes: &[u8], format| {
            RawTable::parse(bytes, format)
                .expect_err("must fail")
                .to_string()
        };
        assert_eq!(
            err(b"", DataFormat::Csv),
            "dataset is empty (no header and no rows)"
        );
        assert_eq!(
            err(b"a,b\n", DataFormat::Csv),
            "dataset has a header but no rows"
        );
        assert_eq!(
            err(b"a,b\n1,2\n3\n", DataFormat::Csv),
            "CSV line 3: expected 2 cells like the header, found 1"
        );
        assert_eq!(
            err(b"a,a\n1,2\n", DataFormat::Csv),
            "column `a` appears twice in the header"
        );
        assert!(err(b"{\"a\": 1}\n{oops\n", DataFormat::Jsonl).starts_with("JSON Lines line 2:"));
        assert!(err(b"{\"a\": [1]}\n", DataFormat::Jsonl).contains("key `a` holds an array"));
        assert!(err(&[0x1f, 0x8b, 0, 1, 2], DataFormat::Csv).starts_with("could not decompress"));
    }

    #[test]
    fn format_is_resolved_from_the_name() {
        assert_eq!(
            DataFormat::Auto.resolve("x/train.jsonl.gz"),
            DataFormat::Jsonl
        );
        assert_eq!(DataFormat::Auto.resolve("x/train.csv"), DataFormat::Csv);
        assert_eq!(DataFormat::Csv.resolve("x.jsonl"), DataFormat::Csv);
    }
}
