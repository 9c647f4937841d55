//! monitor's matching core, in Rust: the per-article work of `monitor.matching.matcher`.
//!
//! Python compiles the rule set (`monitor.matching.compiler`) and hands this module the
//! anchors, terms, entities and rule trees; matching an article is then one call that finds
//! the terms in each field, runs the few regexes the field's literals call for (on a linear-time
//! engine, `regexes::Regex`, which Python's matcher uses too), evaluates the rules those terms
//! can wake and returns the matches with their evidence. Beside it, `yaml::read_yaml`: the
//! fast path for reading the rule files, and `stories::StoryIndex`: story folding's index.
//! No I/O here.

mod anchors;
mod floating;
mod heads;
mod objects;
mod prefetch;
mod regex_set;
mod regexes;
mod rules;
mod stories;
mod yaml;

use anchors::{confirm, Mode, ModeBuilder, Occurrence, RegexNotes, View};
use objects::Makers;
use prefetch::prefetch;
use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple, PyType};
use regex_set::RegexSet;
use regexes::Regex;
use rules::{ranks, Entity, FieldHits, Filters, Hit, Lists, Node, Rule, Rules};
use rustc_hash::FxHashMap;
use std::time::Instant;

/// A rule's feed and language filters: (rule index, feed ids or None, languages)
type FilterSpec = (u32, Option<Vec<String>>, Vec<String>);
/// One field to scan: (casefolded stream or None, exact stream or None); its text is in `texts`
type FieldScan = (Option<String>, Option<String>);
/// Hits Python found in a field it scanned itself: (term, start, end, regex) each
type GivenHits = Vec<(u32, u32, u32, bool)>;

/// A compiled rule set, ready to match articles (immutable; safe to share between threads).
#[pyclass(frozen, module = "monitor_native")]
struct Engine {
    folded: Option<Mode>,
    exact: Option<Mode>,
    // Each token pattern's terms: a word's id, or a phrase's id with PHRASE set, then the
    // number of its other words and their patterns (read with the id: looking them up was two
    // cache misses more).
    terms_by_first_pattern: Lists,
    // The regex terms without a literal long enough to single out the fields to run them on:
    // one pass of the set over a field tells which to run.
    regex_set: RegexSet,
    regexes: FxHashMap<u32, Py<Regex>>, // regex term -> its compiled regex
    rules: Rules,
    makers: Makers,
}

/// A regex term's literal this long or longer is rare enough in text to decide where the
/// regex runs (over the field, where the literal stands in it)...
const STRONG_LITERAL: usize = 6;
/// ...or this long, when every match begins with it (the regex is then only tried at its
/// places, a few cheap tries). A shorter literal (`ka`, `stan`) stands in nearly every field:
/// its term is searched in `Engine::regex_set` with the terms that have none. Measured: with
/// every literal of 3 or more anchored, the adversarial workload ran at 431 articles/s; these
/// bounds gave 1,865/s, and the realistic workload's figures stayed within noise.
const STRONG_LEADING: usize = 4;

/// Marks a phrase (a term of several words) in `Engine::terms_by_first_pattern`.
const PHRASE: u32 = 1 << 31;

/// Scripts written without spaces (as `monitor.kernel.text`): a word in them has no anchor.
const NO_SPACE: [(u32, u32); 8] = [
    (0x0E00, 0x0EFF),
    (0x1000, 0x109F),
    (0x1780, 0x17FF),
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3134F),
];

/// The anchor of a literal or prefix word (`pattern_anchor` in `monitor/matching/automaton.py`):
/// its bytes, apostrophes made spaces, after a space (and before one, for a literal).
fn word_anchor(literal: bool, text: &str) -> Option<Vec<u8>> {
    let first = u32::from(text.chars().next()?);
    if NO_SPACE.iter().any(|&(lo, hi)| lo <= first && first <= hi) {
        return None;
    }
    // Made once, to its size: there may be hundreds of thousands.
    let mut anchor = Vec::with_capacity(text.len() + 1 + usize::from(literal));
    anchor.push(b' ');
    anchor.extend(text.bytes().map(|b| if b == b'\'' { b' ' } else { b }));
    if literal {
        anchor.push(b' ');
    }
    Some(anchor)
}

