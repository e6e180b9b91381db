//! OpenClaw's message presentation (`presentation` on `send`, `message.action` and the
//! agent's `message` tool): a title and blocks of text, context, dividers, buttons, selects,
//! tables and charts. A channel renders what it can natively (Telegram: buttons and select
//! options as an inline keyboard) and the rest as text, as OpenClaw's fallback renderer
//! writes it (`renderMessagePresentationFallbackText`), so nothing given is dropped.
//!
//! Unlike OpenClaw's normalizer, which silently drops a block it cannot read, a bad block is
//! an error naming it: the caller learns what was not sent. Controls are checked against
//! what a press may carry: a callback value fits Telegram's 64 bytes of `callback_data`,
//! and none may pose as the gateway's own approval buttons or an `/approve` command (a
//! prompt-injected agent must not be able to plant an "OK" button that approves its own
//! shell command).

use serde_json::{Map, Value};

use super::{Button, ButtonAction};

/// Most blocks one presentation holds.
pub const MAX_BLOCKS: usize = 50;
/// Most controls (buttons and select options) one presentation holds (Telegram's inline
/// keyboard takes 100).
pub const MAX_CONTROLS: usize = 100;
/// Controls per keyboard row (OpenClaw's Telegram row size).
pub const ROW_SIZE: usize = 3;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 128;
/// Longest callback value or command, in UTF-8 bytes (Telegram's `callback_data`).
pub const MAX_CALLBACK_BYTES: usize = 64;
/// Longest URL of a link or web-app button.
pub const MAX_URL_CHARS: usize = 2048;
/// Most text the blocks carry, in characters (the message's own text is bounded apart).
pub const MAX_TEXT_CHARS: usize = 16_000;
/// Most rows of a table and data points of a chart.
pub const MAX_ROWS: usize = 200;
/// The text of a message that has controls and nothing else (OpenClaw's).
pub const CONTROLS_ONLY_TEXT: &str = "Choose an option.";

/// Callback prefixes the gateway's own buttons use (OpenClaw's approval and question
/// encodings): never accepted from a caller.
const RESERVED_PREFIXES: &[&str] = &["tga1:", "tgq1:", "tgqo1:", "mdl1~"];

/// A presentation rendered for a channel: the text (the message's own, then the blocks'
/// fallback text in order) and the controls, in keyboard rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The blocks as text (without the controls).
    pub text: String,
    /// Buttons, [`ROW_SIZE`] per row; each buttons or select block starts a row.
    pub buttons: Vec<Vec<Button>>,
    /// Nothing but controls was given: `text` is [`CONTROLS_ONLY_TEXT`].
    pub controls_only: bool,
}

