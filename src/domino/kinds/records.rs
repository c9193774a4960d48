//! Tolerant reading of API lists: a record that does not parse is reported and skipped, never
//! the end of a scan.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domino::{ApiError, ScanProblem};
use crate::snapshot::Kind;

/// The items of an answer that must be a JSON array.
pub(crate) fn expect_array(value: Value, method: &str, path: &str) -> Result<Vec<Value>, ApiError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(ApiError::Decode {
            method: method.into(),
            path: path.into(),
            message: format!("expected a JSON array, found {}", json_type(&other)),
        }),
    }
}

/// Parses each record; the ones that fail become problems naming the record and the reason.
pub(crate) fn parse_records<T: DeserializeOwned>(
    kind: Kind,
    items: Vec<Value>,
    problems: &mut Vec<ScanProblem>,
) -> Vec<T> {
    let mut parsed = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let subject = describe_record(&item, index);
        match serde_json::from_value::<T>(item) {
            Ok(record) => parsed.push(record),
            Err(e) => problems.push(ScanProblem::new(
                kind,
                subject,
                format!("record skipped, it cannot be read: {e}"),
            )),
        }
    }
    parsed
}

/// Names a record as well as its content allows: its id and name, or its position.
pub(crate) fn describe_record(item: &Value, index: usize) -> String {
    let text = |field: &str| match item.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let id = ["id", "workspaceId", "_id"].iter().find_map(|f| text(f));
    let name = ["name", "title"].iter().find_map(|f| text(f));
    match (id, name) {
        (Some(id), Some(name)) => format!("{id} ({name})"),
        (Some(id), None) => id,
        (None, Some(name)) => format!("record #{index} ({name})"),
        (None, None) => format!("record #{index}"),
    }
}

/// A JSON value's type, as a message names it ("an object", "null").
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Deserialize)]
    struct Rec {
        #[allow(dead_code)]
        id: String,
    }

    #[test]
    fn odd_records_become_problems() {
        let mut problems = Vec::new();
        let items = vec![
            json!({"id": "a"}),
            json!({"id": 7, "name": "x"}),
            json!("junk"),
            json!({"id": "b", "extra": 1}),
        ];
        let recs: Vec<Rec> = parse_records(Kind::App, items, &mut problems);
        assert_eq!(recs.len(), 2);
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].subject, "7 (x)");
        assert!(
            problems[0].reason.contains("invalid type"),
            "{}",
            problems[0].reason
        );
        assert_eq!(problems[1].subject, "record #2");
    }

    #[test]
    fn non_arrays_are_decode_errors() {
        let err = expect_array(json!({"a": 1}), "GET", "/v4/projects").unwrap_err();
        assert_eq!(
            err.to_string(),
            "GET /v4/projects: unexpected answer: expected a JSON array, found an object"
        );
    }
}