/// A buffer of native-endian 64-bit integers (Python's `array("q").tobytes()`).
fn int64s(buffer: &[u8]) -> PyResult<Vec<i64>> {
    if !buffer.len().is_multiple_of(8) {
        return Err(PyValueError::new_err(
            "a buffer of 64-bit integers has a partial one",
        ));
    }
    Ok(buffer
        .chunks_exact(8)
        .map(|b| i64::from_ne_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

fn build(mode: ModeBuilder) -> Result<Option<Mode>, String> {
    if mode.is_empty() {
        return Ok(None);
    }
    mode.build().map(Some)
}

#[pymethods]
impl Engine {
    /// Build the engine from the compiler's tables (see `_engine` in
    /// `monitor/matching/compiler.py`): token patterns as (kind, text, case-sensitive) by id,
    /// the anchors of glob patterns (pattern id, anchor, distance back), regex terms' literals
    /// (term id, literal, case-sensitive, leads) and compiled patterns (term id, pattern), and
    /// the rules; then what matches are made of: each rule's spec, the fields' names and the
    /// `Match` and `Evidence` classes.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, patterns, glob_anchors, regex_anchors, term_patterns, open_regex_terms,
        regexes, labels, languages, entities, entity_ids, sets, conds, field_lists, rules, filters,
        term_rules, rules_by_set, always, specs, fields, match_type, evidence_type))]
    fn new(
        py: Python<'_>,
        patterns: Vec<(String, String, bool)>,
        glob_anchors: Vec<(u32, String, u32)>,
        regex_anchors: Vec<(u32, String, bool, bool)>,
        term_patterns: &[u8],
        open_regex_terms: Vec<u32>,
        regexes: Vec<(u32, Py<Regex>)>,
        labels: Vec<Py<PyString>>,
        languages: Vec<Option<Py<PyString>>>,
        entities: Vec<(Vec<u32>, Vec<u32>)>,
        entity_ids: Vec<Py<PyString>>,
        sets: Vec<Vec<u32>>,
        conds: &[u8],
        field_lists: Vec<Vec<usize>>,
        rules: &[u8],
        filters: Vec<FilterSpec>,
        term_rules: &[u8],
        rules_by_set: Vec<Vec<u32>>,
        always: Vec<u32>,
        specs: Vec<Py<PyAny>>,
        fields: Vec<Py<PyString>>,
        match_type: Bound<'_, PyType>,
        evidence_type: Bound<'_, PyType>,
    ) -> PyResult<Self> {
        let strings = |objects: &[Py<PyString>]| -> PyResult<Vec<String>> {
            objects
                .iter()
                .map(|o| Ok(o.bind(py).to_str()?.to_string()))
                .collect()
        };
        let (label_texts, entity_id_texts) = (strings(&labels)?, strings(&entity_ids)?);
        let makers = Makers::new(
            py,
            match_type,
            evidence_type,
            specs,
            labels,
            languages,
            entity_ids,
            fields,
        )?;
        let (regex_anchors, weak): (Vec<_>, Vec<_>) =
            regex_anchors
                .into_iter()
                .partition(|(_, literal, _, leads)| {
                    let length = literal.chars().count();
                    length >= STRONG_LITERAL || *leads && length >= STRONG_LEADING
                });
        let mut in_set: Vec<u32> = open_regex_terms;
        in_set.extend(weak.iter().map(|(term, _, _, _)| *term));
        in_set.sort_unstable();
        let set_patterns: Vec<(u32, String, bool)> = regexes
            .iter()
            .filter(|(term, _)| in_set.binary_search(term).is_ok())
            .map(|(term, regex)| {
                let regex = regex.get();
                (
                    *term,
                    regex.pattern_text().to_owned(),
                    regex.is_case_sensitive(),
                )
            })
            .collect();
        let (term_patterns, conds, rules, term_rules) = (
            int64s(term_patterns)?,
            int64s(conds)?,
            int64s(rules)?,
            int64s(term_rules)?,
        );
        // The anchors (most of the work) are built on a second thread while this one reads
        // the rules; neither needs Python.
        py.allow_threads(|| {
            std::thread::scope(|scope| {
                let modes = scope.spawn(|| modes(&patterns, glob_anchors, regex_anchors));
                let regex_set = scope.spawn(|| RegexSet::new(&set_patterns));
                let rules = read_rules(
                    patterns.len(),
                    &term_patterns,
                    &conds,
                    &field_lists,
                    &rules,
                    filters,
                    &term_rules,
                    Tables {
                        labels: label_texts,
                        entities,
                        entity_ids: entity_id_texts,
                        sets,
                        rules_by_set,
                        always,
                    },
                );
                let [mut folded, mut exact] = modes
                    .join()
                    .map_err(|_| "building the anchors panicked".to_string())??;
                let (terms_by_first_pattern, rules) = rules?;
                let regex_set = regex_set
                    .join()
                    .map_err(|_| "building the regex set panicked".to_string())??;
                for mode in [&mut folded, &mut exact].into_iter().flatten() {
                    mode.link_terms(|pattern| terms_by_first_pattern.range(pattern));
                }
                Ok::<_, String>(Engine {
                    folded,
                    exact,
                    terms_by_first_pattern,
                    regex_set,
                    regexes: regexes.into_iter().collect(),
                    rules,
                    makers,
                })
            })
        })
        .map_err(PyValueError::new_err)
    }

    /// Whether there are anchors to search casefolded, and exact (a field's stream for a mode
    /// without anchors need not be made).
    #[getter]
    fn modes(&self) -> (bool, bool) {
        (self.folded.is_some(), self.exact.is_some())
    }

    /// Match one article: its matches (`monitor.kernel.models.Match`), in rule order. `texts[i]` is
    /// the text of field i; `scans[i]` that field's streams, to scan it here (an ASCII text
    /// may come without them), or None; `given[i]` the hits Python found in a field it
    /// scanned itself ((term, start, end, regex) each). With `budget_s`, an article whose
    /// regexes are still to run when that many seconds have passed raises `TimeoutError`.
    #[pyo3(signature = (texts, scans, given, article_id, feed, language, budget_s=None))]
    #[allow(clippy::too_many_arguments)]
    fn match_article<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
        scans: Vec<Option<FieldScan>>,
        given: Vec<Option<GivenHits>>,
        article_id: Bound<'py, PyAny>,
        feed: Option<&str>,
        language: Option<&str>,
        budget_s: Option<f64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let started = Instant::now();
        let count = scans.len().max(given.len());
        let mut hits: Vec<FieldHits> = Vec::with_capacity(count);
        let mut requests: Vec<(usize, u32, Option<Vec<usize>>)> = Vec::new();
        for f in 0..count {
            let mut field = FieldHits::default();
            if let Some(Some(found)) = given.get(f) {
                for &(term, start, end, regex) in found {
                    field.insert(term, Hit { start, end, regex });
                }
            } else if let Some(Some((folded, exact))) = scans.get(f) {
                let text = texts
                    .get(f)
                    .ok_or_else(|| PyValueError::new_err("a field to scan has no text"))?
                    .to_str()?;
                let notes =
                    self.scan_field(py, text, folded.as_deref(), exact.as_deref(), &mut field)?;
                for (term, places) in notes {
                    let places = places.map(|mut p| {
                        p.sort_unstable();
                        p.dedup();
                        p
                    });
                    requests.push((f, term, places));
                }
            }
            hits.push(field);
        }
        for (done, (f, term, places)) in requests.iter().enumerate() {
            if let Some(budget) = budget_s {
                if started.elapsed().as_secs_f64() > budget {
                    return Err(PyTimeoutError::new_err(format!(
                        "matching took over {budget} s; cut off with {} of {} regex runs left",
                        requests.len() - done,
                        requests.len()
                    )));
                }
            }
            if let Some((start, end)) = self.regex_span(&texts[*f], *term, places.as_deref())? {
                let hit = Hit {
                    start,
                    end,
                    regex: true,
                };
                hits[*f].insert(*term, hit);
            }
        }
        let mut article = rules::Article::new(&self.rules, &hits);
        let candidates = article.candidates();
        // Each rule is asked for some rules ahead of its test, and its top conditions fewer
        // ahead (they are found in the rule): the misses overlap the tests before them.
        const RULES_AHEAD: usize = 16;
        const CONDITIONS_AHEAD: usize = 8;
        for &rule in candidates.iter().take(RULES_AHEAD) {
            self.rules.prefetch_rule(rule);
        }
        for &rule in candidates.iter().take(CONDITIONS_AHEAD) {
            self.rules.prefetch_conditions(rule);
        }
        let mut held = Vec::new();
        for (k, &index) in candidates.iter().enumerate() {
            if let Some(&rule) = candidates.get(k + RULES_AHEAD) {
                self.rules.prefetch_rule(rule);
            }
            if let Some(&rule) = candidates.get(k + CONDITIONS_AHEAD) {
                self.rules.prefetch_conditions(rule);
            }
            if article.holds(index, feed, language) {
                held.push(index);
            }
        }
        self.makers.prefetch(&held);
        // A regex hit the set was sure of is placed once a rule shows it.
        let mut placed: FxHashMap<(usize, u32), Option<(u32, u32)>> = FxHashMap::default();
        let mut place = |f: usize, term: u32| {
            *placed.entry((f, term)).or_insert_with(|| {
                let text = texts.get(f)?;
                // The text was read as UTF-8 when its field was scanned: this cannot fail.
                self.regex_span(text, term, None).ok().flatten()
            })
        };
        let found: Vec<_> = held
            .into_iter()
            .map(|index| (index, article.evidence(index, &mut place)))
            .collect();
        self.makers.matches(py, &found, &article_id, &texts)
    }
}

