//! The prediction log as Parquet (`vigil serve --log-format parquet`): one file per
//! batch, one row group per file, in the same partitions as the JSON Lines log
//! (`logs/dt=YYYY-MM-DD/hr=HH/<writer>-<seq>.parquet`), so pyarrow, DuckDB, Spark or
//! polars query the predictions as they are (`read_parquet('logs/**/*.parquet',
//! hive_partitioning = true)`). The columns mirror a [`PredictionRecord`]:
//!
//! ```text
//! request_id       string (required)
//! timestamp        timestamp[us, UTC] (required)
//! model_version    string (required)
//! features         struct: one field per schema feature, in schema order —
//!                  double for numeric, string for categorical, null when missing
//! predicted_class  string (required)
//! probabilities    list<double> in the order of the schema's classes
//! latency_us       int64
//! ```
//! Strings other than the request id are dictionary-encoded, numeric features, the
//! timestamp and the latency too when that is smaller (all by `parquet_chunk`), the
//! probabilities `PLAIN`; pages
//! Snappy-compressed. The timestamp and the numeric features carry min/max statistics
//! (for time-range and value filters), strings none. A numeric feature holds numbers
//! only (the server rejects anything else before logging).

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::DoubleType;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::{
    SerializedColumnWriter, SerializedFileWriter, SerializedRowGroupWriter,
};
use parquet::record::{Field, Row};
use parquet::schema::types::{ColumnPath, Type, TypePtr};

use crate::data::parquet_chunk::{
    dictionary_chunk, double_chunk, int64_chunk, plain_chunk, push_plain, Dictionary, EncodedChunk,
};
use crate::data::prediction_log::LogError;
use crate::data::schema::{FeatureSchema, FeatureSpec, FeatureType, Value};
use crate::wire::PredictionRecord;

pub use crate::data::parquet_chunk::DictionaryCode;

/// The file extension of a Parquet log batch.
pub const PARQUET_EXTENSION: &str = "parquet";

/// One logged prediction as the Parquet writer takes it (features in schema order).
#[derive(Clone, Copy, Debug)]
pub struct ParquetRow<'a> {
    pub request_id: &'a str,
    pub timestamp: DateTime<Utc>,
    pub model_version: &'a str,
    pub values: &'a [Value],
    pub predicted_class: &'a str,
    pub probabilities: &'a [f64],
    pub latency_us: u64,
}

/// A batch being written: its columns, filled row by row.
///
/// The string columns other than the request id hold a code per row into a dictionary
/// of the batch ([`DictionaryCode`]): a writer asks for a value's code once (per request,
/// per snapshot) and adds the code to every row of it.
pub struct ParquetBatch {
    schema: FeatureSchema,
    /// The request ids as `PLAIN` byte arrays, one per row.
    request_ids: Vec<u8>,
    timestamp: Vec<i64>,
    model_version: Dictionary,
    /// Per feature: the present values (numbers, or codes of strings) and a definition
    /// level per row.
    numbers: Vec<Vec<f64>>,
    strings: Vec<Dictionary>,
    defined: Vec<Vec<i16>>,
    predicted_class: Dictionary,
    probabilities: Vec<f64>,
    probability_def: Vec<i16>,
    probability_rep: Vec<i16>,
    latency_us: Vec<i64>,
}

