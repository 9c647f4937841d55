//! Find where the words of a rule set stand in one field: anchors first, then confirmation.
//!
//! The same method as `monitor/matching/scan.py`, whose docstrings explain it: every token
//! pattern has an anchor that must appear in the field's boundary form (every non-word
//! character a space) wherever the pattern matches, and each anchor found is confirmed against
//! the real token. Anchors that begin at a token (a space, then a word character) are walked
//! from each token's start through a trie-shaped automaton, so a word that begins no pattern
//! costs a step or two; the few others (inner runs of globs, regexes' literals) go through an
//! ordinary Aho-Corasick search of the whole field.
//!
//! Offsets are in characters (code points), as Python counts them. A field in ASCII is read
//! as bytes; any other as code points, with a map from the search's byte offsets.

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous;
use aho_corasick::{AhoCorasick, Anchored, MatchKind};
use rustc_hash::FxHashMap;

pub const LITERAL: u8 = 0;
pub const PREFIX: u8 = 1;
pub const GLOB: u8 = 2;
pub const REGEX: u8 = 3; // a regex term's required literal: run the regex over the field
pub const REGEX_AT: u8 = 4; // ...a literal every match begins with: try the regex there

const SPACE: u32 = b' ' as u32;
const APOSTROPHE: u32 = b'\'' as u32;

/// A glob word: `?` one character, a final `*` any ending (as `monitor.matching.spec.Glob`).
pub struct Glob {
    chunks: Vec<(usize, Vec<u32>)>,
    length: usize,
    open: bool,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let open = pattern.ends_with('*');
        let body: Vec<u32> = pattern.trim_end_matches('*').chars().map(u32::from).collect();
        let mut chunks = Vec::new();
        let mut at = 0;
        for (i, &ch) in body.iter().enumerate() {
            if ch == u32::from('?') {
                if i > at {
                    chunks.push((at, body[at..i].to_vec()));
                }
                at = i + 1;
            }
        }
        if body.len() > at {
            chunks.push((at, body[at..].to_vec()));
        }
        Glob { chunks, length: body.len(), open }
    }

    fn fullmatch(&self, key: &[u32]) -> bool {
        if key.len() != self.length && !(self.open && key.len() > self.length) {
            return false;
        }
        self.chunks.iter().all(|(at, chunk)| key[*at..].starts_with(chunk))
    }
}

/// What a hit on an anchor asks to confirm (see `Check` in `monitor/matching/automaton.py`).
pub struct Check {
    pub kind: u8,
    pub ident: u32,
    literal: Vec<u32>,
    glob: Option<Glob>,
    back: usize,
    length: i64,
}

impl Check {
    pub fn new(kind: u8, ident: u32, literal: &str, back: usize, length: i64) -> Check {
        Check {
            kind,
            ident,
            literal: literal.chars().map(u32::from).collect(),
            glob: (kind == GLOB).then(|| Glob::new(literal)),
            back,
            length,
        }
    }
}

/// The anchors of one case mode (casefolded or exact), split by how they are searched.
pub struct Mode {
    anchored: Option<contiguous::NFA>,
    anchored_checks: Vec<Vec<Check>>,
    floating: Option<AhoCorasick>,
    floating_checks: Vec<Vec<Check>>,
}

impl Mode {
    pub fn new(anchors: Vec<(String, Vec<Check>)>) -> Result<Mode, String> {
        let (mut at_tokens, mut floating) = (Vec::new(), Vec::new());
        for (anchor, checks) in anchors {
            // An anchor of a space and a word character can only stand where a token begins.
            let bytes = anchor.as_bytes();
            if bytes.len() >= 2 && bytes[0] == b' ' && bytes[1] != b' ' {
                at_tokens.push((anchor, checks));
            } else {
                floating.push((anchor, checks));
            }
        }
        let anchored = if at_tokens.is_empty() {
            None
        } else {
            let nfa = contiguous::Builder::new()
                .match_kind(MatchKind::Standard)
                .build(at_tokens.iter().map(|(a, _)| a.as_bytes()))
                .map_err(|e| e.to_string())?;
            Some(nfa)
        };
        let search = if floating.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(floating.iter().map(|(a, _)| a.as_bytes()))
                .map_err(|e| e.to_string())?;
            Some(ac)
        };
        Ok(Mode {
            anchored,
            anchored_checks: at_tokens.into_iter().map(|(_, c)| c).collect(),
            floating: search,
            floating_checks: floating.into_iter().map(|(_, c)| c).collect(),
        })
    }
}

