//! Find where the words of a rule set stand in one field: anchors first, then confirmation.
//!
//! The same method as `monitor/matching/scan.py`, whose docstrings explain it: every token
//! pattern has an anchor that must appear in the field's boundary form (every non-word
//! character a space) wherever the pattern matches, and each anchor found is confirmed against
//! the real token. Anchors that begin at a token (a space, then a word character) are looked
//! up from each token's start (`heads`); the few others (inner runs of globs, regexes'
//! literals, words with apostrophes) are looked up at each offset of the field where they can
//! stand (`floating`).
//!
//! Offsets are in characters (code points), as Python counts them. A field in ASCII is read
//! as bytes; any other as code points, with a map from the search's byte offsets.

use rustc_hash::FxHashMap;

use crate::floating::Floating;
use crate::heads::{Heads, Spaces};
use crate::prefetch::prefetch;

pub const LITERAL: u8 = 0;
pub const PREFIX: u8 = 1;
pub const GLOB: u8 = 2;
pub const REGEX: u8 = 3; // a regex term's required literal: run the regex over the field
pub const REGEX_AT: u8 = 4; // ...a literal every match begins with: try the regex there

const SPACE: u32 = b' ' as u32;
const APOSTROPHE: u32 = b'\'' as u32;

/// Whether a glob word (`?` one character, a final `*` any ending) matches a whole key of
/// `length` characters, `key(i)` each (as `monitor.matching.spec.Glob`).
fn glob_matches(glob: &[u32], length: usize, key: impl Fn(usize) -> u32) -> bool {
    let body = match glob.iter().rposition(|&c| c != STAR) {
        Some(last) => &glob[..=last],
        None => &[],
    };
    let open = body.len() < glob.len();
    if length != body.len() && !(open && length > body.len()) {
        return false;
    }
    body.iter()
        .enumerate()
        .all(|(i, &g)| g == QUESTION || g == key(i))
}

const STAR: u32 = b'*' as u32;
const QUESTION: u32 = b'?' as u32;

/// What a hit on an anchor asks to confirm (see `Check` in `monitor/matching/automaton.py`):
/// the literal is a range of the mode's arena of code points. Half a cache line, aligned: a
/// check is one line to read.
#[repr(align(32))]
pub struct Check {
    pub kind: u8,
    // The terms a token pattern begins (a range of `Engine::terms_by_first_pattern`'s items),
    // kept here so that a hit reaches them without another lookup.
    terms: (u32, u32),
    // A case-sensitive word searched by its lower-cased anchor in the casefolded stream: the
    // token is compared as the text has it.
    exact: bool,
    // A prefix whose anchor is a space and its literal: where the anchor stands at a token,
    // the token's key begins with the literal, and it need not be read (a cache miss). Or a
    // glob (without `*`) whose anchor is a space and its head: `literal` holds its tail.
    settled: bool,
    pub ident: u32,
    // A range of the mode's arena; for a settled glob, its tail's bytes instead (`tail`).
    literal: (u32, u32),
    back: u32,
    length: i32,
}

const _: () = assert!(std::mem::size_of::<Check>() == 32);

impl Check {
    /// A settled glob's characters after its head, a byte each from the lowest (ASCII, so none
    /// is 0).
    fn tail(&self) -> u64 {
        u64::from(self.literal.0) | u64::from(self.literal.1) << 32
    }
}

/// Collects a mode's anchors and checks, then builds the mode.
#[derive(Default)]
pub struct ModeBuilder {
    entries: Vec<(Box<[u8]>, Check)>,
    literals: Vec<u32>,
    blanks: Vec<Blank>,
}

/// A glob made only of `?` (and perhaps a final `*`): it has no anchor, and matches every
/// token of `length` characters (or more, when `open`).
#[derive(Clone, Copy)]
pub struct Blank {
    ident: u32,
    terms: (u32, u32),
    length: u32,
    open: bool,
}

/// Whether a glob is made only of `?`s, perhaps ending in `*`: its body's length and whether
/// it is open, if so.
pub fn blank_glob(text: &str) -> Option<(u32, bool)> {
    let body = text.trim_end_matches('*');
    (!body.is_empty() && body.bytes().all(|b| b == b'?'))
        .then_some((body.len() as u32, body.len() < text.len()))
}

