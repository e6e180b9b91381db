//! A tiny JSON-schema-like checker that reports errors in the same words as the AJV
//! validator the real gateway uses (`at /client/id: must be equal to one of the allowed
//! values`, `at root: unexpected property 'bogus'`, `must have required property 'id'`).

use serde_json::{Map, Value};

/// Collects validation errors for one params object.
#[derive(Debug, Default)]
pub struct Checker {
    errors: Vec<String>,
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "at root".to_owned()
    } else {
        format!("at {path}")
    }
}

impl Checker {
    /// A fresh checker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error at `path` (`""` is the root).
    pub fn error(&mut self, path: &str, msg: &str) {
        if path.is_empty() && msg.starts_with("must have required property") {
            self.errors.push(msg.to_owned());
        } else {
            self.errors.push(format!("{}: {msg}", at(path)));
        }
    }

    /// Checks that `value` is an object; returns it.
    pub fn object<'a>(&mut self, path: &str, value: &'a Value) -> Option<&'a Map<String, Value>> {
        match value {
            Value::Object(m) => Some(m),
            _ => {
                self.error(path, "must be object");
                None
            }
        }
    }

    /// Reports keys of `obj` not in `allowed`.
    pub fn closed(&mut self, path: &str, obj: &Map<String, Value>, allowed: &[&str]) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error(path, &format!("unexpected property '{key}'"));
            }
        }
    }

    /// Reports a missing required key.
    pub fn required(&mut self, path: &str, obj: &Map<String, Value>, key: &str) -> bool {
        if obj.contains_key(key) {
            true
        } else {
            self.error(path, &format!("must have required property '{key}'"));
            false
        }
    }

    /// Optional string field; returns it when present and valid.
    pub fn string<'a>(
        &mut self,
        path: &str,
        obj: &'a Map<String, Value>,
        key: &str,
        non_empty: bool,
    ) -> Option<&'a str> {
        match obj.get(key) {
            None => None,
            Some(Value::String(s)) => {
                if non_empty && s.trim().is_empty() {
                    self.error(
                        &format!("{path}/{key}"),
                        "must NOT have fewer than 1 characters",
                    );
                    None
                } else {
                    Some(s)
                }
            }
            Some(_) => {
                self.error(&format!("{path}/{key}"), "must be string");
                None
            }
        }
    }

    /// Optional integer field (≥ `min`).
    pub fn integer(
        &mut self,
        path: &str,
        obj: &Map<String, Value>,
        key: &str,
        min: u64,
    ) -> Option<u64> {
        match obj.get(key) {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= min => Some(n),
                Some(_) => {
                    self.error(&format!("{path}/{key}"), &format!("must be >= {min}"));
                    None
                }
                None => {
                    self.error(&format!("{path}/{key}"), "must be integer");
                    None
                }
            },
        }
    }

    /// Optional boolean field.
    pub fn boolean(&mut self, path: &str, obj: &Map<String, Value>, key: &str) -> Option<bool> {
        match obj.get(key) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(&format!("{path}/{key}"), "must be boolean");
                None
            }
        }
    }

    /// Optional array of strings.
    pub fn string_array(
        &mut self,
        path: &str,
        obj: &Map<String, Value>,
        key: &str,
    ) -> Option<Vec<String>> {
        match obj.get(key) {
            None => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        _ => self.error(&format!("{path}/{key}/{i}"), "must be string"),
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.error(&format!("{path}/{key}"), "must be array");
                None
            }
        }
    }

    /// Whether no error was recorded.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors joined the way the gateway reports them.
    pub fn message(&self) -> String {
        self.errors.join("; ")
    }
}

/// Validates params of a method whose params are a closed object of optional booleans
/// (`health {probe?}`, `status {includeChannelSummary?, …}`). Arrays and `null` are accepted
/// as "no params", like the real gateway does for `health`.
pub fn optional_bool_params(method: &str, params: &Value, keys: &[&str]) -> Result<(), String> {
    let Value::Object(obj) = params else {
        return Ok(());
    };
    let mut c = Checker::new();
    c.closed("", obj, keys);
    for key in keys {
        c.boolean("", obj, key);
    }
    if c.ok() {
        Ok(())
    } else {
        Err(format!("invalid {method} params: {}", c.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_match_ajv_wording() {
        let v = json!({"bogus": true});
        let obj = v.as_object().expect("object");
        let mut c = Checker::new();
        c.required("", obj, "nodeId");
        c.closed("", obj, &["nodeId"]);
        assert_eq!(
            c.message(),
            "must have required property 'nodeId'; at root: unexpected property 'bogus'"
        );
        assert_eq!(
            optional_bool_params("health", &json!({"probe": "x"}), &["probe"]),
            Err("invalid health params: at /probe: must be boolean".into())
        );
        assert!(optional_bool_params("health", &json!([]), &["probe"]).is_ok());
    }
}
