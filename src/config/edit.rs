//! Edits a JSON5 config file in place, keeping everything around the edited value (comments,
//! formatting, key order) as it was: a small JSON5 scanner finds the span of the value at a
//! key path, and the edit replaces, inserts or removes only that span.

use serde_json::Value;

/// A scanned value: its byte span, and for objects their members.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    members: Option<Vec<Member>>,
}

#[derive(Debug)]
struct Member {
    key: String,
    key_start: usize,
    quoted: bool,
    value: Node,
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn err<T>(&self, what: &str) -> Result<T, String> {
        let line = self.s[..self.i.min(self.s.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        Err(format!("{what} at line {line}"))
    }

    fn skip_ws(&mut self) -> Result<(), String> {
        loop {
            match self.s.get(self.i) {
                Some(b) if b.is_ascii_whitespace() => self.i += 1,
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'/') => {
                    while self.s.get(self.i).is_some_and(|b| *b != b'\n') {
                        self.i += 1;
                    }
                }
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'*') => {
                    self.i += 2;
                    loop {
                        match self.s.get(self.i) {
                            None => return self.err("unterminated comment"),
                            Some(b'*') if self.s.get(self.i + 1) == Some(&b'/') => {
                                self.i += 2;
                                break;
                            }
                            _ => self.i += 1,
                        }
                    }
                }
                // A UTF-8 non-breaking space or BOM counts as whitespace in JSON5.
                Some(0xEF) if self.s.get(self.i + 1..self.i + 3) == Some(&[0xBB, 0xBF]) => {
                    self.i += 3;
                }
                _ => return Ok(()),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let q = self.s[self.i];
        let start = self.i;
        self.i += 1;
        loop {
            match self.s.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'\\') => self.i += 2,
                Some(b) if *b == q => {
                    self.i += 1;
                    break;
                }
                _ => self.i += 1,
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
        json5::from_str::<String>(text).map_err(|e| e.to_string())
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > 64 {
            return self.err("nesting too deep");
        }
        self.skip_ws()?;
        let start = self.i;
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                loop {
                    self.skip_ws()?;
                    match self.s.get(self.i) {
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        None => return self.err("unterminated object"),
                        _ => {}
                    }
                    let key_start = self.i;
                    let (key, quoted) = match self.s[self.i] {
                        b'"' | b'\'' => (self.string()?, true),
                        _ => {
                            while self.s.get(self.i).is_some_and(|b| {
                                b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$' || *b >= 0x80
                            }) {
                                self.i += 1;
                            }
                            if self.i == key_start {
                                return self.err("expected a key");
                            }
                            (
                                String::from_utf8_lossy(&self.s[key_start..self.i]).into_owned(),
                                false,
                            )
                        }
                    };
                    self.skip_ws()?;
                    if self.s.get(self.i) != Some(&b':') {
                        return self.err("expected ':'");
                    }
                    self.i += 1;
                    let value = self.value(depth + 1)?;
                    members.push(Member {
                        key,
                        key_start,
                        quoted,
                        value,
                    });
                    self.skip_ws()?;
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return self.err("expected ',' or '}'"),
                    }
                }
                Ok(Node {
                    start,
                    end: self.i,
                    members: Some(members),
                })
            }
            Some(b'[') => {
                self.i += 1;
                loop {
                    self.skip_ws()?;
                    match self.s.get(self.i) {
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        None => return self.err("unterminated array"),
                        _ => {}
                    }
                    self.value(depth + 1)?;
                    self.skip_ws()?;
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
                Ok(Node {
                    start,
                    end: self.i,
                    members: None,
                })
            }
            Some(b'"' | b'\'') => {
                self.string()?;
                Ok(Node {
                    start,
                    end: self.i,
                    members: None,
                })
            }
            Some(_) => {
                while self.s.get(self.i).is_some_and(|b| {
                    !b.is_ascii_whitespace() && !matches!(b, b',' | b'}' | b']' | b'/')
                }) {
                    self.i += 1;
                }
                Ok(Node {
                    start,
                    end: self.i,
                    members: None,
                })
            }
        }
    }
}

