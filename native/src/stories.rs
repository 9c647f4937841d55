//! Story folding's index: `monitor.stories.index.StoryIndex` (the reference) in Rust.
//!
//! The same sketch (three-word shingles of the title and of the lead's first 40 words, each
//! the CRC-32s of its words mixed), the same facts (`monitor.stories.facts`) and the same
//! choice of story, member for member, with the same reason; the differential test in
//! tests/property/test_story_index.py holds the two to it.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::OnceLock;

const LEAD_WORDS: usize = 40;
const TITLE_SEED: u32 = 0x7469_746C;
const TITLE_BIT: u32 = 0x8000_0000;
const THRESHOLD: f64 = 0.4;
const MIN_SHARED: usize = 4;
const COMMON_POSTINGS: usize = 256;
/// Members of one story whose shingles are in the postings (`index.POSTED_PER_STORY`).
const POSTED_PER_STORY: usize = 64;

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// `zlib.crc32(data, seed)`.
fn crc32(data: &[u8], seed: u32) -> u32 {
    let mut c = !seed;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// What `str.translate` turns into a space before `str.split` (see `sketch.PUNCTUATION`).
fn is_gap(c: char) -> bool {
    c.is_whitespace()
        || c.is_ascii_punctuation()
        || matches!(
            c,
            '\x1c'
                ..='\x1f'
                    | '\u{a0}'
                    | '\u{ab}'
                    | '\u{b7}'
                    | '\u{bb}'
                    | '\u{2010}'
                    | '\u{2013}'
                    | '\u{2014}'
                    | '\u{2018}'
                    | '\u{2019}'
                    | '\u{201c}'
                    | '\u{201d}'
                    | '\u{2026}'
                    | '\u{3001}'
                    | '\u{3002}'
                    | '\u{ff0c}'
        )
}

const fn ascii_gaps() -> [bool; 128] {
    let mut table = [false; 128];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        table[i] = c.is_ascii_punctuation()
            || matches!(
                c,
                b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | 0x1c..=0x1f
            );
        i += 1;
    }
    table
}

static ASCII_GAPS: [bool; 128] = ascii_gaps();

