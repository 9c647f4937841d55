//! The Python objects a match is reported in: `monitor.kernel.models.Match` and `Evidence`, made here
//! so that an article that matches tens of rules does not pay for tens of `__init__` calls.
//!
//! Both are frozen dataclasses with slots: an object is made as `object.__new__` makes it (by
//! its class's allocator) and each field set as `object.__setattr__` sets it, by the slot's
//! descriptor (found once, when the engine is built, instead of on every field of every object).
//! The fields set here are checked against the dataclasses' own when the engine is built.

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::sync::OnceLock;

use crate::prefetch::prefetch;
use crate::rules::Evidence;

const MATCH_FIELDS: [&str; 6] = [
    "rule_id",
    "article_id",
    "severity",
    "notify",
    "evidence",
    "mode",
];
const EVIDENCE_FIELDS: [&str; 8] = [
    "kind", "value", "field", "text", "snippet", "start", "end", "language",
];
/// The rule spec's attributes a match copies: id, severity, notify, mode.
const SPEC_ATTRIBUTES: [&str; 4] = ["id", "severity", "notify", "mode"];

/// Characters of the snippet on each side of the evidence (`SNIPPET_CHARS` in matcher.py).
const SNIPPET_CHARS: usize = 60;

/// What matches are made of: the two classes, names interned once, and the Python values of
/// rules, terms, entities and fields by index.
pub struct Makers {
    // Each class's tp_alloc: what `object.__new__(cls)` calls, without a Python call each.
    allocs: [ffi::allocfunc; 2], // Match, Evidence
    match_type: Py<PyType>,
    evidence_type: Py<PyType>,
    match_fields: Vec<Setter>,
    evidence_fields: Vec<Setter>,
    spec_attributes: Vec<Py<PyString>>,
    kinds: [Py<PyString>; 2], // "entity", "term"
    specs: Vec<Py<PyAny>>,    // rule index -> its RuleSpec
    // ...and its SPEC_ATTRIBUTES, read at its first match (the spec is frozen)
    spec_values: Vec<OnceLock<[Py<PyAny>; 4]>>,
    labels: Vec<Py<PyString>>,
    languages: Vec<Option<Py<PyString>>>, // term id -> the language of an entity's name
    entity_ids: Vec<Py<PyString>>,
    fields: Vec<Py<PyString>>,
}

fn interned(py: Python<'_>, names: &[&str]) -> Vec<Py<PyString>> {
    names
        .iter()
        .map(|n| PyString::intern(py, n).unbind())
        .collect()
}

/// The allocator of a class (`tp_alloc`): a dataclass that is not abstract is made by
/// `object.__new__`, which calls just that.
fn alloc(ty: &Bound<'_, PyType>) -> PyResult<ffi::allocfunc> {
    // SAFETY: a live type object; PyType_GetSlot reads its tp_alloc slot.
    let slot = unsafe { ffi::PyType_GetSlot(ty.as_type_ptr(), ffi::Py_tp_alloc) };
    if slot.is_null() {
        return Err(PyValueError::new_err(format!(
            "{} has no allocator",
            ty.name()?
        )));
    }
    // SAFETY: the tp_alloc slot holds an allocfunc.
    Ok(unsafe { std::mem::transmute::<*mut std::ffi::c_void, ffi::allocfunc>(slot) })
}

/// A slot's descriptor and its type's `__set__`.
struct Setter {
    descriptor: Py<PyAny>,
    set: ffi::descrsetfunc,
}

/// The setters of a slotted class's fields `names`.
fn setters(ty: &Bound<'_, PyType>, names: &[&str]) -> PyResult<Vec<Setter>> {
    names
        .iter()
        .map(|name| {
            let descriptor = ty.getattr(*name)?;
            // SAFETY: a live type object; PyType_GetSlot reads its tp_descr_set slot.
            let slot = unsafe {
                ffi::PyType_GetSlot(descriptor.get_type().as_type_ptr(), ffi::Py_tp_descr_set)
            };
            if slot.is_null() {
                return Err(PyValueError::new_err(format!(
                    "{}.{name} is not a slot the engine can set",
                    ty.name()?
                )));
            }
            Ok(Setter {
                descriptor: descriptor.unbind(),
                // SAFETY: the tp_descr_set slot holds a descrsetfunc.
                set: unsafe {
                    std::mem::transmute::<*mut std::ffi::c_void, ffi::descrsetfunc>(slot)
                },
            })
        })
        .collect()
}

/// Fail unless `ty` is a dataclass whose fields are exactly `names`.
fn check_fields(ty: &Bound<'_, PyType>, names: &[&str]) -> PyResult<()> {
    let declared = ty.getattr("__dataclass_fields__")?;
    let declared = declared.downcast::<PyDict>()?;
    let mut found: Vec<String> = declared
        .keys()
        .iter()
        .map(|k| k.extract())
        .collect::<PyResult<_>>()?;
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    found.sort();
    expected.sort();
    if found != expected {
        return Err(PyValueError::new_err(format!(
            "{} has fields {found:?}; the engine sets {expected:?}",
            ty.name()?
        )));
    }
    Ok(())
}

