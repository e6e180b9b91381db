//! The config's environment, as OpenClaw has it (`docs/gateway/config-secrets-env.md`,
//! `docs/help/environment.md`):
//!
//! - **Where variables come from**, highest first: the process environment, then
//!   `<state dir>/.env`, then the config's `env` block (`env.vars.<KEY>`, or `env.<KEY>`
//!   directly). None of them overrides a value a higher one has; the process environment
//!   is never modified (the extra values are kept beside the config, see
//!   [`super::Config::env_var`]).
//! - **`${VAR}` in any config string** is replaced by the variable (names
//!   `[A-Z_][A-Z0-9_]*`); `$${VAR}` writes a literal `${VAR}`. A variable that is unset or
//!   empty leaves the reference visibly unresolved, with a warning.
//! - **Env SecretRefs**: a value `{ source: "env", provider?: "...", id: "VAR" }` (any
//!   credential field: `apiKey`, `botToken`, `token`, …) becomes the variable's value; an
//!   unset one refuses the start, as OpenClaw does for refs on an active surface. The
//!   `file` and `exec` sources are refused with the fix.
//!
//! The config file itself is never rewritten with resolved values: `config.*` writes edit
//! the file's text, and `config.get` redacts what came from the environment.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::EnvSource;

/// The name of the dotenv file in the state directory.
pub const DOTENV: &str = ".env";

/// Largest `.env` read.
const MAX_DOTENV: u64 = 1024 * 1024;

/// Variables the `.env` file and the `env` block may not set: they decide where the
/// config and state are, so only the process environment sets them.
const BLOCKED: [&str; 4] = [
    "OPENCLAW_STATE_DIR",
    "OPENCLAW_CONFIG_PATH",
    "OPENCLAW_HOME",
    "OPENCLAW_PROFILE",
];

/// The variables besides the process environment: `<state>/.env`, then the `env` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraEnv {
    /// Name → value (the first source that set it).
    pub vars: BTreeMap<String, String>,
}

impl ExtraEnv {
    /// Reads `<state_dir>/.env` and the `env` block of `doc` (the parsed config file);
    /// problems that lose nothing (an unreadable line, a blocked name) are `warnings`.
    pub fn gather(state_dir: &Path, doc: Option<&Value>, warnings: &mut Vec<String>) -> Self {
        let mut vars = BTreeMap::new();
        let path = state_dir.join(DOTENV);
        match read_capped(&path) {
            Ok(Some(text)) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    if let Ok(m) = std::fs::metadata(&path)
                        && m.permissions().mode() & 0o077 != 0
                    {
                        warnings.push(format!(
                            "{} can be read by other users and may hold keys. Fix: chmod 600 {}",
                            path.display(),
                            path.display()
                        ));
                    }
                }
                for (n, line) in text.lines().enumerate() {
                    match parse_dotenv_line(line) {
                        Ok(None) => {}
                        Ok(Some((k, v))) => {
                            if allowed(&k, &path.display().to_string(), warnings) {
                                vars.entry(k).or_insert(v);
                            }
                        }
                        Err(e) => warnings.push(format!(
                            "{}:{}: {e}; the line is ignored",
                            path.display(),
                            n + 1
                        )),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => warnings.push(format!("cannot read {}: {e}", path.display())),
        }
        if let Some(Value::Object(env)) = doc.and_then(|d| d.get("env")) {
            let nested = env.get("vars").and_then(Value::as_object);
            let direct = env
                .iter()
                .filter(|(k, _)| k.as_str() != "vars" && k.as_str() != "shellEnv");
            for (k, v) in nested.into_iter().flatten().chain(direct) {
                let Some(s) = v.as_str() else { continue };
                if s.trim().is_empty() || !valid_name(k) || contains_reference(s) {
                    continue;
                }
                if allowed(k, "the config's env block", warnings) {
                    vars.entry(k.clone()).or_insert_with(|| s.to_owned());
                }
            }
        }
        Self { vars }
    }

    /// Names of values that look like secrets (for log redaction).
    pub fn secret_values(&self) -> impl Iterator<Item = &String> {
        self.vars
            .iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_uppercase();
                ["KEY", "TOKEN", "SECRET", "PASSWORD"]
                    .iter()
                    .any(|w| k.contains(w))
            })
            .map(|(_, v)| v)
    }
}

