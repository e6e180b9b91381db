//! The `apply_patch` tool's patch format (OpenAI's, as OpenClaw's `apply-patch.ts` reads
//! it) and its update algorithm (`apply-patch-update.ts`), as pure functions on strings:
//! [`parse`] turns the model's `input` into [`Hunk`]s, [`apply_update`] applies an update's
//! chunks to a file's text. The file system side (confinement, the plan, the writes) is in
//! [`super::tools`].
//!
//! ```text
//! *** Begin Patch
//! *** Add File: notes/todo.md
//! +line 1
//! *** Update File: src/app.ts
//! *** Move to: src/main.ts
//! @@ function main() {
//!  context line
//! -old line
//! +new line
//! *** End of File
//! *** Delete File: obsolete.txt
//! *** End Patch
//! ```
//!
//! The patch is the model's, and a chat message can steer the model, so it is hostile
//! input: nothing here panics, every error names the line and what to write instead, and the
//! matching work is bounded ([`Budget`]): a hunk of thousands of identical lines against a
//! file of millions cannot keep a thread busy for minutes.

/// `*** Begin Patch`.
const BEGIN: &str = "*** Begin Patch";
/// `*** End Patch`.
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File:";
const DELETE: &str = "*** Delete File:";
const UPDATE: &str = "*** Update File:";
const MOVE_TO: &str = "*** Move to:";
const EOF_MARKER: &str = "*** End of File";

/// How much of a model-given line an error message repeats (characters).
const ECHO_CHARS: usize = 120;

/// One file operation of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hunk {
    /// `*** Add File: path` and its `+` lines: a new file.
    Add {
        /// As written in the patch.
        path: String,
        /// The lines, each ended by `\n`.
        contents: String,
    },
    /// `*** Delete File: path`.
    Delete {
        /// As written in the patch.
        path: String,
    },
    /// `*** Update File: path`, an optional `*** Move to:`, and its chunks.
    Update {
        /// As written in the patch.
        path: String,
        /// `*** Move to:`.
        move_to: Option<String>,
        /// At least one.
        chunks: Vec<Chunk>,
    },
}

/// One `@@` section of an update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    /// The text after `@@ `: a line to find first (the chunk's lines come after it).
    pub context: Option<String>,
    /// Context and `-` lines: what the file has.
    pub old: Vec<String>,
    /// Context and `+` lines: what it gets.
    pub new: Vec<String>,
    /// For each line of `new`, its index in `old` when it is a context line (a context
    /// line keeps the file's own text, so a whitespace-tolerant match does not rewrite it).
    pub context_old: Vec<Option<usize>>,
    /// `*** End of File`: the lines are at the end of the file.
    pub eof: bool,
}

/// Comparisons of lines [`apply_update`] may still make (one per line pair compared).
#[derive(Debug)]
pub struct Budget(u64);

impl Budget {
    /// A budget of `n` line comparisons.
    pub fn new(n: u64) -> Self {
        Self(n)
    }

    fn spend(&mut self, n: u64) -> Result<(), String> {
        match self.0.checked_sub(n) {
            Some(left) => {
                self.0 = left;
                Ok(())
            }
            None => Err("the patch takes too long to match against the files (too many lines compared); use shorter hunks with a few distinctive context lines, or edit / write".to_owned()),
        }
    }
}

