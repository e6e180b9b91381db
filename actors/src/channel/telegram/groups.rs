//! `channels.telegram.groups` (OpenClaw's group allowlist and per-group settings,
//! `docs/channels/telegram/access-control.md`): once the map is set, the bot answers only in
//! the groups it lists (by chat id, or `"*"` for any), each with its own `requireMention`
//! (default `true`), `groupPolicy` (default: the account's), `allowFrom` (the senders an
//! `allowlist` admits; default `groupAllowFrom`, else `allowFrom`) and `enabled`; a forum
//! topic's entry (`topics."<threadId>"`, else `topics."*"`) overrides its group's fields.

use std::collections::HashMap;

use super::GroupPolicy;

/// One group's (or topic's) settings; `None`: inherited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupRule {
    /// `false`: ignored.
    pub enabled: Option<bool>,
    /// Only messages that mention or reply to the bot.
    pub require_mention: Option<bool>,
    /// Who may talk to the bot.
    pub policy: Option<GroupPolicy>,
    /// The senders `allowlist` admits (numeric ids, or `*`).
    pub allow_from: Option<Vec<String>>,
    /// Topic entries by thread id.
    pub topics: HashMap<i64, GroupRule>,
    /// The `"*"` topic entry.
    pub any_topic: Option<Box<GroupRule>>,
}

/// The `groups` map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupRules {
    /// Entries by chat id.
    pub by_chat: HashMap<i64, GroupRule>,
    /// The `"*"` entry.
    pub any: Option<GroupRule>,
}

/// What applies to one group message (borrowed from the rules: nothing is copied per
/// message).
#[derive(Debug, Clone, PartialEq)]
pub struct Admission<'a> {
    /// Whether the group (or topic) is on.
    pub enabled: bool,
    /// Only messages that address the bot start a turn.
    pub require_mention: bool,
    /// Who may talk.
    pub policy: GroupPolicy,
    /// Whom `allowlist` admits.
    pub allow_from: &'a [String],
}

impl GroupRules {
    /// What applies in `chat` (topic `thread`), with the account's defaults; `None` when
    /// the map does not list the group.
    pub fn admission<'a>(
        &'a self,
        chat: i64,
        thread: Option<i64>,
        account_policy: GroupPolicy,
        group_allow_from: &'a [String],
        allow_from: &'a [String],
    ) -> Option<Admission<'a>> {
        let group = self.by_chat.get(&chat).or(self.any.as_ref())?;
        let topic = thread.and_then(|t| group.topics.get(&t).or(group.any_topic.as_deref()));
        // The topic's own field, else its group's.
        let pick = |f: fn(&GroupRule) -> Option<bool>| topic.and_then(f).or_else(|| f(group));
        let senders = topic
            .and_then(|t| t.allow_from.as_ref())
            .or(group.allow_from.as_ref())
            .map_or(
                if group_allow_from.is_empty() {
                    allow_from
                } else {
                    group_allow_from
                },
                Vec::as_slice,
            );
        Some(Admission {
            enabled: pick(|r| r.enabled) != Some(false),
            require_mention: pick(|r| r.require_mention) != Some(false),
            policy: topic
                .and_then(|t| t.policy)
                .or(group.policy)
                .unwrap_or(account_policy),
            allow_from: senders,
        })
    }
}

/// Most mention patterns kept.
pub const MAX_MENTION_PATTERNS: usize = 32;
/// Longest mention pattern accepted (characters).
pub const MAX_MENTION_PATTERN_CHARS: usize = 256;
/// Compiled size bound of one pattern.
const MENTION_REGEX_SIZE: usize = 256 * 1024;

/// `messages.groupChat.mentionPatterns`: regular expressions (case-insensitive) a group
/// message's text may match to count as addressing the bot, besides @mentions and
/// replies (OpenClaw's "regex fallback triggers", e.g. `"\\bclaw\\b"`). Matching is
/// linear in the text (the `regex` crate has no backtracking), so a stranger's message
/// cannot make it slow.
#[derive(Debug, Clone, Default)]
pub struct MentionPatterns(Vec<regex::Regex>);

