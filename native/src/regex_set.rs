//! The regex terms no literal singles out, searched together: one pass over a field tells which
//! of them may match there, and only those are run on their own.
//!
//! A regex whose literals are short (`\bkari[a-z]{2}mo\b`, `\b\w+stan\b`) or absent would
//! otherwise be run over every field it might match: hundreds of passes per article where short
//! literals occur everywhere. Here each pattern is reduced to a factor that every match of it
//! contains (its longest run of bounded parts: `stan\b` of `\b\w+stan\b`), and the factors are
//! compiled into multi-pattern automata (`regex-automata`'s meta regex, a lazy DFA that scans a
//! field once for all of them). A factor of bounded length keeps the DFA's states few and its
//! matches rare, where a pattern's `\w+` or `\w*` kept every position of a word alive.
//!
//! A text in ASCII is searched with the factors' ASCII forms (classes cut to ASCII, word
//! boundaries as ASCII ones: the same matches on such a text); any other with their widened
//! forms, without word boundaries (which the lazy DFA tests on ASCII text only), so that a
//! factor is found wherever its pattern matches and perhaps elsewhere. The pattern's own regex
//! then decides, and gives the place.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use regex_automata::meta;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternSet};
use regex_syntax::hir::{
    Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look,
    Repetition,
};
use rustc_hash::FxHashMap;

use crate::regexes::nfa_bytes_bound;

/// Patterns per automaton: one pass serves this many (measured on the adversarial workload:
/// 64 a chunk cost 6x what 512 did; past that the DFA's states grow faster than passes shrink).
const CHUNK: usize = 512;
// Each automaton's lazy DFA cache, at most: room for the states varied text visits. At 8 MB,
// matching 100 different articles at 10,000 adversarial watches fell from 1,518 to 145/s (the
// cache cleared over and over, and the search fell back to the slow engine); at 64 MB, 1,000
// articles ran at 1,915/s, the process's peak memory 49 MB above its size after compiling.
const DFA_CACHE: usize = 64 << 20;
const NFA_LIMIT: usize = 32 << 20;
// A factor whose NFA may take more than this is searched by its own regex, not in a set.
const ALONE_BYTES: usize = 1 << 20;

/// A field's text as the automata read it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Ascii,
    Widened,
}

/// Regex terms' factors, searched together.
pub struct RegexSet {
    // An automaton and, for each of its patterns, its term and whether a match of the ASCII
    // form is a match of the term (its pattern is its own factor: of bounded length).
    ascii: Vec<(meta::Regex, Vec<(u32, bool)>)>,
    widened: Vec<(meta::Regex, Vec<(u32, bool)>)>,
    // Per form (ASCII, widened): terms whose factor is too large to share an automaton with
    // any other (each regex alone was within bounds): run on their own, wherever they occur.
    alone: [Vec<u32>; 2],
    // Terms whose factor matches the empty string (`x*`, `\b\w*`): no pass can rule them out.
    always: Vec<u32>,
}

