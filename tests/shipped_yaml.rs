//! Every YAML file the project ships reads the same in YAML 1.1 — as kubectl, Helm, Argo CD
//! and Flux decode it (sigs.k8s.io/yaml, i.e. go-yaml v2) — as in serde_yaml (YAML 1.2),
//! which is what our own tests and the operator read.
//!
//! YAML 1.1 resolves a plain `on`, `off`, `yes`, `no`, `y`, `n` to a boolean and `0777` to
//! an octal number; a key `on:` reaches the API server as `"true":`. Two decoders look at
//! each document:
//! - [`yaml11`], go-yaml v2's resolution rules over yaml-rust2's events (which keep the
//!   scalar style, so quoted scalars stay strings): every file — crds/, the chart (values
//!   and, with helm, its renderings), config/samples/, examples/, the docs' YAML blocks;
//! - kubectl itself (`kubectl label --local -f FILE -o json`, offline) for the Kubernetes
//!   manifests among them, when it is installed (`VIGIL_REQUIRE_KUBECTL=1` makes its
//!   absence a failure; CI sets it, and `VIGIL_REQUIRE_HELM=1` for the chart).
//!
//! Each is compared with serde_yaml's reading; any difference fails with the file, the
//! document and the path.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A YAML text the project ships, with where it comes from.
struct Shipped {
    origin: String,
    text: String,
    /// Kubernetes objects (apiVersion + kind), so that kubectl can read it too.
    manifest: bool,
}

fn files_in(dir: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root().join(dir)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Helm templates are Go templates, not YAML: their renderings are checked.
                if path.file_name().is_some_and(|n| n == "templates") {
                    continue;
                }
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The ```yaml blocks of a Markdown file.
fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        let fence = line.trim_start();
        match &mut current {
            None if fence.starts_with("```yaml") || fence.starts_with("```yml") => {
                current = Some((n + 1, String::new()));
            }
            Some(_) if fence.starts_with("```") => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

fn shipped_files() -> Vec<Shipped> {
    let mut shipped = Vec::new();
    for dir in ["crds", "charts", "config", "examples", "docs"] {
        for path in files_in(dir, &["yaml", "yml"]) {
            let text = std::fs::read_to_string(&path).expect("read a shipped YAML file");
            let manifest = text.contains("apiVersion:") && text.contains("kind:");
            shipped.push(Shipped {
                origin: relative(&path),
                text,
                manifest,
            });
        }
    }
    let mut markdown = files_in("docs", &["md"]);
    markdown.extend(files_in("charts", &["md"]));
    markdown.extend(files_in("examples", &["md"]));
    markdown.push(root().join("README.md"));
    for path in markdown {
        let text = std::fs::read_to_string(&path).expect("read a Markdown file");
        for (line, block) in yaml_blocks(&text) {
            shipped.push(Shipped {
                origin: format!("{}:{line} (YAML block)", relative(&path)),
                text: block,
                manifest: false,
            });
        }
    }
    shipped
}

/// serde_yaml's reading of every document, as JSON (keys as sigs.k8s.io/yaml writes them).
fn serde_yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    use serde::Deserialize;
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| e.to_string())?;
        documents.push(yaml12_to_json(value));
    }
    Ok(documents)
}

fn yaml12_to_json(value: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        // The same stand-ins for what JSON cannot hold as the YAML 1.1 side uses.
        Y::Number(n) => match n.as_f64() {
            Some(f) if f.is_nan() => Value::String("<NaN>".into()),
            Some(f) if f.is_infinite() => Value::from(if f > 0.0 { f64::MAX } else { f64::MIN }),
            _ => serde_json::to_value(&n).unwrap_or(Value::Null),
        },
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml12_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match yaml12_to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, yaml12_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => yaml12_to_json(tagged.value),
    }
}

/// Documents that are only comments are nothing to either decoder.
fn without_empty(documents: Vec<Value>) -> Vec<Value> {
    documents.into_iter().filter(|d| !d.is_null()).collect()
}