fn scan(text: &str) -> Result<Node, String> {
    let mut sc = Scanner {
        s: text.as_bytes(),
        i: 0,
    };
    let root = sc.value(0)?;
    if root.members.is_none() {
        return Err("the config file must hold an object".to_owned());
    }
    Ok(root)
}

/// Splits `a.b.c` into keys; empty segments are refused.
pub fn split_path(path: &str) -> Result<Vec<String>, String> {
    let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
    if path.is_empty() || keys.iter().any(String::is_empty) {
        return Err(format!(
            "invalid config path {path:?}. Fix: use dot-separated keys such as gateway.auth.token"
        ));
    }
    Ok(keys)
}

fn ident(k: &str) -> bool {
    let mut c = k.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == '$')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == '$')
}

fn key_text(k: &str, quote: bool) -> String {
    if !quote && ident(k) {
        k.to_owned()
    } else {
        serde_json::to_string(k).unwrap_or_else(|_| format!("\"{k}\""))
    }
}

/// The indentation of the line holding byte `at`.
fn indent_at(text: &str, at: usize) -> String {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// Sets `path` to `value` in the JSON5 `text`, creating missing objects; only the edited
/// span changes.
pub fn set(text: &str, path: &[String], value: &Value) -> Result<String, String> {
    let root = scan(text)?;
    let mut node = &root;
    for (depth, key) in path.iter().enumerate() {
        let Some(members) = &node.members else {
            return Err(format!(
                "{} is not an object; cannot set {}",
                path[..depth].join("."),
                path.join(".")
            ));
        };
        match members.iter().rev().find(|m| m.key == *key) {
            Some(m) if depth + 1 == path.len() => {
                let v = serde_json::to_string(value).map_err(|e| e.to_string())?;
                return Ok(format!(
                    "{}{v}{}",
                    &text[..m.value.start],
                    &text[m.value.end..]
                ));
            }
            Some(m) => node = &m.value,
            None => {
                // Build `key: {rest…: value}` and insert it as the object's last member.
                let mut v = value.clone();
                for k in path[depth + 1..].iter().rev() {
                    let mut o = serde_json::Map::new();
                    o.insert(k.clone(), v);
                    v = Value::Object(o);
                }
                let quote = members.first().is_some_and(|m| m.quoted);
                let body = format!(
                    "{}: {}",
                    key_text(key, quote),
                    serde_json::to_string(&v).map_err(|e| e.to_string())?
                );
                return Ok(insert_member(text, node, members, &body));
            }
        }
    }
    Err("empty config path".to_owned())
}

fn insert_member(text: &str, obj: &Node, members: &[Member], body: &str) -> String {
    match members.last() {
        None => {
            let ind = indent_at(text, obj.start);
            let close = obj.end - 1;
            format!(
                "{}{{\n{ind}  {body}\n{ind}}}{}",
                &text[..obj.start],
                &text[close + 1..]
            )
        }
        Some(last) => {
            let ind = indent_at(text, last.key_start);
            // After the last value: skip spaces/comments on the same line to a trailing comma.
            let after = last.value.end;
            let rest = &text[after..obj.end - 1];
            let trimmed = rest.trim_start_matches([' ', '\t']);
            if let Some(stripped) = trimmed.strip_prefix(',') {
                let comma_at = after + (rest.len() - trimmed.len());
                let _ = stripped;
                format!(
                    "{}\n{ind}{body},{}",
                    &text[..comma_at + 1],
                    &text[comma_at + 1..]
                )
            } else {
                let same_line = !text[last.key_start..after].contains('\n')
                    && !text[obj.start..last.key_start].contains('\n');
                if same_line {
                    format!("{}, {body}{}", &text[..after], &text[after..])
                } else {
                    format!("{},\n{ind}{body}{}", &text[..after], &text[after..])
                }
            }
        }
    }
}

/// Removes `path` from the JSON5 `text`; `Ok(None)` when it is not there.
pub fn unset(text: &str, path: &[String]) -> Result<Option<String>, String> {
    let root = scan(text)?;
    let mut node = &root;
    for (depth, key) in path.iter().enumerate() {
        let Some(members) = &node.members else {
            return Ok(None);
        };
        let Some(idx) = members.iter().rposition(|m| m.key == *key) else {
            return Ok(None);
        };
        let m = &members[idx];
        if depth + 1 < path.len() {
            node = &m.value;
            continue;
        }
        let mut start = m.key_start;
        let mut end = m.value.end;
        let rest = &text[end..node.end - 1];
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if trimmed.starts_with(',') {
            end += rest.len() - trimmed.len() + 1;
        } else if idx > 0 {
            // The last member: drop the comma after the previous one.
            let prev = &members[idx - 1];
            let between = &text[prev.value.end..start];
            if let Some(c) = between.find(',') {
                start = prev.value.end + c;
            }
        }
        // Remove the whole line when the member had it to itself.
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        if text[line_start..start].trim().is_empty()
            && text[end..line_end].trim().is_empty()
            && line_start > 0
        {
            start = line_start - 1;
            end = line_end;
        }
        return Ok(Some(format!("{}{}", &text[..start], &text[end..])));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<String> {
        split_path(s).expect("path")
    }

    const DOC: &str = "// my gateway\n{\n  gateway: {\n    port: 18789, // the port\n    auth: { token: 'old' },\n  },\n  /* channels */\n  channels: {\n    telegram: {\n      allowFrom: [1, 2]\n    }\n  }\n}\n";

    #[test]
    fn set_replaces_only_the_value() {
        let out = set(DOC, &p("gateway.auth.token"), &json!("new")).expect("set");
        assert_eq!(out, DOC.replace("'old'", "\"new\""));
        let v: Value = json5::from_str(&out).expect("json5");
        assert_eq!(v["gateway"]["auth"]["token"], "new");
        assert!(out.contains("// the port") && out.contains("/* channels */"));
    }

    #[test]
    fn set_inserts_missing_keys_and_objects() {
        let out = set(DOC, &p("gateway.reload.mode"), &json!("off")).expect("set");
        let v: Value = json5::from_str(&out).expect(&out);
        assert_eq!(v["gateway"]["reload"]["mode"], "off");
        assert_eq!(v["gateway"]["port"], 18789);
        let out = set(DOC, &p("channels.telegram.dmPolicy"), &json!("open")).expect("set");
        let v: Value = json5::from_str(&out).expect(&out);
        assert_eq!(v["channels"]["telegram"]["dmPolicy"], "open");
        assert_eq!(v["channels"]["telegram"]["allowFrom"], json!([1, 2]));
        let out = set("{}", &p("a.b"), &json!(1)).expect("set");
        assert_eq!(
            json5::from_str::<Value>(&out).expect(&out),
            json!({"a": {"b": 1}})
        );
        let out = set("{\"a\": 1}", &p("b"), &json!(2)).expect("set");
        assert_eq!(out, "{\"a\": 1, \"b\": 2}");
        assert!(set(DOC, &p("gateway.port.x"), &json!(1)).is_err());
    }

    #[test]
    fn unset_removes_the_member_and_its_comma() {
        let out = unset(DOC, &p("gateway.port"))
            .expect("ok")
            .expect("present");
        let v: Value = json5::from_str(&out).expect(&out);
        assert!(v["gateway"].get("port").is_none());
        assert_eq!(v["gateway"]["auth"]["token"], "old");
        let out = unset(DOC, &p("channels.telegram.allowFrom"))
            .expect("ok")
            .expect("present");
        let v: Value = json5::from_str(&out).expect(&out);
        assert_eq!(v["channels"]["telegram"], json!({}));
        let out = unset("{a: 1, b: 2}", &p("b"))
            .expect("ok")
            .expect("present");
        assert_eq!(json5::from_str::<Value>(&out).expect(&out), json!({"a": 1}));
        assert!(unset(DOC, &p("nope.x")).expect("ok").is_none());
    }

    #[test]
    fn broken_text_is_an_error_not_a_panic() {
        for bad in [
            "",
            "{",
            "{a:",
            "{a: 'x",
            "{/* x",
            "[1]",
            "{a 1}",
            "{\"a\": [1,}",
        ] {
            let _ = set(bad, &p("a"), &json!(1));
            let _ = unset(bad, &p("a"));
        }
        assert!(set("{", &p("a"), &json!(1)).is_err());
    }
}