/// A batch that could not be written as Parquet.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the Parquet batch: {0}")]
pub struct ParquetError(#[from] parquet::errors::ParquetError);

/// Room for a request id's `PLAIN` bytes (a length and a UUID's 36 characters).
const REQUEST_ID_BYTES: usize = 40;

impl ParquetBatch {
    pub fn new(schema: &FeatureSchema) -> Self {
        Self::with_capacity(schema, 0)
    }

    /// A batch with room for `rows` rows in every column (more still fit).
    pub fn with_capacity(schema: &FeatureSchema, rows: usize) -> Self {
        // Room for every row in the columns of the features of `kind`, none in the others'.
        let room = |f: &FeatureSpec, kind| if f.kind == kind { rows } else { 0 };
        let probabilities = rows * schema.target.classes.len().max(1);
        ParquetBatch {
            schema: schema.clone(),
            request_ids: Vec::with_capacity(rows * REQUEST_ID_BYTES),
            timestamp: Vec::with_capacity(rows),
            model_version: Dictionary::with_capacity(rows),
            numbers: (schema.features.iter())
                .map(|f| Vec::with_capacity(room(f, FeatureType::Numeric)))
                .collect(),
            strings: (schema.features.iter())
                .map(|f| Dictionary::with_capacity(room(f, FeatureType::Categorical)))
                .collect(),
            defined: vec![Vec::with_capacity(rows); schema.features.len()],
            predicted_class: Dictionary::with_capacity(rows),
            probabilities: Vec::with_capacity(probabilities),
            probability_def: Vec::with_capacity(probabilities),
            probability_rep: Vec::with_capacity(probabilities),
            latency_us: Vec::with_capacity(rows),
        }
    }

    pub fn rows(&self) -> usize {
        self.timestamp.len()
    }

    pub fn add(&mut self, row: ParquetRow<'_>) {
        let version = self.version_code(row.model_version);
        let class = self.class_code(row.predicted_class);
        self.add_prediction(
            row.request_id,
            row.timestamp,
            version,
            class,
            row.probabilities,
            row.latency_us,
        );
        for (i, spec) in self.schema.features.iter().enumerate() {
            let present = match (spec.kind, row.values.get(i)) {
                (FeatureType::Numeric, Some(Value::Number(x))) => {
                    self.numbers[i].push(*x);
                    true
                }
                (FeatureType::Categorical, Some(Value::Category(c))) => {
                    let code = self.strings[i].code(c);
                    self.strings[i].push(code);
                    true
                }
                _ => false,
            };
            self.defined[i].push(i16::from(present));
        }
    }

    /// The code of a model version in this batch, for [`Self::add_prediction`].
    pub fn version_code(&mut self, version: &str) -> DictionaryCode {
        self.model_version.code(version)
    }

    /// The code of a class in this batch, for [`Self::add_prediction`].
    pub fn class_code(&mut self, class: &str) -> DictionaryCode {
        self.predicted_class.code(class)
    }

    /// The code of a value of categorical feature `feature` (its index in the schema) in
    /// this batch, for [`Self::add_categories`].
    pub fn category_code(&mut self, feature: usize, value: &str) -> DictionaryCode {
        self.strings[feature].code(value)
    }

    /// Adds a row's fields other than its features; a writer that has its features in
    /// columns then adds each feature's values with [`Self::add_numbers`] and
    /// [`Self::add_categories`], in any order, before [`Self::finish`]. The version and the
    /// class are codes of this batch ([`Self::version_code`], [`Self::class_code`]).
    pub fn add_prediction(
        &mut self,
        request_id: &str,
        timestamp: DateTime<Utc>,
        model_version: DictionaryCode,
        predicted_class: DictionaryCode,
        probabilities: &[f64],
        latency_us: u64,
    ) {
        push_plain(&mut self.request_ids, request_id.as_bytes());
        self.timestamp.push(timestamp.timestamp_micros());
        self.model_version.push(model_version);
        self.predicted_class.push(predicted_class);
        if probabilities.is_empty() {
            self.probability_def.push(0);
            self.probability_rep.push(0);
        }
        for (k, &p) in probabilities.iter().enumerate() {
            self.probabilities.push(p);
            self.probability_def.push(1);
            self.probability_rep.push(i16::from(k > 0));
        }
        self.latency_us
            .push(i64::try_from(latency_us).unwrap_or(i64::MAX));
    }

    /// Adds the next values of numeric feature `feature` (its index in the schema), one
    /// per row; NaN is missing. A column at a time, so that the columns grow by a slice.
    pub fn add_numbers(&mut self, feature: usize, values: &[f64]) {
        let defined = values.iter().map(|x| i16::from(!x.is_nan()));
        self.defined[feature].extend(defined);
        let present = values.iter().copied().filter(|x| !x.is_nan());
        self.numbers[feature].extend(present);
    }

    /// Adds the next values of categorical feature `feature`, one per row: codes of
    /// [`Self::category_code`], `None` missing.
    pub fn add_categories(
        &mut self,
        feature: usize,
        values: impl Iterator<Item = Option<DictionaryCode>> + Clone,
    ) {
        let defined = values.clone().map(|code| i16::from(code.is_some()));
        self.defined[feature].extend(defined);
        self.strings[feature].extend(values.flatten());
    }

    /// The schema the batch was started with.
    pub fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    /// Adds a prediction record (features by name).
    pub fn add_record(&mut self, record: &PredictionRecord) {
        let values: Vec<Value> = self
            .schema
            .features
            .iter()
            .map(|f| {
                record
                    .features
                    .get(&f.name)
                    .cloned()
                    .unwrap_or(Value::Missing)
            })
            .collect();
        self.add(ParquetRow {
            request_id: &record.request_id,
            timestamp: record.timestamp,
            model_version: &record.model_version,
            values: &values,
            predicted_class: &record.predicted_class,
            probabilities: &record.probabilities,
            latency_us: record.latency_us,
        });
    }

    /// The file: one row group of every row added.
    pub fn finish(self) -> Result<Bytes, ParquetError> {
        // Min/max statistics only where a reader filters on them: the timestamp (a time
        // range) and numeric features. Every column but the probabilities is encoded
        // here (`parquet_chunk`, which writes those statistics). No page
        // index: a column chunk is one page or a few, and the crate's file writer cannot
        // mix chunks with and without one (the spliced ones have none). No dictionary
        // for the probabilities: nearly every value differs (in real traffic; the
        // bench's repeated rows make it look otherwise), and PLAIN is then both smaller
        // and cheaper.
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_offset_index_disabled(true)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_column_dictionary_enabled(
                ColumnPath::new(vec![
                    "probabilities".into(),
                    "list".into(),
                    "element".into(),
                ]),
                false,
            )
            .set_created_by(format!("vigil {}", crate::VIGIL_VERSION))
            .build();
        let rows = self.rows();
        let mut writer = SerializedFileWriter::new(
            Vec::with_capacity(rows * 64),
            file_schema(&self.schema)?,
            Arc::new(props),
        )?;
        let columns = writer.schema_descr().columns().to_vec();
        let mut columns = columns.into_iter();
        let mut descr = || {
            columns.next().ok_or_else(|| {
                ParquetError(parquet::errors::ParquetError::General(
                    "the schema has fewer columns than written".into(),
                ))
            })
        };
        let mut group = writer.next_row_group()?;
        append(&mut group, plain_chunk(descr()?, &self.request_ids, rows)?)?;
        append(&mut group, int64_chunk(descr()?, &self.timestamp, true)?)?;
        append(
            &mut group,
            dictionary_chunk(descr()?, &self.model_version, None, rows)?,
        )?;
        for (i, spec) in self.schema.features.iter().enumerate() {
            let defined = self.defined[i].as_slice();
            match spec.kind {
                FeatureType::Numeric => append(
                    &mut group,
                    double_chunk(descr()?, &self.numbers[i], defined, rows)?,
                )?,
                FeatureType::Categorical => append(
                    &mut group,
                    dictionary_chunk(descr()?, &self.strings[i], Some(defined), rows)?,
                )?,
            }
        }
        append(
            &mut group,
            dictionary_chunk(descr()?, &self.predicted_class, None, rows)?,
        )?;
        descr()?;
        let mut column = next(&mut group)?;
        column.typed::<DoubleType>().write_batch(
            &self.probabilities,
            Some(&self.probability_def),
            Some(&self.probability_rep),
        )?;
        column.close()?;
        append(&mut group, int64_chunk(descr()?, &self.latency_us, false)?)?;
        group.close()?;
        Ok(Bytes::from(writer.into_inner()?))
    }
}

/// Splices a chunk encoded by `parquet_chunk` in as the row group's next column.
fn append(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    chunk: EncodedChunk,
) -> Result<(), ParquetError> {
    Ok(group.append_column(&chunk.bytes, chunk.close)?)
}

/// The next column of a row group (the schema above fixes how many there are).
fn next<'a>(
    group: &'a mut SerializedRowGroupWriter<'_, Vec<u8>>,
) -> Result<SerializedColumnWriter<'a>, ParquetError> {
    group.next_column()?.ok_or_else(|| {
        ParquetError(parquet::errors::ParquetError::General(
            "the schema has fewer columns than written".into(),
        ))
    })
}