/// Reads `raw` (an object, or its JSON text, as the CLI's `--presentation` gives it) and
/// renders it after `message`. `Err` names what is wrong and how to fix it.
pub fn render(message: &str, raw: &Value) -> Result<Rendered, String> {
    let parsed;
    let raw = match raw {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s)
                .map_err(|e| format!("presentation is not valid JSON ({e})"))?;
            &parsed
        }
        other => other,
    };
    let Value::Object(p) = raw else {
        return Err("presentation must be an object {title?, blocks: [...]}".into());
    };
    let mut parts: Vec<String> = Vec::new();
    let message = message.trim();
    if !message.is_empty() {
        parts.push(message.to_owned());
    }
    if let Some(t) = opt_str(p, "title", "presentation")? {
        parts.push(t.to_owned());
    }
    let blocks = match p.get("blocks") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(b)) => b.as_slice(),
        Some(_) => return Err("presentation.blocks must be an array".into()),
    };
    if blocks.len() > MAX_BLOCKS {
        return Err(format!(
            "presentation has {} blocks; at most {MAX_BLOCKS}. Fix: send fewer blocks",
            blocks.len()
        ));
    }
    let mut buttons: Vec<Vec<Button>> = Vec::new();
    let mut controls = 0usize;
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("presentation.blocks[{i}]");
        let Value::Object(b) = block else {
            return Err(format!("{at} must be an object with a type"));
        };
        let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" | "context" => {
                let text = req_str(b, "text", &at)?;
                parts.push(text.to_owned());
            }
            "divider" => {}
            "buttons" | "select" => {
                let (list_key, is_select) = if kind == "buttons" {
                    ("buttons", false)
                } else {
                    ("options", true)
                };
                let Some(Value::Array(list)) = b.get(list_key) else {
                    return Err(format!("{at}.{list_key} must be an array"));
                };
                let mut fallback = Vec::new();
                let mut row = Vec::new();
                for (j, c) in list.iter().enumerate() {
                    let cat = format!("{at}.{list_key}[{j}]");
                    let Value::Object(c) = c else {
                        return Err(format!("{cat} must be an object with a label"));
                    };
                    controls += 1;
                    if controls > MAX_CONTROLS {
                        return Err(format!(
                            "presentation has more than {MAX_CONTROLS} buttons and options. Fix: offer fewer"
                        ));
                    }
                    let label = req_str(c, "label", &cat)?;
                    if label.chars().count() > MAX_LABEL_CHARS {
                        return Err(format!(
                            "{cat}.label is longer than {MAX_LABEL_CHARS} characters"
                        ));
                    }
                    if c.get("disabled").and_then(Value::as_bool) == Some(true) {
                        fallback.push(format!("- {label}"));
                        continue;
                    }
                    let action = control_action(c, &cat, is_select)?;
                    row.push(Button {
                        text: label.to_owned(),
                        action,
                    });
                    if row.len() == ROW_SIZE {
                        buttons.push(std::mem::take(&mut row));
                    }
                }
                if !row.is_empty() {
                    buttons.push(row);
                }
                if !fallback.is_empty() {
                    parts.push(fallback.join("\n"));
                }
            }
            "table" => parts.push(table(b, &at)?),
            "chart" => parts.push(chart(b, &at)?),
            "" => return Err(format!("{at}.type is required")),
            other => {
                return Err(format!(
                    "{at}.type {:?} is not one of text, context, divider, buttons, select, table, chart",
                    other.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    let mut text = parts.join("\n\n");
    if text.chars().count() > MAX_TEXT_CHARS + message.chars().count() {
        return Err(format!(
            "presentation text is longer than {MAX_TEXT_CHARS} characters. Fix: send less at once"
        ));
    }
    let controls_only = text.trim().is_empty();
    if controls_only {
        if buttons.is_empty() {
            return Err(
                "presentation has nothing to show: give a title, text blocks or buttons".into(),
            );
        }
        text = CONTROLS_ONLY_TEXT.to_owned();
    }
    Ok(Rendered {
        text,
        buttons,
        controls_only,
    })
}

/// The presentation a call's params carry (`presentation`; OpenClaw's deprecated
/// `interactive`, whose text, buttons and select blocks have the same shape; or Telegram's
/// own keyboard rows as `buttons: [[{text, callback_data | url | web_app}]]`), rendered
/// after `message`; `None` when they carry none.
pub fn of_params(message: &str, params: &Map<String, Value>) -> Result<Option<Rendered>, String> {
    let given = |v: &Value| match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    };
    if let Some(p) = params.get("presentation").filter(|v| given(v)) {
        return render(message, p).map(Some);
    }
    if let Some(p) = params.get("interactive").filter(|v| given(v)) {
        return render(message, p)
            .map(Some)
            .map_err(|e| e.replace("presentation", "interactive"));
    }
    let Some(rows) = params.get("buttons").filter(|v| given(v)) else {
        return Ok(None);
    };
    let Value::Array(rows) = rows else {
        return Err("buttons must be rows of buttons: [[{text, callback_data}]]".into());
    };
    let mut blocks = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let Value::Array(row) = row else {
            return Err(format!("buttons[{i}] must be a row (an array of buttons)"));
        };
        let buttons: Vec<Value> = row
            .iter()
            .map(|b| {
                let mut out = Map::new();
                for (from, to) in [
                    ("text", "label"),
                    ("callback_data", "value"),
                    ("url", "url"),
                    ("web_app", "webApp"),
                ] {
                    if let Some(v) = b.get(from) {
                        out.insert(to.to_owned(), v.clone());
                    }
                }
                Value::Object(out)
            })
            .collect();
        blocks.push(serde_json::json!({"type": "buttons", "buttons": buttons}));
    }
    render(message, &serde_json::json!({ "blocks": blocks }))
        .map(Some)
        .map_err(|e| e.replace("presentation.blocks", "buttons"))
}

