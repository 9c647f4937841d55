//! Watch regexes, on a linear-time engine (`regex-automata`'s meta regex, the engine of the
//! `regex` crate): no backtracking, so no pattern and no text can make a search take more than
//! time proportional to the text (times the pattern's size). The rule language's regexes are
//! this engine's syntax; what it lacks (backreferences, lookaround) is refused when the watch is
//! compiled, never run slowly.
//!
//! Python sees offsets in characters; the engine works in bytes, so offsets are converted here.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use regex_automata::meta;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};

/// A compiled watch regex (immutable; shared between threads).
#[pyclass(frozen, module = "monitor_native")]
pub struct Regex {
    inner: meta::Regex,
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

    /// Compile `pattern`, or say what is wrong with it.
    pub fn compile(pattern: &str, case_sensitive: bool) -> Result<Self, String> {
        let inner = meta::Regex::builder()
            .syntax(syntax::Config::new().case_insensitive(!case_sensitive))
            .configure(
                meta::Config::new()
                    .nfa_size_limit(Some(NFA_LIMIT))
                    .hybrid_cache_capacity(DFA_CACHE),
            )
            .build(pattern)
            .map_err(|e| describe(&e))?;
        Ok(Self {
            inner,
            pattern: pattern.to_owned(),
            case_sensitive,
        })
    }

    /// `first_span`, for the engine (which holds the GIL or has let it go itself); `places`
    /// must be ascending, as the engine's are.
    pub fn span(&self, text: &str, places: Option<&[usize]>) -> Option<(u32, u32)> {
        let found = match places {
            None => self.inner.find_iter(text).find(|m| m.end() > m.start()),
            Some(places) => byte_offsets(text, places).into_iter().find_map(|at| {
                let input = Input::new(text).range(at..).anchored(Anchored::Yes);
                self.inner.search(&input).filter(|m| m.end() > m.start())
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

/// A compile error as one line a rule author can act on: what is wrong, where, and for what
/// the engine lacks, what to write instead.
fn describe(e: &regex_automata::meta::BuildError) -> String {
    if let Some(syntax) = e.syntax_error() {
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
        return format!("{kind}{place}{hint}");
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
