//! A request's tools as a provider's JSON, encoded once per tool list.
//!
//! A run's tool list is shared ([`ChatRequest::tools`]: one `Arc` per offer, kept by the
//! agent), and its JSON (every tool's schema: ~6.5 KB for the default tools) is the same in
//! every request that carries that list. A client keeps the JSON of the last few lists it
//! sent, by the list's `Arc` (held, so its address cannot come back as another list's) and
//! the shape the client gives it (its format and the settings the encoding reads).
//!
//! [`ChatRequest::tools`]: crate::actors::ports::ChatRequest::tools

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::actors::ports::ToolSpec;

/// Tool lists kept per client (an agent's runs use a few: private chats, groups, cron).
const KEPT: usize = 4;

/// What decides the encoding besides the list: the client's format and a setting of it.
pub(crate) type Shape = (&'static str, Option<&'static str>);

type Kept = (Arc<Vec<ToolSpec>>, Shape, Arc<RawValue>);

/// The encoded tool lists of a client (shared by its clones).
#[derive(Clone, Default)]
pub(crate) struct ToolsJson(Arc<Mutex<Vec<Kept>>>);

impl ToolsJson {
    /// The JSON of `tools` in `shape` (`None` for no tools), made by `encode` when it is not
    /// kept.
    pub(crate) fn get<'a, T: Serialize>(
        &self,
        tools: &'a Arc<Vec<ToolSpec>>,
        shape: Shape,
        encode: impl FnOnce(&'a [ToolSpec]) -> T,
    ) -> serde_json::Result<Option<Arc<RawValue>>> {
        if tools.is_empty() {
            return Ok(None);
        }
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = kept
            .iter()
            .position(|(t, s, _)| Arc::ptr_eq(t, tools) && *s == shape)
        {
            // The most recently used last.
            let hit = kept.remove(i);
            let json = hit.2.clone();
            kept.push(hit);
            return Ok(Some(json));
        }
        let json: Arc<RawValue> = serde_json::value::to_raw_value(&encode(tools))?.into();
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push((tools.clone(), shape, json.clone()));
        Ok(Some(json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(names: &[&str]) -> Arc<Vec<ToolSpec>> {
        Arc::new(
            names
                .iter()
                .map(|n| ToolSpec {
                    name: (*n).into(),
                    description: format!("the {n} tool"),
                    parameters: json!({"type": "object", "properties": {"x": {"type": "string"}}}),
                })
                .collect(),
        )
    }

    #[test]
    fn a_list_is_encoded_once_per_shape_and_its_json_is_what_encoding_gives() {
        let cache = ToolsJson::default();
        let calls = std::cell::Cell::new(0);
        let encode = |t: &[ToolSpec]| {
            calls.set(calls.get() + 1);
            t.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
        };
        let a = list(&["nodes", "read"]);
        let first = cache.get(&a, ("x", None), encode).expect("encodes");
        let again = cache.get(&a, ("x", None), encode).expect("encodes");
        assert_eq!(calls.get(), 1, "the second request reuses it");
        assert_eq!(first.as_ref().map(|j| j.get()), Some(r#"["nodes","read"]"#));
        assert_eq!(
            first.as_ref().map(|j| j.get()),
            again.as_ref().map(|j| j.get())
        );
        // Another shape, or another list with the same contents: encoded for it.
        cache.get(&a, ("x", Some("1h")), encode).expect("encodes");
        let b = list(&["nodes", "read"]);
        cache.get(&b, ("x", None), encode).expect("encodes");
        assert_eq!(calls.get(), 3);
        // No tools: nothing to send, nothing kept.
        assert!(
            cache
                .get(&Arc::new(Vec::new()), ("x", None), encode)
                .expect("encodes")
                .is_none()
        );
        // Bounded: the least recently used go first.
        let lists: Vec<_> = (0..KEPT + 2).map(|i| list(&[&format!("t{i}")])).collect();
        for l in &lists {
            cache.get(l, ("x", None), encode).expect("encodes");
        }
        assert_eq!(cache.0.lock().expect("lock").len(), KEPT);
        let before = calls.get();
        cache
            .get(&lists[KEPT + 1], ("x", None), encode)
            .expect("encodes");
        assert_eq!(calls.get(), before, "the newest is kept");
        cache.get(&a, ("x", None), encode).expect("encodes");
        assert_eq!(calls.get(), before + 1, "the oldest went");
    }
}