impl Engine {
    /// A regex term's first non-empty match in `text` (an empty one, from `x*`, finds no text),
    /// as `regex_span` in `monitor/matching/scan.py`: with `places` (ascending), every match
    /// begins at one of them and the regex is tried there only. The GIL is let go meanwhile, so
    /// a long search never stalls the service's other threads.
    fn regex_span(
        &self,
        text: &Bound<'_, PyString>,
        term: u32,
        places: Option<&[usize]>,
    ) -> PyResult<Option<(u32, u32)>> {
        let Some(regex) = self.regexes.get(&term) else {
            return Ok(None);
        };
        let regex = regex.get();
        let py = text.py();
        let text = text.to_str()?;
        Ok(py.allow_threads(|| regex.span(text, places)))
    }

    /// Find the word terms of one field; return the regex terms it asks to run.
    fn scan_field(
        &self,
        py: Python<'_>,
        text: &str,
        folded: Option<&str>,
        exact: Option<&str>,
        hits: &mut FieldHits,
    ) -> PyResult<RegexNotes> {
        let mut notes = RegexNotes::default();
        let ascii = text.is_ascii();
        if !self.regex_set.is_empty() {
            // Let go of the GIL: a pass over a long field should not stall other threads.
            py.allow_threads(|| {
                self.regex_set.matching(text, ascii, |term, sure| {
                    if sure {
                        let start = Hit::UNPLACED;
                        hits.insert(
                            term,
                            Hit {
                                start,
                                end: start,
                                regex: true,
                            },
                        );
                    } else {
                        notes.insert(term, None);
                    }
                })
            });
        }
        let mut found: Vec<Occurrence> = Vec::new();
        // ASCII text comes without its streams: they are made here.
        let (folded_made, exact_made);
        let (folded, exact) = if folded.is_none() && exact.is_none() && ascii {
            folded_made = self.folded.as_ref().map(|_| ascii_stream(text, true));
            exact_made = self.exact.as_ref().map(|_| ascii_stream(text, false));
            (folded_made.as_deref(), exact_made.as_deref())
        } else {
            (folded, exact)
        };
        let streams: Vec<(&Mode, &str)> = [(&self.folded, folded), (&self.exact, exact)]
            .into_iter()
            .filter_map(|(m, s)| Some((m.as_ref()?, s?)))
            .collect();
        let Some(&(_, first)) = streams.first() else {
            return Ok(notes);
        };
        if ascii && streams.iter().all(|(_, s)| s.is_ascii()) {
            let text = text.as_bytes();
            for &(mode, stream) in &streams {
                let bytes = stream.as_bytes();
                check_lengths(bytes.len(), text.len())?;
                let view = View {
                    bytes,
                    chars: None,
                    stream: bytes,
                    text,
                };
                confirm(mode, &view, &mut found, &mut notes);
            }
            let view = View {
                bytes: first.as_bytes(),
                chars: None,
                stream: first.as_bytes(),
                text,
            };
            self.term_hits(&mut found, &view, hits);
        } else {
            let text: Vec<u32> = text.chars().map(u32::from).collect();
            let mut first_view: Option<(Vec<u32>, Vec<u32>)> = None;
            for &(mode, stream) in &streams {
                let (codes, chars) = code_points(stream);
                check_lengths(codes.len(), text.len())?;
                let view = View {
                    bytes: stream.as_bytes(),
                    chars: Some(&chars),
                    stream: &codes,
                    text: &text,
                };
                confirm(mode, &view, &mut found, &mut notes);
                first_view.get_or_insert((codes, chars));
            }
            if let Some((codes, chars)) = &first_view {
                let view = View {
                    bytes: first.as_bytes(),
                    chars: Some(chars),
                    stream: codes,
                    text: &text,
                };
                self.term_hits(&mut found, &view, hits);
            }
        }
        Ok(notes)
    }

