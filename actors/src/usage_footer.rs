//! OpenClaw's per-reply usage footer (`/usage off|tokens|full`, `messages.responseUsage`):
//! a chat's replies can end with `Usage: 1.2k in / 340 out`, and with `full` the estimated
//! cost (` · est $0.0042`) when the model has rates. A chat's own choice is kept in its
//! session (`responseUsage`, kept across `/new`); unset, the configured default for its
//! channel applies, then off.

use std::collections::HashMap;

use crate::ports::Usage;

/// What a reply shows of its usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FooterMode {
    /// Nothing.
    #[default]
    Off,
    /// Tokens in and out (and the prompt cache's).
    Tokens,
    /// Tokens and the estimated cost.
    Full,
}

impl FooterMode {
    /// OpenClaw's names (`on`: its legacy alias of `tokens`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "tokens" | "on" => Some(Self::Tokens),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Tokens => "tokens",
            Self::Full => "full",
        }
    }

    /// `/usage` without a word: off → tokens → full → off.
    pub fn next(self) -> Self {
        match self {
            Self::Off => Self::Tokens,
            Self::Tokens => Self::Full,
            Self::Full => Self::Off,
        }
    }
}

/// `messages.responseUsage`: one mode, or one per channel with a `default`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseUsage {
    /// The mode of channels not listed (`None`: off).
    pub default: Option<FooterMode>,
    /// Per channel id (lowercase).
    pub by_channel: HashMap<String, FooterMode>,
}

impl ResponseUsage {
    /// From the config value: `"tokens"`, or `{"default": "off", "telegram": "full"}`;
    /// `Err` names the key and the fix.
    pub fn from_config(v: &serde_json::Value) -> Result<Self, String> {
        let bad = |what: &str| {
            format!(
                "messages.responseUsage{what} is not a usage mode. Fix: use \"off\", \"tokens\" or \"full\" (or a map of channel ids to them, with \"default\")"
            )
        };
        let mode = |v: &serde_json::Value, what: &str| {
            v.as_str()
                .and_then(FooterMode::parse)
                .ok_or_else(|| bad(what))
        };
        match v {
            serde_json::Value::Null => Ok(Self::default()),
            serde_json::Value::String(_) => Ok(Self {
                default: Some(mode(v, "")?),
                by_channel: HashMap::new(),
            }),
            serde_json::Value::Object(m) => {
                let mut out = Self::default();
                for (k, v) in m {
                    let what = format!(".{}", k.chars().take(40).collect::<String>());
                    let k = k.trim().to_ascii_lowercase();
                    if k == "default" {
                        out.default = Some(mode(v, &what)?);
                    } else {
                        out.by_channel.insert(k, mode(v, &what)?);
                    }
                }
                Ok(out)
            }
            _ => Err(bad("")),
        }
    }

    /// The mode of a chat on `channel` whose session chose `own` (its choice wins, an
    /// explicit `off` too).
    pub fn resolve(&self, own: Option<FooterMode>, channel: &str) -> FooterMode {
        own.or_else(|| self.by_channel.get(channel).copied())
            .or(self.default)
            .unwrap_or_default()
    }
}

/// OpenClaw's compact token count (`formatTokenCount`): `950`, `1.2k`, `12k`, `1.5m`; the
/// usage footer, `/status` and the compaction notices show counts this way.
pub fn tokens(n: u64) -> String {
    if n < 1_000 {
        return n.to_string();
    }
    let v = n as f64;
    if n < 1_000_000 {
        let precision = if n >= 10_000 { 0 } else { 1 };
        let thousands = format!("{:.*}", precision, v / 1e3);
        if thousands.parse::<f64>().is_ok_and(|t| t < 1e3) {
            return format!("{thousands}k");
        }
    }
    format!("{:.1}m", v / 1e6)
}

