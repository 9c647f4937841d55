//! Watch regexes, on a linear-time engine (`regex-automata`'s meta regex, the engine of the
//! `regex` crate): no backtracking, so no pattern and no text can make a search take more than
//! time proportional to the text (times the pattern's size). The rule language's regexes are
//! this engine's syntax; what it lacks (backreferences, lookaround) is refused when the watch is
//! compiled, never run slowly.
//!
//! Python sees offsets in characters; the engine works in bytes, so offsets are converted here.
//!
//! A pattern is checked when the watch is read (parsed, and its size bounded) but built into
//! the engine's automata only when a search first needs it: building costs 0.1-0.7 ms and
//! some 150 KB a pattern with Unicode classes (`\w`), and most of a large rule set's regexes
//! are decided by `regex_set::RegexSet` without ever running alone (100,000 adversarial
//! watches: 4,630 regexes, 2.1 s and 700 MB when all were built at once).

use std::sync::OnceLock;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use regex_automata::meta;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::{Class, Hir, HirKind};

/// A compiled watch regex (immutable; shared between threads).
#[pyclass(frozen, module = "monitor_native")]
pub struct Regex {
    inner: OnceLock<meta::Regex>,
    pattern: String,
    case_sensitive: bool,
}

// Bounds on what one pattern may compile to: `a{1000}{1000}` is refused, not built.
const NFA_LIMIT: usize = 2 << 20;
const DFA_CACHE: usize = 2 << 20;

#[pymethods]
impl Regex {
    /// Compile `pattern`; raise ValueError naming what is wrong with it.
    #[new]
    #[pyo3(signature = (pattern, case_sensitive))]
    fn new(pattern: &str, case_sensitive: bool) -> PyResult<Self> {
        Self::compile(pattern, case_sensitive).map_err(PyValueError::new_err)
    }

    /// The pattern as written.
    #[getter]
    fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern tells case apart.
    #[getter]
    fn case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    /// The first non-empty match in `text` as (start, end) in characters, or None. With
    /// `places` (character offsets), every match must begin at one of them: it is tried there
    /// only. The GIL is let go while the engine runs.
    #[pyo3(signature = (text, places=None))]
    fn first_span(
        &self,
        py: Python<'_>,
        text: &str,
        places: Option<Vec<usize>>,
    ) -> Option<(u32, u32)> {
        let places = places.map(|mut p| {
            p.sort_unstable();
            p.dedup();
            p
        });
        py.allow_threads(|| self.span(text, places.as_deref()))
    }
}