/// Cuts `s` for an error message.
fn echo(s: &str) -> String {
    let mut out: String = s.chars().take(ECHO_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Parses a patch (OpenClaw's lenient reading: surrounding whitespace ignored, a
/// `<<'EOF'` … `EOF` heredoc wrapper taken off, `\r\n` line breaks, the first chunk of an
/// update may leave out its `@@`). At most `max_hunks` file operations.
pub fn parse(input: &str, max_hunks: usize) -> Result<Vec<Hunk>, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("invalid patch: the input is empty; give the whole patch, from \"*** Begin Patch\" to \"*** End Patch\"".to_owned());
    }
    let all: Vec<&str> = trimmed
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let lines = boundaries(&all)?;
    // Between the markers.
    let body = lines.get(1..lines.len().saturating_sub(1)).unwrap_or(&[]);
    let mut hunks = Vec::new();
    let mut at = 0;
    while at < body.len() {
        if hunks.len() >= max_hunks {
            return Err(format!(
                "the patch changes more than {max_hunks} files; split it over several apply_patch calls"
            ));
        }
        // Line numbers count from the patch's first line, which is "*** Begin Patch".
        let (hunk, used) = parse_hunk(&body[at..], at + 2)?;
        hunks.push(hunk);
        at += used;
    }
    if hunks.is_empty() {
        return Err("no files were modified: the patch has no \"*** Add File:\", \"*** Update File:\" or \"*** Delete File:\" section".to_owned());
    }
    Ok(hunks)
}

/// The lines from `*** Begin Patch` to `*** End Patch`, a heredoc wrapper taken off.
fn boundaries<'a, 'b>(lines: &'b [&'a str]) -> Result<&'b [&'a str], String> {
    let strict = |l: &'b [&'a str]| -> Result<&'b [&'a str], String> {
        let first = l.first().map(|s| s.trim());
        let last = l.last().map(|s| s.trim());
        if first != Some(BEGIN) {
            return Err("invalid patch: the first line must be \"*** Begin Patch\"".to_owned());
        }
        if l.len() < 2 || last != Some(END) {
            return Err("invalid patch: the last line must be \"*** End Patch\"".to_owned());
        }
        Ok(l)
    };
    match strict(lines) {
        Ok(l) => Ok(l),
        Err(e) => {
            let first = lines.first().copied().unwrap_or("");
            let last = lines.last().copied().unwrap_or("");
            if lines.len() >= 4
                && matches!(first, "<<EOF" | "<<'EOF'" | "<<\"EOF\"")
                && last.ends_with("EOF")
            {
                strict(&lines[1..lines.len() - 1])
            } else {
                Err(e)
            }
        }
    }
}

/// What follows `marker` (and a space) at the start of `line`, if it does.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(marker)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
}

/// A path after a marker: not empty.
fn marker_path(rest: &str, line_no: usize, marker: &str) -> Result<String, String> {
    let path = rest.trim();
    if path.is_empty() {
        return Err(format!(
            "invalid patch at line {line_no}: \"{marker}\" names no file; write the path after it, e.g. \"{marker} notes.md\""
        ));
    }
    Ok(path.to_owned())
}

/// One file operation at the start of `lines` (`line_no`: the number of `lines[0]`), and
/// how many lines it used.
fn parse_hunk(lines: &[&str], line_no: usize) -> Result<(Hunk, usize), String> {
    let first = lines.first().map(|l| l.trim()).unwrap_or("");
    if let Some(rest) = after(first, ADD) {
        let path = marker_path(rest, line_no, ADD)?;
        let mut contents = String::new();
        let mut used = 1;
        for l in &lines[1..] {
            let Some(text) = l.strip_prefix('+') else {
                break;
            };
            contents.push_str(text);
            contents.push('\n');
            used += 1;
        }
        return Ok((Hunk::Add { path, contents }, used));
    }
    if let Some(rest) = after(first, DELETE) {
        let path = marker_path(rest, line_no, DELETE)?;
        return Ok((Hunk::Delete { path }, 1));
    }
    if let Some(rest) = after(first, UPDATE) {
        let path = marker_path(rest, line_no, UPDATE)?;
        let mut used = 1;
        let mut move_to = None;
        if let Some(rest) = lines.get(1).and_then(|l| after(l.trim(), MOVE_TO)) {
            move_to = Some(marker_path(rest, line_no + 1, MOVE_TO)?);
            used += 1;
        }
        let mut chunks = Vec::new();
        while let Some(l) = lines.get(used) {
            if l.trim().is_empty() {
                used += 1;
                continue;
            }
            if l.starts_with("***") {
                break;
            }
            let (chunk, n) = parse_chunk(&lines[used..], line_no + used, chunks.is_empty())?;
            chunks.push(chunk);
            used += n;
        }
        if chunks.is_empty() {
            return Err(format!(
                "invalid patch at line {line_no}: the update of \"{}\" has no changes; follow it with \"@@\" and lines starting with ' ', '-' or '+'",
                echo(&path)
            ));
        }
        return Ok((
            Hunk::Update {
                path,
                move_to,
                chunks,
            },
            used,
        ));
    }
    Err(format!(
        "invalid patch at line {line_no}: \"{}\" is not a file operation; each starts with \"*** Add File: <path>\", \"*** Update File: <path>\" or \"*** Delete File: <path>\"",
        echo(lines.first().copied().unwrap_or(""))
    ))
}

