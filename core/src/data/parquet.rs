//! Parquet files → [`RawTable`], one row group at a time.
//!
//! Cells become text exactly as a typed reader would see the values (integers
//! and decimals in full, doubles in their shortest round-trip form, `f32`
//! widened exactly, booleans `true`/`false`, dates and timestamps ISO 8601), so
//! the schema checks and validation that read CSV read Parquet unchanged, and
//! the same rows from CSV and from Parquet give the same frame. Nested columns
//! (groups, lists, maps) are refused with the column's name.

use bytes::Bytes;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::dataset::{DatasetError, RawTable};

/// Reads every row of a Parquet file; more than `max_rows` rows is an error
/// (raised before the extra row groups are decoded).
pub fn parse(bytes: Bytes, max_rows: usize) -> Result<RawTable, DatasetError> {
    let error = |e: parquet::errors::ParquetError| DatasetError::Parquet(e.to_string());
    let reader = SerializedFileReader::new(bytes).map_err(error)?;
    let metadata = reader.metadata();
    let total = usize::try_from(metadata.file_metadata().num_rows()).unwrap_or(usize::MAX);
    if total > max_rows {
        return Err(DatasetError::TooManyRows { limit: max_rows });
    }
    let columns: Vec<String> = metadata
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    super::dataset::check_unique(&columns)?;
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(total); columns.len()];
    for group in 0..reader.num_row_groups() {
        let group = reader.get_row_group(group).map_err(error)?;
        for row in group.get_row_iter(None).map_err(error)? {
            let row = row.map_err(error)?;
            for ((column, cells), (_, field)) in columns
                .iter()
                .zip(cells.iter_mut())
                .zip(row.get_column_iter())
            {
                cells.push(cell(column, field)?);
            }
        }
    }
    Ok(RawTable { columns, cells })
}

fn cell(column: &str, field: &Field) -> Result<Option<String>, DatasetError> {
    Ok(Some(match field {
        Field::Null => return Ok(None),
        Field::Str(s) if s.is_empty() => return Ok(None),
        Field::Str(s) => s.clone(),
        Field::Bool(b) => b.to_string(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Float16(v) => f64::from(*v).to_string(),
        Field::Float(v) => f64::from(*v).to_string(),
        Field::Double(v) => v.to_string(),
        Field::Decimal(_)
        | Field::Date(_)
        | Field::TimeMillis(_)
        | Field::TimeMicros(_)
        | Field::TimestampMillis(_)
        | Field::TimestampMicros(_) => field.to_string(),
        Field::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok("") => return Ok(None),
            Ok(s) => s.to_string(),
            Err(_) => return Err(nested(column, "binary that is not UTF-8")),
        },
        Field::Group(_) => return Err(nested(column, "a group")),
        Field::ListInternal(_) => return Err(nested(column, "a list")),
        Field::MapInternal(_) => return Err(nested(column, "a map")),
    }))
}

fn nested(column: &str, kind: &'static str) -> DatasetError {
    DatasetError::UnsupportedColumn {
        column: column.to_string(),
        kind,
    }
}