    /// Turn token patterns found into terms: a word term where its word is, a phrase where
    /// its words follow one another; each at its first place.
    fn term_hits<T: Copy + Into<u32>>(
        &self,
        found: &mut Vec<Occurrence>,
        view: &View<'_, T>,
        hits: &mut FieldHits,
    ) {
        // By pattern, then place: one number to compare.
        let order = |o: &Occurrence| u64::from(o.pattern) << 32 | u64::from(o.start);
        found.sort_unstable_by_key(order);
        found.dedup_by_key(|o| order(o));
        hits.reserve(found.len()); // about one term a pattern found, without growing by steps
        let found = &found[..];
        for o in found {
            if let Some(first) = self.terms_by_first_pattern.items(o.terms).first() {
                prefetch(first);
            }
        }
        // The end of the token `pattern` matched at `start`, if it did.
        let at = |pattern: u32, start: u32| -> Option<u32> {
            found
                .binary_search_by_key(&(pattern, start), |o| (o.pattern, o.start))
                .ok()
                .map(|k| found[k].end)
        };
        // A bit for each pattern found (by its low bits): most phrases' other words are not
        // in a field, and this says so without a search.
        let mut seen = [0u64; 64];
        for o in found {
            seen[(o.pattern as usize >> 6) & 63] |= 1 << (o.pattern & 63);
        }
        let has = |pattern: u32| {
            if seen[(pattern as usize >> 6) & 63] >> (pattern & 63) & 1 == 0 {
                return false;
            }
            let k = found.partition_point(|o| o.pattern < pattern);
            k < found.len() && found[k].pattern == pattern
        };
        let mut lo = 0;
        while lo < found.len() {
            let pattern = found[lo].pattern;
            // A pattern is found once or a few times: a walk, where a binary search over the
            // rest of the field's patterns mispredicts at each step.
            let hi = lo
                + found[lo..]
                    .iter()
                    .take_while(|o| o.pattern == pattern)
                    .count();
            let mut items = self.terms_by_first_pattern.items(found[lo].terms);
            while let [code, more @ ..] = items {
                items = more;
                if code & PHRASE == 0 {
                    // A term of one word: where the word first stands.
                    let first = &found[lo];
                    let hit = Hit {
                        start: first.start,
                        end: first.end,
                        regex: false,
                    };
                    hits.insert(*code, hit);
                    continue;
                }
                let term = code & !PHRASE;
                let Some((&count, more)) = items.split_first() else {
                    break;
                };
                let (rest, more) = more.split_at(count as usize);
                items = more;
                if !rest.iter().all(|&p| has(p)) {
                    continue;
                }
                for first in &found[lo..hi] {
                    let mut end = Some(first.end);
                    for &p in rest {
                        end = end
                            .and_then(|e| view.token_after(e as usize))
                            .and_then(|s| at(p, s as u32));
                        if end.is_none() {
                            break;
                        }
                    }
                    if let Some(end) = end {
                        hits.insert(
                            term,
                            Hit {
                                start: first.start,
                                end,
                                regex: false,
                            },
                        );
                        break;
                    }
                }
            }
            lo = hi;
        }
    }
}