/// A token pattern found: pattern id, and the token's start and end in characters.
#[derive(Clone, Copy)]
pub struct Occurrence {
    pub pattern: u32,
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

/// Where one field's text stands, in one case mode: the stream searched (" " + boundary form
/// + " ", casefolded or not) and the text, both as code units of the same length plus the two
/// spaces; `bytes` is the stream as searched, `chars` maps its byte offsets to characters.
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

    /// The comparison key and end of the token that begins at `at`, if one does there
    /// (`monitor.text.token_at` and `token_key`, casefolded when the stream is).
    fn token(&self, at: usize) -> Option<(Vec<u32>, usize)> {
        let n = self.text.len();
        if at >= n || !self.word(at) {
            return None;
        }
        if at > 0 {
            let before = self.text_at(at - 1);
            let inside = if before == APOSTROPHE { at >= 2 && self.word(at - 2) } else { self.word(at - 1) };
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
        let key = (at..key_end)
            .map(|i| if self.text_at(i) == APOSTROPHE { APOSTROPHE } else { self.stream[i + 1].into() })
            .collect();
        Some((key, end))
    }

    /// The start of the first token at or after `i` (`monitor.text.token_after`).
    pub fn token_after(&self, i: usize) -> Option<usize> {
        (i..self.text.len()).find(|&j| self.word(j))
    }
}

/// Search one mode's anchors in a field and confirm each hit.
pub fn confirm<T: Copy + Into<u32>>(
    mode: &Mode,
    view: &View<'_, T>,
    found: &mut Vec<Occurrence>,
    notes: &mut RegexNotes,
) {
    let mut tokens: FxHashMap<usize, Option<(Vec<u32>, usize)>> = FxHashMap::default();
    if let Some(nfa) = &mode.anchored {
        let bytes = view.bytes;
        let start = nfa.start_state(Anchored::Yes).expect("an NFA searches anchored");
        for b in 0..bytes.len().saturating_sub(1) {
            if bytes[b] != b' ' || bytes[b + 1] == b' ' {
                continue;
            }
            let mut sid = start;
            for (i, &byte) in bytes.iter().enumerate().skip(b) {
                sid = nfa.next_state(Anchored::Yes, sid, byte);
                if nfa.is_dead(sid) {
                    break;
                }
                if nfa.is_match(sid) {
                    for k in 0..nfa.match_len(sid) {
                        let pattern = nfa.match_pattern(sid, k);
                        // Only anchors that begin here (not a suffix of one that does).
                        if i + 1 == b + nfa.pattern_len(pattern) {
                            let at = view.char_at(b);
                            check(&mode.anchored_checks[pattern.as_usize()], at, view, &mut tokens, found, notes);
                        }
                    }
                }
            }
        }
    }
    if let Some(search) = &mode.floating {
        for m in search.find_overlapping_iter(view.bytes) {
            let at = view.char_at(m.start());
            check(&mode.floating_checks[m.pattern().as_usize()], at, view, &mut tokens, found, notes);
        }
    }
}

fn check<T: Copy + Into<u32>>(
    checks: &[Check],
    start: usize,
    view: &View<'_, T>,
    tokens: &mut FxHashMap<usize, Option<(Vec<u32>, usize)>>,
    found: &mut Vec<Occurrence>,
    notes: &mut RegexNotes,
) {
    let stream = view.stream;
    let last = stream.len() - 1;
    for c in checks {
        let at = start as i64 - c.back as i64;
        if c.kind >= REGEX {
            let place = if c.kind == REGEX { None } else { usize::try_from(at).ok() };
            if c.kind == REGEX || place.is_some() {
                note_regex(notes, c.ident, place);
            }
            continue;
        }
        // Cheap refusals first: a token starts after a boundary (a space in the stream, where
        // offset `at` stands for the character before the token), and a glob without `*`
        // fixes where it ends.
        let Ok(at) = usize::try_from(at) else { continue };
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
                    found.push(Occurrence { pattern: c.ident, start: at as u32, end: after as u32 });
                    continue;
                }
            }
        }
        let token = tokens.entry(at).or_insert_with(|| view.token(at));
        let Some((key, end)) = token else { continue };
        let matched = match c.kind {
            LITERAL => *key == c.literal,
            PREFIX => key.starts_with(&c.literal),
            _ => c.glob.as_ref().is_some_and(|g| g.fullmatch(key)),
        };
        if matched {
            found.push(Occurrence { pattern: c.ident, start: at as u32, end: *end as u32 });
        }
    }
}
