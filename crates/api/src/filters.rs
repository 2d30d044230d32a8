//! The `filters` query parameter: a JSON object of filter name to values.
//!
//! Clients send two shapes: `{"status":["running"]}` (current) and `{"status":{"running":true}}`
//! (API < 1.22, still sent by some tools). Both parse into [`Filters`].

use std::collections::BTreeMap;

/// Parsed filters: each key maps to the values it was given (OR within a key, AND across keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the raw (URL-decoded) `filters` parameter; an empty string means no filters.
    pub fn parse(raw: &str) -> Result<Filters, String> {
        if raw.trim().is_empty() {
            return Ok(Filters::default());
        }
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| format!("invalid filter: {e}"))?;
        let object = value
            .as_object()
            .ok_or("invalid filter: expected a JSON object")?;
        let mut filters = BTreeMap::new();
        for (key, values) in object {
            let list = match values {
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>(),
                serde_json::Value::Object(map) => Some(
                    map.iter()
                        .filter(|(_, enabled)| enabled.as_bool().unwrap_or(false))
                        .map(|(k, _)| k.clone())
                        .collect(),
                ),
                _ => None,
            }
            .ok_or_else(|| format!("invalid filter: values of {key:?} must be strings"))?;
            filters.insert(key.clone(), list);
        }
        Ok(Filters(filters))
    }

    /// Rejects filter names not in `allowed`, with Docker's message.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err(format!("invalid filter '{key}'")),
            None => Ok(()),
        }
    }

    /// Values given for `key` (empty when the filter is absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True when no filter was given for `key`, or when `matches` holds for one of its values.
    pub fn any(&self, key: &str, matches: impl Fn(&str) -> bool) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| matches(v))
    }

    /// Label filters: each value is `key` or `key=value`; every one must match (AND).
    pub fn labels_match(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(want.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_shapes() {
        let new = Filters::parse(r#"{"status":["running","paused"]}"#).unwrap();
        assert_eq!(new.get("status"), ["running", "paused"]);
        let old = Filters::parse(r#"{"status":{"exited":true}}"#).unwrap();
        assert_eq!(old.get("status"), ["exited"]);
        assert!(Filters::parse("").unwrap().get("x").is_empty());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Filters::parse("{").is_err());
        assert!(Filters::parse(r#"{"status":[1]}"#).is_err());
        let f = Filters::parse(r#"{"bogus":["x"]}"#).unwrap();
        assert_eq!(
            f.validate(&["status"]).unwrap_err(),
            "invalid filter 'bogus'"
        );
    }

    #[test]
    fn label_filters_and_together() {
        let f = Filters::parse(r#"{"label":["a","b=2"]}"#).unwrap();
        let mut labels = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        assert!(!f.labels_match("label", &labels));
        labels.insert("b".into(), "2".into());
        assert!(f.labels_match("label", &labels));
    }
}
