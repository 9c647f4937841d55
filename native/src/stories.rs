//! Story folding's index: `monitor.stories.index.StoryIndex` (the reference) in Rust.
//!
//! The same sketch (three-word shingles of the title and of the lead's first 40 words, each
//! the CRC-32s of its words mixed) and the same choice of story, member for member; the differential test in
//! tests/test_stories.py holds the two to it.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

const LEAD_WORDS: usize = 40;
const TITLE_SEED: u32 = 0x7469_746C;
const TITLE_BIT: u32 = 0x8000_0000;
const THRESHOLD: f64 = 0.4;
const MIN_SHARED: usize = 4;
const COMMON_POSTINGS: usize = 256;

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

/// `sketch.words`, hashed: the CRC-32 of each lower-cased word, the first `limit` of them. Like
/// Python, it splits a cut of `limit * 10` characters first, and the whole text when the cut
/// holds `limit` words or fewer.
fn word_hashes(text: &str, limit: Option<usize>) -> Vec<u32> {
    let hash = |w: &&str| crc32(w.as_bytes(), 0);
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
                return words[..limit].iter().map(hash).collect();
            }
        }
    }
    let all = lower(text);
    let words = split_words(&all);
    let keep = limit.unwrap_or(words.len()).min(words.len());
    words[..keep].iter().map(hash).collect()
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

struct Member {
    article_id: String,
    story_id: String,
    url_key: String,
    shingles: Vec<u32>,
    feed: String,
    title: String,
    url: String,
    seen_ms: i64,
}

type MemberRow = (String, String, String, String, i64);

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
    serial: u64,
}

impl StoryIndex {
    fn find(&self, article_id: &str, url_key: &str, shingles: &[u32], feed: &str) -> String {
        for key in url_key.split('\n').filter(|k| !k.is_empty()) {
            if let Some(serial) = self.by_url.get(key) {
                return self.members[serial].story_id.clone();
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
        let mut best: Option<(u64, f64)> = None;
        for run in votes.chunk_by(|a, b| a.0 == b.0) {
            let (serial, shared) = (run[0].0, run.len());
            if shared < MIN_SHARED {
                continue;
            }
            let other = &self.members[&serial];
            if !feed.is_empty() && other.feed == feed && !run.iter().any(|v| v.1) {
                continue; // one feed's items alike but for their titles: its boilerplate
            }
            let share = shared as f64 / shingles.len().min(other.shingles.len()) as f64;
            // In serial order: on a tie of shares, the earliest member stays.
            if share >= THRESHOLD && best.is_none_or(|(_, s)| share > s) {
                best = Some((serial, share));
            }
        }
        match best {
            Some((serial, _)) => self.members[&serial].story_id.clone(),
            None => article_id.to_owned(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        article_id: &str,
        story_id: &str,
        url_key: &str,
        mut shingles: Vec<u32>,
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
        for &shingle in &shingles {
            match self.postings.get_mut(&shingle) {
                Some(posting) => posting.push(serial),
                None => {
                    self.postings.insert(shingle, Posting::One(serial));
                }
            }
        }
        self.order.push_back(serial);
        self.members.insert(
            serial,
            Member {
                article_id: article_id.to_owned(),
                story_id: story_id.to_owned(),
                url_key: url_key.to_owned(),
                shingles,
                feed: feed.to_owned(),
                title: title.to_owned(),
                url: url.to_owned(),
                seen_ms,
            },
        );
        true
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
        for shingle in &m.shingles {
            if let Some(posting) = self.postings.get_mut(shingle) {
                if posting.remove(serial) {
                    self.postings.remove(shingle);
                }
            }
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
            serial: 0,
        }
    }

    fn __len__(&self) -> usize {
        self.members.len()
    }

    /// Find the article's story, add the article to it; return the story id and sketch.
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
    ) -> (String, Bound<'py, PyBytes>) {
        if let Some(serial) = self.by_article.get(article_id) {
            let m = &self.members[serial];
            return (m.story_id.clone(), packed(py, &m.shingles));
        }
        let shingles = sketch(title, body);
        let story_id = self.find(article_id, url_key, &shingles, feed);
        let out = packed(py, &shingles);
        self.add(
            article_id, &story_id, url_key, shingles, feed, title, url, seen_ms,
        );
        (story_id, out)
    }

    /// Add a member recorded elsewhere (stored, or by another dispatcher); first wins.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        article_id: &str,
        story_id: &str,
        url_key: &str,
        shingles: &[u8],
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
        let story = index.find(id, "", &shingles, "");
        index.add(id, &story, "", shingles, "", title, "", seen_ms);
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
