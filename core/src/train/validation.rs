//! Checks on training data before anything is fitted.
//!
//! Hard checks stop training; soft checks are warnings recorded in the report.
//! Every message names the column and the numbers, so a failed Job explains
//! itself in `kubectl describe`.

use serde::{Deserialize, Serialize};

use crate::data::dataset::RawTable;
use crate::data::schema::{FeatureSchema, FeatureSpec, FeatureType, FieldProblem, Value};
use crate::text::shorten;
use crate::train::config::ValidationSpec;

/// Whether a failed check stops training (`hard`) or is a warning (`soft`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Hard,
    Soft,
}

/// The checks, serialised by their camelCase names (`requiredColumns`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckName {
    RequiredColumns,
    TypesParse,
    MinRows,
    TargetClasses,
    FeaturesPresent,
    MissingRate,
    ClassImbalance,
    ValuesInDomain,
}

impl CheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::RequiredColumns => "requiredColumns",
            CheckName::TypesParse => "typesParse",
            CheckName::MinRows => "minRows",
            CheckName::TargetClasses => "targetClasses",
            CheckName::FeaturesPresent => "featuresPresent",
            CheckName::MissingRate => "missingRate",
            CheckName::ClassImbalance => "classImbalance",
            CheckName::ValuesInDomain => "valuesInDomain",
        }
    }

    /// The first five stop training; the last three are warnings.
    pub fn severity(self) -> Severity {
        match self {
            CheckName::MissingRate | CheckName::ClassImbalance | CheckName::ValuesInDomain => {
                Severity::Soft
            }
            _ => Severity::Hard,
        }
    }
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub name: CheckName,
    pub severity: Severity,
    pub passed: bool,
    pub message: String,
}

