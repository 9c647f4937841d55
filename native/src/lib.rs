//! monitor's matching core, in Rust: the per-article work of `monitor.matching.matcher`.
//!
//! Python compiles the rule set (`monitor.matching.compiler`) and hands this module the
//! anchors, terms, entities and rule trees; matching an article is then one call that finds
//! the terms in each field, asks Python to run the few regexes the field's literals call for
//! (Python's `re` semantics stay the rule language's), evaluates the rules those terms can wake
//! and returns the matches with their evidence. No I/O here.

mod anchors;
mod rules;

use anchors::{confirm, Check, Mode, Occurrence, RegexNotes, View};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use rules::{Cond, Entity, FieldHits, Hit, Node, Rule, Rules};
use rustc_hash::FxHashMap;

/// (kind, pattern or term id, literal, distance back to the token's start, fixed length or -1)
type CheckSpec = (u8, u32, String, usize, i64);
/// (rule's field indexes, match node, entities node, feed ids or None, languages)
type RuleSpec = (Vec<usize>, Option<u64>, Option<u64>, Option<Vec<String>>, Vec<String>);
/// (all, any, none, min) of node codes
type CondSpec = (Vec<u64>, Vec<u64>, Vec<u64>, u32);
/// One field to scan: (text, casefolded stream or None, exact stream or None)
type FieldScan = (String, Option<String>, Option<String>);
/// A rule that matched: (rule index, [(is a term, term id or entity index, field, start, end)])
type Found = (u32, Vec<rules::Evidence>);

/// A compiled rule set, ready to match articles (immutable; safe to share between threads).
#[pyclass(frozen, module = "monitor_native")]
struct Engine {
    folded: Mode,
    exact: Mode,
    term_patterns: Vec<Vec<u32>>,
    terms_by_first_pattern: FxHashMap<u32, Vec<u32>>,
    open_regex_terms: Vec<u32>,
    rules: Rules,
}

fn mode(anchors: Vec<(String, Vec<CheckSpec>)>) -> PyResult<Mode> {
    let anchors = anchors
        .into_iter()
        .map(|(a, checks)| {
            let checks = checks.into_iter().map(|(k, i, lit, back, len)| Check::new(k, i, &lit, back, len));
            (a, checks.collect())
        })
        .collect();
    Mode::new(anchors).map_err(PyValueError::new_err)
}

fn node(code: u64) -> PyResult<Node> {
    Node::decode(code).map_err(PyValueError::new_err)
}

fn nodes(codes: Vec<u64>) -> PyResult<Vec<Node>> {
    codes.into_iter().map(node).collect()
}