/// The words of `lower` (already lower-cased): its runs between gaps.
fn split_words(lower: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(lower.len() / 5);
    let mut start: Option<usize> = None;
    if lower.is_ascii() {
        for (i, &b) in lower.as_bytes().iter().enumerate() {
            match (ASCII_GAPS[b as usize], start) {
                (true, Some(s)) => {
                    out.push(&lower[s..i]);
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
    } else {
        for (i, c) in lower.char_indices() {
            let gap = match c as u32 {
                n @ 0..=127 => ASCII_GAPS[n as usize],
                _ => is_gap(c),
            };
            match (gap, start) {
                (true, Some(s)) => {
                    out.push(&lower[s..i]);
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
    }
    if let Some(s) = start {
        out.push(&lower[s..]);
    }
    out
}

fn lower(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

/// `sketch.words`, each word mapped by `each`: the first `limit` lower-cased words. Like
/// Python, it splits a cut of `limit * 10` characters first, and the whole text when the cut
/// holds `limit` words or fewer.
fn map_words<T>(text: &str, limit: Option<usize>, each: impl Fn(&str) -> T) -> Vec<T> {
    if let Some(limit) = limit {
        let n = limit * 10;
        let cut_at = if text.is_ascii() {
            (text.len() > n).then_some(n)
        } else {
            text.char_indices().nth(n).map(|(at, _)| at)
        };
        if let Some(at) = cut_at {
            let cut = lower(&text[..at]);
            let words = split_words(&cut);
            if words.len() > limit {
                return words[..limit].iter().map(|w| each(w)).collect();
            }
        }
    }
    let all = lower(text);
    let words = split_words(&all);
    let keep = limit.unwrap_or(words.len()).min(words.len());
    words[..keep].iter().map(|w| each(w)).collect()
}

/// `sketch.words`, hashed: the CRC-32 of each word.
fn word_hashes(text: &str, limit: Option<usize>) -> Vec<u32> {
    map_words(text, limit, |w| crc32(w.as_bytes(), 0))
}

const MIX: u32 = 0x9E37_79B1;

fn mix(h: u32, w: u32) -> u32 {
    (h ^ w).wrapping_mul(MIX)
}

/// `sketch.shingles`: every run of three word hashes mixed into one (all of them when fewer).
fn shingles(words: &[u32], seed: u32, out: &mut Vec<u32>) {
    if words.is_empty() {
        return;
    }
    if words.len() < 3 {
        out.push(words.iter().fold(seed, |h, &w| mix(h, w)));
        return;
    }
    for w in words.windows(3) {
        out.push(mix(mix(mix(seed, w[0]), w[1]), w[2]));
    }
}

/// The sorted shingles of a title and of the first words of a body.
fn sketch(title: &str, body: &str) -> Vec<u32> {
    let mut out = Vec::with_capacity(LEAD_WORDS + 16);
    shingles(&word_hashes(body, Some(LEAD_WORDS)), 0, &mut out);
    let body = out.len();
    shingles(&word_hashes(title, None), TITLE_SEED, &mut out);
    for (n, h) in out.iter_mut().enumerate() {
        *h = if n < body {
            *h & !TITLE_BIT
        } else {
            *h | TITLE_BIT
        };
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Shingles as Python holds them: little-endian u32s, one `bytes` (not a list of ints).
fn packed<'py>(py: Python<'py>, shingles: &[u32]) -> Bound<'py, PyBytes> {
    let bytes: Vec<u8> = shingles.iter().flat_map(|s| s.to_le_bytes()).collect();
    PyBytes::new(py, &bytes)
}

fn unpacked(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// `sketch.sketch`: the sketch of a title and a body, packed.
#[pyfunction]
pub fn story_sketch<'py>(py: Python<'py>, title: &str, body: &str) -> Bound<'py, PyBytes> {
    packed(py, &sketch(title, body))
}

const FACT_TOKENS: usize = 40;
const FACT_CHARS: usize = 2000;
const MAX_FACTS: usize = 48;
const COUNT_BIT: u32 = 0x8000_0000;
const SENTENCE_ENDS: &[char] = &['.', '!', '?', ':', ';'];
const DASHES: &[&str] = &["-", "\u{2013}", "\u{2014}", "--"];
const VERSION_WORDS: &[&str] = &["update", "updated", "refile", "corrected", "version"];
const TITLE_KEY_MIN: usize = 4;
const NAMED: usize = 3;
const MAX_TRIED: usize = 16;
const TITLE_DASHES: &[&str] = &["|", "-", "\u{2013}", "\u{2014}"];
const DESK_WORDS: &[&str] = &[
    "update",
    "updated",
    "breaking",
    "exclusive",
    "refile",
    "corrected",
    "urgent",
    "flash",
];
const DATELINE_TOKENS: usize = 8;
const IDENTIFIER_MIN: usize = 5;
const SENTENCE_STARTERS: &[&str] = &[
    "the",
    "a",
    "an",
    "in",
    "on",
    "at",
    "it",
    "he",
    "she",
    "they",
    "we",
    "i",
    "you",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "but",
    "and",
    "or",
    "as",
    "for",
    "of",
    "by",
    "with",
    "after",
    "before",
    "while",
    "when",
    "if",
    "to",
    "from",
    "his",
    "her",
    "their",
    "its",
    "our",
    "no",
    "not",
    "one",
    "some",
    "many",
    "more",
    "most",
    "all",
    "both",
    "according",
    "however",
    "also",
    "meanwhile",
    "so",
    "yet",
    "then",
];
const TITLE_STOPWORDS: &[&str] = &[
    "with", "from", "after", "over", "says", "said", "that", "this", "will", "into", "amid",
    "about", "their", "have", "more", "than", "been", "were", "what", "when", "where", "which",
    "while", "year", "years", "first", "last", "news", "update", "breaking", "report", "reports",
    "live", "video", "watch", "photos", "today", "week",
];

/// What Python's `str.split()` cuts at: `str.isspace()`, which adds U+001C..U+001F to Rust's.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

fn strip_gaps(s: &str) -> &str {
    if s.is_ascii() {
        let b = s.as_bytes();
        let start = b.iter().take_while(|&&c| ASCII_GAPS[c as usize]).count();
        let end = b.len()
            - b[start..]
                .iter()
                .rev()
                .take_while(|&&c| ASCII_GAPS[c as usize])
                .count();
        return &s[start..end];
    }
    s.trim_matches(is_gap)
}

/// A link ("https://...", "www.example.org"): no fact.
fn is_link(text: &str) -> bool {
    text.starts_with("www.") || (text.bytes().any(|b| b == b':') && text.contains("://"))
}

fn first_upper(s: &str) -> bool {
    s.chars().next().is_some_and(char::is_uppercase)
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// Add one token to `out`, "1-Car" as two; whether `out` holds `limit` tokens.
fn push_token<'a>(raw: &'a str, out: &mut Vec<&'a str>, limit: usize) -> bool {
    if joined_number(raw) {
        let dash = raw.find('-').unwrap_or(0);
        out.push(&raw[..dash]);
        out.push(&raw[dash + 1..]);
    } else {
        out.push(raw);
    }
    out.len() >= limit
}

/// `facts.tokens`: the first `limit` tokens between spaces, "1-Car" cut in two. Reads no
/// further than the last token it takes (a page of full text is not scanned whole).
fn fact_tokens(text: &str, limit: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(limit + 1);
    let bytes = text.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // Python's spaces among ASCII: \t \n \v \f \r, U+001C..U+001F and the space
        let (space, width) = if b < 0x80 {
            (matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f), 1)
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            (py_space(c), c.len_utf8())
        };
        match (space, start) {
            (true, Some(s)) => {
                start = None;
                if push_token(&text[s..i], &mut out, limit) {
                    out.truncate(limit);
                    return out;
                }
            }
            (false, None) => start = Some(i),
            _ => {}
        }
        i += width;
    }
    if let Some(s) = start {
        push_token(&text[s..], &mut out, limit);
    }
    out.truncate(limit);
    out
}

/// `facts._is_count`.
fn is_count(text: &str, previous_raw: &str, next_raw: &str) -> bool {
    let digits: String = text.chars().filter(|&c| c != ',').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 7 {
        return false;
    }
    if digits.len() == 4 {
        let year: u32 = digits.parse().unwrap_or(0);
        if (1900..=2099).contains(&year) {
            return false;
        }
    }
    if first_upper(previous_raw) || first_upper(next_raw) || previous_raw.ends_with('#') {
        return false;
    }
    let before = lower(previous_raw);
    !matches!(strip_gaps(&before), "no" | "number" | "nr")
}

struct Fact<'a> {
    slot: u32,
    value: u32,
    text: &'a str,
}

/// `zlib.crc32(text.lower().encode(), seed)` without making the lower-cased text when ASCII.
fn crc32_lower(text: &str, seed: u32) -> u32 {
    if text.is_ascii() {
        let mut c = !seed;
        for &b in text.as_bytes() {
            c = CRC_TABLE[((c ^ b.to_ascii_lowercase() as u32) & 0xff) as usize] ^ (c >> 8);
        }
        !c
    } else {
        crc32(lower(text).as_bytes(), seed)
    }
}

/// Whether `text` lower-cased is one of `words` (all ASCII, none with a "k": the one letter a
/// non-ASCII character, the Kelvin sign, lower-cases to).
fn lower_in(text: &str, words: &[&str]) -> bool {
    text.is_ascii() && words.iter().any(|w| w.eq_ignore_ascii_case(text))
}

/// `facts._after_dateline`: where a lead starts after "CITY (Agency) -", else 0.
fn after_dateline(tokens: &[&str]) -> usize {
    let mut credited = false;
    for (n, raw) in tokens.iter().take(DATELINE_TOKENS).enumerate() {
        if DASHES.contains(raw) && credited {
            return n + 1;
        }
        credited = credited || (raw.starts_with('(') && raw.ends_with(')'));
    }
    0
}

fn digits_then(bytes: &[u8], from: usize, count: usize) -> bool {
    bytes.len() >= from + count && bytes[from..from + count].iter().all(u8::is_ascii_digit)
}

/// `facts._family`: an identifier's kind (its leading letters: "CVE"), "time", "date", or None.
fn family(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    if letters >= 2 && text.chars().count() >= IDENTIFIER_MIN {
        return Some(&text[..letters]);
    }
    // [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?
    let hours = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=2).contains(&hours) && b.get(hours) == Some(&b':') && digits_then(b, hours + 1, 2) {
        let rest = hours + 3;
        if b.len() == rest
            || (b.len() == rest + 3 && b[rest] == b':' && digits_then(b, rest + 1, 2))
        {
            return Some("time");
        }
    }
    // [0-9]{4}-[0-9]{2}-[0-9]{2}
    if b.len() == 10
        && digits_then(b, 0, 4)
        && b[4] == b'-'
        && digits_then(b, 5, 2)
        && b[7] == b'-'
        && digits_then(b, 8, 2)
    {
        return Some("date");
    }
    None
}

/// `facts._value`: the lower-cased text hashed without thousands commas and, in words,
/// without dots; the top bit saying whether it is a count.
fn fact_value(text: &str, count: bool) -> u32 {
    let letters = text.bytes().any(|b| b.is_ascii_alphabetic());
    let hash = if text.contains(',') || (letters && text.contains('.')) {
        let plain: String = text
            .chars()
            .filter(|&c| c != ',' && !(letters && c == '.'))
            .collect();
        crc32_lower(&plain, 0)
    } else {
        crc32_lower(text, 0)
    };
    hash & !COUNT_BIT | if count { COUNT_BIT } else { 0 }
}

/// `facts._identifier`.
fn identifier<'a>(text: &'a str, headline: bool, out: &mut Vec<Fact<'a>>) {
    let Some(kind) = family(text) else {
        return;
    };
    let value = fact_value(text, false);
    out.push(Fact {
        slot: crc32_lower(kind, crc32(b"i\0", 0)),
        value,
        text,
    });
    if headline && text.as_bytes()[0].is_ascii_alphabetic() {
        out.push(Fact {
            slot: crc32_lower(kind, crc32(b"it\0", 0)),
            value,
            text,
        });
    }
}

/// `facts._kinds`: (stripped text, is a fact, is a count) per token; identifiers to `out`.
fn kinds<'a>(
    tokens: &[&'a str],
    names: bool,
    out: &mut Vec<Fact<'a>>,
) -> Vec<(&'a str, bool, bool)> {
    let mut kinds = Vec::with_capacity(tokens.len());
    let mut sentence_start = true;
    let start = if names { after_dateline(tokens) } else { 0 };
    for (n, &raw) in tokens.iter().enumerate().skip(start) {
        let text = strip_gaps(raw);
        if text.is_empty() || is_link(text) {
            if DASHES.contains(&raw) {
                sentence_start = true;
            }
            continue;
        }
        let number = has_digit(text);
        if number && n > 0 && lower_in(strip_gaps(tokens[n - 1]), VERSION_WORDS) {
            continue;
        }
        let bracketed = raw.starts_with('(') && raw.ends_with(')');
        let name = names
            && !bracketed
            && first_upper(text)
            && !(sentence_start && lower_in(text, SENTENCE_STARTERS));
        let count = number && {
            let previous = if n > 0 { tokens[n - 1] } else { "" };
            let next = tokens.get(n + 1).copied().unwrap_or("");
            is_count(text, previous, next)
        };
        kinds.push((text, number || name, count));
        sentence_start = raw.ends_with(SENTENCE_ENDS);
        if number {
            identifier(text, !names, out);
        }
    }
    kinds
}

/// `facts._scan`. The slot is the CRC-32 of "part\0before\0after\0place", made piece by piece.
fn scan<'a>(tokens: &[&'a str], part: &str, names: bool, out: &mut Vec<Fact<'a>>) {
    let kinds = kinds(tokens, names, out);
    // The ordinary word after each token (by index), and how many facts come before it.
    let mut after: Vec<Option<usize>> = vec![None; kinds.len()];
    let mut place: Vec<usize> = vec![0; kinds.len()];
    let mut following: Option<usize> = None;
    let mut facts_after = 0usize;
    for n in (0..kinds.len()).rev() {
        after[n] = following;
        place[n] = facts_after;
        if kinds[n].1 {
            facts_after += 1;
        } else {
            following = Some(n);
            facts_after = 0;
        }
    }
    let head = crc32(format!("{part}\0").as_bytes(), 0);
    let mut context: Option<usize> = None; // the last ordinary word; None: "^", none yet
    let mut hashed: Option<(usize, u32)> = None; // "part\0before" hashed, for that word
    for (n, &(text, is_fact, count)) in kinds.iter().enumerate() {
        if !is_fact {
            context = Some(n);
            continue;
        }
        if names && context.is_none() {
            continue; // a lead's first words: a label, a dateline, a cut
        }
        let before = match context {
            None => crc32(b"^", head),
            Some(word) => match hashed {
                Some((at, h)) if at == word => h,
                _ => {
                    let h = crc32_lower(kinds[word].0, head);
                    hashed = Some((word, h));
                    h
                }
            },
        };
        let with_after = match after[n] {
            Some(word) => crc32_lower(kinds[word].0, crc32(b"\0", before)),
            None if names => break,
            None => crc32(b"\0$", before),
        };
        let slot = crc32(format!("\0{}", place[n]).as_bytes(), with_after);
        out.push(Fact {
            slot,
            value: fact_value(text, count),
            text,
        });
    }
}