impl ModeBuilder {
    /// Add an anchor and what a hit on it asks to confirm.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        anchor: Vec<u8>,
        kind: u8,
        ident: u32,
        literal: &str,
        back: u32,
        length: i32,
        exact: bool,
    ) {
        let head = anchor
            .get(1..)
            .filter(|_| back == 0 && !exact && anchor[0] == b' ');
        let tail = head.and_then(|head| literal.as_bytes().strip_prefix(head));
        let mut arena = |text: &str| {
            let from = self.literals.len() as u32;
            self.literals.extend(text.chars().map(u32::from));
            (from, self.literals.len() as u32)
        };
        let (settled, literal) = match (kind, tail) {
            (PREFIX, Some([])) => (true, arena(literal)),
            (GLOB, Some(tail)) if length >= 0 && tail.len() <= 8 && tail.is_ascii() => {
                let mut bytes = [0; 8];
                bytes[..tail.len()].copy_from_slice(tail);
                let word = u64::from_le_bytes(bytes);
                (true, (word as u32, (word >> 32) as u32))
            }
            _ => (false, arena(literal)),
        };
        let check = Check {
            kind,
            terms: (0, 0),
            exact,
            settled,
            ident,
            literal,
            back,
            length,
        };
        self.entries.push((anchor.into_boxed_slice(), check));
    }

    /// Add a glob made only of `?`s (`blank_glob`): it is found by its token's length.
    pub fn add_blank(&mut self, ident: u32, length: u32, open: bool) {
        self.blanks.push(Blank {
            ident,
            terms: (0, 0),
            length,
            open,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.blanks.is_empty()
    }

    pub fn build(mut self) -> Result<Mode, String> {
        self.entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut checks = Vec::with_capacity(self.entries.len());
        let mut heads = Vec::new();
        let (mut floating, mut floating_groups) = (Vec::new(), Vec::new());
        let mut entries = self.entries.into_iter().peekable();
        while let Some((anchor, check)) = entries.next() {
            let from = checks.len() as u32;
            checks.push(check);
            while entries.peek().is_some_and(|(a, _)| *a == anchor) {
                checks.push(entries.next().expect("peeked").1);
            }
            let group = (from, checks.len() as u32);
            if Heads::takes(&anchor) {
                heads.push((anchor, group));
            } else {
                floating.push(anchor);
                floating_groups.push(group);
            }
        }
        let search = if floating.is_empty() {
            None
        } else {
            Some(Floating::new(floating)?)
        };
        Ok(Mode {
            heads: Heads::new(heads.iter().map(|(a, group)| (&a[..], *group))),
            floating: search,
            floating_groups,
            checks,
            literals: self.literals,
            blanks: self.blanks,
        })
    }
}

/// The anchors of one case mode (casefolded or exact), split by how they are searched.
pub struct Mode {
    heads: Heads, // each body's value: its checks
    floating: Option<Floating>,
    floating_groups: Vec<(u32, u32)>,
    checks: Vec<Check>,
    literals: Vec<u32>,
    blanks: Vec<Blank>,
}

impl Mode {
    /// Give each token pattern's checks the range of the terms it begins: `range(pattern)`.
    pub fn link_terms(&mut self, range: impl Fn(u32) -> (u32, u32)) {
        for check in &mut self.checks {
            if check.kind < REGEX {
                check.terms = range(check.ident);
            }
        }
        for blank in &mut self.blanks {
            blank.terms = range(blank.ident);
        }
    }

    fn checks(&self, (from, to): (u32, u32)) -> &[Check] {
        &self.checks[from as usize..to as usize]
    }

    fn literal(&self, check: &Check) -> &[u32] {
        debug_assert!(
            !(check.kind == GLOB && check.settled),
            "a settled glob keeps its tail"
        );
        &self.literals[check.literal.0 as usize..check.literal.1 as usize]
    }
}

/// A token pattern found: pattern id, the terms it begins (see `Check`), and the token's
/// start and end in characters.
#[derive(Clone, Copy)]
pub struct Occurrence {
    pub pattern: u32,
    pub terms: (u32, u32),
    pub start: u32,
    pub end: u32,
}

/// Regex terms to run over the field (None) or to try at the places their literal stands.
pub type RegexNotes = FxHashMap<u32, Option<Vec<usize>>>;

fn note_regex(notes: &mut RegexNotes, term: u32, at: Option<usize>) {
    match (notes.get_mut(&term), at) {
        (Some(Some(places)), Some(at)) => places.push(at),
        (Some(None), _) => {}
        (_, at) => {
            notes.insert(term, at.map(|a| vec![a]));
        }
    }
}

/// Where one field's text stands, in one case mode: the stream searched (the boundary form
/// between two spaces, casefolded or not) and the text, as code units (the stream two longer);
/// `bytes` is the stream as searched, `chars` maps its byte offsets to characters.
pub struct View<'a, T> {
    pub bytes: &'a [u8],
    pub chars: Option<&'a [u32]>,
    pub stream: &'a [T],
    pub text: &'a [T],
}