/// The text a channel shows for `rows` when it cannot show them as buttons (OpenClaw's
/// control fallback: labels, link URLs and commands; an opaque callback value stays
/// private). The gateway's own approval buttons add nothing: their prompt spells the
/// commands out.
pub fn fallback_text(rows: &[Vec<Button>]) -> String {
    rows.iter()
        .flatten()
        .filter_map(|b| match &b.action {
            ButtonAction::Callback(d) if d.starts_with(RESERVED_PREFIXES[0]) => None,
            ButtonAction::Callback(_) => Some(format!("- {}", b.text)),
            ButtonAction::Command(c) => Some(format!("- {}: `{c}`", b.text)),
            ButtonAction::Url(u) | ButtonAction::WebApp(u) => Some(format!("- {}: {u}", b.text)),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `data` is one of the gateway's own reserved callback encodings.
pub fn is_reserved(data: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| data.starts_with(p))
}

fn opt_str<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> Result<Option<&'a str>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(format!("{at}.{key} must be a string")),
    }
}

fn req_str<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, String> {
    opt_str(o, key, at)?.ok_or_else(|| format!("{at}.{key} is required (a non-empty string)"))
}

/// A control's action (OpenClaw's `resolveMessagePresentationButtonAction`: `action`, else
/// `url`, else `webApp`/`web_app`, else `value` as a callback), checked.
fn control_action(
    c: &Map<String, Value>,
    at: &str,
    is_select: bool,
) -> Result<ButtonAction, String> {
    let action = match c.get("action") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => Some(a),
        Some(_) => return Err(format!("{at}.action must be an object {{type, ...}}")),
    };
    let web_app_url = |key: &str| match c.get(key) {
        Some(Value::Object(w)) => opt_str(w, "url", &format!("{at}.{key}")),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(format!("{at}.{key} must be an object {{url}}")),
    };
    let resolved = if let Some(a) = action {
        let aat = format!("{at}.action");
        match a.get("type").and_then(Value::as_str).unwrap_or("") {
            "callback" => ButtonAction::Callback(req_str(a, "value", &aat)?.to_owned()),
            "command" => ButtonAction::Command(req_str(a, "command", &aat)?.to_owned()),
            "url" if !is_select => ButtonAction::Url(req_str(a, "url", &aat)?.to_owned()),
            "web-app" if !is_select => match opt_str(a, "url", &aat)? {
                Some(u) => ButtonAction::WebApp(u.to_owned()),
                None => {
                    return Err(format!(
                        "{aat}: a web-app button needs a url here (hosted widgets are not served by this gateway)"
                    ));
                }
            },
            "approval" | "question" => {
                return Err(format!(
                    "{aat}.type {:?} is reserved for the gateway's own prompts. Fix: use a callback or command action",
                    a.get("type").and_then(Value::as_str).unwrap_or("")
                ));
            }
            "" => return Err(format!("{aat}.type is required")),
            other => {
                let allowed = if is_select {
                    "callback or command"
                } else {
                    "callback, command, url or web-app"
                };
                return Err(format!(
                    "{aat}.type {:?} is not one of {allowed}",
                    other.chars().take(40).collect::<String>()
                ));
            }
        }
    } else if let Some(u) = opt_str(c, "url", at)?.filter(|_| !is_select) {
        ButtonAction::Url(u.to_owned())
    } else if let Some(u) = match web_app_url("webApp")? {
        Some(u) => Some(u),
        None => web_app_url("web_app")?,
    }
    .filter(|_| !is_select)
    {
        ButtonAction::WebApp(u.to_owned())
    } else if let Some(v) = opt_str(c, "value", at)? {
        ButtonAction::Callback(v.to_owned())
    } else {
        return Err(format!(
            "{at} has no action: give action {{type: \"callback\", value}} (or value, url)"
        ));
    };
    check_action(&resolved, at)?;
    Ok(resolved)
}

