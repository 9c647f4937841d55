//! Anchors that may stand anywhere in a field (regexes' literals, the inner runs of globs,
//! words with apostrophes), found by the bytes that begin at each offset where they can stand:
//! an anchor without a space only where that many non-space bytes follow, the others at every
//! offset.
//!
//! An anchor of 8 bytes or more is filed under its first 8, one of 4 to 7 bytes under its
//! first 4: each offset looked at costs a load, a multiply and a bit test per width, and
//! only an offset whose bit is set reads on (a second filter of whole anchors, for the short
//! ones, then the table). An Aho-Corasick DFA did the same work at
//! several times the cost: with thousands of patterns it has no prefilter, and its states
//! outgrow the cache. The few anchors under 4 bytes are still searched with one.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use rustc_hash::FxHashMap;

use crate::heads::Spaces;

/// Anchors filed under their first `width` bytes (8, or 4 for anchors of 4 to 7 bytes): a
/// filter of those keys is read at each offset of a text. An anchor of 8 bytes or more is then
/// looked up in the table by its first 8; one of 4 to 7 by all its bytes (`Whole`), since its
/// first 4 alone (a common syllable) begin many other words and many other anchors.
struct Grams {
    width: usize,
    keep: u64, // the bits of a field's 8 bytes that make the key
    filter: Vec<u64>,
    shift: u32,
    table: FxHashMap<u64, (u32, u32)>, // key (whole key, for width 4) -> range of `order`
    order: Vec<u32>,                   // anchor ids, grouped by key
    whole: Option<Whole>,
}

/// Anchors of 4 to 7 bytes by all their bytes and length (`whole_key`): which lengths there
/// are, and a filter of the keys, read before the table.
struct Whole {
    lengths: u8, // bit L set: some anchor is L bytes long
    filter: Vec<u64>,
    mask: u64,
}

impl Whole {
    fn new(keys: &[u64], lengths: u8) -> Whole {
        let bits = (keys.len() * 16).next_power_of_two().max(1 << 12);
        let mut whole = Whole {
            lengths,
            filter: vec![0; bits / 64],
            mask: bits as u64 / 64 - 1,
        };
        for &key in keys {
            let (word, bits) = whole.bits(key);
            whole.filter[word] |= bits;
        }
        whole
    }

    /// A key's word of the filter and its two bits there.
    fn bits(&self, key: u64) -> (usize, u64) {
        let x = spread(key ^ key >> 29).wrapping_mul(0xff51_afd7_ed55_8ccd);
        (
            (x >> 12 & self.mask) as usize,
            1 << (x >> 52 & 63) | 1 << (x >> 58),
        )
    }

    /// Call `each(key)` for the whole key of each length an anchor may have at the start of
    /// the 8 bytes `word`, `room` of which lie in the text, that passes the filter.
    fn passing(&self, word: u64, room: usize, mut each: impl FnMut(u64)) {
        let mut lengths = self.lengths & (u8::MAX >> (7 - room.min(7)));
        while lengths != 0 {
            let length = lengths.trailing_zeros() as usize;
            lengths &= lengths - 1;
            let key = whole_key(word, length);
            let (at, bits) = self.bits(key);
            if self.filter[at] & bits == bits {
                each(key);
            }
        }
    }
}

/// The key of the `length` bytes (under 8) that begin `word`, with their length: equal keys,
/// equal bytes.
fn whole_key(word: u64, length: usize) -> u64 {
    (word & (u64::MAX >> (64 - 8 * length))) | (length as u64) << 56
}