/// What the rule reader takes as it comes from Python.
struct Tables {
    labels: Vec<String>,
    entities: Vec<(Vec<u32>, Vec<u32>)>,
    entity_ids: Vec<String>,
    sets: Vec<Vec<u32>>,
    rules_by_set: Vec<Vec<u32>>,
    always: Vec<u32>,
}

/// The casefolded and the exact mode's anchors: token patterns as (kind, text, case-sensitive)
/// by id, glob patterns' anchors (pattern id, anchor, distance back), regex terms' literals
/// (term id, literal, case-sensitive, leads).
fn modes(
    patterns: &[(String, String, bool)],
    glob_anchors: Vec<(u32, String, u32)>,
    regex_anchors: Vec<(u32, String, bool, bool)>,
) -> Result<[Option<Mode>; 2], String> {
    let mut modes = [ModeBuilder::default(), ModeBuilder::default()];
    let mut globs: FxHashMap<u32, (String, u32)> = glob_anchors
        .into_iter()
        .map(|(pid, anchor, back)| (pid, (anchor, back)))
        .collect();
    for (pid, (kind, text, case)) in patterns.iter().enumerate() {
        let pid = pid as u32;
        let length = text.chars().count() as i32;
        let (code, anchor, back, length) = match kind.as_str() {
            "literal" => (
                anchors::LITERAL,
                word_anchor(true, text),
                0,
                if text.contains('\'') { -1 } else { length },
            ),
            "prefix" => (anchors::PREFIX, word_anchor(false, text), 0, -1),
            "glob" => {
                let (anchor, back) = globs.remove(&pid).unzip();
                let anchor = anchor.map(String::into_bytes);
                (
                    anchors::GLOB,
                    anchor,
                    back.unwrap_or(0),
                    if text.ends_with('*') { -1 } else { length },
                )
            }
            other => return Err(format!("unknown token pattern kind {other:?}")),
        };
        match anchor {
            // A case-sensitive word with an ASCII anchor is looked for in the casefolded
            // stream too, so that most fields are searched once.
            Some(mut anchor) if *case && anchor.is_ascii() => {
                anchor.make_ascii_lowercase();
                modes[0].add(anchor, code, pid, text, back, length, true);
            }
            Some(anchor) => {
                modes[usize::from(*case)].add(anchor, code, pid, text, back, length, false)
            }
            None => {
                if let Some((length, open)) =
                    anchors::blank_glob(text).filter(|_| code == anchors::GLOB)
                {
                    // Case makes no difference to a run of `?`s: the casefolded stream has it.
                    modes[0].add_blank(pid, length, open);
                }
            }
        }
    }
    for (tid, literal, case, leads) in regex_anchors {
        // A bare anchor: offset `s` in the stream is offset `s - 1` in the text.
        let kind = if leads {
            anchors::REGEX_AT
        } else {
            anchors::REGEX
        };
        // A case-sensitive literal found in the casefolded stream only asks for more tries:
        // the regex itself decides.
        if case && !literal.is_ascii() {
            modes[1].add(
                literal.as_bytes().to_vec(),
                kind,
                tid,
                &literal,
                1,
                -1,
                false,
            );
        } else {
            let lower = literal.to_ascii_lowercase().into_bytes();
            modes[0].add(lower, kind, tid, &literal, 1, -1, false);
        }
    }
    let [folded, exact] = modes;
    Ok([build(folded)?, build(exact)?])
}