/// The first `n` characters of `text` (Python's `text[:n]`).
fn first_chars(text: &str, n: usize) -> &str {
    if text.len() <= n {
        return text; // fewer bytes than `n`: fewer characters too
    }
    match text.char_indices().nth(n) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// Where the raw token that makes `limit` tokens ends (`text.len()` when there are fewer).
fn token_end(text: &str, limit: usize) -> usize {
    let bytes = text.as_bytes();
    let mut start: Option<usize> = None;
    let mut count = 0;
    let mut i = 0;
    while i <= bytes.len() {
        let (space, width) = match bytes.get(i) {
            None => (true, 1),
            Some(&b) if b < 0x80 => (matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f), 1),
            Some(_) => {
                let c = text[i..].chars().next().unwrap_or(' ');
                (py_space(c), c.len_utf8())
            }
        };
        match (space, start) {
            (true, Some(s)) => {
                start = None;
                count += if joined_number(&text[s..i]) { 2 } else { 1 };
                if count >= limit {
                    return i;
                }
            }
            (false, None) => start = Some(i),
            _ => {}
        }
        i += width;
    }
    text.len()
}

/// "1-Car": a number joined to a capitalised word by a hyphen, two tokens.
fn joined_number(raw: &str) -> bool {
    raw.as_bytes()[0].is_ascii_digit()
        && raw.split_once('-').is_some_and(|(digits, rest)| {
            !digits.is_empty() && first_upper(rest) && digits.bytes().all(|b| b.is_ascii_digit())
        })
}