/// Every difference between two readings, as a path and both values.
fn differences(path: &str, yaml11: &Value, yaml12: &Value, found: &mut Vec<String>) {
    match (yaml11, yaml12) {
        (Value::Object(a), Value::Object(b)) => {
            let yaml12_only: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => differences(&format!("{path}.{key}"), value, other, found),
                    None => found.push(format!(
                        "{path}: key `{key}` in YAML 1.1, where YAML 1.2 has {yaml12_only:?}"
                    )),
                }
            }
            if a.len() == b.len() - yaml12_only.len() && !yaml12_only.is_empty() {
                found.push(format!(
                    "{path}: keys {yaml12_only:?} are missing in YAML 1.1"
                ));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, found);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => found.push(format!("{path}: YAML 1.1 reads {a}, YAML 1.2 reads {b}")),
    }
}

fn compare(origin: &str, decoder: &str, yaml11: &[Value], yaml12: &[Value]) -> Vec<String> {
    if yaml11.len() != yaml12.len() {
        return vec![format!(
            "{origin}: {decoder} reads {} documents, serde_yaml {}",
            yaml11.len(),
            yaml12.len()
        )];
    }
    let mut found = Vec::new();
    for (i, (a, b)) in yaml11.iter().zip(yaml12).enumerate() {
        let mut here = Vec::new();
        differences("", a, b, &mut here);
        found.extend(
            here.into_iter()
                .map(|d| format!("{origin} (document {}, {decoder}): {d}", i + 1)),
        );
    }
    found
}

fn check_yaml11(shipped: &[Shipped]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in shipped {
        let yaml12 = match serde_yaml_documents(&file.text) {
            Ok(d) => without_empty(d),
            Err(e) => {
                problems.push(format!("{}: serde_yaml cannot read it: {e}", file.origin));
                continue;
            }
        };
        match yaml11::documents(&file.text) {
            Ok(yaml11) => problems.extend(compare(
                &file.origin,
                "YAML 1.1",
                &without_empty(yaml11),
                &yaml12,
            )),
            Err(e) => problems.push(format!("{}: YAML 1.1 cannot read it: {e}", file.origin)),
        }
    }
    problems
}

#[test]
fn the_yaml11_decoder_sees_what_kubectl_sees() {
    // The resolution rules themselves, so that the file checks cannot pass by reading
    // everything as a string.
    let documents = yaml11::documents(
        "on: 1\noff: 0777\n'yes': y\nf: 1.5\nq: \"on\"\nlist: [No, 0x1F, -2, 1_000, ~, 08, 2026-12-02]\n",
    )
    .expect("parses");
    let expected = serde_json::json!({
        "true": 1, "false": 511, "yes": true, "f": 1.5, "q": "on",
        "list": [false, 31, -2, 1000, null, 8.0, "2026-12-02"],
    });
    assert_eq!(documents, vec![expected]);
    let yaml12 = without_empty(serde_yaml_documents("retrain: {on: Critical}\n").expect("yaml"));
    let yaml11 = without_empty(yaml11::documents("retrain: {on: Critical}\n").expect("yaml"));
    let found = compare("example", "YAML 1.1", &yaml11, &yaml12);
    assert_eq!(
        found,
        vec!["example (document 1, YAML 1.1): .retrain: key `true` in YAML 1.1, where YAML 1.2 has [\"on\"]"]
    );
}