fn allowed(name: &str, source: &str, warnings: &mut Vec<String>) -> bool {
    if BLOCKED.contains(&name) {
        warnings.push(format!(
            "{name} in {source} is ignored: it can only come from the process environment"
        ));
        return false;
    }
    true
}

fn read_capped(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    f.take(MAX_DOTENV + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_DOTENV {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_DOTENV} bytes"
        )));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| std::io::Error::other("not UTF-8"))
}

/// Whether `name` is an upper-case variable name (`[A-Z_][A-Z0-9_]*`), the names `${…}`,
/// SecretRefs and an `apiKey` naming a variable may use.
pub fn is_upper_name(name: &str) -> bool {
    let mut c = name.bytes();
    c.next()
        .is_some_and(|f| f.is_ascii_uppercase() || f == b'_')
        && c.all(|x| x.is_ascii_uppercase() || x.is_ascii_digit() || x == b'_')
}

/// Whether `name` is a variable name we look up (`[A-Za-z_][A-Za-z0-9_]*`).
fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && name.len() <= 256
}

/// One `.env` line: `KEY=value`, `export KEY=value`, `# comment`, blank. Values may be
/// `'single'` (literal), `"double"` (`\n`, `\"`, `\\` escapes) or bare (a ` #` starts a
/// comment; surrounding spaces trimmed).
pub fn parse_dotenv_line(line: &str) -> Result<Option<(String, String)>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let t = t.strip_prefix("export ").map(str::trim_start).unwrap_or(t);
    let (k, v) = t.split_once('=').ok_or("expected KEY=value")?;
    let k = k.trim();
    if !valid_name(k) {
        return Err(format!("{k:?} is not a variable name"));
    }
    let v = v.trim();
    let value = if let Some(rest) = v.strip_prefix('\'') {
        rest.split_once('\'')
            .map(|(inner, _)| inner.to_owned())
            .ok_or("unterminated single quote")?
    } else if let Some(rest) = v.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        let mut closed = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    closed = true;
                    break;
                }
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => return Err("unterminated double quote".into()),
                },
                o => out.push(o),
            }
        }
        if !closed {
            return Err("unterminated double quote".into());
        }
        out
    } else {
        match v.find(" #") {
            Some(i) => v[..i].trim_end().to_owned(),
            None => v.to_owned(),
        }
    };
    Ok(Some((k.to_owned(), value)))
}

/// Whether `s` holds a `${VAR}` reference (not an escaped `$${VAR}`).
pub fn contains_reference(s: &str) -> bool {
    let mut found = false;
    scan(s, &mut |piece| {
        if matches!(piece, Piece::Ref(_)) {
            found = true;
        }
    });
    found
}

