//! Anchors that begin where a token begins, looked up by hash instead of walked through an
//! automaton.
//!
//! Such an anchor is a space and a body (" minist", " defense "). A body stands at a token's
//! start when it equals the stream's bytes from there: the whole run of non-space bytes and the
//! space after it (a word), or a prefix of the run (a prefix, a glob's head). So a token start
//! costs a few probes of a small bit filter: one for a word as long as the run, and one for each
//! length of a prefix body that begins with the run's first three bytes (a table of length
//! masks tells which). A probe hashes its bytes 8 at a time. Only a probe that passes reads the
//! table of bodies. A trie walk instead touched an uncached state at nearly every byte of every
//! token, and probing every length cost nearly as much.
//!
//! With a hundred thousand rules an article finds hundreds of bodies, and each memory read along
//! the way is likely a cache miss: so a slot of the table holds what a hit needs (the value the
//! body stands for, and the body's bytes, or its first 16, to compare it) in half a cache line,
//! probed linearly; and a field's work is done in stages, each asking for what the next reads,
//! so that those misses overlap: every token's keys (`Heads::at`, which asks for their words of
//! the filter), the filter (`Heads::passing`), then the table (`Heads::probe`, its slots asked
//! for some probes ahead, `Heads::prefetch`).
//!
//! Bodies with a space inside (from apostrophes) or longer than 63 bytes are not kept here:
//! `Mode` searches them with the other anchors, over the whole field.

use crate::floating::{read, same};
use crate::prefetch::prefetch;

pub const MAX_BODY: usize = 63;