#[test]
fn every_shipped_yaml_file_reads_the_same_in_yaml11() {
    let shipped = shipped_files();
    for expected in [
        "crds/vigil.dev.yaml",
        "charts/vigil/values.yaml",
        "config/samples/adult-income.yaml",
        "examples/drift-adult.yaml",
        "docs/DESIGN.md",
    ] {
        assert!(
            shipped.iter().any(|s| s.origin.starts_with(expected)),
            "{expected} is not among the files checked"
        );
    }
    let problems = check_yaml11(&shipped);
    assert!(
        problems.is_empty(),
        "{} YAML 1.1 differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// kubectl's reading of a file: one JSON object per document (the label it adds removed).
fn kubectl_documents(kubectl: &Path, file: &Path) -> Result<Vec<Value>, String> {
    let out = Command::new(kubectl)
        .args(["label", "--local", "-o", "json", "vigil-yaml-check=1", "-f"])
        .arg(file)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    let mut documents = Vec::new();
    for document in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
        let mut document = document.map_err(|e| e.to_string())?;
        if let Some(metadata) = document.get_mut("metadata").and_then(Value::as_object_mut) {
            if let Some(labels) = metadata.get_mut("labels").and_then(Value::as_object_mut) {
                labels.remove("vigil-yaml-check");
                if labels.is_empty() {
                    metadata.remove("labels");
                }
            }
        }
        documents.push(document);
    }
    Ok(documents)
}

fn check_with_kubectl(kubectl: &Path, shipped: &[Shipped]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut problems = Vec::new();
    for (i, file) in shipped.iter().filter(|s| s.manifest).enumerate() {
        let path = dir.path().join(format!("{i}.yaml"));
        std::fs::write(&path, &file.text).expect("write");
        let yaml12 = without_empty(serde_yaml_documents(&file.text).expect("serde_yaml"));
        match kubectl_documents(kubectl, &path) {
            Ok(docs) => problems.extend(compare(&file.origin, "kubectl", &docs, &yaml12)),
            Err(e) => problems.push(format!("{}: kubectl cannot read it: {e}", file.origin)),
        }
    }
    problems
}

#[test]
fn kubectl_reads_every_shipped_manifest_as_serde_yaml_does() {
    let Some(kubectl) = vigil_testkit::KUBECTL.find() else {
        return;
    };
    let shipped = shipped_files();
    let manifests = shipped.iter().filter(|s| s.manifest).count();
    assert!(
        manifests >= 4,
        "only {manifests} manifests found (crds, chart CRDs, samples)"
    );
    let problems = check_with_kubectl(&kubectl, &shipped);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_rendered_chart_reads_the_same_in_yaml11_and_in_kubectl() {
    let Some(helm) = vigil_testkit::HELM.find() else {
        return;
    };
    let mut rendered = Vec::new();
    for (chart, name, args) in [
        ("vigil", "defaults", vec!["--include-crds"]),
        (
            "vigil",
            "everything set, with the Prometheus Operator",
            vec![
                "--set",
                "replicas=2,watchNamespace=ml,networkPolicy.enabled=true",
                "--api-versions",
                "monitoring.coreos.com/v1/ServiceMonitor",
                "--api-versions",
                "monitoring.coreos.com/v1/PodMonitor",
                "--api-versions",
                "monitoring.coreos.com/v1/PrometheusRule",
            ],
        ),
        ("vigil-crds", "defaults", vec![]),
    ] {
        let out = Command::new(&helm)
            .args(["template", "vigil"])
            .arg(root().join("charts").join(chart))
            .args(["--namespace", "vigil-system"])
            .args(&args)
            .env(
                "HELM_CACHE_HOME",
                std::env::temp_dir().join("vigil-helm-cache"),
            )
            .env(
                "HELM_CONFIG_HOME",
                std::env::temp_dir().join("vigil-helm-config"),
            )
            .output()
            .expect("run helm");
        assert!(
            out.status.success(),
            "helm template {chart} ({name}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        rendered.push(Shipped {
            origin: format!("charts/{chart} rendered ({name})"),
            text: String::from_utf8(out.stdout).expect("utf-8"),
            manifest: true,
        });
    }
    let mut problems = check_yaml11(&rendered);
    if let Some(kubectl) = vigil_testkit::KUBECTL.find() {
        problems.extend(check_with_kubectl(&kubectl, &rendered));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// YAML as go-yaml v2 (sigs.k8s.io/yaml: kubectl, Helm, Argo CD, Flux) resolves it, written
/// as JSON the way sigs.k8s.io/yaml converts it.
mod yaml11 {
    use serde_json::{Map, Number, Value};
    use std::collections::HashMap;
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::{Marker, TScalarStyle};

    pub fn documents(text: &str) -> Result<Vec<Value>, String> {
        let mut builder = Builder::default();
        Parser::new_from_str(text)
            .load(&mut builder, true)
            .map_err(|e| e.to_string())?;
        match builder.error {
            Some(e) => Err(e),
            None => Ok(builder.documents),
        }
    }

    enum Open {
        Sequence(Vec<Value>, usize),
        Mapping(Map<String, Value>, Option<String>, usize),
    }

    #[derive(Default)]
    struct Builder {
        stack: Vec<Open>,
        documents: Vec<Value>,
        anchors: HashMap<usize, Value>,
        error: Option<String>,
    }

    impl Builder {
        fn push(&mut self, value: Value, anchor: usize) {
            if anchor > 0 {
                self.anchors.insert(anchor, value.clone());
            }
            match self.stack.last_mut() {
                None => self.documents.push(value),
                Some(Open::Sequence(items, _)) => items.push(value),
                Some(Open::Mapping(map, key, _)) => match key.take() {
                    None => *key = Some(key_string(&value)),
                    Some(k) => {
                        map.insert(k, value);
                    }
                },
            }
        }
    }

    impl MarkedEventReceiver for Builder {
        fn on_event(&mut self, event: Event, _mark: Marker) {
            match event {
                Event::Scalar(text, style, anchor, tag) => {
                    let value = match (style, tag) {
                        (TScalarStyle::Plain, None) => resolve(&text),
                        _ => Value::String(text),
                    };
                    self.push(value, anchor);
                }
                Event::SequenceStart(anchor, _) => {
                    self.stack.push(Open::Sequence(Vec::new(), anchor))
                }
                Event::MappingStart(anchor, _) => {
                    self.stack.push(Open::Mapping(Map::new(), None, anchor))
                }
                Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                    Some(Open::Sequence(items, anchor)) => self.push(Value::Array(items), anchor),
                    Some(Open::Mapping(map, _, anchor)) => self.push(Value::Object(map), anchor),
                    None => self.error = Some("unbalanced collection".into()),
                },
                Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                    Some(value) => self.push(value, 0),
                    None => self.error = Some(format!("unknown alias {anchor}")),
                },
                Event::DocumentEnd if self.stack.is_empty() => {}
                _ => {}
            }
        }
    }

    /// sigs.k8s.io/yaml turns non-string keys into strings.
    fn key_string(key: &Value) -> String {
        match key {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// go-yaml v2's `resolve` for an untagged plain scalar.
    fn resolve(plain: &str) -> Value {
        match plain {
            "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
                return Value::Bool(true)
            }
            "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off"
            | "OFF" => return Value::Bool(false),
            "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
            // JSON has no infinities or NaN: stand-ins that differ from any string.
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::from(f64::MAX),
            "-.inf" | "-.Inf" | "-.INF" => return Value::from(f64::MIN),
            ".nan" | ".NaN" | ".NAN" => return Value::String("<NaN>".into()),
            _ => {}
        }
        let first = plain.as_bytes()[0];
        if !(first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'.') {
            return Value::String(plain.into());
        }
        let digits = plain.replace('_', "");
        if let Some(n) = go_parse_int(&digits) {
            return Value::Number(n.into());
        }
        // go-yaml v2 reads a plain date as a timestamp but hands it to interface{} as the
        // string it was, which is what sigs.k8s.io/yaml decodes into.
        if is_yaml_float(&digits) {
            if let Some(n) = digits.parse::<f64>().ok().and_then(Number::from_f64) {
                return Value::Number(n);
            }
        }
        Value::String(plain.into())
    }

    /// Go's `strconv.ParseInt(s, 0, 64)`: sign, then 0x / 0o / 0b / leading-0 octal.
    fn go_parse_int(s: &str) -> Option<i64> {
        let (negative, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
            (16, d)
        } else if let Some(d) = lower.strip_prefix("0o") {
            (8, d)
        } else if let Some(d) = lower.strip_prefix("0b") {
            (2, d)
        } else if lower.len() > 1 && lower.starts_with('0') {
            (8, &lower[1..])
        } else {
            (10, lower.as_str())
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let magnitude = i64::from_str_radix(digits, radix).ok()?;
        Some(if negative { -magnitude } else { magnitude })
    }

    /// go-yaml v2's float pattern `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
    fn is_yaml_float(s: &str) -> bool {
        let s = s.strip_prefix(['+', '-']).unwrap_or(s);
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let mantissa_ok = match mantissa.split_once('.') {
            Some(("", fraction)) => digits(fraction),
            Some((whole, fraction)) => {
                digits(whole) && fraction.bytes().all(|b| b.is_ascii_digit())
            }
            None => digits(mantissa),
        };
        let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
        mantissa_ok && exponent_ok
    }
}
