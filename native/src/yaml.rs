//! The fast path of `monitor.kernel.yamlfile`: the files users edit, read by libyaml's own parser
//! (`unsafe-libyaml`, libyaml 0.2.5 translated to Rust: the parser PyYAML's `CSafeLoader`
//! runs) into the same located containers, with the same lines, at a fraction of the cost of
//! PyYAML's node graph and constructors.
//!
//! It takes only what it can build exactly as PyYAML would: block and flow mappings and
//! sequences, string keys, and scalars that PyYAML resolves to str, int (plain decimal), bool
//! or None. Anything else (a syntax error, an alias or anchor, a tag, a merge key, a duplicate
//! key, deep nesting, several documents, a float, a timestamp, a key that is not a string)
//! gives `None`, and the caller reads the file with PyYAML, which builds it or says at which
//! line what is wrong. So the fast path never decides what is valid.

use std::mem::MaybeUninit;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use regex_automata::meta;

/// Deeper than this, PyYAML decides (it refuses nesting past 64 levels, counted its own way).
const MAX_DEPTH: usize = 48;

/// A parser over one text; deleted with the value.
struct Parser {
    inner: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
}

impl Parser {
    fn new(text: &[u8]) -> Option<Parser> {
        let mut inner = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        // SAFETY: libyaml initialises the parser it is given; `text` outlives the parser
        // (both live only inside `read`).
        unsafe {
            if unsafe_libyaml::yaml_parser_initialize(inner.as_mut_ptr()).fail {
                return None;
            }
            unsafe_libyaml::yaml_parser_set_input_string(
                inner.as_mut_ptr(),
                text.as_ptr(),
                text.len() as u64,
            );
        }
        Some(Parser { inner })
    }

    /// The next event, or None on a syntax error.
    fn next(&mut self) -> Option<Event> {
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised; on success libyaml fills `event`.
        unsafe {
            if unsafe_libyaml::yaml_parser_parse(self.inner.as_mut_ptr(), event.as_mut_ptr()).fail {
                return None;
            }
            Some(Event(event.assume_init()))
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, deleted once.
        unsafe { unsafe_libyaml::yaml_parser_delete(self.inner.as_mut_ptr()) }
    }
}

struct Event(unsafe_libyaml::yaml_event_t);

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: an event libyaml filled, deleted once.
        unsafe { unsafe_libyaml::yaml_event_delete(&mut self.0) }
    }
}

/// A scalar as the event has it.
struct Scalar<'a> {
    value: &'a str,
    plain: bool,
}

impl Event {
    fn kind(&self) -> unsafe_libyaml::yaml_event_type_t {
        self.0.type_
    }

    /// The line of the event's start (1-based).
    fn line(&self) -> usize {
        self.0.start_mark.line as usize + 1
    }

    /// The scalar, or None if it has an anchor or a tag (PyYAML decides those).
    fn scalar(&self) -> Option<Scalar<'_>> {
        // SAFETY: a scalar event's data is the `scalar` member; libyaml's value is `length`
        // bytes of UTF-8 (it checked the input).
        unsafe {
            let s = self.0.data.scalar;
            if !s.anchor.is_null() || !s.tag.is_null() {
                return None;
            }
            let bytes = std::slice::from_raw_parts(s.value as *const u8, s.length as usize);
            let value = std::str::from_utf8(bytes).ok()?;
            let plain = s.style == unsafe_libyaml::YAML_PLAIN_SCALAR_STYLE;
            Some(Scalar { value, plain })
        }
    }

    /// Whether a collection's start event is plain: no anchor, no tag.
    fn untagged(&self) -> bool {
        // SAFETY: called on sequence and mapping start events only, whose data is theirs.
        unsafe {
            match self.0.type_ {
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT => {
                    let s = self.0.data.sequence_start;
                    s.anchor.is_null() && s.tag.is_null()
                }
                unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                    let m = self.0.data.mapping_start;
                    m.anchor.is_null() && m.tag.is_null()
                }
                _ => false,
            }
        }
    }
}

/// PyYAML's implicit types (its `Resolver`, YAML 1.1) that the fast path leaves to it.
pub struct Resolver {
    others: meta::Regex,
}