fn primitive(
    name: &str,
    physical: PhysicalType,
    logical: Option<LogicalType>,
    repetition: Repetition,
) -> Result<TypePtr, ParquetError> {
    Ok(Arc::new(
        Type::primitive_type_builder(name, physical)
            .with_logical_type(logical)
            .with_repetition(repetition)
            .build()?,
    ))
}

/// The Parquet schema of a model's log (see the module docs).
fn file_schema(schema: &FeatureSchema) -> Result<TypePtr, ParquetError> {
    let string = || Some(LogicalType::String);
    let features = schema
        .features
        .iter()
        .map(|f| match f.kind {
            FeatureType::Numeric => {
                primitive(&f.name, PhysicalType::DOUBLE, None, Repetition::OPTIONAL)
            }
            FeatureType::Categorical => primitive(
                &f.name,
                PhysicalType::BYTE_ARRAY,
                string(),
                Repetition::OPTIONAL,
            ),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let list = Type::group_type_builder("list")
        .with_repetition(Repetition::REPEATED)
        .with_fields(vec![primitive(
            "element",
            PhysicalType::DOUBLE,
            None,
            Repetition::REQUIRED,
        )?])
        .build()?;
    let fields = vec![
        primitive(
            "request_id",
            PhysicalType::BYTE_ARRAY,
            string(),
            Repetition::REQUIRED,
        )?,
        primitive(
            "timestamp",
            PhysicalType::INT64,
            Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
            Repetition::REQUIRED,
        )?,
        primitive(
            "model_version",
            PhysicalType::BYTE_ARRAY,
            string(),
            Repetition::REQUIRED,
        )?,
        Arc::new(
            Type::group_type_builder("features")
                .with_repetition(Repetition::REQUIRED)
                .with_fields(features)
                .build()?,
        ),
        primitive(
            "predicted_class",
            PhysicalType::BYTE_ARRAY,
            string(),
            Repetition::REQUIRED,
        )?,
        Arc::new(
            Type::group_type_builder("probabilities")
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::List))
                .with_fields(vec![Arc::new(list)])
                .build()?,
        ),
        primitive(
            "latency_us",
            PhysicalType::INT64,
            None,
            Repetition::REQUIRED,
        )?,
    ];
    Ok(Arc::new(
        Type::group_type_builder("prediction")
            .with_fields(fields)
            .build()?,
    ))
}

