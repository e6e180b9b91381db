//! Server-Sent Events, as the chat-model clients read a streamed answer: [`SseParser`] cuts
//! the body into events as its bytes arrive, and a provider's [`Fold`] turns each event's
//! data into text pieces and, at the end, the whole answer (driven by
//! [`super::retry::send_streaming`]).
//!
//! Lines end with `\n` (a `\r` before it is dropped); `data:` lines (one space after the
//! colon dropped) make an event's data, several joined with `\n`; a blank line ends the
//! event; `event:`, `id:`, `retry:`, other fields and `:` comments are ignored. Every buffer
//! is bounded: a line longer than [`MAX_LINE`] or an event's data beyond
//! [`MAX_BODY`](super::MAX_BODY) is an error, as is more than `MAX_BODY` bytes of text and
//! tool arguments in one answer ([`grow`]).

use super::MAX_BODY;
use super::retry::Failure;
use crate::actors::ports::{ChatResponse, ModelError};

/// Longest line accepted in an event stream.
pub(crate) const MAX_LINE: usize = 1024 * 1024;

/// An incremental Server-Sent Events parser: bytes in, events' data out.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The current line so far (its end not seen yet).
    line: Vec<u8>,
    /// The current event's data.
    data: String,
    /// Whether the current event has a `data:` line (an empty one included).
    has_data: bool,
    /// Whether a line was seen (a byte order mark is dropped before the first).
    started: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the stream; the data of every event they complete is pushed
    /// to `out`, in order. `Err` when a line or an event is too long.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<String>) -> Result<(), String> {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = bytes.split_at(end);
            bytes = &rest[1..];
            if self.line.is_empty() {
                self.check_line(head.len())?;
                self.line_done(head, out)?;
            } else {
                self.check_line(self.line.len() + head.len())?;
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.line_done(&line, out)?;
                line.clear();
                self.line = line;
            }
        }
        self.check_line(self.line.len() + bytes.len())?;
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// The end of the stream: the data of an event left unterminated (its last line
    /// included), if any.
    pub(crate) fn finish(&mut self) -> Result<Option<String>, String> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut out)?;
        }
        self.line_done(b"", &mut out)?;
        Ok(out.pop())
    }

    fn check_line(&self, len: usize) -> Result<(), String> {
        if len > MAX_LINE {
            Err(format!("a stream line longer than {MAX_LINE} bytes"))
        } else {
            Ok(())
        }
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<String>) -> Result<(), String> {
        let mut line = line.strip_suffix(b"\r").unwrap_or(line);
        if !self.started {
            self.started = true;
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            if std::mem::take(&mut self.has_data) {
                out.push(std::mem::take(&mut self.data));
            }
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        if field != b"data" {
            return Ok(());
        }
        if self.data.len() + value.len() + 1 > MAX_BODY {
            return Err(format!("a stream event larger than {MAX_BODY} bytes"));
        }
        if self.has_data {
            self.data.push('\n');
        }
        self.data.push_str(&String::from_utf8_lossy(value));
        self.has_data = true;
        Ok(())
    }
}

/// Whether an event stream continues after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// More events to come.
    More,
    /// The provider's end marker (`[DONE]`, `message_stop`).
    Done,
}

/// A provider's reading of its event stream: each event's data in turn, then the answer.
pub(crate) trait Fold {
    /// Takes one event's `data`, handing its text pieces (never empty) to `text`. A
    /// [`Failure`] ends the attempt (the provider's `error` event, an unreadable event).
    fn event(&mut self, data: &str, text: &dyn Fn(&str)) -> Result<Step, Failure>;
    /// Whether the answer got its finish reason (a stream cut after it is complete).
    fn finished(&self) -> bool;
    /// The whole answer, as the non-streaming request would have given it (`Err`: why it
    /// cannot be one).
    fn answer(self) -> Result<ChatResponse, String>;
}

/// Adds `n` bytes to an answer's streamed `size` (text and tool arguments): a fatal
/// [`ModelError::BadResponse`] beyond [`MAX_BODY`].
pub(crate) fn grow(size: &mut usize, n: usize) -> Result<(), Failure> {
    *size = size.saturating_add(n);
    if *size > MAX_BODY {
        Err(Failure::Fatal(ModelError::BadResponse(format!(
            "streamed answer larger than {MAX_BODY} bytes"
        ))))
    } else {
        Ok(())
    }
}

/// An unreadable event: a fatal [`ModelError::BadResponse`] quoting its start.
pub(crate) fn bad_event(data: &str, why: impl std::fmt::Display) -> Failure {
    Failure::Fatal(ModelError::BadResponse(format!(
        "unreadable stream event ({why}): {:?}",
        super::truncate(data, 200)
    )))
}

/// Which provider's stream [`fold_chunks`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamApi {
    /// OpenAI chat-completion chunks.
    OpenAi,
    /// Anthropic Messages events.
    Anthropic,
    /// OpenAI Responses events.
    OpenAiResponses,
}

/// Reads a whole streamed body, given as the `chunks` it arrived in, exactly as the clients
/// do (the parser, then the provider's fold): the answer (`None`: the stream ended early),
/// or why it is unreadable; `pieces` gets the text pieces. For the fuzz target.
pub fn fold_chunks(
    api: StreamApi,
    chunks: &[&[u8]],
    pieces: &mut Vec<String>,
) -> Result<Option<ChatResponse>, String> {
    match api {
        StreamApi::OpenAi => run_fold(super::openai::StreamFold::default(), chunks, pieces),
        StreamApi::Anthropic => run_fold(super::anthropic::StreamFold::default(), chunks, pieces),
        StreamApi::OpenAiResponses => run_fold(
            super::openai_responses::StreamFold::default(),
            chunks,
            pieces,
        ),
    }
}