impl Regex {
    /// The pattern as written.
    pub fn pattern_text(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern tells case apart.
    pub fn is_case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    /// Check `pattern`, or say what is wrong with it: its syntax, and its size once built.
    /// A pattern whose automata could pass the size limit (by a bound some 5-20 times what
    /// they take) is built now, to be sure.
    pub fn compile(pattern: &str, case_sensitive: bool) -> Result<Self, String> {
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(!case_sensitive)
            .build()
            .parse(pattern)
            .map_err(|e| describe_syntax(&e))?;
        let inner = OnceLock::new();
        if nfa_bytes_bound(&hir) > NFA_LIMIT {
            let built = build(pattern, case_sensitive)?;
            inner.set(built).expect("a new cell is empty");
        }
        Ok(Self {
            inner,
            pattern: pattern.to_owned(),
            case_sensitive,
        })
    }

    /// The engine's regex, built on first use. Its size was bounded when it was checked.
    fn meta(&self) -> &meta::Regex {
        self.inner.get_or_init(|| {
            build(&self.pattern, self.case_sensitive)
                .expect("a pattern checked by `compile` builds within the size limit")
        })
    }

    /// `first_span`, for the engine (which holds the GIL or has let it go itself); `places`
    /// must be ascending, as the engine's are.
    pub fn span(&self, text: &str, places: Option<&[usize]>) -> Option<(u32, u32)> {
        let found = match places {
            None => self.meta().find_iter(text).find(|m| m.end() > m.start()),
            Some(places) => byte_offsets(text, places).into_iter().find_map(|at| {
                let input = Input::new(text).range(at..).anchored(Anchored::Yes);
                self.meta().search(&input).filter(|m| m.end() > m.start())
            }),
        }?;
        let start = char_offset(text, 0, 0, found.start());
        let end = char_offset(text, found.start(), start, found.end());
        Some((start as u32, end as u32))
    }
}

/// The byte offsets of ascending character offsets (those past the end are dropped).
fn byte_offsets(text: &str, chars: &[usize]) -> Vec<usize> {
    if text.is_ascii() {
        return chars.iter().copied().filter(|&c| c <= text.len()).collect();
    }
    let mut out = Vec::with_capacity(chars.len());
    let mut wanted = chars.iter().copied().peekable();
    for (count, (byte, _)) in text.char_indices().chain([(text.len(), ' ')]).enumerate() {
        while wanted.peek() == Some(&count) {
            out.push(byte);
            wanted.next();
        }
        if wanted.peek().is_none() {
            break;
        }
    }
    out
}

/// The character offset of byte `to`, counting on from byte `from` (character `at`).
fn char_offset(text: &str, from: usize, at: usize, to: usize) -> usize {
    if text.is_ascii() {
        return to;
    }
    at + text[from..to].chars().count()
}

fn build(pattern: &str, case_sensitive: bool) -> Result<meta::Regex, String> {
    meta::Regex::builder()
        .syntax(syntax::Config::new().case_insensitive(!case_sensitive))
        .configure(
            // Only where a match starts and ends is asked for: no capture groups, and none of
            // the engines that exist to find them (whose caches took some 150 KB a pattern).
            meta::Config::new()
                .which_captures(WhichCaptures::Implicit)
                .onepass(false)
                .backtrack(false)
                .nfa_size_limit(Some(NFA_LIMIT))
                .hybrid_cache_capacity(DFA_CACHE),
        )
        .build(pattern)
        .map_err(|e| describe(&e))
}

/// Bytes of a Thompson NFA per state of `states_bound`, with room to spare (a unit test holds
/// real patterns' NFAs, forward and reverse, to it).
const STATE_BYTES: usize = 64;

/// More bytes than the pattern's Thompson NFA can take, either way round (its fixed parts
/// included: the unanchored prefix, start and match states).
pub(crate) fn nfa_bytes_bound(hir: &Hir) -> usize {
    states_bound(hir)
        .saturating_add(32)
        .saturating_mul(STATE_BYTES)
}

/// More states than the pattern's Thompson NFA can have: a class counts the bytes of its UTF-8
/// sequences, a counted repetition its sub-pattern as often as its bound.
fn states_bound(hir: &Hir) -> usize {
    let one = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(literal) => literal.0.len(),
        HirKind::Class(Class::Bytes(class)) => class.ranges().len(),
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| {
                regex_syntax::utf8::Utf8Sequences::new(r.start(), r.end())
                    .map(|seq| seq.len())
                    .sum::<usize>()
            })
            .sum(),
        HirKind::Repetition(rep) => {
            let copies = rep.max.unwrap_or(rep.min).max(rep.min).saturating_add(1) as usize;
            states_bound(&rep.sub).saturating_mul(copies)
        }
        HirKind::Capture(capture) => states_bound(&capture.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().map(states_bound).fold(0, usize::saturating_add)
        }
    };
    one.saturating_add(2)
}

/// A syntax error as one line a rule author can act on: what is wrong, where, and for what
/// the engine lacks, what to write instead.
fn describe_syntax(syntax: &regex_syntax::Error) -> String {
    let (kind, at) = match syntax {
        regex_syntax::Error::Parse(x) => (x.kind().to_string(), x.span().start.column),
        regex_syntax::Error::Translate(x) => (x.kind().to_string(), x.span().start.column),
        other => (other.to_string().replace('\n', " "), 0),
    };
    let hint = if kind.contains("look-around") {
        "; hint: match the context as a separate term of the watch (all: [...], \
         none: [...]) instead"
    } else if kind.contains("backreferences") {
        "; hint: write the repeated text out, or match it with two terms of the watch"
    } else {
        ""
    };
    let place = if at > 0 {
        format!(" at character {at}")
    } else {
        String::new()
    };
    format!("{kind}{place}{hint}")
}