/// `facts.lead_prefix`: the first FACT_CHARS characters, up to the end of the token that
/// makes FACT_TOKENS. Reads no further than that token.
fn lead_prefix(body: &str) -> &str {
    let end = token_end(body, FACT_TOKENS);
    if end <= FACT_CHARS {
        return &body[..end]; // no more bytes than FACT_CHARS: no more characters either
    }
    let cut = first_chars(body, FACT_CHARS);
    &cut[..token_end(cut, FACT_TOKENS)]
}

/// `facts.facts`: a title's facts and a lead prefix's, at most MAX_FACTS.
fn facts<'a>(title: &'a str, lead: &'a str) -> Vec<Fact<'a>> {
    let mut out = Vec::new();
    scan(
        &fact_tokens(first_chars(title, FACT_CHARS), FACT_TOKENS),
        "t",
        false,
        &mut out,
    );
    scan(
        &fact_tokens(lead_prefix(lead), FACT_TOKENS),
        "b",
        true,
        &mut out,
    );
    out.truncate(MAX_FACTS);
    out
}

/// Facts as stored: (slot, value) pairs, sorted (a slot's values are a run).
fn fact_pairs(found: &[Fact]) -> Vec<(u32, u32)> {
    let mut pairs: Vec<(u32, u32)> = found.iter().map(|f| (f.slot, f.value)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

fn values_of(pairs: &[(u32, u32)], slot: u32) -> &[(u32, u32)] {
    let start = pairs.partition_point(|p| p.0 < slot);
    let end = start + pairs[start..].partition_point(|p| p.0 == slot);
    &pairs[start..end]
}

/// `facts.agree`: the facts of ours the other has in the same slots, or None on a disagreement.
fn agree(ours: &[Fact], theirs: &[(u32, u32)]) -> Option<Vec<String>> {
    let mine = fact_pairs(ours);
    let mut update: Option<(u32, u32)> = None;
    for run in mine.chunk_by(|a, b| a.0 == b.0) {
        let other = values_of(theirs, run[0].0);
        if other.is_empty() {
            continue;
        }
        let shared = run
            .iter()
            .any(|m| other.iter().any(|o| (m.1 ^ o.1) & !COUNT_BIT == 0));
        if shared {
            continue;
        }
        let all_counts = run.iter().chain(other).all(|p| p.1 & COUNT_BIT != 0);
        if run.len() > 1 || other.len() > 1 || !all_counts {
            return None;
        }
        let change = (run[0].1, other[0].1);
        match update {
            None => update = Some(change),
            Some(seen) if seen != change => return None,
            Some(_) => {}
        }
    }
    let mut agreed: Vec<String> = Vec::new();
    for f in ours {
        let found = values_of(theirs, f.slot)
            .iter()
            .any(|o| (o.1 ^ f.value) & !COUNT_BIT == 0);
        if found && !agreed.iter().any(|a| a == f.text) {
            agreed.push(f.text.to_owned());
        }
    }
    Some(agreed)
}

/// `index.title_keys`.
fn title_keys(title: &str) -> Vec<String> {
    let all = lower(first_chars(title, FACT_CHARS));
    let mut keys: Vec<String> = split_words(&all)
        .into_iter()
        .filter(|w| {
            (w.chars().count() >= TITLE_KEY_MIN || has_digit(w)) && !TITLE_STOPWORDS.contains(w)
        })
        .map(str::to_owned)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn is_number(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit())
}

/// `index.title_core`: a headline's own words, lower-cased, without a desk's label or tail.
fn title_core(title: &str) -> Vec<String> {
    let mut raw: Vec<&str> = first_chars(title, FACT_CHARS)
        .split(py_space)
        .filter(|t| !t.is_empty())
        .collect();
    let lowest = raw.len().saturating_sub(5);
    for n in (lowest..raw.len()).rev() {
        if n > 0 && TITLE_DASHES.contains(&raw[n]) {
            raw.truncate(n);
            break;
        }
    }
    let labelled = raw.iter().take(3).position(|r| r.ends_with(':'));
    let mut first_rest: Option<&str> = None;
    match labelled {
        Some(n) if n + 1 < raw.len() => {
            raw.drain(..=n);
        }
        _ => {
            if let Some((label, rest)) = raw.first().and_then(|r| r.split_once('-')) {
                if !label.is_empty() && first_upper(rest) {
                    first_rest = Some(rest);
                }
            }
        }
    }
    if let Some(rest) = first_rest {
        raw[0] = rest;
    }
    let joined = lower(&without_thousands(&raw.join(" ")));
    let found = split_words(&joined);
    let mut core = Vec::with_capacity(found.len());
    for (n, w) in found.iter().enumerate() {
        if DESK_WORDS.contains(w) || (n > 0 && DESK_WORDS.contains(&found[n - 1]) && is_number(w)) {
            continue;
        }
        core.push((*w).to_owned());
    }
    core
}

/// The text without commas between two digits ("1,200" is "1200").
fn without_thousands(text: &str) -> String {
    let b = text.as_bytes();
    text.char_indices()
        .filter(|&(i, c)| {
            !(c == ','
                && i > 0
                && b[i - 1].is_ascii_digit()
                && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        })
        .map(|(_, c)| c)
        .collect()
}

/// `index.titles_differ`: one template's headlines naming other things.
fn titles_differ(ours: &[String], other_title: &str) -> bool {
    let mut theirs = title_core(other_title);
    theirs.truncate(FACT_TOKENS);
    let shorter = ours.len().min(theirs.len());
    let mut head = 0;
    while head < shorter && ours[head] == theirs[head] {
        head += 1;
    }
    let mut tail = 0;
    while tail < shorter - head && ours[ours.len() - 1 - tail] == theirs[theirs.len() - 1 - tail] {
        tail += 1;
    }
    let mine = &ours[head..ours.len() - tail];
    let other = &theirs[head..theirs.len() - tail];
    if mine.is_empty() || other.is_empty() || mine.len() > NAMED || other.len() > NAMED {
        return false;
    }
    if 2 * (head + tail) < shorter {
        return false;
    }
    if mine.iter().any(|w| other.contains(w)) {
        return false;
    }
    !(mine.len() == 1 && other.len() == 1 && is_number(&mine[0]) && is_number(&other[0]))
}

/// `sketch.words(text, limit)`: the first `limit` lower-cased words, cutting like Python.
fn first_words(text: &str, limit: usize) -> Vec<String> {
    map_words(text, Some(limit), str::to_owned)
}

struct Member {
    article_id: String,
    story_id: String,
    url_key: String,
    shingles: Vec<u32>,
    lead: String,                     // the lead prefix its facts are read from
    facts: OnceLock<Vec<(u32, u32)>>, // made when it is first a candidate
    feed: String,
    title: String,
    url: String,
    seen_ms: i64,
    posted: bool, // its shingles are in the postings
}

type MemberRow = (String, String, String, String, i64);
/// What `assign` returns: the story id, the sketch, the packed facts and why.
type Assigned<'py> = (String, Bound<'py, PyBytes>, String, Bound<'py, PyTuple>);
/// Why an article is in its story: kind, the member matched, the share, the facts that agreed.
type Why = (&'static str, String, f64, Vec<String>);

/// The members holding one shingle: most shingles are held by one, so no list for those.
enum Posting {
    One(u64),
    Many(Vec<u64>),
}

impl Posting {
    fn as_slice(&self) -> &[u64] {
        match self {
            Posting::One(serial) => std::slice::from_ref(serial),
            Posting::Many(serials) => serials,
        }
    }

    fn push(&mut self, serial: u64) {
        match self {
            Posting::One(first) => *self = Posting::Many(vec![*first, serial]),
            Posting::Many(serials) => serials.push(serial),
        }
    }

    /// Drop a member; whether none is left.
    fn remove(&mut self, serial: u64) -> bool {
        match self {
            Posting::One(only) => *only == serial,
            Posting::Many(serials) => {
                serials.retain(|&s| s != serial);
                serials.is_empty()
            }
        }
    }
}

/// `index._titles_agree`: two headlines share two key words (one if either has one), or two
/// of the other's are in this lead, or this headline has a run of the other's lead.
fn titles_agree(keys: &[String], other: &Member, title: &str, lead: &str) -> bool {
    let theirs = title_keys(&other.title);
    let shared = theirs
        .iter()
        .filter(|k| keys.binary_search(k).is_ok())
        .count();
    if keys.is_empty() || theirs.is_empty() || shared >= 2.min(keys.len()).min(theirs.len()) {
        return true;
    }
    let words = first_words(lead, LEAD_WORDS);
    let in_lead = theirs.iter().filter(|k| words.contains(k)).count();
    if in_lead >= 2.min(theirs.len()) {
        return true;
    }
    let mut runs = Vec::new();
    shingles(
        &word_hashes(first_chars(title, FACT_CHARS), None),
        0,
        &mut runs,
    );
    runs.iter()
        .any(|h| other.shingles.binary_search(&(h & !TITLE_BIT)).is_ok())
}

/// The members of the stories still open (see `monitor.stories.index.StoryIndex`).
#[pyclass(module = "monitor_native")]
pub struct StoryIndex {
    window_ms: i64,
    max_members: usize,
    members: FxHashMap<u64, Member>,
    order: VecDeque<u64>,
    by_article: FxHashMap<String, u64>,
    stories: FxHashMap<String, Vec<u64>>,
    by_url: FxHashMap<String, u64>,
    postings: FxHashMap<u32, Posting>,
    posted: FxHashMap<String, usize>, // by story: members in the postings
    unposted: FxHashMap<String, VecDeque<u64>>, // by story: the others, oldest first
    serial: u64,
}

impl StoryIndex {
    #[allow(clippy::too_many_arguments)]
    fn find(
        &self,
        article_id: &str,
        url_key: &str,
        shingles: &[u32],
        feed: &str,
        title: &str,
        lead: &str,
    ) -> (String, Why) {
        for key in url_key.split('\n').filter(|k| !k.is_empty()) {
            if let Some(serial) = self.by_url.get(key) {
                let other = &self.members[serial];
                let kind = if key.starts_with("guid:") {
                    "guid"
                } else {
                    "url"
                };
                return (
                    other.story_id.clone(),
                    (kind, other.article_id.clone(), 0.0, Vec::new()),
                );
            }
        }
        // Every candidate once per shingle it shares, marked when a title shingle; sorted, a
        // candidate's votes are a run.
        let mut votes: Vec<(u64, bool)> = Vec::new();
        for shingle in shingles {
            if let Some(posting) = self.postings.get(shingle) {
                let serials = posting.as_slice();
                if serials.len() < COMMON_POSTINGS {
                    let title = shingle & TITLE_BIT != 0;
                    votes.extend(serials.iter().map(|&s| (s, title)));
                }
            }
        }
        votes.sort_unstable();
        let mut ranked: Vec<(f64, u64, bool)> = Vec::new();
        for run in votes.chunk_by(|a, b| a.0 == b.0) {
            let (serial, shared) = (run[0].0, run.len());
            if shared < MIN_SHARED {
                continue;
            }
            let other = &self.members[&serial];
            let share = shared as f64 / shingles.len().min(other.shingles.len()) as f64;
            if share >= THRESHOLD {
                ranked.push((share, serial, run.iter().any(|v| v.1)));
            }
        }
        // By share, the earliest member first on a tie.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut keys: Option<Vec<String>> = None;
        let mut core: Option<Vec<String>> = None; // this headline's title_core, made once
        let found = if ranked.is_empty() {
            Vec::new()
        } else {
            facts(title, lead)
        };
        for (share, serial, titled) in ranked.into_iter().take(MAX_TRIED) {
            let other = &self.members[&serial];
            if !titled {
                if !feed.is_empty() && other.feed == feed {
                    continue; // one feed's items alike but for their titles: its boilerplate
                }
                let keys = keys.get_or_insert_with(|| title_keys(title));
                if !titles_agree(keys, other, title, lead) {
                    continue; // two feeds' stubs under unrelated headlines
                }
            }
            let core = core.get_or_insert_with(|| {
                let mut core = title_core(title);
                core.truncate(FACT_TOKENS);
                core
            });
            if titles_differ(core, &other.title) {
                continue; // one template, other things named in the headline
            }
            let theirs = other
                .facts
                .get_or_init(|| fact_pairs(&facts(&other.title, &other.lead)));
            if let Some(agreed) = agree(&found, theirs) {
                let why = ("text", other.article_id.clone(), share, agreed);
                return (other.story_id.clone(), why);
            }
        }
        (
            article_id.to_owned(),
            ("founded", String::new(), 0.0, Vec::new()),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        article_id: &str,
        story_id: &str,
        url_key: &str,
        mut shingles: Vec<u32>,
        lead: &str,
        feed: &str,
        title: &str,
        url: &str,
        seen_ms: i64,
    ) -> bool {
        if self.by_article.contains_key(article_id) {
            return false;
        }
        shingles.sort_unstable();
        shingles.dedup();
        self.serial += 1;
        let serial = self.serial;
        self.by_article.insert(article_id.to_owned(), serial);
        self.stories
            .entry(story_id.to_owned())
            .or_default()
            .push(serial);
        for key in url_key.split('\n').filter(|k| !k.is_empty()) {
            self.by_url.entry(key.to_owned()).or_insert(serial);
        }
        self.order.push_back(serial);
        self.members.insert(
            serial,
            Member {
                article_id: article_id.to_owned(),
                story_id: story_id.to_owned(),
                url_key: url_key.to_owned(),
                shingles,
                lead: lead.to_owned(),
                facts: OnceLock::new(),
                feed: feed.to_owned(),
                title: title.to_owned(),
                url: url.to_owned(),
                seen_ms,
                posted: false,
            },
        );
        if self.posted.get(story_id).copied().unwrap_or(0) < POSTED_PER_STORY {
            self.post(serial);
        } else {
            self.unposted
                .entry(story_id.to_owned())
                .or_default()
                .push_back(serial);
        }
        true
    }

    /// Put a member's shingles in the postings.
    fn post(&mut self, serial: u64) {
        let Some(m) = self.members.get_mut(&serial) else {
            return;
        };
        m.posted = true;
        *self.posted.entry(m.story_id.clone()).or_insert(0) += 1;
        for &shingle in &m.shingles {
            match self.postings.get_mut(&shingle) {
                Some(posting) => posting.push(serial),
                None => {
                    self.postings.insert(shingle, Posting::One(serial));
                }
            }
        }
    }

    fn forget(&mut self, serial: u64) {
        let Some(m) = self.members.remove(&serial) else {
            return;
        };
        self.by_article.remove(&m.article_id);
        if let Some(ids) = self.stories.get_mut(&m.story_id) {
            ids.retain(|&s| s != serial);
            if ids.is_empty() {
                self.stories.remove(&m.story_id);
            }
        }
        for key in m.url_key.split('\n') {
            if self.by_url.get(key) == Some(&serial) {
                self.by_url.remove(key);
            }
        }
        if !m.posted {
            if let Some(waiting) = self.unposted.get_mut(&m.story_id) {
                waiting.retain(|&s| s != serial);
                if waiting.is_empty() {
                    self.unposted.remove(&m.story_id);
                }
            }
            return;
        }
        for shingle in &m.shingles {
            if let Some(posting) = self.postings.get_mut(shingle) {
                if posting.remove(serial) {
                    self.postings.remove(shingle);
                }
            }
        }
        if let Some(count) = self.posted.get_mut(&m.story_id) {
            *count -= 1;
            if *count == 0 {
                self.posted.remove(&m.story_id);
            }
        }
        // The oldest member not posted takes the place.
        let next = self
            .unposted
            .get_mut(&m.story_id)
            .and_then(|w| w.pop_front());
        if let Some(next) = next {
            if self.unposted.get(&m.story_id).is_some_and(|w| w.is_empty()) {
                self.unposted.remove(&m.story_id);
            }
            self.post(next);
        }
    }
}

#[pymethods]
impl StoryIndex {
    #[new]
    #[pyo3(signature = (window_s, max_members = 50_000))]
    fn new(window_s: f64, max_members: usize) -> Self {
        StoryIndex {
            window_ms: (window_s * 1000.0) as i64,
            max_members,
            members: FxHashMap::default(),
            order: VecDeque::new(),
            by_article: FxHashMap::default(),
            stories: FxHashMap::default(),
            by_url: FxHashMap::default(),
            postings: FxHashMap::default(),
            posted: FxHashMap::default(),
            unposted: FxHashMap::default(),
            serial: 0,
        }
    }

    fn __len__(&self) -> usize {
        self.members.len()
    }

    /// Find the article's story, add the article to it; return the story id, the sketch, the
    /// packed facts and why.
    #[allow(clippy::too_many_arguments)]
    fn assign<'py>(
        &mut self,
        py: Python<'py>,
        article_id: &str,
        url_key: &str,
        title: &str,
        body: &str,
        feed: &str,
        url: &str,
        seen_ms: i64,
    ) -> PyResult<Assigned<'py>> {
        if let Some(serial) = self.by_article.get(article_id) {
            let m = &self.members[serial];
            let why = ("known", "", 0.0, PyTuple::empty(py)).into_pyobject(py)?;
            return Ok((
                m.story_id.clone(),
                packed(py, &m.shingles),
                m.lead.clone(),
                why,
            ));
        }
        let shingles = sketch(title, body);
        let lead = lead_prefix(body);
        let (story_id, (kind, other, share, agreed)) =
            self.find(article_id, url_key, &shingles, feed, title, lead);
        let out = packed(py, &shingles);
        let why = (kind, other, share, PyTuple::new(py, agreed)?).into_pyobject(py)?;
        self.add(
            article_id, &story_id, url_key, shingles, lead, feed, title, url, seen_ms,
        );
        Ok((story_id, out, lead.to_owned(), why))
    }

    /// Add a member recorded elsewhere (stored, or by another dispatcher); first wins.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        article_id: &str,
        story_id: &str,
        url_key: &str,
        shingles: &[u8],
        lead: &str,
        feed: &str,
        title: &str,
        url: &str,
        seen_ms: i64,
    ) -> bool {
        self.add(
            article_id,
            story_id,
            url_key,
            unpacked(shingles),
            lead_prefix(lead),
            feed,
            title,
            url,
            seen_ms,
        )
    }

    /// The story of an article still in the index.
    fn story_of(&self, article_id: &str) -> Option<String> {
        self.by_article
            .get(article_id)
            .map(|s| self.members[s].story_id.clone())
    }

    /// A story's members in the order they were added.
    fn story(&self, story_id: &str) -> Vec<MemberRow> {
        self.stories
            .get(story_id)
            .map(|ids| {
                ids.iter()
                    .map(|s| {
                        let m = &self.members[s];
                        (
                            m.article_id.clone(),
                            m.feed.clone(),
                            m.title.clone(),
                            m.url.clone(),
                            m.seen_ms,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forget members seen before the window, and the oldest beyond the bound.
    fn evict(&mut self, now_ms: i64) {
        let cutoff = now_ms - self.window_ms;
        while let Some(&oldest) = self.order.front() {
            let m = &self.members[&oldest];
            if m.seen_ms >= cutoff && self.members.len() <= self.max_members {
                return;
            }
            self.order.pop_front();
            self.forget(oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        // zlib.crc32(b"hello world") and zlib.crc32(b"abc", 0x7469746C)
        assert_eq!(crc32(b"hello world", 0), 0x0D4A_1185);
        assert_eq!(crc32(b"", 7), 7);
    }

    #[test]
    fn ascii_gaps_agree_with_is_gap() {
        for n in 0u8..128 {
            assert_eq!(ASCII_GAPS[n as usize], is_gap(n as char), "{n}");
        }
    }

    fn place(index: &mut StoryIndex, id: &str, title: &str, body: &str, seen_ms: i64) -> String {
        let shingles = sketch(title, body);
        let (story, _) = index.find(id, "", &shingles, "", title, body);
        index.add(id, &story, "", shingles, body, "", title, "", seen_ms);
        story
    }

    #[test]
    fn a_copy_joins_and_a_stranger_founds() {
        let mut index = StoryIndex::new(3600.0, 100);
        let body = "Eleven people are reported dead and more than a hundred injured after a \
                    bomb went off in a station in Minsk, Belarus on Monday evening.";
        let copy = format!("MINSK (Reuters) - {body}");
        assert_eq!("a", place(&mut index, "a", "Eleven dead in Minsk", body, 0));
        assert_eq!(
            "a",
            place(&mut index, "b", "UPDATE 1-Eleven dead", &copy, 1)
        );
        assert_eq!(
            "c",
            place(&mut index, "c", "Flood in Lagos", "Rain closed roads.", 2)
        );
        index.evict(3_600_001);
        assert_eq!(index.__len__(), 2);
    }
}