/// What a press carries: bounded, no control characters, and nothing posing as the
/// gateway's own approval buttons or commands.
fn check_action(a: &ButtonAction, at: &str) -> Result<(), String> {
    match a {
        ButtonAction::Callback(v) | ButtonAction::Command(v) => {
            if v.len() > MAX_CALLBACK_BYTES {
                return Err(format!(
                    "{at}: the value is {} bytes; a Telegram button carries at most {MAX_CALLBACK_BYTES}. Fix: use a shorter value (an id, not the data)",
                    v.len()
                ));
            }
            if v.chars().any(char::is_control) {
                return Err(format!("{at}: the value has control characters"));
            }
            if is_reserved(v) {
                return Err(format!(
                    "{at}: the value starts with a prefix reserved for the gateway's own buttons"
                ));
            }
            let command = match a {
                ButtonAction::Command(c) => Some(c.as_str()),
                _ => v.starts_with('/').then_some(v.as_str()),
            };
            if let Some(c) = command {
                if !c.starts_with('/') {
                    return Err(format!(
                        "{at}: a command starts with / (for example \"/status\")"
                    ));
                }
                let name = c[1..]
                    .split(|ch: char| ch.is_whitespace() || ch == '@')
                    .next()
                    .unwrap_or("");
                if name.eq_ignore_ascii_case("approve") {
                    return Err(format!(
                        "{at}: a button may not carry /approve; approvals have their own prompt"
                    ));
                }
            }
            Ok(())
        }
        ButtonAction::Url(u) | ButtonAction::WebApp(u) => {
            if u.chars().count() > MAX_URL_CHARS || u.chars().any(char::is_whitespace) {
                return Err(format!(
                    "{at}: the url is too long or has spaces (at most {MAX_URL_CHARS} characters)"
                ));
            }
            let lower = u.to_ascii_lowercase();
            let ok = lower.starts_with("https://")
                || (matches!(a, ButtonAction::Url(_))
                    && (lower.starts_with("http://") || lower.starts_with("tg://")));
            if !ok {
                return Err(format!(
                    "{at}: the url must start with https:// (a link may also be http:// or tg://)"
                ));
            }
            Ok(())
        }
    }
}