/// One `@@` chunk at the start of `lines` and how many lines it used. `first`: the update's
/// first chunk, which may leave out its `@@`.
fn parse_chunk(lines: &[&str], line_no: usize, first: bool) -> Result<(Chunk, usize), String> {
    let head = lines.first().copied().unwrap_or("");
    let mut chunk = Chunk::default();
    let start = if head == "@@" {
        1
    } else if let Some(ctx) = head.strip_prefix("@@ ") {
        chunk.context = Some(ctx.to_owned());
        1
    } else if first {
        0
    } else {
        return Err(format!(
            "invalid patch at line {line_no}: expected a \"@@\" line to start the next change, got \"{}\"",
            echo(head)
        ));
    };
    let no_lines = |at: usize| {
        format!(
            "invalid patch at line {}: the change after \"@@\" has no lines; give lines starting with ' ' (context), '-' (removed) or '+' (added)",
            line_no + at
        )
    };
    if start >= lines.len() {
        return Err(no_lines(start));
    }
    let mut parsed = 0;
    for l in &lines[start..] {
        if *l == EOF_MARKER {
            if parsed == 0 {
                return Err(no_lines(start));
            }
            chunk.eof = true;
            parsed += 1;
            break;
        }
        match l.as_bytes().first() {
            None => {
                chunk.context_old.push(Some(chunk.old.len()));
                chunk.old.push(String::new());
                chunk.new.push(String::new());
            }
            Some(b' ') => {
                chunk.context_old.push(Some(chunk.old.len()));
                chunk.old.push(l[1..].to_owned());
                chunk.new.push(l[1..].to_owned());
            }
            Some(b'+') => {
                chunk.context_old.push(None);
                chunk.new.push(l[1..].to_owned());
            }
            Some(b'-') => chunk.old.push(l[1..].to_owned()),
            Some(_) if parsed == 0 => {
                return Err(format!(
                    "invalid patch at line {}: \"{}\" is not a change line; every line of a change starts with ' ' (context), '-' (removed) or '+' (added)",
                    line_no + start,
                    echo(l)
                ));
            }
            Some(_) => break,
        }
        parsed += 1;
    }
    Ok((chunk, start + parsed))
}

/// A line of a file and its ending (`"\n"`, `"\r\n"`, `"\r"`, or `""` for a last line
/// without one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line<'a> {
    text: std::borrow::Cow<'a, str>,
    ending: &'a str,
}

/// A file's lines, its byte-order mark and its usual line ending.
struct Source<'a> {
    bom: &'a str,
    lines: Vec<Line<'a>>,
    preferred: &'a str,
    missing_final_ending: bool,
}

fn split_source(contents: &str) -> Source<'_> {
    let (bom, mut rest) = match contents.strip_prefix('\u{feff}') {
        Some(r) => ("\u{feff}", r),
        None => ("", contents),
    };
    let mut lines = Vec::new();
    while !rest.is_empty() {
        let (text, ending, next) = match rest.find(['\r', '\n']) {
            None => (rest, "", ""),
            Some(i) => {
                let len = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                (&rest[..i], &rest[i..i + len], &rest[i + len..])
            }
        };
        lines.push(Line {
            text: text.into(),
            ending,
        });
        rest = next;
    }
    let preferred = lines
        .iter()
        .map(|l| l.ending)
        .find(|e| !e.is_empty())
        .unwrap_or("\n");
    let missing_final_ending = lines.last().is_some_and(|l| l.ending.is_empty());
    Source {
        bom,
        lines,
        preferred,
        missing_final_ending,
    }
}