/// The rules and what wakes them, for `patterns` token patterns: terms' token patterns (each
/// term's number of words, then its pattern ids), condition nodes (the numbers of all, any and
/// none children, min, then the children's codes), the distinct lists of field indexes rules
/// read, each rule as (field list, match code, entities code; -1 for none), and (term, rule)
/// pairs for the rules a term wakes. Returns each pattern's terms
/// (`Engine::terms_by_first_pattern`) and the rules.
#[allow(clippy::too_many_arguments)]
fn read_rules(
    patterns: usize,
    term_patterns: &[i64],
    conds: &[i64],
    field_lists: &[Vec<usize>],
    rules: &[i64],
    filters: Vec<FilterSpec>,
    term_rules: &[i64],
    tables: Tables,
) -> Result<(Lists, Rules), String> {
    let term_patterns = Lists::from_counted(term_patterns)?;
    let terms = term_patterns.len();
    if terms as u32 >= PHRASE {
        return Err(format!("{terms} terms: more than the engine can number"));
    }
    let mut first: Vec<(u32, u32)> = Vec::new();
    for tid in 0..terms as u32 {
        match term_patterns.get(tid) {
            [] => {}
            [pid] => first.push((*pid, tid)),
            [pid, rest @ ..] => {
                first.push((*pid, tid | PHRASE));
                first.push((*pid, rest.len() as u32));
                first.extend(rest.iter().map(|&p| (*pid, p)));
            }
        }
    }
    let Tables {
        labels,
        entities,
        entity_ids,
        sets,
        rules_by_set,
        always,
    } = tables;
    let mut by_name: Vec<(u32, u32)> = Vec::new();
    for (e, (names, _)) in entities.iter().enumerate() {
        by_name.extend(names.iter().map(|&t| (t, e as u32)));
    }
    let mut by_entity: Vec<(u32, u32)> = Vec::new();
    let sets: Vec<Vec<u32>> = sets
        .into_iter()
        .enumerate()
        .map(|(s, mut set)| {
            set.sort_unstable();
            by_entity.extend(set.iter().map(|&e| (e, s as u32)));
            set
        })
        .collect();
    // Each condition's offset in `conds_read`, by its number; a condition's children come
    // before it, so their offsets are known when it is read.
    let mut offsets: Vec<u32> = Vec::new();
    let place = |node: Node, offsets: &[u32]| -> Result<Node, String> {
        match node {
            Node::Cond(c) => offsets
                .get(c as usize)
                .map(|&o| Node::Cond(o))
                .ok_or_else(|| format!("a condition names condition {c}, not read before it")),
            other => Ok(other),
        }
    };
    let mut conds_read: Vec<u32> = Vec::new();
    let mut at = 0;
    while at < conds.len() {
        let head = conds.get(at..at + 4).ok_or("a condition is cut short")?;
        let counts: Vec<u32> = head
            .iter()
            .map(|&n| u32::try_from(n))
            .collect::<Result<_, _>>()
            .map_err(|_| "a condition has a negative count")?;
        let n = (counts[0] + counts[1] + counts[2]) as usize;
        let kids = conds
            .get(at + 4..at + 4 + n)
            .ok_or("a condition is cut short")?;
        offsets.push(conds_read.len() as u32);
        conds_read.extend_from_slice(&counts);
        for &code in kids {
            let child = place(Node::decode(code as u64)?, &offsets[..offsets.len() - 1])?;
            conds_read.push(child.word().ok_or("a rule set too large for the engine")?);
        }
        at += 4 + n;
    }
    if !rules.len().is_multiple_of(3) || !term_rules.len().is_multiple_of(2) {
        return Err("a rule's codes or a (term, rule) pair are cut short".into());
    }
    let node = |code: i64| -> Result<Option<Node>, String> {
        (code >= 0)
            .then(|| place(Node::decode(code as u64)?, &offsets))
            .transpose()
    };
    if field_lists.iter().flatten().any(|&f| f >= 64) {
        return Err("a rule reads more than 64 fields".to_string());
    }
    let rules = rules
        .chunks_exact(3)
        .map(|codes| {
            let (index, fields) = u32::try_from(codes[0])
                .ok()
                .and_then(|f| Some((f, field_lists.get(f as usize)?)))
                .ok_or("a rule names a list of fields that is not there")?;
            Ok(Rule {
                mask: fields.iter().fold(0, |m, &f| m | 1 << f),
                fields: index,
                matcher: node(codes[1])?,
                entities: node(codes[2])?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let filters = filters
        .into_iter()
        .map(|(index, feeds, languages)| {
            let feeds = feeds.map(|f| f.into_iter().collect());
            (index, Filters { feeds, languages })
        })
        .collect();
    // A rule that names a term twice is woken once.
    let mut by_term: Vec<(u32, u32)> = term_rules
        .chunks_exact(2)
        .map(|pair| (pair[0] as u32, pair[1] as u32))
        .collect();
    by_term.sort_unstable();
    by_term.dedup();
    Ok((
        Lists::from_pairs(patterns, &first),
        Rules {
            rules,
            field_lists: field_lists
                .iter()
                .map(|fields| fields.iter().map(|&f| f as u8).collect())
                .collect(),
            filters,
            conds: conds_read,
            sets: Lists::from_lists(&sets),
            entities: entities
                .into_iter()
                .map(|(names, context)| Entity { names, context })
                .collect(),
            label_ranks: ranks(&labels),
            term_links: Rules::link(
                terms,
                &Lists::from_pairs(terms, &by_term),
                &Lists::from_pairs(terms, &by_name),
            ),
            rules_by_set: Lists::from_lists(&rules_by_set),
            sets_by_entity: Lists::from_pairs(entity_ids.len(), &by_entity),
            entity_id_ranks: ranks(&entity_ids),
            always,
        },
    ))
}

fn ascii_stream(text: &str, fold: bool) -> String {
    let mut stream = Vec::with_capacity(text.len() + 2);
    stream.push(b' ');
    stream.extend(text.bytes().map(|b| match b {
        b'A'..=b'Z' if fold => b.to_ascii_lowercase(),
        b if b.is_ascii_alphanumeric() || b == b'_' => b,
        _ => b' ',
    }));
    stream.push(b' ');
    String::from_utf8(stream).expect("ASCII bytes map to ASCII bytes")
}

fn check_lengths(stream: usize, text: usize) -> PyResult<()> {
    if stream != text + 2 {
        return Err(PyValueError::new_err(format!(
            "a stream of {stream} characters for a text of {text}: a stream is the text's boundary form between two spaces"
        )));
    }
    Ok(())
}

/// A string's code points, and for each of its byte offsets the character it falls in.
fn code_points(s: &str) -> (Vec<u32>, Vec<u32>) {
    let mut codes = Vec::with_capacity(s.len());
    let mut chars = vec![0u32; s.len() + 1];
    for (i, (b, ch)) in s.char_indices().enumerate() {
        codes.push(u32::from(ch));
        chars[b..b + ch.len_utf8()].fill(i as u32);
    }
    chars[s.len()] = codes.len() as u32;
    (codes, chars)
}

#[pymodule]
fn monitor_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<Regex>()?;
    m.add_class::<stories::StoryIndex>()?;
    m.add_function(wrap_pyfunction!(stories::story_sketch, m)?)?;
    m.add_function(wrap_pyfunction!(yaml::read_yaml, m)?)?;
    Ok(())
}