impl Resolver {
    pub fn new() -> Resolver {
        // float, int (every form), timestamp, merge and value, as `yaml.resolver.Resolver`.
        let others = [
            r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
            r"\.[0-9_]+(?:[eE][-+][0-9]+)?",
            r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
            r"[-+]?\.(?:inf|Inf|INF)",
            r"\.(?:nan|NaN|NAN)",
            r"[-+]?0b[0-1_]+",
            r"[-+]?0[0-7_]+",
            r"[-+]?(?:0|[1-9][0-9_]*)",
            r"[-+]?0x[0-9a-fA-F_]+",
            r"[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
            r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
            r"[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?",
            r"<<",
            r"=",
        ];
        let pattern = format!("^(?:{})$", others.join("|"));
        Resolver {
            others: meta::Regex::new(&pattern).expect("PyYAML's resolver patterns compile"),
        }
    }
}

/// What a scalar is, once resolved.
enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Null,
}

fn resolve<'a>(scalar: &Scalar<'a>, resolver: &Resolver) -> Option<Value<'a>> {
    let v = scalar.value;
    if !scalar.plain {
        return Some(Value::Str(v));
    }
    Some(match v {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Value::Bool(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Value::Bool(false)
        }
        _ => {
            let first = v.as_bytes()[0];
            if !matches!(first, b'-' | b'+' | b'.' | b'0'..=b'9' | b'<' | b'=') {
                return Some(Value::Str(v));
            }
            if !resolver.others.is_match(v) {
                return Some(Value::Str(v));
            }
            // A plain decimal int, as PyYAML reads it; every other form is PyYAML's.
            let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
            if !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
                && digits.len() < 18
            {
                return v.parse().ok().map(Value::Int);
            }
            return None;
        }
    })
}

/// Builds the located containers (`monitor.kernel.located.LocDict`, `LocList`).
struct Builder<'py, 'r> {
    py: Python<'py>,
    loc_dict: &'r Bound<'py, PyType>,
    loc_list: &'r Bound<'py, PyType>,
    resolver: &'r Resolver,
    line: Py<PyString>,
    key_lines: Py<PyString>,
    item_lines: Py<PyString>,
}

/// Why the fast path gives up: PyYAML is asked instead.
enum Stop {
    Unsure,
    Python(PyErr),
}

impl From<PyErr> for Stop {
    fn from(e: PyErr) -> Stop {
        Stop::Python(e)
    }
}

type Built<T> = Result<T, Stop>;

