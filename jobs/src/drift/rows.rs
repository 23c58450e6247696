//! One worker's fold of an ad-hoc file's records into a profile: features typed by the
//! schema, the model's prediction of every row it can encode, labels from the target
//! column, request ids from `request_id`. The same rules for CSV and JSON Lines; every
//! error names the line.

use vigil_core::data::schema::{FeatureSchema, Value};
use vigil_core::drift::profile::{LabelProfile, PredictionProfile, WindowProfile};
use vigil_core::drift::sketch::IdSampler;
use vigil_core::train::artifact::ModelArtifact;

/// Where a CSV file's columns are: one index per schema feature, the target, `request_id`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Columns<'a> {
    pub features: &'a [Option<usize>],
    pub target: Option<usize>,
    pub request_id: Option<usize>,
    pub width: usize,
}

pub(super) struct RowFolder<'a> {
    schema: &'a FeatureSchema,
    model: Option<&'a ModelArtifact>,
    profile: WindowProfile,
    /// Features seen as a key at least once (JSON Lines).
    seen: Vec<bool>,
    row: Vec<Value>,
    encoded: Vec<f64>,
    probabilities: Vec<f64>,
}

impl<'a> RowFolder<'a> {
    pub fn new(schema: &'a FeatureSchema, model: Option<&'a ModelArtifact>) -> Self {
        let mut profile = WindowProfile::new(schema);
        if let Some(model) = model {
            profile.predictions = Some(PredictionProfile::new(model.schema.target.classes.len()));
        }
        RowFolder {
            schema,
            model,
            profile,
            seen: vec![false; schema.features.len()],
            row: Vec::with_capacity(schema.features.len()),
            encoded: model.map_or_else(Vec::new, |m| vec![0.0; m.pipeline.width()]),
            probabilities: model.map_or_else(Vec::new, |m| vec![0.0; m.model.n_classes()]),
        }
    }

    /// Folds one record: `cell(i)` is feature `i`'s raw text (`None`: missing),
    /// `target` is `None` without a target column.
    fn fold<'c>(
        &mut self,
        cell: impl Fn(usize) -> Option<&'c str>,
        request_id: Option<&str>,
        target: Option<Option<&str>>,
    ) {
        self.profile.rows += 1;
        self.row.clear();
        for (i, (column, spec)) in self
            .profile
            .columns
            .iter_mut()
            .zip(&self.schema.features)
            .enumerate()
        {
            match spec.parse(cell(i)) {
                Ok(value) => {
                    column.observe(spec, Some(&value));
                    self.row.push(value);
                }
                Err(_) => {
                    column.rows += 1;
                    column.parse_errors += 1;
                    self.row.push(Value::Missing);
                }
            }
        }
        if let Some(id) = request_id.filter(|id| !id.is_empty()) {
            self.profile
                .ids
                .get_or_insert_with(IdSampler::default)
                .add(id);
        }
        self.predict(target);
    }

    /// The model's prediction of the row (rows it cannot encode are left out).
    fn predict(&mut self, target: Option<Option<&str>>) {
        let (Some(model), Some(predictions)) = (self.model, self.profile.predictions.as_mut())
        else {
            return;
        };
        if model
            .pipeline
            .encode_row(&self.row, &mut self.encoded)
            .is_err()
        {
            return;
        }
        model
            .model
            .predict_proba_row(&self.encoded, &mut self.probabilities);
        let predicted = predictions.observe_probabilities(&self.probabilities);
        if let (Some(target), Some(predicted)) = (target, predicted) {
            let labels = self
                .profile
                .labels
                .get_or_insert_with(LabelProfile::default);
            match target
                .map(str::trim)
                .and_then(|t| model.schema.class_index(t))
            {
                Some(actual) => labels.observe(predicted, actual),
                None => labels.unknown_labels += 1,
            }
        }
    }

    pub fn csv_chunk(
        &mut self,
        bytes: &[u8],
        first_line: usize,
        columns: Columns<'_>,
    ) -> Result<(), String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut record = csv::StringRecord::new();
        loop {
            let line = first_line + reader.position().line() as usize - 1;
            match reader.read_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => {}
                Err(e) => return Err(format!("line {line}: {e}")),
            }
            if record.len() == 1 && record.get(0).is_some_and(|c| c.trim().is_empty()) {
                continue;
            }
            if record.len() != columns.width {
                return Err(format!(
                    "line {line}: expected {} fields, found {}",
                    columns.width,
                    record.len()
                ));
            }
            let at = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|c| !c.is_empty());
            let record_ref = &record;
            self.fold(
                |f| {
                    columns.features[f]
                        .and_then(|i| record_ref.get(i))
                        .filter(|c| !c.is_empty())
                },
                at(columns.request_id),
                columns.target.map(|i| at(Some(i))),
            );
        }
    }

    pub fn jsonl_chunk(&mut self, bytes: &[u8], first_line: usize) -> Result<(), String> {
        for (offset, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let number = first_line + offset;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(line).map_err(|e| format!("line {number}: {e}"))?;
            let mut cells: Vec<Option<String>> = vec![None; self.schema.features.len()];
            let (mut id, mut target, mut has_target) = (None, None, false);
            for (key, value) in object {
                let text = scalar(value).map_err(|why| {
                    format!("line {number}: key `{key}` holds {why}; only scalars are allowed")
                })?;
                if let Some(i) = self.schema.feature_index(&key) {
                    self.seen[i] = true;
                    cells[i] = text;
                } else if key == self.schema.target.name {
                    has_target = true;
                    target = text;
                } else if key == "request_id" {
                    id = text;
                }
            }
            self.fold(
                |f| cells[f].as_deref(),
                id.as_deref(),
                has_target.then_some(target.as_deref()),
            );
        }
        Ok(())
    }

    pub fn finish(self) -> (WindowProfile, Vec<bool>) {
        (self.profile, self.seen)
    }
}

/// A JSON scalar as a raw cell (`null` and `""` are missing).
fn scalar(value: serde_json::Value) -> Result<Option<String>, &'static str> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) if s.is_empty() => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err("an array or object"),
    }
}
