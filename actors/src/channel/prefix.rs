//! OpenClaw's response prefix (`messages.responsePrefix`, `channels.<channel>.responsePrefix`,
//! `channels.<channel>.accounts.<id>.responsePrefix`; the most specific wins, `""` turns it
//! off): a text put before each answer a chat gets, e.g. `"🦞"` or `"[{model}]"`.
//!
//! `"auto"` is `[<identity.name>]` (nothing when the agent has no identity name). The
//! template variables, any case: `{model}` (short: `gpt-5.4`), `{modelFull}`
//! (`openai/gpt-5.4`), `{provider}`, `{thinkingLevel}` (`{think}`), `{identity.name}`
//! (`{identityName}`); an unknown one stays as written. The prefix and the answer are
//! joined by a space; an answer that already starts with the prefix is left alone, as is
//! a heartbeat's `HEARTBEAT_OK`.

/// A configured response prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsePrefix {
    /// `"auto"`: `[<identity.name>]`.
    Auto,
    /// A text, maybe with `{variables}`.
    Template(String),
}

impl ResponsePrefix {
    /// The setting as written (`None`: `""` or blank, i.e. off).
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.trim().is_empty() {
            None
        } else if raw.trim() == "auto" {
            Some(Self::Auto)
        } else {
            Some(Self::Template(raw.to_owned()))
        }
    }
}

/// What a message's prefix may say of its sender ([`crate::channel::DeliverReply::prefix`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixVars {
    /// `provider/model` of the model that answered.
    pub model_full: Option<String>,
    /// The run's thinking level.
    pub thinking: Option<String>,
    /// The agent's `identity.name`.
    pub identity_name: Option<String>,
    /// A message not written by a run (an operator's `send`): the prefix is left off when
    /// a variable stays unfilled (OpenClaw's message action does the same).
    pub strict: bool,
}

/// `gpt-5.4` of `openai/gpt-5.4-latest`, `claude-opus-4-6` of
/// `anthropic/claude-opus-4-6-20260205` (OpenClaw's `extractShortModelName`).
pub fn short_model(full: &str) -> &str {
    let name = full.rsplit('/').next().unwrap_or(full);
    let name = match name.rsplit_once('-') {
        Some((head, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => name,
    };
    name.strip_suffix("-latest").unwrap_or(name)
}

/// The prefix as `vars` fill it; `None`: no prefix.
pub fn render(prefix: &ResponsePrefix, vars: &PrefixVars) -> Option<String> {
    let template = match prefix {
        ResponsePrefix::Auto => {
            let name = vars.identity_name.as_deref().map(str::trim)?;
            return (!name.is_empty()).then(|| format!("[{name}]"));
        }
        ResponsePrefix::Template(t) => t,
    };
    let mut out = String::with_capacity(template.len() + 16);
    let mut unfilled = false;
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphanumeric() || (i > 0 && c == '.'))
                    || (i == 0 && !c.is_ascii_alphabetic())
            })
            .map_or(after.len(), |(i, _)| i);
        if name_len == 0 || !after[name_len..].starts_with('}') {
            // Not a variable: the brace stays.
            out.push('{');
            rest = after;
            continue;
        }
        let name = &after[..name_len];
        let value = match name.to_ascii_lowercase().as_str() {
            "model" => vars.model_full.as_deref().map(short_model),
            "modelfull" => vars.model_full.as_deref(),
            "provider" => vars
                .model_full
                .as_deref()
                .and_then(|m| m.split_once('/'))
                .map(|(p, _)| p),
            "thinkinglevel" | "think" => vars.thinking.as_deref(),
            "identity.name" | "identityname" => vars
                .identity_name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()),
            _ => None,
        };
        match value {
            Some(v) => out.push_str(v),
            None => {
                unfilled = true;
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
        }
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    if (unfilled && vars.strict) || out.trim().is_empty() {
        return None;
    }
    Some(out)
}