impl<T: Copy + Into<u32>> View<'_, T> {
    fn char_at(&self, byte: usize) -> usize {
        self.chars.map_or(byte, |c| c[byte] as usize)
    }

    /// Whether the text's character `i` is a word character (the stream keeps those only).
    fn word(&self, i: usize) -> bool {
        self.stream[i + 1].into() != SPACE
    }

    fn text_at(&self, i: usize) -> u32 {
        self.text[i].into()
    }

    /// Where the comparison key of the token that begins at `at` ends, and where the token
    /// ends, if one begins there (`monitor.kernel.text.token_at` and `token_key`); the key's
    /// characters are `key_char`'s.
    fn token(&self, at: usize) -> Option<(usize, usize)> {
        let n = self.text.len();
        if at >= n || !self.word(at) {
            return None;
        }
        if at > 0 {
            let before = self.text_at(at - 1);
            let inside = if before == APOSTROPHE {
                at >= 2 && self.word(at - 2)
            } else {
                self.word(at - 1)
            };
            if inside {
                return None;
            }
        }
        let mut end = at;
        while end < n && self.word(end) {
            end += 1;
        }
        while end + 1 < n && self.text_at(end) == APOSTROPHE && self.word(end + 1) {
            end += 1;
            while end < n && self.word(end) {
                end += 1;
            }
        }
        let mut key_end = end;
        if end - at > 2
            && self.text_at(end - 2) == APOSTROPHE
            && matches!(self.text_at(end - 1), 0x73 | 0x53)
        {
            key_end = end - 2; // a possessive "'s" is not compared
        }
        Some((key_end, end))
    }

    /// The key character of the text's character `i` (casefolded when the stream is, unless
    /// `exact`).
    fn key_char(&self, i: usize, exact: bool) -> u32 {
        if exact || self.text_at(i) == APOSTROPHE {
            self.text_at(i)
        } else {
            self.stream[i + 1].into()
        }
    }

    /// The start of the first token at or after `i` (`monitor.kernel.text.token_after`).
    pub fn token_after(&self, i: usize) -> Option<usize> {
        (i..self.text.len()).find(|&j| self.word(j))
    }
}

/// How many items ahead a loop asks for what it will read.
const AHEAD: usize = 16;

/// Search one mode's anchors in a field and confirm each hit.
pub fn confirm<T: Copy + Into<u32>>(
    mode: &Mode,
    view: &View<'_, T>,
    found: &mut Vec<Occurrence>,
    notes: &mut RegexNotes,
) {
    let bytes = view.bytes;
    let spaces = Spaces::new(bytes);
    // Every token's probes first, then the filter (each stage asks for what the next reads),
    // then the table and the checks of what it found, each loop asking for what it reads some
    // items ahead (see `crate::prefetch`).
    let mut probes = Vec::with_capacity(bytes.len() / 4);
    spaces.tokens(|start, run| mode.heads.at(bytes, start, run, &mut probes));
    mode.heads.passing(&mut probes);
    let ask_slot = |k: usize| {
        if let Some(probe) = probes.get(k) {
            mode.heads.prefetch(probe);
        }
    };
    (0..AHEAD).for_each(ask_slot);
    let mut groups = Vec::with_capacity(probes.len());
    for (k, probe) in probes.iter().enumerate() {
        ask_slot(k + AHEAD);
        mode.heads
            .probe(bytes, probe, |group| groups.push((probe.start, group)));
    }
    let ask_checks = |k: usize| {
        if let Some(first) = groups
            .get(k)
            .and_then(|&(_, group)| mode.checks(group).first())
        {
            prefetch(first);
        }
    };
    (0..AHEAD).for_each(ask_checks);
    for (k, &(start, group)) in groups.iter().enumerate() {
        ask_checks(k + AHEAD);
        // The anchor begins with the space before the token.
        let at = view.char_at(start as usize - 1);
        check(mode, mode.checks(group), at, view, found, notes);
    }
    if !mode.blanks.is_empty() {
        // Globs without an anchor: every token is measured against them.
        spaces.tokens(|start, _| {
            let at = view.char_at(start - 1);
            let Some((key_end, end)) = view.token(at) else {
                return;
            };
            let length = key_end - at;
            for blank in &mode.blanks {
                let want = blank.length as usize;
                if length == want || (blank.open && length > want) {
                    found.push(Occurrence {
                        pattern: blank.ident,
                        terms: blank.terms,
                        start: at as u32,
                        end: end as u32,
                    });
                }
            }
        });
    }
    if let Some(search) = &mode.floating {
        search.find(bytes, &spaces, |start, anchor| {
            let at = view.char_at(start);
            let checks = mode.checks(mode.floating_groups[anchor]);
            check(mode, checks, at, view, found, notes);
        });
    }
}