/// What a search found.
enum Found {
    At(usize),
    Missing,
    Ambiguous(usize),
}

fn punct(c: char) -> char {
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{2018}'..='\u{201B}' => '\'',
        '\u{201C}'..='\u{201F}' => '"',
        '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
        other => other,
    }
}

/// Whether two lines are equal under normalizer `level` (0 exact, 1 trailing whitespace
/// ignored, 2 surrounding whitespace ignored, 3 also typographic dashes, quotes and spaces
/// read as ASCII).
fn same(a: &str, b: &str, level: u8) -> bool {
    match level {
        0 => a == b,
        1 => a.trim_end() == b.trim_end(),
        2 => a.trim() == b.trim(),
        _ => a.trim().chars().map(punct).eq(b.trim().chars().map(punct)),
    }
}

/// Where `pattern` occurs (once) in `lines` at or after `start` (`eof`: only at the end),
/// trying the exact match first and then more tolerant ones.
fn seek(
    lines: &[Line<'_>],
    pattern: &[String],
    start: usize,
    eof: bool,
    budget: &mut Budget,
) -> Result<Found, String> {
    if pattern.is_empty() {
        return Ok(Found::At(start));
    }
    if pattern.len() > lines.len() {
        return Ok(Found::Missing);
    }
    let max_start = lines.len() - pattern.len();
    let from = if eof { start.max(max_start) } else { start };
    if from > max_start {
        return Ok(Found::Missing);
    }
    for level in 0..4 {
        let mut first = None;
        let mut count = 0usize;
        for i in from..=max_start {
            let mut compared = 0u64;
            let hit = pattern.iter().enumerate().all(|(k, p)| {
                compared += 1;
                lines.get(i + k).is_some_and(|l| same(&l.text, p, level))
            });
            budget.spend(compared)?;
            if hit {
                first.get_or_insert(i);
                count += 1;
            }
        }
        match (first, count) {
            (Some(i), 1) => return Ok(Found::At(i)),
            (Some(_), n) => return Ok(Found::Ambiguous(n)),
            (None, _) => {}
        }
    }
    Ok(Found::Missing)
}

/// The lines replacing `old_count` lines of `src` at `start` with `new`, each with the
/// ending of the line it replaces (or a nearby one).
fn changed_lines<'a>(
    src: &[Line<'a>],
    start: usize,
    old_count: usize,
    new: &[String],
    preferred: &'a str,
) -> Vec<Line<'a>> {
    let replaced = src
        .get(start..(start + old_count).min(src.len()))
        .unwrap_or(&[]);
    let nearby = replaced
        .iter()
        .map(|l| l.ending)
        .find(|e| !e.is_empty())
        .or_else(|| src.get(start).map(|l| l.ending).filter(|e| !e.is_empty()))
        .or_else(|| {
            start
                .checked_sub(1)
                .and_then(|i| src.get(i))
                .map(|l| l.ending)
                .filter(|e| !e.is_empty())
        })
        .unwrap_or(preferred);
    new.iter()
        .enumerate()
        .map(|(i, text)| {
            let ending = if replaced.len() == new.len() {
                replaced.get(i).map_or(nearby, |l| l.ending)
            } else if i + 1 == new.len() && !replaced.is_empty() {
                replaced.last().map_or(nearby, |l| l.ending)
            } else if i + 1 < replaced.len() {
                replaced.get(i).map_or(nearby, |l| l.ending)
            } else {
                nearby
            };
            Line {
                text: text.clone().into(),
                ending,
            }
        })
        .collect()
}