#[pymethods]
impl Engine {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, folded, exact, term_patterns, open_regex_terms, labels, entities,
        entity_ids, sets, conds, rules, rules_by_term, rules_by_set, always))]
    fn new(
        folded: Vec<(String, Vec<CheckSpec>)>,
        exact: Vec<(String, Vec<CheckSpec>)>,
        term_patterns: Vec<Vec<u32>>,
        open_regex_terms: Vec<u32>,
        labels: Vec<String>,
        entities: Vec<(Vec<u32>, Vec<u32>)>,
        entity_ids: Vec<String>,
        sets: Vec<Vec<u32>>,
        conds: Vec<CondSpec>,
        rules: Vec<RuleSpec>,
        rules_by_term: FxHashMap<u32, Vec<u32>>,
        rules_by_set: Vec<Vec<u32>>,
        always: Vec<u32>,
    ) -> PyResult<Self> {
        let mut terms_by_first_pattern: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for (tid, patterns) in term_patterns.iter().enumerate() {
            if let Some(&first) = patterns.first() {
                terms_by_first_pattern.entry(first).or_default().push(tid as u32);
            }
        }
        let mut entities_by_name: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for (e, (names, _)) in entities.iter().enumerate() {
            for &t in names {
                entities_by_name.entry(t).or_default().push(e as u32);
            }
        }
        let mut sets_by_entity: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        let sets: Vec<Vec<u32>> = sets
            .into_iter()
            .enumerate()
            .map(|(s, mut set)| {
                set.sort_unstable();
                for &e in &set {
                    sets_by_entity.entry(e).or_default().push(s as u32);
                }
                set
            })
            .collect();
        let conds = conds
            .into_iter()
            .map(|(all, any, none, min)| Ok(Cond { all: nodes(all)?, any: nodes(any)?, none: nodes(none)?, min }))
            .collect::<PyResult<Vec<_>>>()?;
        let rules = rules
            .into_iter()
            .map(|(fields, matcher, entities, feeds, languages)| {
                if fields.iter().any(|&f| f >= 64) {
                    return Err(PyValueError::new_err("a rule reads more than 64 fields"));
                }
                Ok(Rule {
                    mask: fields.iter().fold(0, |m, &f| m | 1 << f),
                    fields,
                    matcher: matcher.map(node).transpose()?,
                    entities: entities.map(node).transpose()?,
                    feeds: feeds.map(|f| f.into_iter().collect()),
                    languages,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Engine {
            folded: mode(folded)?,
            exact: mode(exact)?,
            term_patterns,
            terms_by_first_pattern,
            open_regex_terms,
            rules: Rules {
                rules,
                conds,
                sets,
                entities: entities.into_iter().map(|(names, context)| Entity { names, context }).collect(),
                labels,
                entity_ids,
                rules_by_term,
                rules_by_set,
                entities_by_name,
                sets_by_entity,
                always,
            },
        })
    }

    /// Match one article. `scans[i]` is field i to scan here, or None; `given[i]` the hits
    /// Python found in a field it scanned itself ((term, start, end, regex) each);
    /// `run_regex(field, term, places)` runs a regex term over a field (places None) or at
    /// the given places and returns its first (start, end) or None.
    #[pyo3(signature = (scans, given, feed, language, run_regex))]
    fn match_article(
        &self,
        scans: Vec<Option<FieldScan>>,
        given: Vec<Option<Vec<(u32, u32, u32, bool)>>>,
        feed: Option<&str>,
        language: Option<&str>,
        run_regex: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Found>> {
        let count = scans.len().max(given.len());
        let mut hits: Vec<FieldHits> = Vec::with_capacity(count);
        for f in 0..count {
            let mut field = FieldHits::default();
            if let Some(Some(found)) = given.get(f) {
                for &(term, start, end, regex) in found {
                    field.insert(term, Hit { start, end, regex });
                }
            } else if let Some(Some((text, folded, exact))) = scans.get(f) {
                let notes = self.scan_field(text, folded.as_deref(), exact.as_deref(), &mut field)?;
                for (term, places) in notes {
                    let places = places.map(|mut p| {
                        p.sort_unstable();
                        p.dedup();
                        PyList::new(run_regex.py(), p)
                    });
                    let places = places.transpose()?;
                    let found: Option<(u32, u32)> = run_regex.call1((f, term, places))?.extract()?;
                    if let Some((start, end)) = found {
                        field.insert(term, Hit { start, end, regex: true });
                    }
                }
            }
            hits.push(field);
        }
        let mut article = rules::Article::new(&self.rules, &hits);
        let mut out = Vec::new();
        for index in article.candidates() {
            if article.holds(index, feed, language) {
                out.push((index, article.evidence(index)));
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// Find the word terms of one field; return the regex terms it asks to run.
    fn scan_field(
        &self,
        text: &str,
        folded: Option<&str>,
        exact: Option<&str>,
        hits: &mut FieldHits,
    ) -> PyResult<RegexNotes> {
        let mut notes: RegexNotes = self.open_regex_terms.iter().map(|&t| (t, None)).collect();
        let mut found: Vec<Occurrence> = Vec::new();
        let streams: Vec<(&Mode, &str)> =
            [(&self.folded, folded), (&self.exact, exact)].into_iter().filter_map(|(m, s)| Some((m, s?))).collect();
        let Some(&(_, first)) = streams.first() else { return Ok(notes) };
        if text.is_ascii() && streams.iter().all(|(_, s)| s.is_ascii()) {
            let text = text.as_bytes();
            for &(mode, stream) in &streams {
                let bytes = stream.as_bytes();
                check_lengths(bytes.len(), text.len())?;
                let view = View { bytes, chars: None, stream: bytes, text };
                confirm(mode, &view, &mut found, &mut notes);
            }
            let view = View { bytes: first.as_bytes(), chars: None, stream: first.as_bytes(), text };
            self.term_hits(&mut found, &view, hits);
        } else {
            let text: Vec<u32> = text.chars().map(u32::from).collect();
            let mut first_view: Option<(Vec<u32>, Vec<u32>)> = None;
            for &(mode, stream) in &streams {
                let (codes, chars) = code_points(stream);
                check_lengths(codes.len(), text.len())?;
                let view = View { bytes: stream.as_bytes(), chars: Some(&chars), stream: &codes, text: &text };
                confirm(mode, &view, &mut found, &mut notes);
                first_view.get_or_insert((codes, chars));
            }
            if let Some((codes, chars)) = &first_view {
                let view = View { bytes: first.as_bytes(), chars: Some(chars), stream: codes, text: &text };
                self.term_hits(&mut found, &view, hits);
            }
        }
        Ok(notes)
    }

    /// Turn token patterns found into terms: a word term where its word is, a phrase where
    /// its words follow one another; each at its first place.
    fn term_hits<T: Copy + Into<u32>>(&self, found: &mut [Occurrence], view: &View<'_, T>, hits: &mut FieldHits) {
        found.sort_unstable_by_key(|o| (o.pattern, o.start));
        let mut ranges: FxHashMap<u32, (usize, usize)> = FxHashMap::default();
        let mut i = 0;
        while i < found.len() {
            let pattern = found[i].pattern;
            let mut j = i;
            while j < found.len() && found[j].pattern == pattern {
                j += 1;
            }
            ranges.insert(pattern, (i, j));
            i = j;
        }
        let at = |pattern: u32, start: usize| -> Option<u32> {
            let &(lo, hi) = ranges.get(&pattern)?;
            let slice = &found[lo..hi];
            slice.binary_search_by_key(&(start as u32), |o| o.start).ok().map(|k| slice[k].end)
        };
        for (&pattern, &(lo, hi)) in &ranges {
            for &term in self.terms_by_first_pattern.get(&pattern).into_iter().flatten() {
                let rest = &self.term_patterns[term as usize][1..];
                if rest.iter().any(|p| !ranges.contains_key(p)) {
                    continue;
                }
                for first in &found[lo..hi] {
                    let mut end = Some(first.end);
                    for &p in rest {
                        end = end.and_then(|e| view.token_after(e as usize)).and_then(|s| at(p, s));
                        if end.is_none() {
                            break;
                        }
                    }
                    if let Some(end) = end {
                        hits.insert(term, Hit { start: first.start, end, regex: false });
                        break;
                    }
                }
            }
        }
    }
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
    m.add("KINDS", (anchors::LITERAL, anchors::PREFIX, anchors::GLOB, anchors::REGEX, anchors::REGEX_AT))?;
    Ok(())
}