impl RegexSet {
    /// Build from (term, pattern, case-sensitive) triples; a pattern that fails to parse (it
    /// compiled on its own, so it should not) is an error naming it.
    pub fn new(patterns: &[(u32, String, bool)]) -> Result<RegexSet, String> {
        let mut factors = Vec::with_capacity(patterns.len());
        let mut always = Vec::new();
        for (term, pattern, case_sensitive) in patterns {
            let config = syntax::Config::new().case_insensitive(!case_sensitive);
            let hir = syntax::parse_with(pattern, &config)
                .map_err(|e| format!("regex /{pattern}/ in a set: {e}"))?;
            let (found, sure) = match run_factor(&hir) {
                Some((run, sure)) if sure || min_len(&run) >= min_len(&factor(&hir)) => (run, sure),
                _ => (factor(&hir), bounded(&hir)),
            };
            if min_len(&found) == 0 {
                always.push(*term);
            } else {
                factors.push((*term, found, sure));
            }
        }
        type Chunks = Vec<(meta::Regex, Vec<(u32, bool)>)>;
        let chunks = content_chunks(&factors, patterns);
        // The automata built last time, by what they were built from: a reload after an edit
        // builds only the chunks the edit changed (each cut where its patterns say, not by
        // count, so one pattern more or less moves no other chunk's bounds).
        let mut last = BUILT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let built = last.get_or_insert_with(FxHashMap::default);
        let mut now: FxHashMap<ChunkKey, Pieces> = FxHashMap::default();
        let forms = [Form::Ascii, Form::Widened];
        let mut missing: Vec<(ChunkKey, Form, std::ops::Range<usize>)> = Vec::new();
        for form in forms {
            for (range, sources) in &chunks {
                let key = (form == Form::Ascii, sources.clone());
                match built.get(&key) {
                    Some(regex) => {
                        now.insert(key, regex.clone());
                    }
                    None if now.contains_key(&key) => {}
                    None => missing.push((key, form, range.clone())),
                }
            }
        }
        // The chunks not built before, on every core: they are independent.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = missing.len().div_ceil(threads).max(1);
        let made: Vec<Pieces> = std::thread::scope(|scope| {
            let workers: Vec<_> = missing
                .chunks(per_thread)
                .map(|jobs| {
                    scope.spawn(|| {
                        jobs.iter()
                            .map(|(_, form, range)| build_pieces(&factors[range.clone()], *form))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a regex set builder panicked"))
                .collect()
        });
        for ((key, _, _), pieces) in missing.into_iter().zip(made) {
            now.insert(key, pieces);
        }
        let assemble = |form: Form| -> (Chunks, Vec<u32>) {
            let exact = form == Form::Ascii;
            let mut automata = Vec::new();
            let mut alone = Vec::new();
            for (range, sources) in &chunks {
                let pieces = &now[&(exact, sources.clone())];
                let held = &factors[range.clone()];
                for (part, regex) in &pieces.automata {
                    let terms = held[part.clone()]
                        .iter()
                        .map(|&(t, _, b)| (t, exact && b))
                        .collect();
                    automata.push((regex.clone(), terms));
                }
                alone.extend(pieces.alone.iter().map(|&k| held[k].0));
            }
            (automata, alone)
        };
        let (ascii, ascii_alone) = assemble(Form::Ascii);
        let (widened, widened_alone) = assemble(Form::Widened);
        let set = RegexSet {
            ascii,
            widened,
            alone: [ascii_alone, widened_alone],
            always,
        };
        // A set smaller than a chunk (a rule measured alone by `monitor check --cost`, say)
        // is cheap to build again, and must not push out the rule set's own chunks.
        if factors.len() >= CHUNK {
            *last = Some(now);
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.ascii.is_empty() && self.always.is_empty() && self.alone.iter().all(Vec::is_empty)
    }

    /// Call `found(term, sure)` for each term that may match somewhere in `text` (every term
    /// that does, and perhaps a few more); `sure` when it certainly does. `ascii`: whether
    /// `text` is all ASCII (the caller knows already).
    pub fn matching(&self, text: &str, ascii: bool, mut found: impl FnMut(u32, bool)) {
        debug_assert_eq!(ascii, text.is_ascii());
        self.always.iter().for_each(|&term| found(term, false));
        self.alone[usize::from(!ascii)]
            .iter()
            .for_each(|&term| found(term, false));
        let chunks = if ascii { &self.ascii } else { &self.widened };
        for (regex, terms) in chunks {
            let mut hits = PatternSet::new(regex.pattern_len());
            regex.which_overlapping_matches(&Input::new(text), &mut hits);
            for pattern in hits.iter() {
                let (term, sure) = terms[pattern.as_usize()];
                found(term, sure);
            }
        }
    }
}

/// What a chunk's automaton is built from: its form (ASCII or not) and its patterns as
/// written, with their case.
type ChunkKey = (bool, Vec<(String, bool)>);
/// A chunk: the range of the factors it holds, and their patterns as written.
type Chunk = (std::ops::Range<usize>, Vec<(String, bool)>);

static BUILT: Mutex<Option<FxHashMap<ChunkKey, Pieces>>> = Mutex::new(None);

/// A chunk's automata, each over a range of its factors, and the factors (by index in the
/// chunk) too large to build with any other.
#[derive(Clone, Default)]
struct Pieces {
    automata: Vec<(std::ops::Range<usize>, meta::Regex)>,
    alone: Vec<usize>,
}

/// A chunk's factors in `form` in as few automata as build within the size limit: runs of
/// factors whose NFAs' bound (`regexes::nfa_bytes_bound`) fits the limit together, and halves
/// of a run that still does not build. A factor whose bound passes `ALONE_BYTES`, or that
/// does not build even alone, is left to its own regex: 600 watches like `\b\w{40}q1\b`
/// (Unicode classes, 9 MB bound each when widened) took 25 s of builds before.
fn build_pieces(chunk: &[(u32, Hir, bool)], form: Form) -> Pieces {
    let hirs: Vec<Hir> = chunk.iter().map(|(_, h, _)| reform(h, form)).collect();
    let mut pieces = Pieces::default();
    let mut todo = Vec::new();
    let (mut from, mut sum) = (0, 0usize);
    for (k, hir) in hirs.iter().enumerate() {
        let size = nfa_bytes_bound(hir);
        if size > ALONE_BYTES {
            pieces.alone.push(k);
            if k > from {
                todo.push(from..k);
            }
            (from, sum) = (k + 1, 0);
            continue;
        }
        if k > from && sum.saturating_add(size) > NFA_LIMIT {
            todo.push(from..k);
            (from, sum) = (k, 0);
        }
        sum = sum.saturating_add(size);
    }
    if hirs.len() > from {
        todo.push(from..hirs.len());
    }
    todo.reverse();
    while let Some(range) = todo.pop() {
        match build_chunk(&hirs[range.clone()]) {
            Ok(regex) => pieces.automata.push((range, regex)),
            Err(_) if range.len() == 1 => pieces.alone.push(range.start),
            Err(_) => {
                let middle = range.start + range.len() / 2;
                todo.push(middle..range.end);
                todo.push(range.start..middle);
            }
        }
    }
    pieces
}

/// Cut the factors (in the order given) into chunks of at most `CHUNK`: after a pattern whose
/// hash says so (one in `CHUNK * 3 / 4` on average), or at `CHUNK`. Returns each chunk's range
/// and its patterns as written (a chunk's key in `BUILT`).
fn content_chunks(factors: &[(u32, Hir, bool)], patterns: &[(u32, String, bool)]) -> Vec<Chunk> {
    let written: FxHashMap<u32, (&str, bool)> = patterns
        .iter()
        .map(|(term, pattern, case)| (*term, (pattern.as_str(), *case)))
        .collect();
    let mut chunks = Vec::new();
    let mut from = 0;
    let mut sources = Vec::new();
    for (k, (term, _, _)) in factors.iter().enumerate() {
        let (pattern, case) = written[term];
        sources.push((pattern.to_owned(), case));
        let mut hasher = rustc_hash::FxHasher::default();
        (pattern, case).hash(&mut hasher);
        let cut = hasher.finish().is_multiple_of(CHUNK as u64 * 3 / 4);
        if cut || sources.len() == CHUNK || k + 1 == factors.len() {
            chunks.push((from..k + 1, std::mem::take(&mut sources)));
            from = k + 1;
        }
    }
    chunks
}

/// One automaton for factors already in their form, searched together.
fn build_chunk(hirs: &[Hir]) -> Result<meta::Regex, String> {
    meta::Regex::builder()
        .configure(
            meta::Config::new()
                .match_kind(MatchKind::All)
                .which_captures(WhichCaptures::Implicit)
                .nfa_size_limit(Some(NFA_LIMIT))
                .hybrid_cache_capacity(DFA_CACHE),
        )
        .build_many_from_hir(hirs)
        .map_err(|e| format!("a set of {} regexes: {e}", hirs.len()))
}

fn bounded(hir: &Hir) -> bool {
    hir.properties().maximum_len().is_some()
}

fn min_len(hir: &Hir) -> usize {
    hir.properties().minimum_len().unwrap_or(0)
}

/// A part of `hir` that every match of it contains a match of: the longest (by its shortest
/// match) run of a sequence's parts of bounded length, or a factor of an unbounded part that
/// must occur (`x` of `x+`); for an alternation, the alternation of its branches' factors.
fn factor(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Capture(capture) => factor(&capture.sub),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(factor).collect()),
        HirKind::Repetition(rep) if !bounded(hir) => {
            if rep.min >= 1 {
                factor(&rep.sub)
            } else {
                Hir::empty()
            }
        }
        HirKind::Concat(subs) => {
            let mut best = Hir::empty();
            let mut consider = |candidate: Hir| {
                if min_len(&candidate) > min_len(&best) {
                    best = candidate;
                }
            };
            let mut run: Vec<Hir> = Vec::new();
            for sub in subs {
                if bounded(sub) {
                    run.push(sub.clone());
                    continue;
                }
                if !run.is_empty() {
                    consider(Hir::concat(std::mem::take(&mut run)));
                }
                consider(factor(sub));
            }
            if !run.is_empty() {
                consider(Hir::concat(run));
            }
            best
        }
        _ => hir.clone(),
    }
}

/// For a pattern of unbounded length that is a sequence, its longest run of bounded parts,
/// with the `x` of an `x+` beside it (`\srimo` of `\bka\w*\s+rimo`), and whether a match of
/// that factor in ASCII text proves the pattern's there: when the parts on either side always
/// match around it. `\b\w+stan\b` is `\b\w*` then `\wstan\b`, and `\b\w*` matches before any
/// word character (from the start of its word); `\b(ka|ko)ri\w*\b` is `\b(ka|ko)ri` then
/// `\w*\b`. Else the pattern's regex must confirm a hit of the factor.
fn run_factor(hir: &Hir) -> Option<(Hir, bool)> {
    let mut hir = hir;
    while let HirKind::Capture(capture) = hir.kind() {
        hir = &capture.sub;
    }
    let HirKind::Concat(subs) = hir.kind() else {
        return None;
    };
    if bounded(hir) {
        return None; // its own factor, and sure already
    }
    let run = best_run(subs)?;
    let mut parts = subs[run.clone()].to_vec();
    let mut left = subs[..run.start].to_vec();
    let mut right = subs[run.end..].to_vec();
    // `x+` next to the run: `x*` outside it and `x` in it.
    if let Some((fixed, rest)) = left.last().and_then(split_repetition) {
        *left.last_mut()? = rest;
        parts.insert(0, fixed);
    }
    if let Some((fixed, rest)) = right.first().and_then(split_repetition) {
        right[0] = rest;
        parts.push(fixed);
    }
    let factor = Hir::concat(parts);
    let sure =
        always_matches(&left, &factor, Edge::First) && always_matches(&right, &factor, Edge::Last);
    Some((factor, sure))
}

/// The factor `run_factor` finds, if its match proves the pattern's.
#[cfg(test)]
fn sure_factor(hir: &Hir) -> Option<Hir> {
    run_factor(hir).and_then(|(factor, sure)| sure.then_some(factor))
}

/// The top-level run of bounded parts that matches the most text at least (and some).
fn best_run(subs: &[Hir]) -> Option<std::ops::Range<usize>> {
    let mut best: Option<(usize, std::ops::Range<usize>)> = None;
    let mut from = 0;
    for end in 0..=subs.len() {
        if end < subs.len() && bounded(&subs[end]) {
            continue;
        }
        let length: usize = subs[from..end].iter().map(min_len).sum();
        if length > 0 && best.as_ref().is_none_or(|(l, _)| length > *l) {
            best = Some((length, from..end));
        }
        from = end + 1;
    }
    best.map(|(_, range)| range)
}

/// `x+` (`x` bounded) as `x` and `x*`.
fn split_repetition(hir: &Hir) -> Option<(Hir, Hir)> {
    let HirKind::Repetition(rep) = hir.kind() else {
        return None;
    };
    // Only `x+`: a longer fixed part (`\w{40,}`) would make the factor large.
    if rep.min != 1 || rep.max.is_some() || !bounded(&rep.sub) {
        return None;
    }
    let fixed = Repetition {
        min: rep.min,
        max: Some(rep.min),
        ..rep.clone()
    };
    let rest = Repetition {
        min: 0,
        ..rep.clone()
    };
    Some((Hir::repetition(fixed), Hir::repetition(rest)))
}

/// Which end of a factor the parts beside it touch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    First,
    Last,
}

/// Whether `parts` (beside `factor` at `edge`) match next to any match of `factor` in ASCII
/// text: parts that may match nothing, or a word boundary at the far end with one `\w*`
/// between it and a factor whose edge is a word character (the `\w*` takes the rest of the
/// factor's word, and a word ends there).
fn always_matches(parts: &[Hir], factor: &Hir, edge: Edge) -> bool {
    let (far, near) = match edge {
        Edge::First => (parts.first(), parts.get(1..)),
        Edge::Last => (parts.last(), parts.get(..parts.len().saturating_sub(1))),
    };
    let empty = |h: &Hir| matches!(h.kind(), HirKind::Repetition(r) if r.min == 0);
    if parts.iter().all(empty) {
        return true;
    }
    let boundary = far.is_some_and(|h| match h.kind() {
        HirKind::Look(look) => match edge {
            Edge::First => matches!(
                look,
                Look::WordUnicode
                    | Look::WordAscii
                    | Look::WordStartUnicode
                    | Look::WordStartAscii
                    | Look::WordStartHalfUnicode
                    | Look::WordStartHalfAscii
            ),
            Edge::Last => matches!(
                look,
                Look::WordUnicode
                    | Look::WordAscii
                    | Look::WordEndUnicode
                    | Look::WordEndAscii
                    | Look::WordEndHalfUnicode
                    | Look::WordEndHalfAscii
            ),
        },
        _ => false,
    });
    let words = |h: &Hir| match h.kind() {
        HirKind::Repetition(r) if r.min == 0 && r.max.is_none() => covers_ascii_words(&r.sub),
        _ => false,
    };
    boundary && matches!(near, Some([middle]) if words(middle)) && edge_is_word(factor, edge)
}

fn is_ascii_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The ASCII characters `hir` (one character's class) matches, as a 128-bit set.
fn ascii_set(hir: &Hir) -> Option<u128> {
    let mut set = 0u128;
    let mut add = |start: u32, end: u32| {
        for c in start..=end.min(0x7f) {
            set |= 1 << c;
        }
    };
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .for_each(|r| add(r.start() as u32, r.end() as u32)),
        HirKind::Class(Class::Bytes(class)) => class
            .ranges()
            .iter()
            .for_each(|r| add(u32::from(r.start()), u32::from(r.end()))),
        HirKind::Literal(literal) if literal.0.len() == 1 => {
            add(u32::from(literal.0[0]), u32::from(literal.0[0]))
        }
        _ => return None,
    }
    Some(set)
}

fn ascii_words() -> u128 {
    (0u8..128)
        .filter(|&b| is_ascii_word(b))
        .fold(0, |set, b| set | 1 << b)
}

/// Whether `hir` matches every ASCII word character.
fn covers_ascii_words(hir: &Hir) -> bool {
    ascii_set(hir).is_some_and(|set| set & ascii_words() == ascii_words())
}

/// Whether every ASCII character `hir` can begin (or end, at `Edge::Last`) a match with is a
/// word character; false where unsure.
fn edge_is_word(hir: &Hir, edge: Edge) -> bool {
    match hir.kind() {
        HirKind::Literal(literal) => {
            let byte = match edge {
                Edge::First => literal.0.first(),
                Edge::Last => literal.0.last(),
            };
            byte.is_some_and(|&b| is_ascii_word(b))
        }
        HirKind::Class(_) => ascii_set(hir).is_some_and(|set| set & !ascii_words() == 0),
        HirKind::Capture(capture) => edge_is_word(&capture.sub, edge),
        HirKind::Repetition(rep) => rep.min >= 1 && edge_is_word(&rep.sub, edge),
        HirKind::Alternation(subs) => subs.iter().all(|h| edge_is_word(h, edge)),
        HirKind::Concat(subs) => {
            let mut consuming = subs
                .iter()
                .filter(|h| !matches!(h.kind(), HirKind::Look(_)));
            let next = match edge {
                Edge::First => consuming.next(),
                Edge::Last => consuming.next_back(),
            };
            next.is_some_and(|h| min_len(h) > 0 && edge_is_word(h, edge))
        }
        HirKind::Empty | HirKind::Look(_) => false,
    }
}

/// `hir` as the automata of `form` search it, without capture groups: for ASCII text, classes
/// and literals cut to ASCII and word boundaries made ASCII ones (the same matches there); for
/// any text, every assertion dropped but the ends of the text and of lines (a match wherever
/// `hir` matches, and perhaps elsewhere).
fn reform(hir: &Hir, form: Form) -> Hir {
    let ascii = form == Form::Ascii;
    match hir.kind() {
        HirKind::Look(look) => match look {
            Look::Start
            | Look::End
            | Look::StartLF
            | Look::EndLF
            | Look::StartCRLF
            | Look::EndCRLF => Hir::look(*look),
            Look::WordUnicode if ascii => Hir::look(Look::WordAscii),
            Look::WordUnicodeNegate if ascii => Hir::look(Look::WordAsciiNegate),
            Look::WordStartUnicode if ascii => Hir::look(Look::WordStartAscii),
            Look::WordEndUnicode if ascii => Hir::look(Look::WordEndAscii),
            Look::WordStartHalfUnicode if ascii => Hir::look(Look::WordStartHalfAscii),
            Look::WordEndHalfUnicode if ascii => Hir::look(Look::WordEndHalfAscii),
            Look::WordAscii
            | Look::WordAsciiNegate
            | Look::WordStartAscii
            | Look::WordEndAscii
            | Look::WordStartHalfAscii
            | Look::WordEndHalfAscii
                if ascii =>
            {
                Hir::look(*look)
            }
            _ => Hir::empty(),
        },
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            sub: Box::new(reform(&rep.sub, form)),
            ..rep.clone()
        }),
        HirKind::Capture(capture) => reform(&capture.sub, form),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(|h| reform(h, form)).collect()),
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.iter().map(|h| reform(h, form)).collect())
        }
        HirKind::Literal(literal) if ascii && !literal.0.is_ascii() => Hir::fail(),
        HirKind::Class(Class::Unicode(class)) if ascii => {
            let mut class = class.clone();
            class.intersect(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7f')]));
            Hir::class(Class::Unicode(class))
        }
        HirKind::Class(Class::Bytes(class)) if ascii => {
            let mut class = class.clone();
            class.intersect(&ClassBytes::new([ClassBytesRange::new(0, 0x7f)]));
            Hir::class(Class::Bytes(class))
        }
        _ => hir.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::RegexSet;
    use crate::regexes::Regex;

    #[test]
    fn one_pattern_more_changes_one_chunk() {
        use super::{content_chunks, factor, CHUNK};
        use regex_automata::util::syntax;
        let written = |n: u32, skip: u32| -> Vec<(u32, String, bool)> {
            (0..n)
                .filter(|&k| k != skip)
                .map(|k| (k, format!(r"\bw{k}[a-z]\b"), false))
                .collect()
        };
        let keys = |patterns: &[(u32, String, bool)]| -> Vec<Vec<(String, bool)>> {
            let factors: Vec<_> = patterns
                .iter()
                .map(|(t, p, _)| (*t, factor(&syntax::parse(p).expect("parses")), true))
                .collect();
            content_chunks(&factors, patterns)
                .into_iter()
                .map(|(range, sources)| {
                    assert!(range.len() <= CHUNK);
                    sources
                })
                .collect()
        };
        let all = keys(&written(5_000, u32::MAX));
        let fewer = keys(&written(5_000, 2_500));
        assert!(all.len() >= 8, "{} chunks", all.len());
        let changed = all.iter().filter(|k| !fewer.contains(k)).count();
        assert!(changed <= 2, "{changed} of {} chunks changed", all.len());
    }

    #[test]
    fn a_factor_is_the_longest_bounded_run() {
        use super::{factor, min_len};
        use regex_automata::util::syntax;
        let min = |p: &str| min_len(&factor(&syntax::parse(p).expect("parses")));
        assert_eq!(min(r"\b\w+stan\b"), 4);
        assert_eq!(min(r"\bkari[a-z]{2}mo\b"), 8);
        assert_eq!(min(r"(ab+c|xyz)"), 1);
        assert_eq!(min(r"x*"), 0);
        assert_eq!(min(r"a\s+bcd(\s+\w+)*"), 3);
    }

    #[test]
    fn a_factor_is_sure_where_the_rest_always_matches_around_it() {
        use super::sure_factor;
        use regex_automata::util::syntax;
        let sure = |p: &str| sure_factor(&syntax::parse(p).expect("parses")).is_some();
        for p in [
            r"\b\w+stan\b",
            r"\b(ka|ko)ri\w*\b",
            r"\w*ing\b",
            r"(\b\w*ab\w*\b)",
            r"foo\w+",
            r"(ab)+c",
        ] {
            assert!(sure(p), "{p}");
        }
        for p in [
            r"\bka\w*\s+rimo",
            r"ka(\s+\w+){0,2}\s+rimo\b",
            r"\b[a-z]*stan\b",
            r"\b\w*-stan",
            r"\b\w+\b",
            r"kari[a-z]{2}mo",
        ] {
            assert!(!sure(p), "{p}");
        }
    }

    #[test]
    fn a_sure_hit_is_a_match_and_a_match_is_a_hit_on_generated_text() {
        // Text over a few words and separators where the patterns' pieces meet in every way.
        let pieces = [
            "ka", "ri", "stan", "_", "9", "kari", " ", "-", "ko", "ing", ".", "É",
        ];
        let patterns = [
            r"\b\w+stan\b",
            r"\b(ka|ko)ri\w*\b",
            r"\w*ing\b",
            r"\b\w*ri\w*\b",
            r"\bka\w*\s+ri",
            r"ri\w+",
            r"\w+-ka\b",
            r"\b\w{2,}ri",
            r"\Bri\w*\b",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let texts: Vec<String> = (0..3_000)
            .map(|_| (0..next(8)).map(|_| pieces[next(pieces.len())]).collect())
            .collect();
        agrees_with_each_regex(&patterns, &texts);
    }

    #[test]
    fn factors_too_large_together_or_alone_still_find_their_matches() {
        // 600 factors of `\w{40}` do not fit one automaton (a set of 512 failed to build, and
        // with it the whole rule set); widened, each is over ALONE_BYTES.
        let patterns: Vec<(u32, String, bool)> = (0..600)
            .map(|i| (i, format!(r"\b\w{{40}}q{i}\b"), true))
            .collect();
        let set = RegexSet::new(&patterns).expect("builds");
        let word = "a".repeat(40);
        for text in [format!("x {word}q7 y"), format!("é {word}q7 y")] {
            let mut found = Vec::new();
            set.matching(&text, text.is_ascii(), |t, _| found.push(t));
            assert!(found.contains(&7), "{text}");
            assert!(!found.contains(&8) || !text.is_ascii(), "{text}");
        }
    }

    #[test]
    fn finds_every_pattern_that_matches_as_each_regex_alone_does() {
        let patterns = [
            r"\bkari[a-z]{2}mo\b",
            r"\bAl[- ]?Qa[ei]da\b",
            r"\b\w+stan\b",
            r"(?i)ЖУК\b",
            r"^Breaking",
            r"\Bend\B",
            r"x*",
            r"(ko|ka)ri(\s+\w+){0,2}\s+mo",
        ];
        let texts = [
            "Reports of Al-Qaida and karibomo in Kazakhstan",
            "жук and AlQaeda; sokari lo mo",
            "Breaking: the legend ends",
            "",
            "karimo kazakh stan",
            "in Kazakhstan’s north, “karibimo” — Al Qeda",
        ];
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        agrees_with_each_regex(&patterns, &texts);
    }

    /// In both cases: every pattern that matches a text alone is found there by the set, and
    /// every hit the set is sure of is a match.
    fn agrees_with_each_regex(patterns: &[&str], texts: &[String]) {
        for case_sensitive in [true, false] {
            let set = RegexSet::new(
                &patterns
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i as u32, p.to_string(), case_sensitive))
                    .collect::<Vec<_>>(),
            )
            .expect("builds");
            let alone: Vec<Regex> = patterns
                .iter()
                .map(|p| Regex::compile(p, case_sensitive).expect("compiles"))
                .collect();
            for text in texts {
                let mut found = Vec::new();
                set.matching(text, text.is_ascii(), |t, sure| {
                    found.push(t);
                    if sure {
                        let p = patterns[t as usize];
                        assert!(alone[t as usize].span(text, None).is_some(), "{p} {text:?}");
                    }
                });
                for (i, regex) in alone.iter().enumerate() {
                    if regex.span(text, None).is_some() {
                        assert!(found.contains(&(i as u32)), "{} in {text:?}", patterns[i]);
                    }
                }
            }
        }
    }
}
