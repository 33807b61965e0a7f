//! Key-by-key differences between two JSON documents, for refusals that must say exactly
//! what differs (a run directory or a cache made with other settings).

use std::collections::BTreeSet;

use serde_json::Value;

/// Appends `key.path: old -> new` for every leaf where `old` and `new` differ; a key missing
/// on one side counts as `null`.
pub fn json_diff(old: &Value, new: &Value, prefix: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<_> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                json_diff(
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    &path,
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(format!("{prefix}: {a} -> {b}")),
        _ => {}
    }
}