fn run_fold<F: Fold>(
    mut fold: F,
    chunks: &[&[u8]],
    pieces: &mut Vec<String>,
) -> Result<Option<ChatResponse>, String> {
    let collected = std::cell::RefCell::new(Vec::new());
    let text = |t: &str| collected.borrow_mut().push(t.to_owned());
    let failure = |f: Failure| match f {
        Failure::Retry(e, _) | Failure::Fatal(e) => e.to_string(),
    };
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut done = false;
    'chunks: for c in chunks {
        parser.feed(c, &mut events)?;
        for data in events.drain(..) {
            if fold.event(&data, &text).map_err(failure)? == Step::Done {
                done = true;
                break 'chunks;
            }
        }
    }
    if !done && let Some(data) = parser.finish()? {
        done = fold.event(&data, &text).map_err(failure)? == Step::Done;
    }
    pieces.extend(collected.into_inner());
    if !done && !fold.finished() {
        return Ok(None);
    }
    fold.answer().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by the `model_stream` fuzz target): a text delta under an index
    /// that a later block takes over was shown to operators but missing from the answer.
    #[test]
    fn shown_text_is_the_answer_even_for_a_reused_block_index() {
        let body = concat!(
            "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi é\"}}\n\n",
            "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"nodes\",\"input\":{}}}\n\n",
            "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        let mut pieces = Vec::new();
        let resp = fold_chunks(StreamApi::Anthropic, &[body.as_bytes()], &mut pieces)
            .unwrap()
            .unwrap();
        assert_eq!(pieces, ["Hi é", " there"]);
        assert_eq!(resp.message.content.as_deref(), Some("Hi é there"));
        assert_eq!(resp.message.tool_calls.map(|c| c.len()), Some(1));
    }

    /// Every event of `chunks` fed in turn, then the end.
    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).expect("parses");
        }
        out.extend(p.finish().expect("ends"));
        out
    }

    #[test]
    fn events_split_anywhere_give_the_same_data() {
        let stream = "event: a\ndata: {\"x\":1}\n\n: keep-alive\n\ndata:no-space\r\n\r\nid: 7\nretry: 100\ndata: é✓\n\n";
        let whole = events(&[stream.as_bytes()]);
        assert_eq!(whole, ["{\"x\":1}", "no-space", "é✓"]);
        // Byte by byte (a multi-byte character cut in two included).
        let bytes: Vec<&[u8]> = stream.as_bytes().chunks(1).collect();
        assert_eq!(events(&bytes), whole);
        let threes: Vec<&[u8]> = stream.as_bytes().chunks(3).collect();
        assert_eq!(events(&threes), whole);
    }

    #[test]
    fn multi_line_data_crlf_and_fields() {
        assert_eq!(
            events(&[b"data: a\r\ndata:  b\r\ndata\r\n\r\n"]),
            ["a\n b\n"],
            "one space dropped, a bare `data` line is empty"
        );
        // Only comments and other fields: no event.
        assert!(events(&[b": hi\nevent: ping\nid: 1\n\n\n\n"]).is_empty());
        // An empty data line is an (empty) event.
        assert_eq!(events(&[b"data:\n\n"]), [""]);
        // A byte order mark before the first line is dropped.
        assert_eq!(events(&["\u{feff}data: x\n\n".as_bytes()]), ["x"]);
    }

    #[test]
    fn the_end_flushes_an_unterminated_event() {
        assert_eq!(events(&[b"data: [DONE]"]), ["[DONE]"]);
        assert_eq!(events(&[b"data: a\ndata: b\n"]), ["a\nb"]);
        assert!(events(&[b"event: x"]).is_empty());
    }

    #[test]
    fn oversize_lines_are_errors() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let big = vec![b'a'; MAX_LINE / 2 + 1];
        p.feed(b"data: ", &mut out).expect("small");
        p.feed(&big, &mut out).expect("half");
        let e = p.feed(&big, &mut out).expect_err("too long");
        assert!(e.contains("longer than"), "{e}");
        // In one piece too, terminated or not.
        let mut line = vec![b'x'; MAX_LINE + 1];
        assert!(SseParser::new().feed(&line, &mut out).is_err());
        line.push(b'\n');
        assert!(SseParser::new().feed(&line, &mut out).is_err());
        // A line of exactly the bound is fine.
        let mut ok = b"data:".to_vec();
        ok.resize(MAX_LINE, b'y');
        ok.extend_from_slice(b"\n\n");
        let mut p = SseParser::new();
        p.feed(&ok, &mut out).expect("at the bound");
        assert_eq!(out.len(), 1);
        assert!(out.iter().all(|d| d.len() == MAX_LINE - 5));
    }

    #[test]
    fn an_events_data_is_bounded_too() {
        let line = format!("data: {}\n", "z".repeat(MAX_LINE - 10));
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut result = Ok(());
        for _ in 0..(MAX_BODY / MAX_LINE + 2) {
            result = p.feed(line.as_bytes(), &mut out);
            if result.is_err() {
                break;
            }
        }
        assert!(result.is_err_and(|e| e.contains("event larger")));
        assert!(out.is_empty());
    }

    #[test]
    fn grow_bounds_the_answer() {
        let mut size = 0;
        assert!(grow(&mut size, MAX_BODY).is_ok());
        assert!(matches!(
            grow(&mut size, 1),
            Err(Failure::Fatal(ModelError::BadResponse(_)))
        ));
    }
}