fn spread(key: u64) -> u64 {
    key.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Grams {
    fn new(width: usize, anchors: &[Box<[u8]>], ids: Vec<u32>) -> Grams {
        let keep = u64::MAX >> (64 - 8 * width);
        let first = |id: u32| read(&anchors[id as usize], 0);
        let key = |&id: &u32| match width {
            8 => first(id) & keep,
            _ => whole_key(first(id), anchors[id as usize].len()),
        };
        let mut order = ids;
        order.sort_unstable_by_key(key);
        // About 64 bits a key (so that an offset that begins no anchor rarely passes), in a
        // filter that stays in the cache.
        let bits = (order.len() * 64)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 21);
        let mut grams = Grams {
            width,
            keep,
            filter: vec![0; bits / 64],
            shift: 64 - bits.trailing_zeros(),
            table: FxHashMap::default(),
            order: Vec::new(),
            whole: None,
        };
        for &id in &order {
            let bit = grams.bit(first(id) & keep);
            grams.filter[bit / 64] |= 1 << (bit % 64);
        }
        if width < 8 {
            let lengths = order
                .iter()
                .fold(0u8, |m, &id| m | 1 << anchors[id as usize].len());
            let keys: Vec<u64> = order.iter().map(key).collect();
            grams.whole = Some(Whole::new(&keys, lengths));
        }
        let mut from = 0;
        while from < order.len() {
            let k = key(&order[from]);
            let to = from + order[from..].partition_point(|id| key(id) == k);
            grams.table.insert(k, (from as u32, to as u32));
            from = to;
        }
        grams.order = order;
        grams
    }

    fn bit(&self, key: u64) -> usize {
        (spread(key) >> self.shift) as usize
    }

    /// Whether the key of the 8 bytes `word` passes the filter.
    fn passes(&self, word: u64) -> bool {
        let bit = self.bit(word & self.keep);
        self.filter[bit / 64] >> (bit % 64) & 1 == 1
    }

    /// Push the offsets of `bytes` (whose spaces are `spaces`) that begin `width` non-space
    /// bytes and whose key passes the filter.
    fn passing_in_runs(&self, bytes: &[u8], spaces: &Spaces, places: &mut Vec<u32>) {
        // Each offset is written and kept only if it passes: no branch to mispredict on
        // whether it does.
        let from = places.len();
        places.resize(from + bytes.len(), 0);
        let mut kept = from;
        for k in 0..spaces.words() {
            let mut open = spaces.open(k, self.width);
            while open != 0 {
                let at = k * 64 + open.trailing_zeros() as usize;
                open &= open - 1;
                places[kept] = at as u32;
                kept += usize::from(self.passes(read(bytes, at)));
            }
        }
        places.truncate(kept);
    }

    /// Push the offsets of `bytes` whose key passes the filter.
    fn passing(&self, bytes: &[u8], places: &mut Vec<u32>) {
        let whole = bytes.len().saturating_sub(7);
        for (at, eight) in bytes.windows(8).enumerate() {
            if self.passes(u64::from_le_bytes(eight.try_into().expect("8 bytes"))) {
                places.push(at as u32);
            }
        }
        for at in whole..bytes.len() {
            if self.passes(read(bytes, at)) {
                places.push(at as u32);
            }
        }
    }
}

/// The 8 bytes from `at` (zeros past the end, which no anchor holds), little end first.
pub fn read(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(eight) => u64::from_le_bytes(eight.try_into().expect("8 bytes")),
        None => {
            let mut eight = [0; 8];
            let rest = &bytes[at.min(bytes.len())..];
            eight[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(eight)
        }
    }
}

/// Whether two slices of equal length hold the same bytes, read a word at a time (the last
/// word overlapping the one before it): no call, where `==` on a slice calls `memcmp`.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    debug_assert_eq!(n, b.len());
    fn at<const N: usize>(s: &[u8], i: usize) -> [u8; N] {
        s[i..i + N].try_into().expect("N bytes")
    }
    match n {
        0 => true,
        1 => a[0] == b[0],
        2..=3 => at::<2>(a, 0) == at::<2>(b, 0) && at::<2>(a, n - 2) == at::<2>(b, n - 2),
        4..=7 => at::<4>(a, 0) == at::<4>(b, 0) && at::<4>(a, n - 4) == at::<4>(b, n - 4),
        _ => {
            let mut i = 0;
            while i + 8 < n {
                if at::<8>(a, i) != at::<8>(b, i) {
                    return false;
                }
                i += 8;
            }
            at::<8>(a, n - 8) == at::<8>(b, n - 8)
        }
    }
}

pub struct Floating {
    anchors: Vec<Box<[u8]>>,
    // By their first 8 or 4 bytes (each only if some anchor is): anchors without a space, which
    // stand inside a run of the stream's non-space bytes and are looked for there only (most
    // of a text's offsets are too near a space for 8 bytes to follow), and the others.
    in_runs: Vec<Grams>,
    anywhere: Vec<Grams>,
    short: Option<(AhoCorasick, Vec<u32>)>,
}