/// One table cell or heading as fallback text (whitespace collapsed).
fn cell(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// A table as OpenClaw's fallback text: `<caption> (table)`, then `- h1: v1; h2: v2` per
/// row. Atomic, as OpenClaw's: a bad caption, heading, row width or cell is an error.
fn table(b: &Map<String, Value>, at: &str) -> Result<String, String> {
    let caption = req_str(b, "caption", at)?;
    let headers: Vec<String> = match b.get("headers") {
        Some(Value::Array(h)) if !h.is_empty() => h
            .iter()
            .map(|v| match v {
                Value::String(_) => cell(v),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{at}.headers must be non-empty strings"))?,
        _ => return Err(format!("{at}.headers must be a non-empty array of strings")),
    };
    let mut seen = std::collections::HashSet::new();
    if !headers.iter().all(|h| seen.insert(h.as_str())) {
        return Err(format!("{at}.headers must be unique"));
    }
    let rows = match b.get("rows") {
        Some(Value::Array(r)) if !r.is_empty() && r.len() <= MAX_ROWS => r,
        _ => {
            return Err(format!(
                "{at}.rows must be an array of 1 to {MAX_ROWS} rows"
            ));
        }
    };
    let mut lines = vec![format!(
        "{} (table)",
        cell(&Value::from(caption)).unwrap_or_default()
    )];
    for (i, row) in rows.iter().enumerate() {
        let cells = match row {
            Value::Array(c) if c.len() == headers.len() => c,
            _ => {
                return Err(format!(
                    "{at}.rows[{i}] must have exactly one cell per header ({})",
                    headers.len()
                ));
            }
        };
        let mut line = Vec::with_capacity(cells.len());
        for (h, c) in headers.iter().zip(cells) {
            let v = cell(c).ok_or_else(|| {
                format!("{at}.rows[{i}]: every cell is a non-empty string or a finite number")
            })?;
            line.push(format!("{h}: {v}"));
        }
        lines.push(format!("- {}", line.join("; ")));
    }
    Ok(lines.join("\n"))
}

/// A chart as OpenClaw's fallback text.
fn chart(b: &Map<String, Value>, at: &str) -> Result<String, String> {
    let title = req_str(b, "title", at)?;
    let kind = req_str(b, "chartType", at)?;
    let num = |v: &Value| v.as_f64().filter(|f| f.is_finite()).and(cell(v));
    let mut lines = vec![format!("{title} ({kind} chart)")];
    match kind {
        "pie" => {
            let Some(Value::Array(segs)) = b.get("segments") else {
                return Err(format!("{at}.segments must be an array"));
            };
            if segs.is_empty() || segs.len() > MAX_ROWS {
                return Err(format!("{at}.segments must hold 1 to {MAX_ROWS} segments"));
            }
            for (i, s) in segs.iter().enumerate() {
                let label = s
                    .get("label")
                    .and_then(|l| l.as_str().and_then(|_| cell(l)));
                let value = s
                    .get("value")
                    .filter(|v| v.as_f64().is_some_and(|f| f > 0.0))
                    .and_then(num);
                let (Some(label), Some(value)) = (label, value) else {
                    return Err(format!(
                        "{at}.segments[{i}] needs a label and a positive value"
                    ));
                };
                lines.push(format!("- {label}: {value}"));
            }
        }
        "bar" | "area" | "line" => {
            let categories: Vec<String> = match b.get("categories") {
                Some(Value::Array(c)) if !c.is_empty() && c.len() <= MAX_ROWS => c
                    .iter()
                    .map(|v| v.as_str().and_then(|_| cell(v)))
                    .collect::<Option<_>>()
                    .ok_or_else(|| format!("{at}.categories must be non-empty strings"))?,
                _ => {
                    return Err(format!(
                        "{at}.categories must be an array of 1 to {MAX_ROWS} strings"
                    ));
                }
            };
            let Some(Value::Array(series)) = b.get("series") else {
                return Err(format!("{at}.series must be an array"));
            };
            if series.is_empty() || series.len() * categories.len() > MAX_ROWS * 4 {
                return Err(format!(
                    "{at}.series must hold 1 or more series (of bounded size)"
                ));
            }
            if let Some(x) = opt_str(b, "xLabel", at)? {
                lines.push(format!("X axis: {x}"));
            }
            if let Some(y) = opt_str(b, "yLabel", at)? {
                lines.push(format!("Y axis: {y}"));
            }
            for (i, s) in series.iter().enumerate() {
                let name = s.get("name").and_then(|l| l.as_str().and_then(|_| cell(l)));
                let values: Option<Vec<String>> = match s.get("values") {
                    Some(Value::Array(v)) if v.len() == categories.len() => {
                        v.iter().map(num).collect()
                    }
                    _ => None,
                };
                let (Some(name), Some(values)) = (name, values) else {
                    return Err(format!(
                        "{at}.series[{i}] needs a name and one finite value per category"
                    ));
                };
                let points: Vec<String> = categories
                    .iter()
                    .zip(&values)
                    .map(|(c, v)| format!("{c}: {v}"))
                    .collect();
                lines.push(format!("- {name}: {}", points.join("; ")));
            }
        }
        other => {
            return Err(format!(
                "{at}.chartType {:?} is not one of pie, bar, area, line",
                other.chars().take(40).collect::<String>()
            ));
        }
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cb(text: &str, data: &str) -> Button {
        Button {
            text: text.into(),
            action: ButtonAction::Callback(data.into()),
        }
    }

    #[test]
    fn openclaws_examples_render_as_text_and_keyboard_rows() {
        let r = render(
            "Deploy?",
            &json!({"title": "Deploy approval", "tone": "warning", "blocks": [
                {"type": "text", "text": "Canary is ready."},
                {"type": "context", "text": "Build 1234"},
                {"type": "divider"},
                {"type": "buttons", "buttons": [
                    {"label": "Approve", "action": {"type": "callback", "value": "deploy:approve"}, "style": "success"},
                    {"label": "Decline", "value": "deploy:decline", "style": "danger"},
                    {"label": "Status", "action": {"type": "command", "command": "/status"}},
                    {"label": "Notes", "action": {"type": "url", "url": "https://example.com/n"}},
                    {"label": "Gone", "value": "x", "disabled": true}
                ]},
                {"type": "select", "placeholder": "Env", "options": [
                    {"label": "Canary", "value": "env:canary"}
                ]},
                {"type": "table", "caption": "Open  pipeline", "headers": ["Account", "ARR"],
                 "rows": [["Acme", 125000], ["Globex", "82 000"]]},
                {"type": "chart", "chartType": "line", "title": "Revenue", "categories": ["Q1", "Q2"],
                 "series": [{"name": "Product", "values": [120, 145.5]}], "xLabel": "Quarter"},
                {"type": "chart", "chartType": "pie", "title": "Split", "segments": [{"label": "A", "value": 2}]}
            ]}),
        )
        .expect("renders");
        assert_eq!(
            r.text,
            "Deploy?\n\nDeploy approval\n\nCanary is ready.\n\nBuild 1234\n\n- Gone\n\n\
             Open pipeline (table)\n- Account: Acme; ARR: 125000\n- Account: Globex; ARR: 82 000\n\n\
             Revenue (line chart)\nX axis: Quarter\n- Product: Q1: 120; Q2: 145.5\n\n\
             Split (pie chart)\n- A: 2"
        );
        assert_eq!(
            r.buttons,
            vec![
                vec![
                    cb("Approve", "deploy:approve"),
                    cb("Decline", "deploy:decline"),
                    Button {
                        text: "Status".into(),
                        action: ButtonAction::Command("/status".into())
                    },
                ],
                vec![Button {
                    text: "Notes".into(),
                    action: ButtonAction::Url("https://example.com/n".into())
                }],
                vec![cb("Canary", "env:canary")],
            ]
        );
        assert_eq!(
            fallback_text(&r.buttons),
            "- Approve\n- Decline\n- Status: `/status`\n- Notes: https://example.com/n\n- Canary"
        );
        // The CLI's JSON text is read too; controls alone get OpenClaw's line.
        let r = render(
            "",
            &json!(
                r#"{"blocks":[{"type":"buttons","buttons":[{"label":"Yes","value":"cmd:yes"}]}]}"#
            ),
        )
        .expect("json text");
        assert_eq!(r.text, CONTROLS_ONLY_TEXT);
        assert_eq!(r.buttons, vec![vec![cb("Yes", "cmd:yes")]]);
        // OpenClaw's deprecated `interactive` has the same blocks.
        let params = json!({"interactive": {"blocks": [
            {"type": "text", "text": "Pick"},
            {"type": "select", "options": [{"label": "A", "value": "a"}]}]}});
        let r = of_params("", params.as_object().expect("object"))
            .expect("interactive")
            .expect("rendered");
        assert_eq!(r.text, "Pick");
        assert_eq!(r.buttons, vec![vec![cb("A", "a")]]);
        let bad = json!({"interactive": {"blocks": [{"type": "buttons"}]}});
        let e = of_params("", bad.as_object().expect("object")).expect_err("bad");
        assert!(e.starts_with("interactive.blocks[0]"), "{e}");
        // Legacy web-app spellings.
        let r = render(
            "x",
            &json!({"blocks": [{"type": "buttons", "buttons": [
                {"label": "A", "webApp": {"url": "https://a.example"}},
                {"label": "B", "web_app": {"url": "https://b.example"}}]}]}),
        )
        .expect("web apps");
        assert_eq!(
            r.buttons[0]
                .iter()
                .map(|b| b.action.clone())
                .collect::<Vec<_>>(),
            vec![
                ButtonAction::WebApp("https://a.example".into()),
                ButtonAction::WebApp("https://b.example".into())
            ]
        );
    }

    #[test]
    fn hostile_or_malformed_presentations_are_refused_by_name() {
        let long = "v".repeat(65);
        let rlo = format!("a\u{202e}{}", "b".repeat(200));
        let cases: Vec<(Value, &str)> = vec![
            (json!(7), "must be an object"),
            (json!("{not json"), "not valid JSON"),
            (json!({"blocks": {}}), "blocks must be an array"),
            (json!({"blocks": [1]}), "blocks[0] must be an object"),
            (
                json!({"blocks": [{"type": "hero"}]}),
                "\"hero\" is not one of",
            ),
            (json!({"blocks": [{"text": "x"}]}), "type is required"),
            (
                json!({"blocks": [{"type": "text"}]}),
                "blocks[0].text is required",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "A"}]}]}),
                "has no action",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"value": "x"}]}]}),
                "label is required",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "A", "value": long}]}]}),
                "at most 64",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "A", "value": "tga1:e:a:abc"}]}]}),
                "reserved",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "OK", "value": "/approve abc allow-always"}]}]}),
                "/approve",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "OK", "action": {"type": "command", "command": "/APPROVE@bot x"}}]}]}),
                "/approve",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "OK", "action": {"type": "command", "command": "status"}}]}]}),
                "starts with /",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "OK", "action": {"type": "approval", "approvalId": "a"}}]}]}),
                "reserved for the gateway",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "A", "value": "a\nb"}]}]}),
                "control characters",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "A", "url": "javascript:alert(1)"}]}]}),
                "https://",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "A", "action": {"type": "web-app", "url": "http://x"}}]}]}),
                "https://",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": "A", "action": {"type": "web-app", "widgetId": "w"}}]}]}),
                "needs a url",
            ),
            (
                json!({"blocks": [{"type": "select", "options": [{"label": "A", "action": {"type": "url", "url": "https://x"}}]}]}),
                "callback or command",
            ),
            (
                json!({"blocks": [{"type": "buttons", "buttons": [{"label": rlo, "value": "x"}]}]}),
                "longer than",
            ),
            (
                json!({"blocks": [{"type": "table", "caption": "c", "headers": ["a", "a"], "rows": [[1, 2]]}]}),
                "unique",
            ),
            (
                json!({"blocks": [{"type": "table", "caption": "c", "headers": ["a"], "rows": [[1, 2]]}]}),
                "one cell per header",
            ),
            (
                json!({"blocks": [{"type": "table", "caption": "c", "headers": ["a"], "rows": [[" "]]}]}),
                "non-empty string",
            ),
            (
                json!({"blocks": [{"type": "chart", "chartType": "pie", "title": "t", "segments": [{"label": "a", "value": -1}]}]}),
                "positive value",
            ),
            (
                json!({"blocks": [{"type": "chart", "chartType": "bar", "title": "t", "categories": ["a"], "series": [{"name": "s", "values": [1, 2]}]}]}),
                "one finite value per category",
            ),
            (
                json!({"blocks": [{"type": "chart", "chartType": "radar", "title": "t"}]}),
                "not one of pie",
            ),
        ];
        for (raw, want) in cases {
            let e = render("m", &raw).expect_err(&raw.to_string());
            assert!(e.contains(want), "{raw}: {e}");
        }
        let e = render(" ", &json!({"blocks": []})).expect_err("empty");
        assert!(e.contains("nothing to show"), "{e}");
        // Bounds on counts.
        let many: Vec<Value> = (0..=MAX_CONTROLS)
            .map(|i| json!({"label": format!("b{i}"), "value": format!("v{i}")}))
            .collect();
        let e = render(
            "m",
            &json!({"blocks": [{"type": "buttons", "buttons": many}]}),
        )
        .expect_err("too many");
        assert!(e.contains("more than 100"), "{e}");
        let blocks: Vec<Value> = (0..=MAX_BLOCKS)
            .map(|_| json!({"type": "divider"}))
            .collect();
        let e = render("m", &json!({"blocks": blocks})).expect_err("too many blocks");
        assert!(e.contains("at most 50"), "{e}");
        let huge = "x".repeat(MAX_TEXT_CHARS + 1);
        let e =
            render("m", &json!({"blocks": [{"type": "text", "text": huge}]})).expect_err("huge");
        assert!(e.contains("longer than"), "{e}");
        // Any Unicode in labels and values within the bounds is fine.
        let r = render(
            "",
            &json!({"blocks": [{"type": "buttons", "buttons": [{"label": "Ja 🚢 \u{202e}", "value": "ü:🚢"}]}]}),
        )
        .expect("unicode");
        assert_eq!(r.buttons[0][0], cb("Ja 🚢 \u{202e}", "ü:🚢"));
    }
}
