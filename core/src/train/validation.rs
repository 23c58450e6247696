//! Checks on training data before anything is fitted.
//!
//! Hard checks stop training; soft checks are warnings recorded in the report.
//! Every message names the column and the numbers, so a failed Job explains
//! itself in `kubectl describe`.

use serde::{Deserialize, Serialize};

use crate::data::dataset::RawTable;
use crate::data::schema::{FeatureSchema, FeatureType, Value};
use crate::train::config::ValidationSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Hard,
    Soft,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub name: String,
    pub severity: Severity,
    pub passed: bool,
    pub message: String,
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
    let mut checks = Vec::new();
    let mut check = |name: &str, severity, problems: Vec<String>, ok: String| {
        checks.push(CheckResult {
            name: name.to_string(),
            severity,
            passed: problems.is_empty(),
            message: if problems.is_empty() {
                ok
            } else {
                problems.join("; ")
            },
        });
    };

    // 1. Required columns.
    let missing_columns: Vec<String> = schema
        .features
        .iter()
        .map(|f| f.name.as_str())
        .chain([schema.target.name.as_str()])
        .filter(|name| raw.column(name).is_none())
        .map(|name| format!("column `{name}` is missing"))
        .collect();
    check(
        "requiredColumns",
        Severity::Hard,
        missing_columns,
        format!("all {} columns present", schema.features.len() + 1),
    );

    // 2. Values parse as their declared types.
    let mut parse_problems = Vec::new();
    let mut domain_problems = Vec::new();
    let mut null_problems = Vec::new();
    let mut all_null = Vec::new();
    let mut missing_rates = Vec::new();
    for feature in &schema.features {
        let Some(column) = raw.column(&feature.name) else {
            continue;
        };
        let mut bad = Vec::new();
        let mut out_of_domain = Vec::new();
        let mut missing = 0usize;
        for (row, cell) in column.iter().enumerate() {
            match feature.parse(cell.as_deref()) {
                Ok(Value::Missing) => missing += 1,
                Ok(value) => {
                    if feature.check_value(&value).is_err() {
                        out_of_domain.push(row);
                    }
                }
                Err(problem) => bad.push((row, problem)),
            }
        }
        if !bad.is_empty() {
            let examples: Vec<String> = bad
                .iter()
                .take(EXAMPLES)
                .map(|(row, p)| format!("row {}: {p}", row + 1))
                .collect();
            parse_problems.push(format!(
                "column `{}` ({}): {} of {rows} values do not parse ({})",
                feature.name,
                type_name(feature.kind),
                bad.len(),
                examples.join(", ")
            ));
        }
        if !out_of_domain.is_empty() {
            domain_problems.push(format!(
                "column `{}`: {} values outside min/max or allowedValues (first at row {})",
                feature.name,
                out_of_domain.len(),
                out_of_domain[0] + 1
            ));
        }
        let missing_total = missing + bad.len();
        if missing_total == rows {
            all_null.push(format!(
                "column `{}` has no values in {rows} rows",
                feature.name
            ));
        } else if missing > 0 && !feature.nullable {
            null_problems.push(format!(
                "column `{}` is not nullable but {missing} of {rows} values are missing",
                feature.name
            ));
        }
        let rate = missing_total as f64 / rows.max(1) as f64;
        if rate > spec.max_missing_rate {
            missing_rates.push(format!(
                "column `{}` is missing in {:.1}% of rows (limit {:.1}%)",
                feature.name,
                rate * 100.0,
                spec.max_missing_rate * 100.0
            ));
        }
    }
    check(
        "typesParse",
        Severity::Hard,
        parse_problems,
        "every value parses as its declared type".into(),
    );

    // 3. Minimum row count.
    let few_rows = if rows < spec.min_rows {
        vec![format!("{rows} rows, at least {} required", spec.min_rows)]
    } else {
        vec![]
    };
    check("minRows", Severity::Hard, few_rows, format!("{rows} rows"));

    // 4. Target present with known classes, and at least two of them.
    let mut class_counts = vec![0usize; schema.target.classes.len()];
    let mut target_problems = Vec::new();
    if let Some(target) = raw.column(&schema.target.name) {
        let mut missing = 0usize;
        let mut unknown: Vec<(usize, &str)> = Vec::new();
        for (row, cell) in target.iter().enumerate() {
            match cell.as_deref().map(str::trim) {
                None | Some("") => missing += 1,
                Some(class) => match schema.class_index(class) {
                    Some(k) => class_counts[k] += 1,
                    None => unknown.push((row, class)),
                },
            }
        }
        if missing > 0 {
            target_problems.push(format!(
                "target `{}` is missing in {missing} rows",
                schema.target.name
            ));
        }
        if !unknown.is_empty() {
            let examples: Vec<String> = unknown
                .iter()
                .take(EXAMPLES)
                .map(|(row, c)| format!("row {}: `{}`", row + 1, crate::text::shorten(c, 40)))
                .collect();
            target_problems.push(format!(
                "target `{}` has {} values that are not among the classes {:?} ({})",
                schema.target.name,
                unknown.len(),
                schema.target.classes,
                examples.join(", ")
            ));
        }
        let present = class_counts.iter().filter(|&&c| c > 0).count();
        if present < 2 && rows > 0 {
            target_problems.push(format!(
                "target `{}` has {present} distinct class(es); at least 2 are needed",
                schema.target.name
            ));
        }
    } else {
        target_problems.push(format!("target column `{}` is missing", schema.target.name));
    }
    check(
        "targetClasses",
        Severity::Hard,
        target_problems,
        format!("class counts {:?}", class_counts),
    );

    // 5. No feature entirely null; non-nullable features complete.
    all_null.extend(null_problems);
    check(
        "featuresPresent",
        Severity::Hard,
        all_null,
        "every feature has values; non-nullable features are complete".into(),
    );

    // Soft: missing rate, class imbalance, domain.
    check(
        "missingRate",
        Severity::Soft,
        missing_rates,
        format!(
            "every feature is missing in at most {:.1}% of rows",
            spec.max_missing_rate * 100.0
        ),
    );
    let present: Vec<usize> = class_counts.iter().copied().filter(|&c| c > 0).collect();
    let imbalance = match (present.iter().max(), present.iter().min()) {
        (Some(&max), Some(&min)) if present.len() >= 2 => max as f64 / min as f64,
        _ => 1.0,
    };
    let imbalance_problems = if imbalance > spec.max_class_imbalance {
        vec![format!(
            "majority/minority class ratio is {imbalance:.2} (limit {:.2})",
            spec.max_class_imbalance
        )]
    } else {
        vec![]
    };
    check(
        "classImbalance",
        Severity::Soft,
        imbalance_problems,
        format!("majority/minority class ratio {imbalance:.2}"),
    );
    check(
        "valuesInDomain",
        Severity::Soft,
        domain_problems,
        "every value within min/max and allowedValues".into(),
    );

    let passed = checks
        .iter()
        .all(|c| c.passed || c.severity == Severity::Soft);
    ValidationReport {
        passed,
        rows,
        checks,
    }
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
        report.checks.iter().find(|c| c.name == name).expect(name)
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