/// A matched chunk's new lines: context lines keep the file's own line.
fn chunk_lines<'a>(
    src: &Source<'a>,
    at: usize,
    pattern: &[String],
    new: &[String],
    context_old: &[Option<usize>],
) -> Vec<Line<'a>> {
    let mut out = Vec::with_capacity(new.len());
    let (mut old_start, mut new_start) = (0usize, 0usize);
    for (new_i, old_i) in context_old.iter().enumerate() {
        let Some(old_i) = *old_i else { continue };
        if old_i >= pattern.len() || new_i >= new.len() || old_i < old_start || new_i < new_start {
            continue;
        }
        out.extend(changed_lines(
            &src.lines,
            at + old_start,
            old_i - old_start,
            &new[new_start..new_i],
            src.preferred,
        ));
        if let Some(l) = src.lines.get(at + old_i) {
            out.push(l.clone());
        }
        old_start = old_i + 1;
        new_start = new_i + 1;
    }
    out.extend(changed_lines(
        &src.lines,
        at + old_start,
        pattern.len().saturating_sub(old_start),
        new.get(new_start..).unwrap_or(&[]),
        src.preferred,
    ));
    out
}

/// Applies an update's chunks to `contents` (the file `name`, for messages): each chunk's
/// lines must occur exactly once after the previous chunk (after its `@@` context line when
/// it has one). Line endings, a byte-order mark and a missing final line break are kept.
pub fn apply_update(
    contents: &str,
    name: &str,
    chunks: &[Chunk],
    budget: &mut Budget,
) -> Result<String, String> {
    let src = split_source(contents);
    let mut replacements: Vec<(usize, usize, Vec<Line<'_>>)> = Vec::with_capacity(chunks.len());
    let mut at = 0usize;
    for chunk in chunks {
        if let Some(ctx) = &chunk.context {
            match seek(&src.lines, std::slice::from_ref(ctx), at, false, budget)? {
                Found::At(i) => at = i + 1,
                Found::Missing => {
                    return Err(format!(
                        "could not find the context line \"{}\" in {name}; copy an existing line after \"@@ \" exactly, or leave the \"@@\" line bare",
                        echo(ctx)
                    ));
                }
                Found::Ambiguous(n) => {
                    return Err(format!(
                        "the context line \"{}\" occurs {n} times in {name}; it must be unique: use a more specific \"@@\" line",
                        echo(ctx)
                    ));
                }
            }
        }
        if chunk.old.is_empty() {
            let insert_at = if chunk.context.is_some() && !chunk.eof {
                at
            } else {
                src.lines.len()
            };
            let mut lines = changed_lines(&src.lines, insert_at, 0, &chunk.new, src.preferred);
            if src.missing_final_ending
                && insert_at == src.lines.len()
                && let Some(last) = lines.last_mut()
            {
                last.ending = "";
            }
            replacements.push((insert_at, 0, lines));
            at = insert_at;
            continue;
        }
        let mut pattern: &[String] = &chunk.old;
        let mut new: &[String] = &chunk.new;
        let mut found = seek(&src.lines, pattern, at, chunk.eof, budget)?;
        if matches!(found, Found::Missing) && pattern.last().is_some_and(String::is_empty) {
            pattern = &pattern[..pattern.len() - 1];
            if new.last().is_some_and(String::is_empty) {
                new = &new[..new.len() - 1];
            }
            found = seek(&src.lines, pattern, at, chunk.eof, budget)?;
        }
        let shown = || echo(&chunk.old.join("\n"));
        let i = match found {
            Found::At(i) => i,
            Found::Missing => {
                return Err(format!(
                    "could not find these lines in {name} (after the previous change):\n{}\nRead the file again and copy the lines exactly",
                    shown()
                ));
            }
            Found::Ambiguous(n) => {
                return Err(format!(
                    "these lines occur {n} times in {name}; they must be unique: include more surrounding lines in the change:\n{}",
                    shown()
                ));
            }
        };
        let lines = chunk_lines(&src, i, pattern, new, &chunk.context_old);
        replacements.push((i, pattern.len(), lines));
        at = i + pattern.len();
    }
    replacements.sort_by_key(|r| r.0);
    let mut lines = src.lines.clone();
    for (start, old_len, new) in replacements.into_iter().rev() {
        let end = (start + old_len).min(lines.len());
        let start = start.min(end);
        lines.splice(start..end, new);
    }
    // Every line but the last ends with a line break.
    let n = lines.len();
    for l in lines.iter_mut().take(n.saturating_sub(1)) {
        if l.ending.is_empty() {
            l.ending = src.preferred;
        }
    }
    let mut out = String::with_capacity(contents.len() + 64);
    out.push_str(src.bom);
    for l in &lines {
        out.push_str(&l.text);
        out.push_str(l.ending);
    }
    Ok(out)
}

/// `a` and `b` are the same text up to `\r\n`/`\r` line breaks and a missing final line
/// break (an update that changes nothing else is a no-op).
pub fn same_text(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let n = s.replace("\r\n", "\n").replace('\r', "\n");
        if n.is_empty() || n.ends_with('\n') {
            n
        } else {
            n + "\n"
        }
    }
    a == b || norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies the update `body` (its chunks) to `contents`.
    fn update(contents: &str, body: &str) -> Result<String, String> {
        let patch = format!("*** Begin Patch\n*** Update File: f\n{body}\n*** End Patch");
        let hunks = parse(&patch, 100)?;
        let Some(Hunk::Update { chunks, .. }) = hunks.first() else {
            return Err(format!("not an update: {hunks:?}"));
        };
        apply_update(contents, "f.txt", chunks, &mut Budget::new(1_000_000))
    }

    #[test]
    fn parses_every_operation() {
        let p = "*** Begin Patch\n*** Add File: a/new.txt\n+one\n+two\n*** Update File: src/app.ts\n*** Move to: src/main.ts\n@@ fn main() {\n ctx\n-old\n+new\n*** End of File\n*** Delete File: gone.txt\n*** End Patch";
        let h = parse(p, 100).expect("parses");
        assert_eq!(
            h[0],
            Hunk::Add {
                path: "a/new.txt".into(),
                contents: "one\ntwo\n".into()
            }
        );
        let Hunk::Update {
            path,
            move_to,
            chunks,
        } = &h[1]
        else {
            panic!("{h:?}")
        };
        assert_eq!(path, "src/app.ts");
        assert_eq!(move_to.as_deref(), Some("src/main.ts"));
        assert_eq!(chunks[0].context.as_deref(), Some("fn main() {"));
        assert_eq!(chunks[0].old, ["ctx", "old"]);
        assert_eq!(chunks[0].new, ["ctx", "new"]);
        assert_eq!(chunks[0].context_old, [Some(0), None]);
        assert!(chunks[0].eof);
        assert_eq!(
            h[2],
            Hunk::Delete {
                path: "gone.txt".into()
            }
        );
    }

    #[test]
    fn lenient_wrappers_and_crlf() {
        let p = "  <<'EOF'\r\n*** Begin Patch\r\n*** Delete File: x\r\n*** End Patch\r\nEOF\n";
        assert_eq!(
            parse(p, 100).expect("heredoc"),
            [Hunk::Delete { path: "x".into() }]
        );
    }

    #[test]
    fn bad_patches_say_what_to_write() {
        let cases = [
            ("", "empty"),
            ("hello", "first line must be \"*** Begin Patch\""),
            (
                "*** Begin Patch\n*** Delete File: x",
                "last line must be \"*** End Patch\"",
            ),
            ("*** Begin Patch\n*** End Patch", "no files were modified"),
            (
                "*** Begin Patch\n*** Frobnicate: x\n*** End Patch",
                "line 2: \"*** Frobnicate: x\" is not a file operation",
            ),
            (
                "*** Begin Patch\n*** Update File: x\n*** End Patch",
                "has no changes",
            ),
            (
                "*** Begin Patch\n*** Update File: x\n@@\n*** End Patch",
                "has no lines",
            ),
            (
                "*** Begin Patch\n*** Update File: x\n-a\n+b\nxyz\n*** End Patch",
                "line 5: expected a \"@@\" line",
            ),
            (
                "*** Begin Patch\n*** Update File: x\n@@\n-a\n@@\nbad\n*** End Patch",
                "line 6: \"bad\" is not a change line",
            ),
            (
                "*** Begin Patch\n*** Add File:    \n*** End Patch",
                "names no file",
            ),
        ];
        for (p, want) in cases {
            let e = parse(p, 100).expect_err(p);
            assert!(e.contains(want), "{p:?}: {e}");
        }
        let many = format!(
            "*** Begin Patch\n{}*** End Patch",
            "*** Delete File: x\n".repeat(3)
        );
        assert!(
            parse(&many, 2)
                .expect_err("3 > 2")
                .contains("more than 2 files")
        );
    }

    #[test]
    fn updates_keep_endings_bom_and_context_text() {
        let src = "\u{feff}a\r\nb  \r\nc\r\n";
        // The context line "b" matches "b  " only with trailing whitespace ignored; the
        // file's own "b  " stays, and the new line gets the file's \r\n.
        let out = update(src, "@@\n a\n b\n-c\n+C").expect("applies");
        assert_eq!(out, "\u{feff}a\r\nb  \r\nC\r\n");
        // A missing final line break stays missing.
        let out = update("x\ny", "@@\n-y\n+z").expect("applies");
        assert_eq!(out, "x\nz");
        // Typographic punctuation in the file matches ASCII in the patch.
        let out = update("say “hi” – now\n", "@@\n-say \"hi\" - now\n+bye").expect("applies");
        assert_eq!(out, "bye\n");
    }

    #[test]
    fn context_lines_place_chunks_and_insertions() {
        let src = "fn a() {\n    x\n}\nfn b() {\n    x\n}\n";
        // "x" alone is ambiguous; after "@@ fn b() {" it is not.
        let e = update(src, "@@\n-    x\n+    y").expect_err("ambiguous");
        assert!(e.contains("occur 2 times"), "{e}");
        let out = update(src, "@@ fn b() {\n-    x\n+    y").expect("applies");
        assert_eq!(out, "fn a() {\n    x\n}\nfn b() {\n    y\n}\n");
        // A pure insertion goes after its context line, or at the end.
        let out = update(src, "@@ fn a() {\n+    first").expect("applies");
        assert!(out.starts_with("fn a() {\n    first\n    x\n"), "{out}");
        let out = update("a\nb", "@@\n+c\n*** End of File").expect("applies");
        assert_eq!(out, "a\nb\nc");
        let e = update(src, "@@ fn zzz() {\n-x\n+y").expect_err("no context");
        assert!(
            e.contains("could not find the context line \"fn zzz() {\""),
            "{e}"
        );
        let e = update(src, "@@\n-nope\n+y").expect_err("missing");
        assert!(e.contains("could not find these lines in f.txt"), "{e}");
    }

    #[test]
    fn several_chunks_apply_in_order_and_eof_anchors() {
        let src = "1\n2\n3\n2\n";
        let out =
            update(src, "@@\n 1\n-2\n+two\n@@\n 3\n-2\n+TWO\n*** End of File").expect("applies");
        assert_eq!(out, "1\ntwo\n3\nTWO\n");
    }

    #[test]
    fn matching_work_is_bounded() {
        let src = "x\n".repeat(200_000);
        let patch = format!(
            "*** Begin Patch\n*** Update File: f\n@@\n{}-y\n*** End Patch",
            " x\n".repeat(2_000)
        );
        let hunks = parse(&patch, 10).expect("parses");
        let Some(Hunk::Update { chunks, .. }) = hunks.first() else {
            panic!("update")
        };
        let e = apply_update(&src, "f", chunks, &mut Budget::new(50_000_000)).expect_err("bounded");
        assert!(e.contains("too long to match"), "{e}");
    }

    #[test]
    fn same_text_ignores_line_break_style() {
        assert!(same_text("a\r\nb", "a\nb\n"));
        assert!(!same_text("a\nb", "a\nc"));
    }
}