fn check<T: Copy + Into<u32>>(
    mode: &Mode,
    checks: &[Check],
    start: usize,
    view: &View<'_, T>,
    found: &mut Vec<Occurrence>,
    notes: &mut RegexNotes,
) {
    let stream = view.stream;
    let last = stream.len() - 1;
    for c in checks {
        let at = start as i64 - c.back as i64;
        if c.kind >= REGEX {
            let place = if c.kind == REGEX {
                None
            } else {
                usize::try_from(at).ok()
            };
            if c.kind == REGEX || place.is_some() {
                note_regex(notes, c.ident, place);
            }
            continue;
        }
        // Cheap refusals first: a token starts after a boundary (a space in the stream, where
        // offset `at` stands for the character before the token), and a glob without `*`
        // fixes where it ends.
        let Ok(at) = usize::try_from(at) else {
            continue;
        };
        if stream[at].into() != SPACE {
            continue;
        }
        if c.length >= 0 {
            let length = c.length as usize;
            if at + length >= last || stream[at + length + 1].into() != SPACE {
                continue;
            }
            if c.kind == LITERAL {
                // A word between spaces in the stream is a whole token unless an apostrophe
                // stands next to it in the text ("o'brien", "don't", "russia's").
                let after = at + length;
                let text = view.text;
                if (at == 0 || text[at - 1].into() != APOSTROPHE)
                    && (after == text.len() || text[after].into() != APOSTROPHE)
                {
                    let same = |(t, l): (&T, &u32)| (*t).into() == *l;
                    if c.exact && !text[at..after].iter().zip(mode.literal(c)).all(same) {
                        continue; // the casefolded anchor matched; the case does not
                    }
                    found.push(Occurrence {
                        pattern: c.ident,
                        terms: c.terms,
                        start: at as u32,
                        end: after as u32,
                    });
                    continue;
                }
            }
        }
        let Some((key_end, end)) = view.token(at) else {
            continue;
        };
        let length = key_end - at;
        let key = |i: usize| view.key_char(at + i, c.exact);
        let matched = match (c.kind, c.settled) {
            (GLOB, true) => {
                // The key is as long as the glob, and its characters after the head match
                // the tail's (a `?`, any).
                let tail = c.tail();
                let head = c.length as usize - (8 - tail.leading_zeros() as usize / 8);
                length == c.length as usize
                    && (0..c.length as usize - head).all(|i| {
                        let g = u32::from((tail >> (8 * i)) as u8);
                        g == QUESTION || key(head + i) == g
                    })
            }
            (LITERAL, _) => {
                let literal = mode.literal(c);
                length == literal.len() && (0..length).all(|i| key(i) == literal[i])
            }
            (PREFIX, settled) => {
                // (A settled prefix's anchor already compared its characters.)
                let literal = mode.literal(c);
                length >= literal.len()
                    && (settled || (0..literal.len()).all(|i| key(i) == literal[i]))
            }
            _ => glob_matches(mode.literal(c), length, key),
        };
        if matched {
            found.push(Occurrence {
                pattern: c.ident,
                terms: c.terms,
                start: at as u32,
                end: end as u32,
            });
        }
    }
}