/// The records of a Parquet log batch; `uri` is for messages.
pub fn decode_parquet_batch(bytes: Bytes, uri: &str) -> Result<Vec<PredictionRecord>, LogError> {
    let corrupt = |message: String| LogError::Corrupt {
        uri: uri.to_string(),
        line: 0,
        message,
    };
    let reader = SerializedFileReader::new(bytes).map_err(|e| corrupt(e.to_string()))?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| corrupt(e.to_string()))?;
    rows.enumerate()
        .map(|(i, row)| {
            let row = row.map_err(|e| corrupt(format!("row {i}: {e}")))?;
            record_of(&row).map_err(|e| corrupt(format!("row {i}: {e}")))
        })
        .collect()
}

fn record_of(row: &Row) -> Result<PredictionRecord, String> {
    let mut record: PredictionRecord = PredictionRecord {
        request_id: String::new(),
        timestamp: DateTime::<Utc>::UNIX_EPOCH,
        model_version: String::new(),
        features: Default::default(),
        predicted_class: String::new(),
        probabilities: Vec::new(),
        latency_us: 0,
    };
    for (name, field) in row.get_column_iter() {
        match (name.as_str(), field) {
            ("request_id", Field::Str(s)) => record.request_id = s.clone(),
            ("timestamp", Field::TimestampMicros(t)) => {
                record.timestamp = DateTime::from_timestamp_micros(*t)
                    .ok_or_else(|| format!("timestamp {t} is out of range"))?
            }
            ("model_version", Field::Str(s)) => record.model_version = s.clone(),
            ("features", Field::Group(features)) => {
                for (feature, value) in features.get_column_iter() {
                    let value = match value {
                        Field::Double(x) => Value::Number(*x),
                        Field::Str(s) => Value::Category(s.clone()),
                        _ => Value::Missing,
                    };
                    record.features.insert(feature.clone(), value);
                }
            }
            ("predicted_class", Field::Str(s)) => record.predicted_class = s.clone(),
            ("probabilities", Field::ListInternal(list)) => {
                record.probabilities = list
                    .elements()
                    .iter()
                    .map(|f| match f {
                        Field::Double(p) => Ok(*p),
                        other => Err(format!("probability {other} is not a double")),
                    })
                    .collect::<Result<_, _>>()?
            }
            ("latency_us", Field::Long(us)) => record.latency_us = u64::try_from(*us).unwrap_or(0),
            (name, other) => {
                return Err(format!("column `{name}` holds {other}, not expected here"))
            }
        }
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A schema of `features` (YAML list items) with the given classes.
    fn schema_of(classes: &str, features: &str) -> FeatureSchema {
        let yaml = format!("target: {{name: y, classes: [{classes}]}}\nfeatures:\n{features}");
        serde_yaml::from_str(&yaml).expect("schema")
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("time")
    }

    /// The file of a batch of `records`.
    fn file_of(schema: &FeatureSchema, records: &[PredictionRecord]) -> Bytes {
        let mut batch = ParquetBatch::new(schema);
        for record in records {
            batch.add_record(record);
        }
        batch.finish().expect("parquet")
    }

    /// The chunk of column `path` (`features.age`) in the file's row group.
    fn chunk_named(
        reader: &SerializedFileReader<Bytes>,
        path: &str,
    ) -> parquet::file::metadata::ColumnChunkMetaData {
        let group = reader.metadata().row_group(0);
        (0..group.num_columns())
            .map(|c| group.column(c))
            .find(|c| c.column_path().string() == path)
            .expect(path)
            .clone()
    }

    #[test]
    fn batches_round_trip() {
        let schema = schema_of(
            "no, yes",
            "  - {name: age, type: numeric}\n  - {name: colour, type: categorical, nullable: true}\n",
        );
        let at = utc(2026, 11, 28, 17, 5);
        let mut batch = ParquetBatch::new(&schema);
        let rows = [
            (
                vec![Value::Number(39.0), Value::Category("red".into())],
                vec![0.9, 0.1],
            ),
            (vec![Value::Missing, Value::Missing], vec![0.2, 0.8]),
        ];
        for (i, (values, probabilities)) in rows.iter().enumerate() {
            batch.add(ParquetRow {
                request_id: &format!("r{i}"),
                timestamp: at + chrono::Duration::microseconds(i as i64),
                model_version: "v1",
                values,
                predicted_class: if i == 0 { "no" } else { "yes" },
                probabilities,
                latency_us: 120,
            });
        }
        let bytes = batch.finish().expect("parquet");
        assert_eq!(&bytes[..4], b"PAR1");
        let records = decode_parquet_batch(bytes, "x.parquet").expect("read");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].request_id, "r0");
        assert_eq!(records[0].timestamp, at);
        assert_eq!(records[0].features["age"], Value::Number(39.0));
        assert_eq!(records[0].features["colour"], Value::Category("red".into()));
        assert_eq!(records[1].features["age"], Value::Missing);
        assert_eq!(records[1].probabilities, vec![0.2, 0.8]);
        assert_eq!(records[1].predicted_class, "yes");
        let err =
            decode_parquet_batch(Bytes::from_static(b"nope"), "bad.parquet").expect_err("bad");
        assert!(err.to_string().contains("bad.parquet"), "{err}");
    }

    /// Every column this module encodes itself, at bit widths from 1 to 9 (300 colours),
    /// with missing values among them, reads back as written.
    #[test]
    fn dictionary_columns_round_trip_at_every_width() {
        let schema = schema_of(
            "no, yes, maybe",
            "  - {name: colour, type: categorical, nullable: true}\n  - {name: size, type: categorical}\n  - {name: age, type: numeric, nullable: true}\n",
        );
        let at = utc(2026, 12, 7, 19, 0);
        for colours in [1, 2, 3, 17, 300] {
            let records: Vec<PredictionRecord> = (0..1_000)
                .map(|i| {
                    let colour = match i % 7 {
                        3 => Value::Missing,
                        _ => Value::Category(format!("c{}", (i * 13) % colours)),
                    };
                    let age = if i % 5 == 0 {
                        Value::Missing
                    } else {
                        Value::Number(i as f64)
                    };
                    PredictionRecord {
                        request_id: format!("req-{i}-{}", "x".repeat(i % 40)),
                        timestamp: at + chrono::Duration::microseconds(i as i64),
                        model_version: ["v1", "v2"][usize::from(i >= 600)].into(),
                        features: [
                            ("colour".to_string(), colour),
                            ("size".to_string(), Value::Category("L".into())),
                            ("age".to_string(), age),
                        ]
                        .into_iter()
                        .collect(),
                        predicted_class: ["no", "yes", "maybe"][i % 3].into(),
                        probabilities: vec![0.5, 0.25, 0.25],
                        latency_us: i as u64,
                    }
                })
                .collect();
            let read = decode_parquet_batch(file_of(&schema, &records), "x.parquet").expect("read");
            assert_eq!(read, records, "{colours} colours");
        }
    }

    #[test]
    fn numeric_features_take_the_smaller_encoding_and_carry_statistics() {
        use parquet::basic::Encoding;
        use parquet::file::statistics::Statistics;
        let schema = schema_of(
            "no, yes",
            "  - {name: age, type: numeric, nullable: true}\n  - {name: income, type: numeric}\n  - {name: zeros, type: numeric}\n  - {name: below, type: numeric}\n  - {name: never, type: numeric, nullable: true}\n",
        );
        let at = utc(2026, 12, 7, 23, 0);
        let records: Vec<PredictionRecord> = (0..2_000)
            .map(|i| {
                let age = match i % 9 {
                    4 => Value::Missing,
                    _ => Value::Number(18.0 + (i * 7 % 60) as f64),
                };
                let number = |x: f64| Value::Number(x);
                PredictionRecord {
                    request_id: format!("r{i}"),
                    timestamp: at,
                    model_version: "v1".into(),
                    features: [
                        ("age".to_string(), age),
                        ("income".to_string(), number(1_000.0 + i as f64 / 3.0)),
                        ("zeros".to_string(), number([0.0, 2.5][i % 2])),
                        ("below".to_string(), number([-0.0, -1.5][i % 2])),
                        ("never".to_string(), Value::Missing),
                    ]
                    .into_iter()
                    .collect(),
                    predicted_class: "no".into(),
                    probabilities: vec![0.5, 0.5],
                    latency_us: 1,
                }
            })
            .collect();
        let bytes = file_of(&schema, &records);
        let reader = SerializedFileReader::new(bytes.clone()).expect("reader");
        let feature = |name: &str| chunk_named(&reader, &format!("features.{name}"));
        let bounds = |name: &str| match feature(name).statistics() {
            Some(Statistics::Double(s)) => (
                *s.min_opt().expect("min"),
                *s.max_opt().expect("max"),
                s.null_count_opt(),
            ),
            other => panic!("{name}: {other:?}"),
        };
        let dictionary = |name: &str| {
            feature(name)
                .encodings()
                .any(|e| e == Encoding::RLE_DICTIONARY)
        };
        assert!(dictionary("age"), "60 ages in 2,000 rows: a dictionary");
        assert!(!dictionary("income"), "every income differs: PLAIN");
        assert_eq!(bounds("age"), (18.0, 77.0, Some(222)));
        assert_eq!(
            bounds("income"),
            (1_000.0, 1_000.0 + 1_999.0 / 3.0, Some(0))
        );
        let (min, max, _) = bounds("zeros");
        assert!(
            min == 0.0 && min.is_sign_negative() && max == 2.5,
            "min -0.0"
        );
        let (min, max, _) = bounds("below");
        assert!(
            min == -1.5 && max == 0.0 && max.is_sign_positive(),
            "max +0.0"
        );
        match feature("never").statistics() {
            Some(Statistics::Double(s)) => {
                assert_eq!(
                    (s.min_opt(), s.max_opt(), s.null_count_opt()),
                    (None, None, Some(2_000))
                )
            }
            other => panic!("never: {other:?}"),
        }
        assert!(!dictionary("never"), "nothing present: no dictionary");
        let read = decode_parquet_batch(bytes, "x.parquet").expect("read");
        assert_eq!(read, records);
        let signs = |name: &str| {
            read.iter()
                .filter(|r| matches!(r.features[name], Value::Number(x) if x == 0.0 && x.is_sign_negative()))
                .count()
        };
        assert_eq!(
            (signs("zeros"), signs("below")),
            (0, 1_000),
            "zeros keep their sign"
        );
    }
    /// The timestamp and latency, encoded by `parquet_chunk`: a dictionary where few
    /// distinct (one per request), PLAIN where every row differs; the timestamp's bounds
    /// as statistics, the latency none.
    #[test]
    fn the_time_columns_take_the_smaller_encoding() {
        use parquet::basic::Encoding;
        use parquet::file::statistics::Statistics;
        let schema = schema_of("no, yes", "  - {name: age, type: numeric}\n");
        let at = utc(2026, 12, 8, 2, 0);
        for per_request in [1_000, 1] {
            let records: Vec<PredictionRecord> = (0..3_000)
                .map(|i| PredictionRecord {
                    request_id: format!("r{i}"),
                    timestamp: at + chrono::Duration::microseconds((i / per_request) as i64),
                    model_version: "v1".into(),
                    features: [("age".to_string(), Value::Number(30.0))].into(),
                    predicted_class: "no".into(),
                    probabilities: vec![0.5, 0.5],
                    latency_us: 100 + (i / per_request) as u64,
                })
                .collect();
            let bytes = file_of(&schema, &records);
            let reader = SerializedFileReader::new(bytes.clone()).expect("reader");
            let column = |name: &str| chunk_named(&reader, name);
            let dictionary = |name: &str| {
                column(name)
                    .encodings()
                    .any(|e| e == Encoding::RLE_DICTIONARY)
            };
            assert_eq!(dictionary("timestamp"), per_request > 1, "{per_request}");
            assert_eq!(dictionary("latency_us"), per_request > 1, "{per_request}");
            let last = at.timestamp_micros() + (2_999 / per_request) as i64;
            match column("timestamp").statistics() {
                Some(Statistics::Int64(s)) => assert_eq!(
                    (
                        s.min_opt().copied(),
                        s.max_opt().copied(),
                        s.null_count_opt()
                    ),
                    (Some(at.timestamp_micros()), Some(last), Some(0))
                ),
                other => panic!("timestamp: {other:?}"),
            }
            assert!(column("latency_us").statistics().is_none());
            assert_eq!(
                decode_parquet_batch(bytes, "x.parquet").expect("read"),
                records
            );
        }
    }
}