/// OpenClaw's US dollars: two decimals from a cent, four below.
pub fn usd(v: f64) -> String {
    if v >= 0.01 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

/// The footer line of a reply whose model calls used `usage` (`None`: nothing to show:
/// the mode is off or the provider reported no tokens).
pub fn line(mode: FooterMode, usage: &Usage) -> Option<String> {
    if mode == FooterMode::Off || usage.calls == 0 || usage.total() == 0 {
        return None;
    }
    let mut s = format!(
        "Usage: {} in / {} out",
        tokens(usage.input),
        tokens(usage.output)
    );
    if usage.cache_read > 0 || usage.cache_write > 0 {
        s.push_str(&format!(
            " · cache {} cached / {} new",
            tokens(usage.cache_read),
            tokens(usage.cache_write)
        ));
    }
    if mode == FooterMode::Full
        && let Some(cost) = usage.cost.map(|c| c.total()).filter(|c| c.is_finite())
    {
        s.push_str(&format!(" · est {}", usd(cost)));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Cost;
    use serde_json::json;

    #[test]
    fn token_counts_and_dollars_read_as_openclaws() {
        for (n, s) in [
            (0, "0"),
            (950, "950"),
            (1_000, "1.0k"),
            (1_234, "1.2k"),
            (9_999, "10.0k"),
            (12_345, "12k"),
            (999_499, "999k"),
            (999_999, "1.0m"),
            (1_500_000, "1.5m"),
        ] {
            assert_eq!(tokens(n), s, "{n}");
        }
        assert_eq!(usd(0.0042), "$0.0042");
        assert_eq!(usd(0.01), "$0.01");
        assert_eq!(usd(1.236), "$1.24");
        assert_eq!(usd(0.0), "$0.0000");
    }

    #[test]
    fn the_line_shows_tokens_the_cache_and_with_full_the_cost() {
        let mut u = Usage {
            input: 1_234,
            output: 340,
            calls: 2,
            ..Usage::default()
        };
        assert_eq!(line(FooterMode::Off, &u), None);
        assert_eq!(
            line(FooterMode::Tokens, &u).as_deref(),
            Some("Usage: 1.2k in / 340 out")
        );
        // No rates: no cost, even with full.
        assert_eq!(
            line(FooterMode::Full, &u).as_deref(),
            Some("Usage: 1.2k in / 340 out")
        );
        u.cache_read = 20_000;
        u.cost = Some(Cost {
            input: 0.003,
            output: 0.001,
            cache_read: 0.0002,
            cache_write: 0.0,
        });
        assert_eq!(
            line(FooterMode::Full, &u).as_deref(),
            Some("Usage: 1.2k in / 340 out · cache 20k cached / 0 new · est $0.0042")
        );
        assert_eq!(
            line(FooterMode::Tokens, &u).as_deref(),
            Some("Usage: 1.2k in / 340 out · cache 20k cached / 0 new")
        );
        // Nothing reported: no line.
        assert_eq!(line(FooterMode::Full, &Usage::default()), None);
    }

    #[test]
    fn the_config_reads_one_mode_or_a_map_and_the_chat_wins() {
        let r = ResponseUsage::from_config(&json!("on")).expect("mode");
        assert_eq!(r.resolve(None, "telegram"), FooterMode::Tokens);
        assert_eq!(
            r.resolve(Some(FooterMode::Off), "telegram"),
            FooterMode::Off,
            "an explicit off wins over the default"
        );
        let r = ResponseUsage::from_config(&json!({"default": "off", "Telegram": "full"}))
            .expect("map");
        assert_eq!(r.resolve(None, "telegram"), FooterMode::Full);
        assert_eq!(r.resolve(None, "webchat"), FooterMode::Off);
        assert_eq!(
            ResponseUsage::from_config(&json!(null)).expect("unset"),
            ResponseUsage::default()
        );
        assert_eq!(ResponseUsage::default().resolve(None, "x"), FooterMode::Off);
        for bad in [json!("loud"), json!(3), json!({"telegram": true})] {
            let e = ResponseUsage::from_config(&bad).expect_err("refused");
            assert!(e.contains("messages.responseUsage"), "{e}");
        }
        assert_eq!(FooterMode::Off.next(), FooterMode::Tokens);
        assert_eq!(FooterMode::Full.next(), FooterMode::Off);
    }
}