impl<'py> Builder<'py, '_> {
    fn value(&self, scalar: &Scalar<'_>) -> Built<PyObject> {
        let py = self.py;
        Ok(match resolve(scalar, self.resolver).ok_or(Stop::Unsure)? {
            Value::Str(s) => PyString::new(py, s).into_any().unbind(),
            Value::Int(i) => i
                .into_pyobject(py)
                .map_err(PyErr::from)?
                .into_any()
                .unbind(),
            Value::Bool(b) => pyo3::types::PyBool::new(py, b)
                .to_owned()
                .into_any()
                .unbind(),
            Value::Null => py.None(),
        })
    }

    /// The node that `event` begins, read to its end.
    fn node(&self, parser: &mut Parser, event: Event, depth: usize) -> Built<PyObject> {
        match event.kind() {
            unsafe_libyaml::YAML_SCALAR_EVENT => self.value(&event.scalar().ok_or(Stop::Unsure)?),
            unsafe_libyaml::YAML_SEQUENCE_START_EVENT if event.untagged() && depth < MAX_DEPTH => {
                self.sequence(parser, event.line(), depth + 1)
            }
            unsafe_libyaml::YAML_MAPPING_START_EVENT if event.untagged() && depth < MAX_DEPTH => {
                self.mapping(parser, event.line(), depth + 1)
            }
            _ => Err(Stop::Unsure),
        }
    }

    fn sequence(&self, parser: &mut Parser, line: usize, depth: usize) -> Built<PyObject> {
        let py = self.py;
        let list = self.loc_list.call0()?;
        let items = list.downcast::<PyList>().map_err(PyErr::from)?;
        let mut lines = Vec::new();
        loop {
            let event = parser.next().ok_or(Stop::Unsure)?;
            if event.kind() == unsafe_libyaml::YAML_SEQUENCE_END_EVENT {
                break;
            }
            lines.push(event.line());
            items.append(self.node(parser, event, depth)?)?;
        }
        list.setattr(self.line.bind(py), line)?;
        list.setattr(self.item_lines.bind(py), PyList::new(py, lines)?)?;
        Ok(list.unbind())
    }

    fn mapping(&self, parser: &mut Parser, line: usize, depth: usize) -> Built<PyObject> {
        let py = self.py;
        let dict = self.loc_dict.call0()?;
        let items = dict.downcast::<PyDict>().map_err(PyErr::from)?;
        let key_lines = PyDict::new(py);
        loop {
            let event = parser.next().ok_or(Stop::Unsure)?;
            if event.kind() == unsafe_libyaml::YAML_MAPPING_END_EVENT {
                break;
            }
            // A key that is not a string scalar, or one seen before: PyYAML's to say.
            let key = match (event.kind(), event.scalar()) {
                (unsafe_libyaml::YAML_SCALAR_EVENT, Some(scalar)) => {
                    match resolve(&scalar, self.resolver) {
                        Some(Value::Str(s)) => PyString::new(py, s),
                        _ => return Err(Stop::Unsure),
                    }
                }
                _ => return Err(Stop::Unsure),
            };
            if items.contains(&key)? {
                return Err(Stop::Unsure);
            }
            let value = parser.next().ok_or(Stop::Unsure)?;
            items.set_item(&key, self.node(parser, value, depth)?)?;
            key_lines.set_item(key, event.line())?;
        }
        dict.setattr(self.line.bind(py), line)?;
        dict.setattr(self.key_lines.bind(py), key_lines)?;
        Ok(dict.unbind())
    }
}

/// Read one YAML document into located containers as PyYAML's loader in `monitor.kernel.yamlfile`
/// would; None when that loader must read it (see the module's comment).
#[pyfunction]
pub fn read_yaml(
    py: Python<'_>,
    text: &str,
    loc_dict: &Bound<'_, PyType>,
    loc_list: &Bound<'_, PyType>,
) -> PyResult<Option<PyObject>> {
    static RESOLVER: std::sync::OnceLock<Resolver> = std::sync::OnceLock::new();
    let resolver = RESOLVER.get_or_init(Resolver::new);
    let Some(mut parser) = Parser::new(text.as_bytes()) else {
        return Ok(None);
    };
    let builder = Builder {
        py,
        loc_dict,
        loc_list,
        resolver,
        line: PyString::intern(py, "line").unbind(),
        key_lines: PyString::intern(py, "key_lines").unbind(),
        item_lines: PyString::intern(py, "item_lines").unbind(),
    };
    let mut read = || -> Built<PyObject> {
        let start = parser.next().ok_or(Stop::Unsure)?;
        if start.kind() != unsafe_libyaml::YAML_STREAM_START_EVENT {
            return Err(Stop::Unsure);
        }
        // One explicit or implicit document, then the stream's end: nothing else.
        let document = parser.next().ok_or(Stop::Unsure)?;
        if document.kind() != unsafe_libyaml::YAML_DOCUMENT_START_EVENT {
            return Err(Stop::Unsure);
        }
        // SAFETY: a document start event's data is `document_start`.
        let directives = unsafe {
            let d = document.0.data.document_start;
            !d.version_directive.is_null() || !d.tag_directives.start.is_null()
        };
        if directives {
            return Err(Stop::Unsure);
        }
        let first = parser.next().ok_or(Stop::Unsure)?;
        let value = builder.node(&mut parser, first, 0)?;
        let end = parser.next().ok_or(Stop::Unsure)?;
        let stream_end = parser.next().ok_or(Stop::Unsure)?;
        if end.kind() != unsafe_libyaml::YAML_DOCUMENT_END_EVENT
            || stream_end.kind() != unsafe_libyaml::YAML_STREAM_END_EVENT
        {
            return Err(Stop::Unsure);
        }
        Ok(value)
    };
    match read() {
        Ok(value) => Ok(Some(value)),
        Err(Stop::Unsure) => Ok(None),
        Err(Stop::Python(e)) => Err(e),
    }
}