impl Makers {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        py: Python<'_>,
        match_type: Bound<'_, PyType>,
        evidence_type: Bound<'_, PyType>,
        specs: Vec<Py<PyAny>>,
        labels: Vec<Py<PyString>>,
        languages: Vec<Option<Py<PyString>>>,
        entity_ids: Vec<Py<PyString>>,
        fields: Vec<Py<PyString>>,
    ) -> PyResult<Makers> {
        check_fields(&match_type, &MATCH_FIELDS)?;
        check_fields(&evidence_type, &EVIDENCE_FIELDS)?;
        Ok(Makers {
            allocs: [alloc(&match_type)?, alloc(&evidence_type)?],
            match_fields: setters(&match_type, &MATCH_FIELDS)?,
            evidence_fields: setters(&evidence_type, &EVIDENCE_FIELDS)?,
            match_type: match_type.unbind(),
            evidence_type: evidence_type.unbind(),
            spec_attributes: interned(py, &SPEC_ATTRIBUTES),
            kinds: [
                PyString::intern(py, "entity").unbind(),
                PyString::intern(py, "term").unbind(),
            ],
            spec_values: specs.iter().map(|_| OnceLock::new()).collect(),
            specs,
            labels,
            languages,
            entity_ids,
            fields,
        })
    }

    /// Ask for where the values of rules `indexes` are kept (before their evidence is found,
    /// so that it has come when the matches are made).
    pub fn prefetch(&self, indexes: &[u32]) {
        for &i in indexes {
            if let Some(cell) = self.spec_values.get(i as usize) {
                prefetch(cell);
            }
        }
    }

    /// Rule `rule`'s id, severity, notify and mode.
    fn spec_values(&self, py: Python<'_>, rule: usize) -> PyResult<&[Py<PyAny>; 4]> {
        let cell = self
            .spec_values
            .get(rule)
            .ok_or_else(|| PyValueError::new_err("a match of no rule"))?;
        if let Some(values) = cell.get() {
            return Ok(values);
        }
        let spec = self.specs[rule].bind(py);
        let mut values = Vec::with_capacity(SPEC_ATTRIBUTES.len());
        for name in &self.spec_attributes {
            values.push(spec.getattr(name)?.unbind());
        }
        let values: [Py<PyAny>; 4] = values.try_into().expect("four attributes");
        // Another thread may have read them first: the same values.
        let _ = cell.set(values);
        Ok(cell.get().expect("just set"))
    }

    /// What a piece of evidence names: a term's label, or an entity's id.
    fn value(&self, is_term: bool, index: u32) -> Option<&Py<PyString>> {
        let values = if is_term {
            &self.labels
        } else {
            &self.entity_ids
        };
        values.get(index as usize)
    }

    /// A new instance of `ty` (allocated by `alloc`) with `values` set by `fields`.
    fn make<'py>(
        &self,
        py: Python<'py>,
        (ty, alloc): (&Py<PyType>, ffi::allocfunc),
        fields: &[Setter],
        values: &[Bound<'py, PyAny>],
    ) -> PyResult<Bound<'py, PyAny>> {
        // SAFETY: the type's own allocator, called as object.__new__ calls it; it returns a
        // new reference or NULL with an exception set.
        let object = unsafe {
            let made = alloc(ty.bind(py).as_type_ptr(), 0);
            Bound::from_owned_ptr_or_err(py, made)?
        };
        for (field, value) in fields.iter().zip(values) {
            // SAFETY: three live objects; the descriptor's own __set__, which is what
            // `object.__setattr__(object, name, value)` calls for a slot (bypassing the frozen
            // class's __setattr__ as it does).
            let status =
                unsafe { (field.set)(field.descriptor.as_ptr(), object.as_ptr(), value.as_ptr()) };
            if status != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(object)
    }

    /// The matches of an article: one `Match` for each (rule index, its evidence).
    pub fn matches<'py>(
        &self,
        py: Python<'py>,
        found: &[(u32, Vec<Evidence>)],
        article_id: &Bound<'py, PyAny>,
        texts: &[Bound<'py, PyString>],
    ) -> PyResult<Bound<'py, PyTuple>> {
        let mut made: FxHashMap<Evidence, Bound<'py, PyAny>> = FxHashMap::default();
        let mut fields: Vec<Option<Text>> = Vec::new();
        fields.resize_with(texts.len(), || None);
        let mut matches = Vec::with_capacity(found.len());
        // Reused from one match and one piece of evidence to the next.
        let (mut evidence, mut snippet) = (Vec::new(), String::new());
        // What the matches are made of is likely out of the cache: ask for it all at once.
        for (rule, items) in found {
            if let Some(values) = self.spec_values.get(*rule as usize).and_then(OnceLock::get) {
                values.iter().for_each(|value| prefetch(value.as_ptr()));
            }
            for &(is_term, index, ..) in items {
                if let Some(value) = self.value(is_term, index) {
                    prefetch(value.as_ptr());
                }
            }
        }
        for (rule, items) in found {
            evidence.clear();
            for item in items {
                if let Some(e) = made.get(item) {
                    evidence.push(e.clone());
                    continue;
                }
                let (is_term, index, field, start, end, term) = *item;
                let text = texts
                    .get(field)
                    .ok_or_else(|| PyValueError::new_err("evidence in a field with no text"))?;
                let text = match &mut fields[field] {
                    Some(t) => t,
                    slot => slot.insert(Text::new(text.to_str()?)),
                };
                let (start, end) = (start as usize, end as usize);
                if start > end || end > text.len() {
                    return Err(PyValueError::new_err("evidence outside its field's text"));
                }
                let value = self
                    .value(is_term, index)
                    .ok_or_else(|| PyValueError::new_err("evidence of no term"))?;
                text.snippet(start, end, &mut snippet);
                let e = self.make(
                    py,
                    (&self.evidence_type, self.allocs[1]),
                    &self.evidence_fields,
                    &[
                        self.kinds[usize::from(is_term)].bind(py).clone().into_any(),
                        value.bind(py).clone().into_any(),
                        self.fields[field].bind(py).clone().into_any(),
                        PyString::new(py, &text.slice(start, end)).into_any(),
                        PyString::new(py, &snippet).into_any(),
                        start.into_pyobject(py)?.into_any(),
                        end.into_pyobject(py)?.into_any(),
                        match self.languages.get(term as usize) {
                            Some(Some(language)) => language.bind(py).clone().into_any(),
                            _ => py.None().into_bound(py),
                        },
                    ],
                )?;
                made.insert(*item, e.clone());
                evidence.push(e);
            }
            let [id, severity, notify, mode] = self.spec_values(py, *rule as usize)?;
            matches.push(self.make(
                py,
                (&self.match_type, self.allocs[0]),
                &self.match_fields,
                &[
                    id.bind(py).clone(),
                    article_id.clone(),
                    severity.bind(py).clone(),
                    notify.bind(py).clone(),
                    PyTuple::new(py, &evidence)?.into_any(),
                    mode.bind(py).clone(),
                ],
            )?);
        }
        PyTuple::new(py, matches)
    }
}