/// Hash 8 more bytes (fewer, zero-padded, at the end) into `hash`.
fn step(hash: u64, word: u64) -> u64 {
    (hash ^ word)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// The first `length` bytes of `bytes`' hash, given `hash` of its first `words` 8-byte words
/// (which it extends, for longer lengths after). Inlined: it runs for every length probed at
/// every token, and was not, as a call.
#[inline(always)]
fn hash_to(bytes: &[u8], length: usize, hash: &mut u64, words: &mut usize) -> u64 {
    while (*words + 1) * 8 <= length {
        *hash = step(*hash, read(bytes, *words * 8));
        *words += 1;
    }
    let tail = length - *words * 8;
    if tail == 0 {
        return *hash;
    }
    step(
        *hash,
        read(bytes, *words * 8) & (u64::MAX >> (64 - 8 * tail)),
    )
}

fn mix(hash: u64, length: usize) -> u64 {
    // murmur3's finalizer, so the filter's bits are well spread
    let mut x = hash ^ (length as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

const TRIGRAMS: usize = 1 << 13;

fn trigram(run: &[u8]) -> usize {
    let t = u32::from(run[0]) | u32::from(run[1]) << 8 | u32::from(run[2]) << 16;
    (t.wrapping_mul(0x9e37_79b1) >> 19) as usize // 13 bits
}

/// Bytes of a body kept in its slot: most bodies (a word and its space) are no longer, and
/// are compared without reading anything else.
const INLINE: usize = 16;

/// A body in the table: `tag` is its length and bits of its key (0 for an empty slot),
/// `value` what it stands for, `head` its first bytes (zeros after) and `rest` where its
/// others start in `Heads::bodies`. Half a cache line, aligned.
#[derive(Clone, Copy, Default)]
#[repr(align(32))]
struct Slot {
    tag: u32,
    rest: u32,
    value: (u32, u32),
    head: [u8; INLINE],
}

const _: () = assert!(std::mem::size_of::<Slot>() == 32);

/// A body length that may stand at a token's start, with its key (`Heads::passing` keeps
/// those whose key passes the filter).
#[derive(Clone, Copy)]
pub struct Probe {
    pub start: u32,
    length: u32,
    key: u64,
}

pub struct Heads {
    words: u64,         // bit L set: some word body (ending in its space) is L bytes long
    short: u64,         // ...some prefix body shorter than 3 bytes is L bytes long
    prefixes: Vec<u64>, // by the first three bytes' hash: the lengths of prefix bodies
    filter: Vec<u64>,
    filter_mask: u64,
    slots: Vec<Slot>, // by the key's low bits, then the next free one
    slot_mask: usize,
    bodies: Vec<u8>, // every body's bytes after its first `INLINE`, one after another
}

/// The tag of a body of `length` bytes (1 to 63) with `key`: never 0, which marks an empty
/// slot, and equal tags mean equal lengths.
fn tag(key: u64, length: usize) -> u32 {
    ((key >> 32) as u32) << 6 | length as u32
}

impl Heads {
    /// Whether an anchor belongs here; else it is searched over the whole field.
    pub fn takes(anchor: &[u8]) -> bool {
        let body = &anchor[1.min(anchor.len())..];
        anchor.first() == Some(&b' ')
            && !body.is_empty()
            && body.len() <= MAX_BODY
            && body[0] != b' '
            && !body[..body.len() - 1].contains(&b' ')
    }

    /// Index the bodies of distinct anchors `Heads::takes`, each with the value reported when
    /// it is found.
    pub fn new<'a>(anchors: impl ExactSizeIterator<Item = (&'a [u8], (u32, u32))>) -> Heads {
        let count = anchors.len();
        let bits = (count * 16).next_power_of_two().max(1 << 12);
        // At most 70% full, so that a probe seldom reads a second slot.
        let slots = (count * 10 / 7 + 1).next_power_of_two().max(64);
        let mut heads = Heads {
            words: 0,
            short: 0,
            prefixes: vec![0; TRIGRAMS],
            filter: vec![0; bits / 64],
            filter_mask: bits as u64 - 1,
            slots: vec![Slot::default(); slots],
            slot_mask: slots - 1,
            bodies: Vec::new(),
        };
        for (anchor, value) in anchors {
            let body = &anchor[1..];
            let (mut hash, mut words) = (SEED, 0);
            let key = mix(hash_to(body, body.len(), &mut hash, &mut words), body.len());
            if body.ends_with(b" ") {
                heads.words |= 1 << body.len();
            } else if body.len() < 3 {
                heads.short |= 1 << body.len();
            } else {
                heads.prefixes[trigram(body)] |= 1 << body.len();
            }
            let (word, bits) = heads.bits(key);
            heads.filter[word] |= bits;
            let mut i = key as usize & heads.slot_mask;
            while heads.slots[i].tag != 0 {
                i = (i + 1) & heads.slot_mask;
            }
            let inline = body.len().min(INLINE);
            let mut head = [0; INLINE];
            head[..inline].copy_from_slice(&body[..inline]);
            heads.slots[i] = Slot {
                tag: tag(key, body.len()),
                rest: heads.bodies.len() as u32,
                value,
                head,
            };
            heads.bodies.extend_from_slice(&body[inline..]);
        }
        heads
    }

    /// A key's word of the filter and its two bits there (one cache line a probe).
    fn bits(&self, key: u64) -> (usize, u64) {
        let word = ((key & self.filter_mask) / 64) as usize;
        (word, 1 << (key >> 40 & 63) | 1 << (key >> 52 & 63))
    }

    /// Look up a probe `Heads::at` kept: call `found(value)` if its body stands there.
    pub fn probe(&self, stream: &[u8], probe: &Probe, mut found: impl FnMut((u32, u32))) {
        let (start, length, key) = (probe.start as usize, probe.length as usize, probe.key);
        let (wanted, token) = (tag(key, length), &stream[start..start + length]);
        let mut i = key as usize & self.slot_mask;
        loop {
            let slot = &self.slots[i];
            if slot.tag == 0 {
                return;
            }
            // Bodies are distinct: one at most stands here.
            if slot.tag == wanted && self.holds(slot, token) {
                found(slot.value);
                return;
            }
            i = (i + 1) & self.slot_mask;
        }
    }

    /// Whether `slot`'s body is `token` (as long as the body, by the tags).
    fn holds(&self, slot: &Slot, token: &[u8]) -> bool {
        let inline = token.len().min(INLINE);
        let rest = slot.rest as usize;
        same(&slot.head[..inline], &token[..inline])
            && same(
                &self.bodies[rest..rest + token.len() - inline],
                &token[inline..],
            )
    }

    /// Keep in `probes` each body length that may stand at `start` (just after a space) in
    /// `stream`, where the next space is `run` bytes on; and ask for its word of the filter,
    /// which `Heads::passing` reads when a field's tokens have all been seen.
    pub fn at(&self, stream: &[u8], start: usize, run: usize, probes: &mut Vec<Probe>) {
        let rest = &stream[start..stream.len().min(start + MAX_BODY)];
        let run = run.min(rest.len());
        let mut lengths = self.short;
        if run >= 3 {
            lengths |= self.prefixes[trigram(rest)];
        }
        lengths &= u64::MAX >> (63 - run); // a prefix body lies inside the run (run <= 63)
        if run < rest.len() && self.words >> (run + 1) & 1 == 1 {
            lengths |= 1 << (run + 1);
        }
        let (mut hash, mut words) = (SEED, 0);
        while lengths != 0 {
            let length = lengths.trailing_zeros() as usize;
            lengths &= lengths - 1;
            let key = mix(hash_to(rest, length, &mut hash, &mut words), length);
            prefetch(&self.filter[self.bits(key).0]);
            probes.push(Probe {
                start: start as u32,
                length: length as u32,
                key,
            });
        }
    }

    /// Keep the probes whose key passes the filter.
    pub fn passing(&self, probes: &mut Vec<Probe>) {
        // About half pass: each is moved down and kept by adding the test's result, with no
        // branch on it to mispredict.
        let mut kept = 0;
        for i in 0..probes.len() {
            let (word, bits) = self.bits(probes[i].key);
            probes[kept] = probes[i];
            kept += usize::from(self.filter[word] & bits == bits);
        }
        probes.truncate(kept);
    }

    /// Ask for the slot a probe reads first.
    pub fn prefetch(&self, probe: &Probe) {
        prefetch(&self.slots[probe.key as usize & self.slot_mask]);
    }
}

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// Which bytes of a stream are spaces, a bit each (bit i of word i / 64; past the stream's
/// end, all), read 8 bytes at a time: finding tokens then costs no branch on each byte.
pub struct Spaces {
    bits: Vec<u64>,
    len: usize,
}

impl Spaces {
    pub fn new(stream: &[u8]) -> Spaces {
        let mut bits = vec![0u64; stream.len().div_ceil(64)];
        if !stream.len().is_multiple_of(64) {
            bits[stream.len() / 64] = u64::MAX << (stream.len() % 64);
        }
        for (k, chunk) in stream.chunks(8).enumerate() {
            let mut eight = [b' '; 8];
            eight[..chunk.len()].copy_from_slice(chunk);
            let x = u64::from_le_bytes(eight) ^ 0x2020_2020_2020_2020; // a space is 0
            let zero = !((((x & LOW7) + LOW7) | x) | LOW7); // the high bit of each 0 byte
            let mask = zero.wrapping_mul(0x0002_0408_1020_4081) >> 56; // those bits, packed
            bits[k / 8] |= mask << (k % 8 * 8);
        }
        Spaces {
            bits,
            len: stream.len(),
        }
    }

    /// Call `each(start, run)` for every token start of the stream (a byte that is not a space,
    /// after one), with the number of bytes to the next space (or to the stream's end).
    pub fn tokens(&self, mut each: impl FnMut(usize, usize)) {
        let mut carry = 0; // whether the byte before this word's first is a space
        for (k, &spaces) in self.bits.iter().enumerate() {
            let mut starts = (spaces << 1 | carry) & !spaces;
            carry = spaces >> 63;
            while starts != 0 {
                let start = k * 64 + starts.trailing_zeros() as usize;
                starts &= starts - 1;
                if start >= self.len {
                    return;
                }
                each(start, self.next_space(start) - start);
            }
        }
    }

    /// Bit j set when the `width` bytes (at most 64) from byte 64 * k + j hold no space
    /// and lie inside the stream.
    pub fn open(&self, k: usize, width: usize) -> u64 {
        let here = u128::from(self.bits[k]);
        let next = u128::from(self.bits.get(k + 1).copied().unwrap_or(u64::MAX));
        let both = next << 64 | here;
        !(0..width).fold(0, |any, i| any | (both >> i) as u64)
    }

    /// How many 64-bit words the bitmap has.
    pub fn words(&self) -> usize {
        self.bits.len()
    }

    fn next_space(&self, from: usize) -> usize {
        let rest = self.bits[from / 64] >> (from % 64);
        if rest != 0 {
            return (from + rest.trailing_zeros() as usize).min(self.len);
        }
        (from / 64 + 1..self.bits.len())
            .find(|&k| self.bits[k] != 0)
            .map_or(self.len, |k| {
                (k * 64 + self.bits[k].trailing_zeros() as usize).min(self.len)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{Heads, Spaces, INLINE};

    #[test]
    fn finds_the_bodies_that_stand_at_each_token_start_as_a_plain_search_does() {
        // Words and prefixes on both sides of the bytes a slot holds (`INLINE`), sharing their
        // first bytes and differing in their last.
        let long = "internationalisations";
        assert!(long.len() > INLINE + 2);
        let mut bodies: Vec<String> = Vec::new();
        for n in 1..=long.len() {
            bodies.push(long[..n].to_string()); // a prefix
            bodies.push(format!("{} ", &long[..n])); // a word
        }
        bodies.push(format!("{}x ", &long[..INLINE]));
        bodies.push(format!("{}x", &long[..INLINE + 1]));
        let anchors: Vec<Vec<u8>> = bodies
            .iter()
            .map(|b| format!(" {b}").into_bytes())
            .collect();
        let heads = Heads::new(
            anchors
                .iter()
                .enumerate()
                .map(|(i, a)| (&a[..], (i as u32, 0))),
        );
        let text = format!(
            " {long} {} {}x {}y {} i ",
            &long[..INLINE],
            &long[..INLINE],
            &long[..INLINE + 1],
            &long[..INLINE + 3]
        );
        let stream = text.as_bytes();
        let mut probes = Vec::new();
        Spaces::new(stream).tokens(|start, run| heads.at(stream, start, run, &mut probes));
        heads.passing(&mut probes);
        let mut found = Vec::new();
        for probe in &probes {
            heads.probe(stream, probe, |(i, _)| found.push((probe.start, i)));
        }
        found.sort_unstable();
        let mut expected = Vec::new();
        for start in 1..stream.len() {
            if stream[start - 1] != b' ' || stream[start] == b' ' {
                continue;
            }
            for (i, body) in bodies.iter().enumerate() {
                if stream[start..].starts_with(body.as_bytes()) {
                    expected.push((start as u32, i as u32));
                }
            }
        }
        assert!(expected.len() > long.len(), "{expected:?}");
        assert_eq!(found, expected);
    }

    #[test]
    fn a_slot_holds_its_body_and_no_other_of_its_length() {
        let bodies: Vec<Vec<u8>> = (1..=40u8)
            .map(|n| (0..n).map(|i| b'a' + i % 26).collect())
            .collect();
        let anchors: Vec<Vec<u8>> = bodies.iter().map(|b| [b" ", &b[..]].concat()).collect();
        let heads = Heads::new(anchors.iter().map(|a| (&a[..], (0, 0))));
        let mut kept = Vec::new();
        for slot in heads.slots.iter().filter(|s| s.tag != 0) {
            let length = (slot.tag & 63) as usize;
            let rest = slot.rest as usize;
            let mut body = slot.head[..length.min(INLINE)].to_vec();
            body.extend_from_slice(&heads.bodies[rest..rest + length.saturating_sub(INLINE)]);
            assert!(heads.holds(slot, &body));
            for i in 0..length {
                let mut other = body.clone();
                other[i] = b'#';
                assert!(!heads.holds(slot, &other), "{body:?}, byte {i}");
            }
            kept.push(body);
        }
        kept.sort();
        let mut expected = bodies.clone();
        expected.sort();
        assert_eq!(kept, expected);
    }
}