/// `text` with the prefix before it, or `None` when it stays as it is (no prefix, no text,
/// a heartbeat's `HEARTBEAT_OK`, or the prefix there already).
pub fn apply(
    prefix: Option<&ResponsePrefix>,
    vars: Option<&PrefixVars>,
    text: &str,
) -> Option<String> {
    let (prefix, vars) = (prefix?, vars?);
    if text.trim().is_empty() || text.trim() == "HEARTBEAT_OK" {
        return None;
    }
    let p = render(prefix, vars)?;
    (!text.starts_with(&p)).then(|| format!("{p} {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> PrefixVars {
        PrefixVars {
            model_full: Some("anthropic/claude-opus-4-6-20260205".into()),
            thinking: Some("high".into()),
            identity_name: Some(" Claw ".into()),
            strict: false,
        }
    }

    #[test]
    fn settings_parse_as_openclaw_reads_them() {
        assert_eq!(ResponsePrefix::parse(""), None);
        assert_eq!(ResponsePrefix::parse("  "), None);
        assert_eq!(ResponsePrefix::parse("auto"), Some(ResponsePrefix::Auto));
        assert_eq!(
            ResponsePrefix::parse("🦞"),
            Some(ResponsePrefix::Template("🦞".into()))
        );
    }

    #[test]
    fn short_model_names_drop_the_provider_date_and_latest() {
        assert_eq!(short_model("openai/gpt-5.4-latest"), "gpt-5.4");
        assert_eq!(
            short_model("anthropic/claude-opus-4-6-20260205"),
            "claude-opus-4-6"
        );
        assert_eq!(short_model("a/b/c-1"), "c-1");
        assert_eq!(short_model("model-2026"), "model-2026");
        assert_eq!(short_model(""), "");
    }

    #[test]
    fn templates_fill_known_variables_in_any_case_and_keep_the_rest() {
        let t = |s: &str| render(&ResponsePrefix::Template(s.into()), &vars());
        assert_eq!(
            t("[{MODEL} | {modelFull} | {Provider} | think:{think} | {thinkingLevel}]").as_deref(),
            Some(
                "[claude-opus-4-6 | anthropic/claude-opus-4-6-20260205 | anthropic | think:high | high]"
            )
        );
        assert_eq!(t("{identity.name}:").as_deref(), Some("Claw:"));
        assert_eq!(t("{IdentityName}").as_deref(), Some("Claw"));
        assert_eq!(
            t("{nope} {} {1x} {a b} {").as_deref(),
            Some("{nope} {} {1x} {a b} {")
        );
        assert_eq!(t("🦞").as_deref(), Some("🦞"));
        let strict = PrefixVars {
            strict: true,
            model_full: None,
            ..vars()
        };
        let s = |x: &str| render(&ResponsePrefix::Template(x.into()), &strict);
        assert_eq!(s("[{model}]"), None, "a variable left unfilled: no prefix");
        assert_eq!(s("[{identity.name}]").as_deref(), Some("[Claw]"));
    }

    #[test]
    fn auto_is_the_identity_name_in_brackets_or_nothing() {
        assert_eq!(
            render(&ResponsePrefix::Auto, &vars()).as_deref(),
            Some("[Claw]")
        );
        let nameless = PrefixVars {
            identity_name: Some("  ".into()),
            ..vars()
        };
        assert_eq!(render(&ResponsePrefix::Auto, &nameless), None);
        assert_eq!(render(&ResponsePrefix::Auto, &PrefixVars::default()), None);
    }

    #[test]
    fn applied_with_a_space_once_and_never_to_nothing() {
        let p = ResponsePrefix::Template("🦞".into());
        let v = vars();
        assert_eq!(
            apply(Some(&p), Some(&v), "hello").as_deref(),
            Some("🦞 hello")
        );
        assert_eq!(apply(Some(&p), Some(&v), "🦞 already"), None);
        assert_eq!(apply(Some(&p), Some(&v), "  "), None);
        assert_eq!(apply(Some(&p), Some(&v), " HEARTBEAT_OK "), None);
        assert_eq!(apply(None, Some(&v), "hello"), None);
        assert_eq!(apply(Some(&p), None, "hello"), None, "not an answer");
    }

    #[test]
    fn any_text_renders_without_panicking() {
        for t in [
            "{",
            "}",
            "{{model}}",
            "{model",
            "{é}",
            "{mödel}",
            "{a.}",
            "{.a}",
            "\u{0}{model}\u{202e}",
            "{identity..name}",
        ] {
            let _ = render(&ResponsePrefix::Template(t.into()), &vars());
        }
        assert_eq!(
            render(&ResponsePrefix::Template("{{model}}".into()), &vars()).as_deref(),
            Some("{claude-opus-4-6}")
        );
    }
}