impl Floating {
    /// Index `anchors`; anchor i is reported as i.
    pub fn new(anchors: Vec<Box<[u8]>>) -> Result<Floating, String> {
        // By whether an anchor has a space, then by width.
        let mut groups: [[Vec<u32>; 2]; 2] = Default::default();
        let mut short = Vec::new();
        for (i, anchor) in anchors.iter().enumerate() {
            let spaced = usize::from(anchor.contains(&b' '));
            match anchor.len() {
                8.. => groups[spaced][0].push(i as u32),
                4..=7 => groups[spaced][1].push(i as u32),
                _ => short.push(i as u32),
            }
        }
        let [in_runs, anywhere] = groups.map(|[eight, four]| {
            [(8, eight), (4, four)]
                .into_iter()
                .filter(|(_, ids)| !ids.is_empty())
                .map(|(width, ids)| Grams::new(width, &anchors, ids))
                .collect::<Vec<_>>()
        });
        let short = if short.is_empty() {
            None
        } else {
            let search = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(short.iter().map(|&i| &anchors[i as usize]))
                .map_err(|e| e.to_string())?;
            Some((search, short))
        };
        Ok(Floating {
            anchors,
            in_runs,
            anywhere,
            short,
        })
    }

    /// Call `found(start, anchor)` for every place an anchor stands in `bytes` (overlapping
    /// places included), whose spaces are `spaces`.
    pub fn find(&self, bytes: &[u8], spaces: &Spaces, mut found: impl FnMut(usize, usize)) {
        // First the offsets whose key passes the filter, in a loop that does nothing else;
        // then the table, for those few.
        let mut places = Vec::new();
        for grams in &self.in_runs {
            places.clear();
            grams.passing_in_runs(bytes, spaces, &mut places);
            self.confirm(grams, bytes, &places, &mut found);
        }
        for grams in &self.anywhere {
            places.clear();
            grams.passing(bytes, &mut places);
            self.confirm(grams, bytes, &places, &mut found);
        }
        if let Some((search, ids)) = &self.short {
            for m in search.find_overlapping_iter(bytes) {
                found(m.start(), ids[m.pattern().as_usize()] as usize);
            }
        }
    }

    /// Report the anchors that stand at `places` (offsets whose key passed `grams`' filter).
    fn confirm(
        &self,
        grams: &Grams,
        bytes: &[u8],
        places: &[u32],
        found: &mut impl FnMut(usize, usize),
    ) {
        for &at in places {
            let at = at as usize;
            let word = read(bytes, at);
            let Some(whole) = &grams.whole else {
                let Some(&(from, to)) = grams.table.get(&(word & grams.keep)) else {
                    continue;
                };
                for &id in &grams.order[from as usize..to as usize] {
                    let anchor = &self.anchors[id as usize];
                    if bytes.len() - at >= anchor.len()
                        && same(&bytes[at..at + anchor.len()], anchor)
                    {
                        found(at, id as usize);
                    }
                }
                continue;
            };
            // A whole key is the anchor's bytes: one found stands here.
            whole.passing(word, bytes.len() - at, |key| {
                if let Some(&(from, to)) = grams.table.get(&key) {
                    for &id in &grams.order[from as usize..to as usize] {
                        found(at, id as usize);
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{same, Floating};
    use crate::heads::Spaces;

    #[test]
    fn finds_every_place_of_every_anchor_as_a_plain_search_does() {
        // Anchors of 1 to 10 bytes sharing their first bytes (as syllables do), with and
        // without spaces; a text where they stand overlapping, at its ends and cut short.
        let words = [
            "bake",
            "baked",
            "bakemo",
            "bakemol",
            "bakemolo",
            "bakemolor",
            "kemo",
            "emol",
            "ba",
            "o",
            "mo ba",
            "bakx",
            "e b",
            "lor ",
        ];
        let anchors: Vec<Box<[u8]>> = words.iter().map(|w| w.as_bytes().into()).collect();
        let search = Floating::new(anchors.clone()).expect("anchors");
        for text in [
            " bakemolor bakemo bake baked bakemol kemo ba ",
            "bakemolo",
            " bakemo ba",
            "bak",
            "",
        ] {
            let bytes = text.as_bytes();
            let mut found = Vec::new();
            search.find(bytes, &Spaces::new(bytes), |at, id| found.push((at, id)));
            found.sort_unstable();
            let mut expected = Vec::new();
            for at in 0..bytes.len() {
                for (id, anchor) in anchors.iter().enumerate() {
                    if bytes[at..].starts_with(anchor) {
                        expected.push((at, id));
                    }
                }
            }
            assert_eq!(found, expected, "in {text:?}");
        }
    }

    #[test]
    fn same_finds_a_difference_at_every_place_of_every_length() {
        for n in 0..40 {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same(&a, &a.clone()), "length {n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] = b'#';
                assert!(!same(&a, &b), "length {n}, byte {i}");
            }
        }
    }
}