/// A build error as one line a rule author can act on.
fn describe(e: &meta::BuildError) -> String {
    if let Some(syntax) = e.syntax_error() {
        return describe_syntax(syntax);
    }
    if e.size_limit().is_some() {
        return "the pattern is too large once its repetitions are expanded \
                (a counted repeat such as {1000} of a long group): make it smaller"
            .to_owned();
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(p: &str, case_sensitive: bool) -> Regex {
        Regex::compile(p, case_sensitive).expect("compiles")
    }

    #[test]
    fn offsets_are_in_characters_on_both_sides() {
        let r = regex(r"\bкиев\b", false);
        assert_eq!(r.span("в Киеве и Киев", None), Some((10, 14)));
        assert_eq!(r.span("в Киеве и Киев", Some(&[10])), Some((10, 14)));
        assert_eq!(r.span("в Киеве и Киев", Some(&[2])), None);
    }

    #[test]
    fn catastrophic_patterns_are_linear() {
        let r = regex(r"(a+)+$", true);
        let text = "a".repeat(100_000) + "!";
        assert_eq!(r.span(&text, None), None);
    }

    #[test]
    fn empty_matches_find_nothing() {
        assert_eq!(regex("x*", true).span("abc", None), None);
        assert_eq!(regex("x*", true).span("abxc", None), Some((2, 3)));
    }

    #[test]
    fn the_bound_on_states_holds_for_real_automata() {
        use regex_automata::nfa::thompson;
        for p in [
            r"\w",
            r"\w\w\w",
            r"(?i)\w+stan",
            r"\W",
            r".",
            r"(?s).",
            r"\p{L}+",
            r"[\w\p{L}\d]",
            r"\bka\w{1,3}ri\b",
            r"\bAl[- ]?Qa[ei]da\b",
            r"(\w+\s+){8}\w+",
            r"[^a]{3}",
            r"(?i)défense|Киев",
            r"a{100}",
            r"(ab|cd|ef){1,20}",
            r"x*",
            r"^\d{4}-\d\d$",
        ] {
            let hir = regex_syntax::ParserBuilder::new()
                .build()
                .parse(p)
                .expect(p);
            let bound = nfa_bytes_bound(&hir);
            for reverse in [false, true] {
                let captures = if reverse {
                    thompson::WhichCaptures::None
                } else {
                    thompson::WhichCaptures::All
                };
                let config = thompson::Config::new()
                    .reverse(reverse)
                    .which_captures(captures);
                let nfa = thompson::Compiler::new()
                    .syntax(syntax::Config::new())
                    .configure(config)
                    .build(p)
                    .expect(p);
                assert!(
                    nfa.memory_usage() <= bound,
                    "{p} {reverse}: {} > {bound}",
                    nfa.memory_usage()
                );
            }
        }
    }

    #[test]
    fn a_pattern_too_large_is_refused_when_checked() {
        let Err(message) = Regex::compile(r"(\w{100}){100}", true) else {
            panic!("compiled");
        };
        assert!(message.contains("too large"), "{message}");
        // Near the bound, the pattern is built at once (and kept).
        let big = regex(r"\w{40}", true);
        assert!(big.inner.get().is_some());
        assert!(regex(r"\bkari\w{1,3}\b", true).inner.get().is_none());
    }

    #[test]
    fn unsupported_constructs_are_refused_with_a_hint() {
        for (p, hint) in [
            (r"(a)\1", "repeated text"),
            ("a(?=b)", "context"),
            ("(?<!a)b", "context"),
        ] {
            let Err(message) = Regex::compile(p, true) else {
                panic!("{p} compiled");
            };
            assert!(message.contains(hint), "{p}: {message}");
        }
    }
}