enum Piece<'a> {
    Text(&'a str),
    /// `${NAME}` with a valid name.
    Ref(&'a str),
}

/// Splits `s` into text and `${NAME}` references; `$${` is text `${`.
fn scan<'a>(s: &'a str, out: &mut dyn FnMut(Piece<'a>)) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            if bytes.get(i + 1) == Some(&b'$') && bytes.get(i + 2) == Some(&b'{') {
                // `$${` → literal `${`.
                out(Piece::Text(&s[start..i]));
                start = i + 1;
                i += 3;
                continue;
            }
            if bytes.get(i + 1) == Some(&b'{')
                && let Some(len) = s[i + 2..].find('}')
            {
                let name = &s[i + 2..i + 2 + len];
                if is_upper_name(name) {
                    out(Piece::Text(&s[start..i]));
                    out(Piece::Ref(name));
                    i += 3 + len;
                    start = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out(Piece::Text(&s[start..]));
}

/// What [`resolve`] did.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Unset references, one line each (the config path and the variable).
    pub warnings: Vec<String>,
    /// Every value put into the config from the environment (so `config.get` can hide it).
    pub values: Vec<String>,
}

/// Replaces `${VAR}` references and env SecretRefs throughout `doc` (except inside the
/// `env` block); `Err` names an unresolvable SecretRef and the fix.
pub fn resolve(doc: &mut Value, env: &dyn EnvSource) -> Result<Resolved, String> {
    let mut out = Resolved::default();
    let mut path = Vec::new();
    walk(doc, env, &mut path, &mut out)?;
    Ok(out)
}

fn lookup(env: &dyn EnvSource, name: &str) -> Option<String> {
    env.get(name).filter(|v| !v.is_empty())
}

fn walk(
    v: &mut Value,
    env: &dyn EnvSource,
    path: &mut Vec<String>,
    out: &mut Resolved,
) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if !s.contains("${") {
                return Ok(());
            }
            let mut text = String::with_capacity(s.len());
            let mut missing = Vec::new();
            let mut used = Vec::new();
            scan(s, &mut |piece| match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Ref(name) => match lookup(env, name) {
                    Some(val) => {
                        text.push_str(&val);
                        used.push(val);
                    }
                    None => {
                        text.push_str("${");
                        text.push_str(name);
                        text.push('}');
                        missing.push(name.to_owned());
                    }
                },
            });
            for name in missing {
                out.warnings.push(format!(
                    "config {}: ${{{name}}} is not set, so the value stays unresolved. Fix: set {name} in the environment, in {} of the state directory or in the config's env.vars",
                    dotted(path),
                    DOTENV
                ));
            }
            out.values.extend(used);
            *s = text;
        }
        Value::Object(m) => {
            if is_secret_ref(m) {
                *v = Value::String(secret_ref(m, env, path, out)?);
                return Ok(());
            }
            for (k, x) in m.iter_mut() {
                if path.is_empty() && k == "env" {
                    continue;
                }
                path.push(k.clone());
                let r = walk(x, env, path, out);
                path.pop();
                r?;
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                path.push(i.to_string());
                let r = walk(x, env, path, out);
                path.pop();
                r?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn dotted(path: &[String]) -> String {
    if path.is_empty() {
        "(root)".to_owned()
    } else {
        path.join(".")
    }
}

/// `{source, id}` with an optional `provider` and nothing else.
fn is_secret_ref(m: &serde_json::Map<String, Value>) -> bool {
    m.get("source").is_some_and(Value::is_string)
        && m.get("id").is_some_and(Value::is_string)
        && m.keys()
            .all(|k| matches!(k.as_str(), "source" | "id" | "provider"))
}

fn secret_ref(
    m: &serde_json::Map<String, Value>,
    env: &dyn EnvSource,
    path: &[String],
    out: &mut Resolved,
) -> Result<String, String> {
    let at = dotted(path);
    let source = m.get("source").and_then(Value::as_str).unwrap_or_default();
    let id = m.get("id").and_then(Value::as_str).unwrap_or_default();
    if source != "env" {
        return Err(format!(
            "config {at}: a SecretRef with source {source:?} is not supported by this gateway. Fix: use {{ source: \"env\", id: \"VAR\" }} or \"${{VAR}}\", with VAR in the environment or in {DOTENV} of the state directory"
        ));
    }
    let ok =
        id.len() <= 128 && id.starts_with(|c: char| c.is_ascii_uppercase()) && is_upper_name(id);
    if !ok {
        return Err(format!(
            "config {at}: SecretRef id {id:?} is not an environment variable name. Fix: use an upper-case name such as \"OPENAI_API_KEY\""
        ));
    }
    match lookup(env, id) {
        Some(v) => {
            out.values.push(v.clone());
            Ok(v)
        }
        None => Err(format!(
            "config {at}: SecretRef env {id} is not set. Fix: set {id} in the gateway's environment, in {DOTENV} of the state directory, or in the config's env.vars"
        )),
    }
}

/// The process environment first (non-empty values), then the extra variables.
pub struct Layered<'a> {
    /// The process environment (or a test map).
    pub first: &'a dyn EnvSource,
    /// `.env` and the `env` block.
    pub extra: &'a ExtraEnv,
}

impl EnvSource for Layered<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.first
            .get(key)
            .filter(|v| !v.is_empty())
            .or_else(|| self.extra.vars.get(key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn references_are_replaced_escaped_or_left_visible() {
        let e = env(&[("KEY", "sk-1"), ("HOST", "h"), ("EMPTY", "")]);
        let mut doc = json!({
            "a": "${KEY}",
            "b": "http://${HOST}:1/${HOST}",
            "c": "$${KEY} and $$ and ${lower} and ${",
            "d": ["${MISSING}", "${EMPTY}"],
            "e": {"f": "x${KEY}y"},
            "env": {"vars": {"X": "${KEY}"}}
        });
        let r = resolve(&mut doc, &e).unwrap();
        assert_eq!(doc["a"], "sk-1");
        assert_eq!(doc["b"], "http://h:1/h");
        assert_eq!(doc["c"], "${KEY} and $$ and ${lower} and ${");
        assert_eq!(doc["d"], json!(["${MISSING}", "${EMPTY}"]));
        assert_eq!(doc["e"]["f"], "xsk-1y");
        assert_eq!(
            doc["env"]["vars"]["X"], "${KEY}",
            "the env block is literal"
        );
        assert_eq!(r.warnings.len(), 2);
        assert!(r.warnings[0].contains("d.0") && r.warnings[0].contains("${MISSING}"));
        assert!(r.values.contains(&"sk-1".to_owned()));
    }

    #[test]
    fn env_secret_refs_resolve_and_others_refuse() {
        let e = env(&[("OPENAI_API_KEY", "sk-2")]);
        let mut doc = json!({"models": {"providers": {"openai": {
            "apiKey": {"source": "env", "provider": "default", "id": "OPENAI_API_KEY"}}}}});
        resolve(&mut doc, &e).unwrap();
        assert_eq!(doc["models"]["providers"]["openai"]["apiKey"], "sk-2");

        let mut missing = json!({"x": {"apiKey": {"source": "env", "id": "NOPE_KEY"}}});
        let err = resolve(&mut missing, &e).unwrap_err();
        assert!(err.contains("x.apiKey") && err.contains("NOPE_KEY") && err.contains("Fix"));

        let mut file = json!({"x": {"apiKey": {"source": "file", "provider": "f", "id": "/a"}}});
        let err = resolve(&mut file, &e).unwrap_err();
        assert!(err.contains("\"file\"") && err.contains("Fix"), "{err}");

        let mut bad = json!({"x": {"source": "env", "id": "lower"}});
        assert!(
            resolve(&mut bad, &e)
                .unwrap_err()
                .contains("not an environment")
        );

        // Not a SecretRef (another key): left alone.
        let mut other = json!({"x": {"source": "env", "id": "A", "extra": 1}});
        resolve(&mut other, &e).unwrap();
        assert_eq!(other["x"]["extra"], 1);
    }

    #[test]
    fn dotenv_lines() {
        let p = |l: &str| parse_dotenv_line(l);
        assert_eq!(p("").unwrap(), None);
        assert_eq!(p("  # c").unwrap(), None);
        assert_eq!(p("A=b").unwrap(), Some(("A".into(), "b".into())));
        assert_eq!(
            p("export  B = c d # note").unwrap(),
            Some(("B".into(), "c d".into()))
        );
        assert_eq!(
            p("C='x # y \\n'").unwrap(),
            Some(("C".into(), "x # y \\n".into()))
        );
        assert_eq!(
            p(r#"D="a\nb \"q\" é""#).unwrap(),
            Some(("D".into(), "a\nb \"q\" é".into()))
        );
        assert_eq!(p("E=").unwrap(), Some(("E".into(), String::new())));
        assert!(p("no equals").is_err());
        assert!(p("1X=2").is_err());
        assert!(p("F=\"open").is_err());
        assert!(p("G='open").is_err());
    }

    #[test]
    fn gather_orders_sources_and_blocks_location_variables() {
        let dir = std::env::temp_dir().join(format!("oc-env-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(DOTENV),
            "A=from-dotenv\nOPENCLAW_STATE_DIR=/elsewhere\nbroken line\n",
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join(DOTENV), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        let doc = json!({"env": {"vars": {"A": "from-vars", "B": "b", "C": "${A}", "D": " "},
                                 "E": "direct", "shellEnv": {"enabled": true}}});
        let mut w = Vec::new();
        let x = ExtraEnv::gather(&dir, Some(&doc), &mut w);
        assert_eq!(x.vars.get("A").map(String::as_str), Some("from-dotenv"));
        assert_eq!(x.vars.get("B").map(String::as_str), Some("b"));
        assert_eq!(x.vars.get("E").map(String::as_str), Some("direct"));
        assert!(
            !x.vars.contains_key("C"),
            "values with references are skipped"
        );
        assert!(!x.vars.contains_key("D"));
        assert!(!x.vars.contains_key("OPENCLAW_STATE_DIR"));
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("chmod 600"), "{w:?}");

        std::fs::set_permissions(
            dir.join(DOTENV),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let mut w2 = Vec::new();
        ExtraEnv::gather(&dir, None, &mut w2);
        assert!(w2.iter().all(|x| !x.contains("chmod")), "{w2:?}");

        let process = env(&[("A", "from-process"), ("Z", "")]);
        let l = Layered {
            first: &process,
            extra: &x,
        };
        assert_eq!(l.get("A").as_deref(), Some("from-process"));
        assert_eq!(l.get("B").as_deref(), Some("b"));
        assert_eq!(l.get("Z"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
