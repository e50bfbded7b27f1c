//! Medians and percentiles, and the few JSON fields the bench reads. The sensor's output and
//! stats file are flat enough that a field is found by its key; this keeps xtask free of a JSON
//! dependency.

/// The median (mean of the middle two for an even count); 0 for no samples.
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// The nearest-rank percentile `p` (0–100); 0 for no samples.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn min(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn max(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The unsigned number after `"key":` in a JSON text.
pub fn json_u64(text: &str, key: &str) -> Option<u64> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = text[at..].trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The string after `"key":` in a JSON text (common escapes decoded).
pub fn json_str(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = text[at..].trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// `key=value` from a bench tool's result line.
pub fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 50.0), 50.0);
        assert_eq!(percentile(&hundred, 99.0), 99.0);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
        assert_eq!((min(&hundred), max(&hundred)), (1.0, 100.0));
    }

    #[test]
    fn reads_json_fields() {
        let stats = r#"{"events":12,"lost_events":{"connect":3,"exec":0},"lost_events_total":3}"#;
        assert_eq!(json_u64(stats, "events"), Some(12));
        assert_eq!(json_u64(stats, "connect"), Some(3));
        assert_eq!(json_u64(stats, "lost_events_total"), Some(3));
        assert_eq!(json_u64(stats, "missing"), None);
        let detection = r#"{"process":{"filename":"/tmp/lat/a \"b\"","pid":7},"rule":"dropped-executable","ktime_ns":123456}"#;
        assert_eq!(json_str(detection, "rule").unwrap(), "dropped-executable");
        assert_eq!(json_str(detection, "filename").unwrap(), "/tmp/lat/a \"b\"");
        assert_eq!(json_u64(detection, "ktime_ns"), Some(123456));
    }

    #[test]
    fn reads_tool_output() {
        let line = "count=3000 elapsed_ns=466027180 rate=852911";
        assert_eq!(field(line, "count"), Some(3000));
        assert_eq!(field(line, "elapsed_ns"), Some(466027180));
        assert_eq!(field(line, "nope"), None);
    }
}
