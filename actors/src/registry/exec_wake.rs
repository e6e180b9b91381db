//! The end of a background `exec` command (`tools.exec.notifyOnExit`): OpenClaw's
//! completion event, and the agent turn it wakes in the session that started the command,
//! so the user hears how it went without writing first.
//!
//! The event (`Exec completed (<id>, code 0) :: <last output>`, `Exec failed (<id>, code
//! 2) :: …`) is queued as a system event of the session; a user message that comes first
//! sees it as a `System:` line, and then no turn is woken for it. Otherwise a turn runs in
//! that session with OpenClaw's completion prompt (queued behind a run already there), and
//! its answer goes to the session's chat.
//!
//! Per session, as OpenClaw: at least [`MIN_GAP_MS`] between woken turns and at most
//! [`FLOOD_STARTS`] in [`FLOOD_WINDOW_MS`]; events arriving meanwhile are coalesced into
//! the next one.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use actix::prelude::*;

use super::Registry;
use super::runs::{EnqueueSystemEvent, MAX_SESSIONS_WITH_EVENTS};
use crate::util::now_ms;

/// Least time between two woken turns of one session.
pub const MIN_GAP_MS: u64 = 30_000;
/// Most woken turns of one session in [`FLOOD_WINDOW_MS`].
pub const FLOOD_STARTS: usize = 5;
/// The flood guard's window.
pub const FLOOD_WINDOW_MS: u64 = 60_000;
/// Most characters of completion events put into one prompt (OpenClaw's).
pub const MAX_PROMPT_EVENT_CHARS: usize = 8_000;

/// Wake state per session.
#[derive(Default)]
pub struct ExecWakes(HashMap<String, Wake>);

#[derive(Default)]
struct Wake {
    /// A wake is due (a timer is set).
    scheduled: bool,
    /// When the last woken turns started (at most [`FLOOD_STARTS`]).
    starts: VecDeque<u64>,
}

/// How long to wait before waking a session whose last woken turns started at `starts`.
pub fn wake_delay(starts: &VecDeque<u64>, now: u64) -> u64 {
    let gap = starts
        .back()
        .map_or(0, |last| (last + MIN_GAP_MS).saturating_sub(now));
    let recent: Vec<u64> = starts
        .iter()
        .copied()
        .filter(|s| now.saturating_sub(*s) < FLOOD_WINDOW_MS)
        .collect();
    let flood = if recent.len() >= FLOOD_STARTS {
        (recent[recent.len() - FLOOD_STARTS] + FLOOD_WINDOW_MS).saturating_sub(now)
    } else {
        0
    };
    gap.max(flood)
}

/// A completion event (as [`crate::exec_tool`] writes them).
pub fn is_completion(event: &str) -> bool {
    event.starts_with("Exec completed (") || event.starts_with("Exec failed (")
}

/// OpenClaw's completion prompt for `events`.
pub fn completion_prompt(events: &[String]) -> String {
    let missing_output = events.iter().any(|e| !e.contains(" :: "));
    let mut text = events.join("\n");
    if text.chars().count() > MAX_PROMPT_EVENT_CHARS {
        text = text.chars().take(MAX_PROMPT_EVENT_CHARS).collect();
        text.push_str("\n\n[truncated]");
    }
    if missing_output {
        return format!(
            "An async command you ran earlier completed without captured stdout/stderr. The completion details are:\n\n{text}\n\nTell the user the command completed without captured output and include the exit status or signal. Do not ask the user to provide missing logs, and do not try to retrieve logs from an exec/session id."
        );
    }
    format!(
        "An async command you ran earlier has completed. The command completion details are:\n\n{text}\n\nPlease relay the command output to the user in a helpful way. If the command succeeded, share the relevant output. If it failed, explain what went wrong."
    )
}

/// A background command of `session_key` ended: queue `text` as its system event and wake
/// the session (see the module docs).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExecCompleted {
    /// The session that started the command.
    pub session_key: String,
    /// The completion event.
    pub text: String,
}