impl MentionPatterns {
    /// Compiles `patterns`; each one that cannot be used (empty, too long, not a pattern
    /// this engine takes: look-around and back-references are not) is skipped with a
    /// warning in `warnings`, as OpenClaw skips the ones it rejects.
    pub fn compile(patterns: &[String], warnings: &mut Vec<String>) -> Self {
        Self::compile_at("messages.groupChat.mentionPatterns", patterns, warnings)
    }

    /// [`Self::compile`] for the patterns of config key `key` (named in the warnings).
    pub fn compile_at(key: &str, patterns: &[String], warnings: &mut Vec<String>) -> Self {
        let mut out = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            if out.len() >= MAX_MENTION_PATTERNS {
                warnings.push(format!(
                    "{key} has more than {MAX_MENTION_PATTERNS} patterns; the rest are ignored"
                ));
                break;
            }
            let chars = p.chars().count();
            if p.trim().is_empty() || chars > MAX_MENTION_PATTERN_CHARS {
                warnings.push(format!(
                    "{key}[{i}] is empty or longer than {MAX_MENTION_PATTERN_CHARS} characters; it is ignored"
                ));
                continue;
            }
            match regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(MENTION_REGEX_SIZE)
                .build()
            {
                Ok(re) => out.push(re),
                Err(e) => {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or_default().trim().to_owned();
                    warnings.push(format!(
                        "{key}[{i}] is not a pattern openclaw-rs can use ({why}); it is ignored. Fix: write it without look-around or back-references, e.g. \"\\\\bclaw\\\\b\""
                    ));
                }
            }
        }
        Self(out)
    }

    /// Whether `text` (zero-width and direction marks removed) matches one of them.
    pub fn matches(&self, text: &str) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let cleaned: String = text
            .chars()
            .filter(|c| {
                !matches!(*c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}')
            })
            .collect();
        self.0.iter().any(|re| re.is_match(&cleaned))
    }

    /// How many are in use.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `channels.telegram.mentionPatterns` (OpenClaw's scoped policy): in which groups (or
/// forum topics) mention patterns apply at all. @mentions and replies always count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MentionScope {
    /// `mode: "deny"`: off except in `allow_in` (default `allow`: on except in `deny_in`).
    pub deny_mode: bool,
    /// `allowIn`: conversation ids (`<chat>` or `<chat>:topic:<thread>`).
    pub allow_in: Vec<String>,
    /// `denyIn` (wins over `allowIn`).
    pub deny_in: Vec<String>,
}

impl MentionScope {
    /// Whether patterns apply in `chat` (in forum topic `thread`: the conversation id
    /// `<chat>:topic:<thread>`, else `<chat>`).
    pub fn enabled(&self, chat: i64, thread: Option<i64>) -> bool {
        if !self.deny_mode && self.deny_in.is_empty() {
            return true;
        }
        let conversation = match thread {
            Some(t) => format!("{chat}:topic:{t}"),
            None => chat.to_string(),
        };
        let denied = self.deny_in.contains(&conversation);
        if self.deny_mode {
            !denied && self.allow_in.contains(&conversation)
        } else {
            !denied
        }
    }
}

/// The characters of a name's words (OpenClaw's `NAME_TOKEN_CHARS`): letters, digits,
/// connector punctuation and combining marks.
const WORD: &str = r"\p{L}\p{N}\p{Pc}\p{M}";

/// Whether `c` may be left out of a name as written in a chat (OpenClaw's decorations:
/// spaces, symbols such as emoji, marks, zero-width and direction characters).
fn decoration(c: char) -> bool {
    static SYMBOL: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^[\p{So}\p{Sk}\p{M}\s]$").ok());
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{fe0f}' | '\u{1f3fb}'..='\u{1f3ff}')
        || SYMBOL
            .as_ref()
            .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4])))
}

/// Whether `c` belongs to a word of a name.
fn word_char(c: char) -> bool {
    static W: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(&format!("^[{WORD}]$")).ok());
    W.as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4])))
}

