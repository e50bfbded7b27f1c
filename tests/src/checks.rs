//! Assertions shared by the detection tests.

use serde_json::Value;

use crate::{field, severity_rank, text};

/// Asserts a detection's rule, severity, ATT&CK technique and acting container's name.
pub fn assert_detection(d: &Value, rule: &str, severity: &str, technique: &str, container: &str) {
    assert_eq!(text(d, "rule"), rule, "rule: {d}");
    assert_eq!(text(d, "severity"), severity, "severity: {d}");
    assert_eq!(text(d, "mitre.technique_id"), technique, "technique: {d}");
    assert_eq!(text(d, "container.name"), container, "container: {d}");
}

/// The strings of a JSON array at a dotted path (empty when absent).
pub fn strings<'a>(d: &'a Value, path: &str) -> Vec<&'a str> {
    field(d, path)
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether any string of the array at `path` contains `needle`.
pub fn any_contains(d: &Value, path: &str, needle: &str) -> bool {
    strings(d, path).iter().any(|s| s.contains(needle))
}

/// Detections at or above `severity`, one JSON line each.
pub fn at_least(detections: &[Value], severity: &str) -> Vec<String> {
    detections
        .iter()
        .filter(|d| severity_rank(text(d, "severity")) >= severity_rank(severity))
        .map(Value::to_string)
        .collect()
}