impl Handler<ExecCompleted> for Registry {
    type Result = ();

    fn handle(&mut self, msg: ExecCompleted, ctx: &mut Self::Context) {
        let key = msg.session_key.clone();
        if let Err(e) = <Self as Handler<EnqueueSystemEvent>>::handle(
            self,
            EnqueueSystemEvent {
                session_key: msg.session_key,
                text: msg.text,
            },
            ctx,
        ) {
            log::warn!("session {key}: a background command's end was not recorded: {e}");
            return;
        }
        let now = now_ms();
        let wakes = &mut self.exec_wakes.0;
        if !wakes.contains_key(&key) && wakes.len() >= MAX_SESSIONS_WITH_EVENTS {
            wakes.retain(|_, w| {
                w.scheduled
                    || w.starts
                        .back()
                        .is_some_and(|s| now.saturating_sub(*s) < FLOOD_WINDOW_MS)
            });
            if wakes.len() >= MAX_SESSIONS_WITH_EVENTS {
                // The event waits for the session's next run.
                return;
            }
        }
        let w = wakes.entry(key.clone()).or_default();
        if w.scheduled {
            return;
        }
        w.scheduled = true;
        let delay = wake_delay(&w.starts, now);
        ctx.run_later(Duration::from_millis(delay), move |act, _| {
            act.wake_for_exec(&key)
        });
    }
}

impl Registry {
    /// Starts the completion turn of `key` if its events are still waiting.
    fn wake_for_exec(&mut self, key: &str) {
        let Some(w) = self.exec_wakes.0.get_mut(key) else {
            return;
        };
        w.scheduled = false;
        let Some(cron) = self.shared.cron.get() else {
            // No scheduler to run the turn: the events wait for the session's next run.
            return;
        };
        let Some(queue) = self.pending_events.get_mut(key) else {
            return;
        };
        let (events, rest): (Vec<String>, Vec<String>) =
            queue.drain(..).partition(|e| is_completion(e));
        *queue = rest;
        if queue.is_empty() {
            self.pending_events.remove(key);
        }
        if events.is_empty() {
            // A run of the session has seen them already.
            return;
        }
        w.starts.push_back(now_ms());
        while w.starts.len() > FLOOD_STARTS {
            w.starts.pop_front();
        }
        cron.0.do_send(crate::cron::CronWake {
            now: true,
            text: completion_prompt(&events),
            session_key: Some(key.to_owned()),
            prompt: true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn woken_turns_are_spaced_and_floods_wait() {
        let now = 1_000_000;
        assert_eq!(wake_delay(&VecDeque::new(), now), 0);
        assert_eq!(wake_delay(&VecDeque::from([now - 10_000]), now), 20_000);
        assert_eq!(wake_delay(&VecDeque::from([now - 31_000]), now), 0);
        // Five starts in the last minute (the gap rule alone would allow one now).
        let starts = VecDeque::from([
            now - 59_000,
            now - 58_000,
            now - 57_000,
            now - 56_000,
            now - 40_000,
        ]);
        assert_eq!(wake_delay(&starts, now), 1_000);
    }

    #[test]
    fn the_prompt_is_openclaws() {
        let p = completion_prompt(&["Exec completed (abc, code 0) :: done".to_owned()]);
        assert!(p.starts_with("An async command you ran earlier has completed."));
        assert!(p.contains("\n\nExec completed (abc, code 0) :: done\n\n"));
        let p = completion_prompt(&["Exec failed (abc, signal SIGKILL)".to_owned()]);
        assert!(p.contains("without captured stdout/stderr"));
        let long = vec![format!("Exec failed (x, code 1) :: {}", "y".repeat(9000))];
        assert!(completion_prompt(&long).contains("[truncated]"));
        assert!(is_completion("Exec failed (x, code 1)") && !is_completion("System: hi"));
    }
}
