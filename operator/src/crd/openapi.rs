//! What the CRD schemas say beyond what schemars derives from the Rust types.

use schemars::Schema;
use serde_json::Value;

/// Unsigned Rust integers as Kubernetes integers: schemars writes `format: uint32`,
/// `uint64` or `uint` (usize), formats Kubernetes does not define (`kubectl explain`
/// and OpenAPI clients know only `int32` and `int64`). Each becomes `int32` (8- and
/// 16-bit) or `int64` with `minimum: 0`, unless the field states a larger minimum.
/// Applied to every spec and status type, over all of its subschemas; the Rust
/// types stay unsigned.
pub fn integer_formats(schema: &mut Schema) {
    schemars::transform::transform_subschemas(&mut integer_formats, schema);
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let format = match object.get("format").and_then(Value::as_str) {
        Some("uint8" | "uint16") => "int32",
        Some("uint32" | "uint64" | "uint" | "uint128") => "int64",
        _ => return,
    };
    object.insert("format".into(), format.into());
    object.entry("minimum").or_insert(0.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_formats_become_signed_with_a_minimum() {
        let mut schema = schemars::json_schema!({
            "type": "object",
            "properties": {
                "a": {"type": "integer", "format": "uint", "minimum": 0},
                "b": {"type": "integer", "format": "uint32", "minimum": 2},
                "c": {"type": "array", "items": {"type": "integer", "format": "uint16"}},
                "d": {"type": "object", "additionalProperties": {"type": "integer", "format": "uint64"}},
                "e": {"type": "integer", "format": "int32", "minimum": -5},
            }
        });
        integer_formats(&mut schema);
        assert_eq!(
            schema.to_value()["properties"],
            serde_json::json!({
                "a": {"type": "integer", "format": "int64", "minimum": 0},
                "b": {"type": "integer", "format": "int64", "minimum": 2},
                "c": {"type": "array", "items": {"type": "integer", "format": "int32", "minimum": 0}},
                "d": {"type": "object", "additionalProperties": {"type": "integer", "format": "int64", "minimum": 0}},
                "e": {"type": "integer", "format": "int32", "minimum": -5},
            })
        );
    }
}