impl CheckResult {
    /// Passed when there are no problems (and says `ok`), else failed with every problem.
    fn new(name: CheckName, problems: Vec<String>, ok: String) -> CheckResult {
        CheckResult {
            name,
            severity: name.severity(),
            passed: problems.is_empty(),
            message: if problems.is_empty() {
                ok
            } else {
                problems.join("; ")
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// No hard check failed.
    pub passed: bool,
    pub rows: usize,
    pub checks: Vec<CheckResult>,
}

impl ValidationReport {
    pub fn failed(&self, severity: Severity) -> impl Iterator<Item = &CheckResult> {
        self.checks
            .iter()
            .filter(move |c| !c.passed && c.severity == severity)
    }

    /// One line naming every failed hard check.
    pub fn hard_failure_summary(&self) -> String {
        self.failed(Severity::Hard)
            .map(|c| format!("{}: {}", c.name, c.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Examples of bad cells quoted in a message.
const EXAMPLES: usize = 3;

/// Runs every check on a raw table.
pub fn validate(raw: &RawTable, schema: &FeatureSchema, spec: &ValidationSpec) -> ValidationReport {
    let rows = raw.n_rows();
    let columns: Vec<ColumnScan> = schema
        .features
        .iter()
        .filter_map(|f| Some(ColumnScan::new(f, raw.column(&f.name)?)))
        .collect();
    let target = raw
        .column(&schema.target.name)
        .map(|cells| TargetScan::new(schema, cells));
    let class_counts = target.as_ref().map_or_else(
        || vec![0; schema.target.classes.len()],
        |t| t.counts.clone(),
    );
    let checks = vec![
        required_columns(raw, schema),
        types_parse(&columns, rows),
        min_rows(rows, spec),
        target_classes(schema, target.as_ref(), &class_counts, rows),
        features_present(&columns, rows),
        missing_rate(&columns, rows, spec),
        class_imbalance(&class_counts, spec),
        values_in_domain(&columns),
    ];
    let passed = checks
        .iter()
        .all(|c| c.passed || c.severity == Severity::Soft);
    ValidationReport {
        passed,
        rows,
        checks,
    }
}

/// What one feature column holds: cells that do not parse, values outside the
/// schema's domain, missing cells.
struct ColumnScan<'a> {
    feature: &'a FeatureSpec,
    bad: Vec<(usize, FieldProblem)>,
    out_of_domain: Vec<usize>,
    missing: usize,
}

impl<'a> ColumnScan<'a> {
    fn new(feature: &'a FeatureSpec, cells: &[Option<String>]) -> ColumnScan<'a> {
        let mut scan = ColumnScan {
            feature,
            bad: Vec::new(),
            out_of_domain: Vec::new(),
            missing: 0,
        };
        for (row, cell) in cells.iter().enumerate() {
            match feature.parse(cell.as_deref()) {
                Ok(Value::Missing) => scan.missing += 1,
                Ok(value) => {
                    if feature.check_value(&value).is_err() {
                        scan.out_of_domain.push(row);
                    }
                }
                Err(problem) => scan.bad.push((row, problem)),
            }
        }
        scan
    }

    /// Missing or unparseable.
    fn missing_total(&self) -> usize {
        self.missing + self.bad.len()
    }
}

/// The target column: class counts, missing cells and values that are not classes.
struct TargetScan<'a> {
    counts: Vec<usize>,
    missing: usize,
    unknown: Vec<(usize, &'a str)>,
}

impl<'a> TargetScan<'a> {
    fn new(schema: &FeatureSchema, cells: &'a [Option<String>]) -> TargetScan<'a> {
        let mut scan = TargetScan {
            counts: vec![0; schema.target.classes.len()],
            missing: 0,
            unknown: Vec::new(),
        };
        for (row, cell) in cells.iter().enumerate() {
            match cell.as_deref().map(str::trim) {
                None | Some("") => scan.missing += 1,
                Some(class) => match schema.class_index(class) {
                    Some(k) => scan.counts[k] += 1,
                    None => scan.unknown.push((row, class)),
                },
            }
        }
        scan
    }
}

/// 1. Required columns.
fn required_columns(raw: &RawTable, schema: &FeatureSchema) -> CheckResult {
    let missing: Vec<String> = schema
        .features
        .iter()
        .map(|f| f.name.as_str())
        .chain([schema.target.name.as_str()])
        .filter(|name| raw.column(name).is_none())
        .map(|name| format!("column `{name}` is missing"))
        .collect();
    CheckResult::new(
        CheckName::RequiredColumns,
        missing,
        format!("all {} columns present", schema.features.len() + 1),
    )
}

/// 2. Values parse as their declared types.
fn types_parse(columns: &[ColumnScan], rows: usize) -> CheckResult {
    let problems = columns
        .iter()
        .filter(|c| !c.bad.is_empty())
        .map(|c| {
            let examples: Vec<String> = c
                .bad
                .iter()
                .take(EXAMPLES)
                .map(|(row, p)| format!("row {}: {p}", row + 1))
                .collect();
            format!(
                "column `{}` ({}): {} of {rows} values do not parse ({})",
                c.feature.name,
                type_name(c.feature.kind),
                c.bad.len(),
                examples.join(", ")
            )
        })
        .collect();
    CheckResult::new(
        CheckName::TypesParse,
        problems,
        "every value parses as its declared type".into(),
    )
}

/// 3. Minimum row count.
fn min_rows(rows: usize, spec: &ValidationSpec) -> CheckResult {
    let few = if rows < spec.min_rows {
        vec![format!("{rows} rows, at least {} required", spec.min_rows)]
    } else {
        vec![]
    };
    CheckResult::new(CheckName::MinRows, few, format!("{rows} rows"))
}

/// 4. Target present with known classes, and at least two of them.
fn target_classes(
    schema: &FeatureSchema,
    target: Option<&TargetScan>,
    class_counts: &[usize],
    rows: usize,
) -> CheckResult {
    let name = &schema.target.name;
    let mut problems = Vec::new();
    match target {
        None => problems.push(format!("target column `{name}` is missing")),
        Some(t) => {
            if t.missing > 0 {
                problems.push(format!("target `{name}` is missing in {} rows", t.missing));
            }
            if !t.unknown.is_empty() {
                let examples: Vec<String> = t
                    .unknown
                    .iter()
                    .take(EXAMPLES)
                    .map(|(row, c)| format!("row {}: `{}`", row + 1, shorten(c, 40)))
                    .collect();
                problems.push(format!(
                    "target `{name}` has {} values that are not among the classes {:?} ({})",
                    t.unknown.len(),
                    schema.target.classes,
                    examples.join(", ")
                ));
            }
            let present = t.counts.iter().filter(|&&c| c > 0).count();
            if present < 2 && rows > 0 {
                problems.push(format!(
                    "target `{name}` has {present} distinct class(es); at least 2 are needed"
                ));
            }
        }
    }
    CheckResult::new(
        CheckName::TargetClasses,
        problems,
        format!("class counts {:?}", class_counts),
    )
}

/// 5. No feature entirely null; non-nullable features complete.
fn features_present(columns: &[ColumnScan], rows: usize) -> CheckResult {
    let all_null = columns
        .iter()
        .filter(|c| c.missing_total() == rows)
        .map(|c| format!("column `{}` has no values in {rows} rows", c.feature.name));
    let incomplete = columns
        .iter()
        .filter(|c| c.missing_total() != rows && c.missing > 0 && !c.feature.nullable)
        .map(|c| {
            format!(
                "column `{}` is not nullable but {} of {rows} values are missing",
                c.feature.name, c.missing
            )
        });
    CheckResult::new(
        CheckName::FeaturesPresent,
        all_null.chain(incomplete).collect(),
        "every feature has values; non-nullable features are complete".into(),
    )
}

/// Soft: the share of missing values per feature.
fn missing_rate(columns: &[ColumnScan], rows: usize, spec: &ValidationSpec) -> CheckResult {
    let problems = columns
        .iter()
        .filter_map(|c| {
            let rate = c.missing_total() as f64 / rows.max(1) as f64;
            (rate > spec.max_missing_rate).then(|| {
                format!(
                    "column `{}` is missing in {:.1}% of rows (limit {:.1}%)",
                    c.feature.name,
                    rate * 100.0,
                    spec.max_missing_rate * 100.0
                )
            })
        })
        .collect();
    CheckResult::new(
        CheckName::MissingRate,
        problems,
        format!(
            "every feature is missing in at most {:.1}% of rows",
            spec.max_missing_rate * 100.0
        ),
    )
}

/// Soft: majority over minority class.
fn class_imbalance(class_counts: &[usize], spec: &ValidationSpec) -> CheckResult {
    let present: Vec<usize> = class_counts.iter().copied().filter(|&c| c > 0).collect();
    let imbalance = match (present.iter().max(), present.iter().min()) {
        (Some(&max), Some(&min)) if present.len() >= 2 => max as f64 / min as f64,
        _ => 1.0,
    };
    let problems = if imbalance > spec.max_class_imbalance {
        vec![format!(
            "majority/minority class ratio is {imbalance:.2} (limit {:.2})",
            spec.max_class_imbalance
        )]
    } else {
        vec![]
    };
    CheckResult::new(
        CheckName::ClassImbalance,
        problems,
        format!("majority/minority class ratio {imbalance:.2}"),
    )
}

/// Soft: values within `min`/`max` and `allowedValues`.
fn values_in_domain(columns: &[ColumnScan]) -> CheckResult {
    let problems = columns
        .iter()
        .filter(|c| !c.out_of_domain.is_empty())
        .map(|c| {
            format!(
                "column `{}`: {} values outside min/max or allowedValues (first at row {})",
                c.feature.name,
                c.out_of_domain.len(),
                c.out_of_domain[0] + 1
            )
        })
        .collect();
    CheckResult::new(
        CheckName::ValuesInDomain,
        problems,
        "every value within min/max and allowedValues".into(),
    )
}

fn type_name(kind: FeatureType) -> &'static str {
    match kind {
        FeatureType::Numeric => "numeric",
        FeatureType::Categorical => "categorical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::DataFormat;

    fn schema() -> FeatureSchema {
        serde_yaml::from_str(
            "target: {name: y, classes: [a, b]}\nfeatures:\n  - {name: x, type: numeric, max: 10}\n  - {name: c, type: categorical, nullable: true}\n",
        )
        .expect("schema")
    }

    fn spec() -> ValidationSpec {
        ValidationSpec {
            min_rows: 4,
            ..ValidationSpec::default()
        }
    }

    fn table(csv: &str) -> RawTable {
        RawTable::parse(csv.as_bytes(), DataFormat::Csv).expect("csv")
    }

    fn check<'a>(report: &'a ValidationReport, name: &str) -> &'a CheckResult {
        report
            .checks
            .iter()
            .find(|c| c.name.as_str() == name)
            .expect(name)
    }

    #[test]
    fn clean_data_passes_every_check() {
        let report = validate(
            &table("x,c,y\n1,p,a\n2,q,b\n3,p,a\n4,q,b\n"),
            &schema(),
            &spec(),
        );
        assert!(report.passed);
        assert!(report.checks.iter().all(|c| c.passed), "{report:?}");
        assert_eq!(report.checks.len(), 8);
    }

    #[test]
    fn hard_failures_name_the_check_and_numbers() {
        let report = validate(&table("x,y\n1,a\nfoo,b\n3,c\n"), &schema(), &spec());
        assert!(!report.passed);
        assert_eq!(
            check(&report, "requiredColumns").message,
            "column `c` is missing"
        );
        assert_eq!(
            check(&report, "typesParse").message,
            "column `x` (numeric): 1 of 3 values do not parse (row 2: `foo` is not a number)"
        );
        assert_eq!(
            check(&report, "minRows").message,
            "3 rows, at least 4 required"
        );
        assert_eq!(
            check(&report, "targetClasses").message,
            "target `y` has 1 values that are not among the classes [\"a\", \"b\"] (row 3: `c`)"
        );
        assert!(report
            .hard_failure_summary()
            .starts_with("requiredColumns: column `c` is missing; typesParse:"));
    }

    #[test]
    fn empty_and_non_nullable_columns_fail() {
        let report = validate(&table("x,c,y\n,,a\n,,b\n,,a\n,,b\n"), &schema(), &spec());
        let present = check(&report, "featuresPresent");
        assert!(!present.passed);
        assert!(
            present
                .message
                .contains("column `x` has no values in 4 rows"),
            "{}",
            present.message
        );
        assert!(
            present.message.contains("column `c` has no values"),
            "{}",
            present.message
        );

        let report = validate(
            &table("x,c,y\n1,p,a\n,p,b\n3,p,a\n4,p,b\n"),
            &schema(),
            &spec(),
        );
        assert_eq!(
            check(&report, "featuresPresent").message,
            "column `x` is not nullable but 1 of 4 values are missing"
        );
    }

    #[test]
    fn soft_failures_warn_but_pass() {
        let csv = "x,c,y\n1,,a\n2,,a\n3,,a\n40,p,a\n5,q,a\n6,q,a\n7,q,a\n8,q,a\n9,q,a\n1,q,a\n2,q,a\n3,q,b\n";
        let report = validate(&table(csv), &schema(), &spec());
        assert!(report.passed, "{report:?}");
        assert_eq!(
            check(&report, "missingRate").message,
            "column `c` is missing in 25.0% of rows (limit 15.0%)"
        );
        assert_eq!(
            check(&report, "classImbalance").message,
            "majority/minority class ratio is 11.00 (limit 10.00)"
        );
        assert_eq!(
            check(&report, "valuesInDomain").message,
            "column `x`: 1 values outside min/max or allowedValues (first at row 4)"
        );
    }
}