/// A field's text by character: its bytes where it is ASCII, else its characters.
enum Text<'a> {
    Ascii(&'a str),
    Chars(Vec<char>),
}

/// Python's `str.isspace`: Unicode's White_Space and the four separators U+001C to U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

impl<'a> Text<'a> {
    fn new(text: &'a str) -> Text<'a> {
        if text.is_ascii() {
            Text::Ascii(text)
        } else {
            Text::Chars(text.chars().collect())
        }
    }

    fn len(&self) -> usize {
        match self {
            Text::Ascii(s) => s.len(),
            Text::Chars(c) => c.len(),
        }
    }

    fn char(&self, i: usize) -> char {
        match self {
            Text::Ascii(s) => char::from(s.as_bytes()[i]),
            Text::Chars(c) => c[i],
        }
    }

    fn slice(&self, from: usize, to: usize) -> Cow<'a, str> {
        match self {
            Text::Ascii(s) => Cow::Borrowed(&s[from..to]),
            Text::Chars(c) => Cow::Owned(c[from..to].iter().collect()),
        }
    }

    /// `snippet` in monitor/matching/matcher.py, written to `out`: the text around
    /// [start, end), cut at spaces, with an ellipsis where cut.
    fn snippet(&self, start: usize, end: usize, out: &mut String) {
        let n = self.len();
        let mut lo = start.saturating_sub(SNIPPET_CHARS);
        let mut hi = (end + SNIPPET_CHARS).min(n);
        if lo > 0 {
            if let Some(space) = (lo..start).find(|&i| self.char(i) == ' ') {
                lo = space + 1;
            }
        }
        if hi < n {
            if let Some(space) = (end..hi).rev().find(|&i| self.char(i) == ' ') {
                hi = space;
            }
        }
        let (cut_before, cut_after) = (lo > 0, hi < n);
        while lo < hi && py_space(self.char(lo)) {
            lo += 1;
        }
        while hi > lo && py_space(self.char(hi - 1)) {
            hi -= 1;
        }
        out.clear();
        if cut_before {
            out.push('…');
        }
        out.push_str(&self.slice(lo, hi));
        if cut_after {
            out.push('…');
        }
    }
}