/// The mention patterns OpenClaw derives from an agent's identity when none are configured
/// (`deriveMentionPatterns`): its `name` as a word of its own, in any case (an emoji or a
/// symbol around or inside the name may be left out; spaces may be any spaces), and its
/// `emoji` anywhere. Either may be absent; a name of symbols alone is matched as written.
/// The patterns are this engine's (no look-around: the characters around the name are
/// matched, which is the same for deciding whether a message names it).
pub fn derived_mention_patterns(name: Option<&str>, emoji: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let strip = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(*c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}'))
            .collect()
    };
    if let Some(name) = name.map(strip).filter(|n| !n.trim().is_empty()) {
        let name = name.trim();
        if name.chars().any(word_char) {
            // Runs of word characters and of the rest, the decorations at either end left
            // out.
            let mut runs: Vec<(bool, String)> = Vec::new();
            for c in name.chars() {
                let w = word_char(c);
                match runs.last_mut() {
                    Some((kind, run)) if *kind == w => run.push(c),
                    _ => runs.push((w, c.to_string())),
                }
            }
            let first = runs.iter().position(|(w, _)| *w).unwrap_or(0);
            let last = runs.iter().rposition(|(w, _)| *w).unwrap_or(0);
            let mut core = String::new();
            for (w, run) in &runs[first..=last] {
                if *w {
                    core.push_str(&regex::escape(run));
                } else if run.chars().all(decoration) {
                    // Spaces and emoji between words: any spaces, the emoji optional.
                    let shown: String = run.chars().filter(|c| !c.is_whitespace()).collect();
                    if shown.is_empty() {
                        core.push_str(r"\s+");
                    } else {
                        core.push_str(&format!(r"(?:\s*{}\s*|\s+)", regex::escape(&shown)));
                    }
                } else {
                    // A separator that is part of the name (`R2-D2`, `Dr. Who`).
                    let parts: Vec<String> = run.split_whitespace().map(regex::escape).collect();
                    let mut sep = parts.join(r"\s+");
                    if run.starts_with(char::is_whitespace) {
                        sep.insert_str(0, r"\s+");
                    }
                    if run.ends_with(char::is_whitespace) {
                        sep.push_str(r"\s+");
                    }
                    core.push_str(&sep);
                }
            }
            out.push(format!("(?:^|[^{WORD}]){core}(?:$|[^{WORD}])"));
        } else {
            out.push(regex::escape(name));
        }
    }
    if let Some(e) = emoji
        .map(strip)
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
    {
        out.push(regex::escape(&e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_turns_patterns_on_and_off_per_conversation() {
        let s = |deny_mode: bool, allow: &[&str], deny: &[&str]| MentionScope {
            deny_mode,
            allow_in: ids(allow),
            deny_in: ids(deny),
        };
        assert!(MentionScope::default().enabled(-1, None));
        let allow = s(false, &[], &["-1", "-2:topic:3"]);
        assert!(!allow.enabled(-1, None) && !allow.enabled(-2, Some(3)));
        assert!(allow.enabled(-2, None) && allow.enabled(-1, Some(3)));
        let deny = s(true, &["-1", "-2"], &["-2"]);
        assert!(deny.enabled(-1, None));
        assert!(!deny.enabled(-2, None), "denyIn wins");
        assert!(!deny.enabled(-3, None) && !deny.enabled(-1, Some(1)));
    }

    #[test]
    fn patterns_derived_from_a_name_match_it_as_a_word_in_any_case() {
        let compiled = |name: Option<&str>, emoji: Option<&str>| {
            let mut w = Vec::new();
            let p = MentionPatterns::compile(&derived_mention_patterns(name, emoji), &mut w);
            assert!(w.is_empty(), "{w:?}");
            p
        };
        let clawd = compiled(Some("Clawd"), Some("🦞"));
        for yes in [
            "Clawd, what's up?",
            "hey clawd",
            "@Clawd help",
            "(CLAWD)",
            "ok 🦞",
            "clawd",
        ] {
            assert!(clawd.matches(yes), "{yes}");
        }
        for no in ["clawdia is here", "myclawd", "claw d", "", "🦀"] {
            assert!(!clawd.matches(no), "{no}");
        }
        let droid = compiled(Some("R2-D2"), None);
        assert!(droid.matches("where is r2-d2?"));
        assert!(!droid.matches("r2 d2"));
        let decorated = compiled(Some("🦞 Molty ✨ Bot"), None);
        for yes in ["hi molty bot", "molty ✨ bot!", "MOLTY  BOT"] {
            assert!(decorated.matches(yes), "{yes}");
        }
        assert!(!decorated.matches("molty"));
        let spaced = compiled(Some("Dr. Who"), None);
        assert!(spaced.matches("ask dr.  who"));
        assert!(!spaced.matches("ask drx who"));
        // Names that are patterns of their own are matched as written; hostile ones are
        // bounded and never a panic.
        let meta = compiled(Some("a+b(c"), None);
        assert!(meta.matches("is a+b(c here"));
        assert!(!meta.matches("aab(c"));
        let symbols = compiled(Some("★★"), None);
        assert!(symbols.matches("x★★y"));
        assert!(derived_mention_patterns(Some(" \u{202e} "), Some("")).is_empty());
        assert!(derived_mention_patterns(None, None).is_empty());
        let mut w = Vec::new();
        let long = MentionPatterns::compile(
            &derived_mention_patterns(Some(&"x".repeat(10_000)), None),
            &mut w,
        );
        assert!(long.is_empty() && w.len() == 1, "{w:?}");
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn mention_patterns_match_case_insensitively_and_bad_ones_are_skipped() {
        let mut w = Vec::new();
        let p = MentionPatterns::compile(
            &ids(&[r"\bclaw\b", "(?<=x)y", "", "клоу", &"a".repeat(300)]),
            &mut w,
        );
        assert_eq!(p.len(), 2, "{w:?}");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("mentionPatterns[1]") && w[0].contains("Fix:"),
            "{w:?}"
        );
        assert!(p.matches("Hey CLAW, what's up?"));
        assert!(p.matches("cl\u{200b}aw are you there"));
        assert!(p.matches("Привет, КЛОУ"));
        assert!(!p.matches("clawed"));
        assert!(!MentionPatterns::default().matches("claw"));
        // The classic catastrophic pattern and text: a backtracking engine would not
        // finish; this one answers (no match) in linear time.
        let hostile = "a".repeat(200_000) + "!";
        let slow = MentionPatterns::compile(&ids(&["(a+)+$"]), &mut w);
        assert!(!slow.matches(&hostile));
        assert!(slow.matches("aaa"));
    }

    #[test]
    fn a_group_entry_then_its_topic_decide_with_the_account_defaults_below() {
        let mut group = GroupRule {
            require_mention: Some(false),
            allow_from: Some(ids(&["7"])),
            ..Default::default()
        };
        group.topics.insert(
            42,
            GroupRule {
                require_mention: Some(true),
                policy: Some(GroupPolicy::Open),
                ..Default::default()
            },
        );
        group.any_topic = Some(Box::new(GroupRule {
            enabled: Some(false),
            ..Default::default()
        }));
        let mut rules = GroupRules::default();
        rules.by_chat.insert(-100, group);
        let account = (GroupPolicy::Allowlist, ids(&["9"]), ids(&["1"]));
        let at = |chat, thread| rules.admission(chat, thread, account.0, &account.1, &account.2);

        let g = at(-100, None).expect("listed");
        assert!(g.enabled && !g.require_mention);
        assert_eq!(
            (g.policy, g.allow_from),
            (GroupPolicy::Allowlist, &ids(&["7"])[..])
        );
        let t = at(-100, Some(42)).expect("listed");
        assert!(t.enabled && t.require_mention);
        assert_eq!(
            (t.policy, t.allow_from),
            (GroupPolicy::Open, &ids(&["7"])[..])
        );
        assert!(
            !at(-100, Some(5)).expect("listed").enabled,
            "topics.* is off"
        );
        assert_eq!(at(-200, None), None, "not listed, no \"*\"");

        rules.any = Some(GroupRule::default());
        let any = rules
            .admission(-200, None, account.0, &account.1, &account.2)
            .expect("\"*\"");
        assert!(any.enabled && any.require_mention);
        assert_eq!(any.allow_from, ids(&["9"]), "groupAllowFrom first");
        let one = ids(&["1"]);
        let no_group_list = rules.admission(-200, None, GroupPolicy::Open, &[], &one);
        assert_eq!(
            no_group_list.map(|a| a.allow_from),
            Some(&one[..]),
            "then allowFrom"
        );
    }
}
