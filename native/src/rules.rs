//! Evaluate the rules an article's terms can wake, and say why each that holds matched.
//!
//! The same semantics as `monitor/matching/matcher.py` (`_holds`, `_evidence`), which the
//! differential tests hold both to.

use rustc_hash::{FxHashMap, FxHashSet};
use std::mem::take;

use crate::prefetch::prefetch;

/// Where a term was first found in a field, in characters; `regex` for a regex term.
#[derive(Clone, Copy)]
pub struct Hit {
    pub start: u32,
    pub end: u32,
    pub regex: bool,
}

impl Hit {
    /// The start of a regex hit known to be in the field, whose place is found only if a rule
    /// that holds shows it as evidence.
    pub const UNPLACED: u32 = u32::MAX;
}

pub type FieldHits = FxHashMap<u32, Hit>;

#[derive(Clone, Copy)]
pub enum Node {
    Term(u32),
    Set(u32),
    Cond(u32),
}

impl Node {
    /// Decode the compiler's node code: kind in the low two bits (0 term, 1 entity set, 2 cond).
    pub fn decode(code: u64) -> Result<Node, String> {
        let index = u32::try_from(code >> 2).map_err(|_| format!("node code {code} too large"))?;
        match code & 3 {
            0 => Ok(Node::Term(index)),
            1 => Ok(Node::Set(index)),
            2 => Ok(Node::Cond(index)),
            _ => Err(format!("node code {code} has no kind")),
        }
    }

    /// The node as a word of `Rules::conds` (kind in the low two bits; a condition's value is
    /// its offset there), or None when its value does not fit.
    pub fn word(self) -> Option<u32> {
        let (value, kind) = match self {
            Node::Term(t) => (t, 0),
            Node::Set(s) => (s, 1),
            Node::Cond(c) => (c, 2),
        };
        (value < 1 << 30).then_some(value << 2 | kind)
    }

    fn from_word(word: u32) -> Node {
        match word & 3 {
            0 => Node::Term(word >> 2),
            1 => Node::Set(word >> 2),
            _ => Node::Cond(word >> 2),
        }
    }
}

/// Feed and language filters, kept apart: few rules have them.
pub struct Filters {
    pub feeds: Option<FxHashSet<String>>,
    pub languages: Vec<String>,
}

// Half a cache line, aligned: a rule is one line to read.
#[repr(align(32))]
pub struct Rule {
    pub mask: u64,
    pub fields: u32, // its list of fields (`Rules::field_lists`)
    pub matcher: Option<Node>,
    pub entities: Option<Node>,
}

const _: () = assert!(std::mem::size_of::<Rule>() == 32);

pub struct Entity {
    pub names: Vec<u32>,
    pub context: Vec<u32>,
}

/// Lists of ids by a dense id, in two flat arrays (a hundred thousand small vectors would cost
/// more memory than what they hold).
#[derive(Default)]
pub struct Lists {
    offsets: Vec<u32>,
    items: Vec<u32>,
}

impl Lists {
    /// From (key, value) pairs: each key's values in the order given.
    pub fn from_pairs(keys: usize, pairs: &[(u32, u32)]) -> Lists {
        let keys = pairs
            .iter()
            .map(|&(k, _)| k as usize + 1)
            .max()
            .unwrap_or(0)
            .max(keys);
        let mut offsets = vec![0u32; keys + 1];
        for &(k, _) in pairs {
            offsets[k as usize + 1] += 1;
        }
        for i in 0..keys {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut items = vec![0u32; pairs.len()];
        for &(k, v) in pairs {
            items[fill[k as usize] as usize] = v;
            fill[k as usize] += 1;
        }
        Lists { offsets, items }
    }

    pub fn from_lists(lists: &[Vec<u32>]) -> Lists {
        let mut offsets = Vec::with_capacity(lists.len() + 1);
        offsets.push(0);
        let mut items = Vec::new();
        for list in lists {
            items.extend_from_slice(list);
            offsets.push(items.len() as u32);
        }
        Lists { offsets, items }
    }

    /// From counted lists, one after another: a count, then that many ids.
    pub fn from_counted(codes: &[i64]) -> Result<Lists, String> {
        let bad = || "a counted list is cut short".to_string();
        let mut lists = Lists {
            offsets: vec![0],
            items: Vec::new(),
        };
        let mut at = 0;
        while at < codes.len() {
            let n = usize::try_from(codes[at]).map_err(|_| bad())?;
            let ids = codes.get(at + 1..at + 1 + n).ok_or_else(bad)?;
            lists.items.extend(ids.iter().map(|&i| i as u32));
            lists.offsets.push(lists.items.len() as u32);
            at += 1 + n;
        }
        Ok(lists)
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Where key's list lies in the items (empty for a key not there).
    pub fn range(&self, key: u32) -> (u32, u32) {
        let k = key as usize;
        if k + 1 >= self.offsets.len() {
            return (0, 0);
        }
        (self.offsets[k], self.offsets[k + 1])
    }

    /// The items in `range`.
    pub fn items(&self, (from, to): (u32, u32)) -> &[u32] {
        &self.items[from as usize..to as usize]
    }

    /// Ask for where key's list lies.
    pub fn prefetch(&self, key: u32) {
        if let Some(offset) = self.offsets.get(key as usize) {
            prefetch(offset);
        }
    }

    pub fn get(&self, key: u32) -> &[u32] {
        self.items(self.range(key))
    }
}

/// Each string's rank among the distinct strings, in order (equal strings, equal ranks): what
/// comparing two of them needs, without reading their text.
pub fn ranks(strings: &[String]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..strings.len()).collect();
    order.sort_unstable_by(|&a, &b| strings[a].cmp(&strings[b]));
    let mut ranks = vec![0; strings.len()];
    let mut rank = 0;
    for (k, &i) in order.iter().enumerate() {
        if k > 0 && strings[i] != strings[order[k - 1]] {
            rank += 1;
        }
        ranks[i] = rank;
    }
    ranks
}

pub struct Rules {
    pub rules: Vec<Rule>,
    // The distinct lists of fields rules read: indexes into the rule set's fields, in a rule's
    // order (a few lists, shared by many rules).
    pub field_lists: Vec<Box<[u8]>>,
    pub filters: FxHashMap<u32, Filters>,
    // Conditions (all / any, at least `min` / none), each at the offset its `Node::Cond` holds:
    // the numbers of its all, any and none children, its min, then the children's words
    // (`Node::word`), all first; in one array, so that a condition is one read.
    pub conds: Vec<u32>,
    pub sets: Lists, // entity indexes, sorted
    pub entities: Vec<Entity>,
    pub label_ranks: Vec<u32>,     // term id -> its label's rank (`ranks`)
    pub entity_id_ranks: Vec<u32>, // entity index -> its id's rank
    // term id -> the rules it wakes and the entities it names, in one list (see `links`):
    // one lookup, where two lists cost two cache misses more.
    pub term_links: Lists,
    pub rules_by_set: Lists,
    pub sets_by_entity: Lists,
    pub always: Vec<u32>,
}

/// One piece of evidence: (is a term, term id or entity index, field index, start, end, and the
/// id of the term found there: the term itself, or which of an entity's names).
pub type Evidence = (bool, u32, usize, u32, u32, u32);

/// An article's hits and what is mentioned in each set of fields a rule reads.
pub struct Article<'a> {
    rules: &'a Rules,
    hits: &'a [FieldHits],
    fields: FxHashMap<u32, u64>, // term -> the fields it is found in, a bit each
    // by the fields of the rules read so far (a few masks, often one): found by a scan
    mentioned: Vec<(u64, FxHashSet<u32>)>,
    // `evidence`'s work space, kept from one rule to the next
    stack: Vec<Node>,
    found: Vec<(bool, u32, Evidence)>,
}

impl<'a> Article<'a> {
    pub fn new(rules: &'a Rules, hits: &'a [FieldHits]) -> Article<'a> {
        let terms = hits.iter().map(|h| h.len()).sum();
        let mut fields = FxHashMap::with_capacity_and_hasher(terms, Default::default());
        // No rule reads a field past the 64th (the engine refuses such rules).
        for (f, hits) in hits.iter().enumerate().take(64) {
            for &term in hits.keys() {
                *fields.entry(term).or_insert(0) |= 1 << f;
                rules.term_links.prefetch(term);
            }
        }
        Article {
            rules,
            hits,
            fields,
            mentioned: Vec::new(),
            stack: Vec::new(),
            found: Vec::new(),
        }
    }

    fn present(&self, term: u32, mask: u64) -> bool {
        self.fields.get(&term).is_some_and(|f| f & mask != 0)
    }

    /// Where the entities mentioned in the fields `mask` are in `self.mentioned`.
    fn mentioned(&mut self, mask: u64) -> usize {
        if let Some(i) = self.mentioned.iter().position(|(m, _)| *m == mask) {
            return i;
        }
        let mut found = FxHashSet::default();
        for (&term, &fields) in &self.fields {
            if fields & mask == 0 {
                continue;
            }
            for &e in self.rules.links(term).1 {
                let context = &self.rules.entities[e as usize].context;
                if context.is_empty() || context.iter().any(|&t| self.present(t, mask)) {
                    found.insert(e);
                }
            }
        }
        self.mentioned.push((mask, found));
        self.mentioned.len() - 1
    }

    /// The rules any present term or mentioned entity can wake, in rule order.
    pub fn candidates(&self) -> Vec<u32> {
        let r = self.rules;
        let mut found = r.always.clone();
        // `Article::new` asked for where each term's list lies; now for the lists.
        for &term in self.fields.keys() {
            if let Some(first) = r.term_links.get(term).first() {
                prefetch(first);
            }
        }
        for &term in self.fields.keys() {
            let (rules, entities) = r.links(term);
            found.extend(rules);
            for &e in entities {
                for &s in r.sets_by_entity.get(e) {
                    found.extend(r.rules_by_set.get(s));
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Whether rule `index` matches the article (its feed and language filters included).
    pub fn holds(&mut self, index: u32, feed: Option<&str>, language: Option<&str>) -> bool {
        let rule = &self.rules.rules[index as usize];
        if let Some(filters) = self.rules.filters.get(&index) {
            if let (Some(feeds), Some(feed)) = (&filters.feeds, feed) {
                if !feeds.contains(feed) {
                    return false;
                }
            }
            let languages = &filters.languages;
            if let (false, Some(lang)) = (languages.is_empty(), language.filter(|l| !l.is_empty()))
            {
                let base = lang.split('-').next().unwrap_or(lang);
                if !languages.iter().any(|l| l == lang || l == base) {
                    return false;
                }
            }
        }
        let mask = rule.mask;
        let at = self.mentioned(mask);
        let mentioned = &self.mentioned[at].1;
        [rule.matcher, rule.entities]
            .into_iter()
            .flatten()
            .all(|node| self.node_holds(node, mask, mentioned))
    }

    fn node_holds(&self, node: Node, mask: u64, mentioned: &FxHashSet<u32>) -> bool {
        match node {
            Node::Term(t) => self.present(t, mask),
            Node::Set(s) => {
                let set = self.rules.sets.get(s);
                if set.len() < mentioned.len() {
                    set.iter().any(|e| mentioned.contains(e))
                } else {
                    mentioned.iter().any(|e| set.binary_search(e).is_ok())
                }
            }
            Node::Cond(c) => {
                let (min, all, any, none) = self.rules.parts(c);
                let holds = |&word: &u32| self.node_holds(Node::from_word(word), mask, mentioned);
                if !all.iter().all(holds) {
                    return false;
                }
                if none.iter().any(holds) {
                    return false;
                }
                if any.is_empty() {
                    return true;
                }
                let mut count = 0;
                for n in any {
                    if holds(n) {
                        count += 1;
                        if count >= min {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }

    /// Every term and entity in a positive position of a rule that holds and is present,
    /// ordered by field (in the rule's order), place, kind and value.
    ///
    /// A regex hit whose place is not yet known (`Hit::UNPLACED`) is placed by `place(field,
    /// term)`, only now that a rule holds and shows it.
    pub fn evidence(
        &mut self,
        index: u32,
        place: &mut impl FnMut(usize, u32) -> Option<(u32, u32)>,
    ) -> Vec<Evidence> {
        let r = self.rules;
        let rule = &r.rules[index as usize];
        let fields = &r.field_lists[rule.fields as usize];
        let mask = rule.mask;
        let at = self.mentioned(mask);
        let mentioned = &self.mentioned[at].1;
        // Keyed by (is a term, its label's or id's rank): the first of a label or entity found
        // wins, in the order the Python matcher walks the rule (a stack).
        let (mut found, mut stack) = (take(&mut self.found), take(&mut self.stack));
        found.clear();
        stack.extend([rule.matcher, rule.entities].into_iter().flatten());
        while let Some(node) = stack.pop() {
            match node {
                Node::Cond(c) => {
                    let (_, all, any, _) = r.parts(c);
                    stack.extend(all.iter().chain(any).map(|&word| Node::from_word(word)));
                }
                Node::Term(t) => {
                    let label = r.label_ranks[t as usize];
                    if !found
                        .iter()
                        .any(|(term, value, _)| *term && *value == label)
                    {
                        if let Some(e) = self.first_hit(true, t, &[t], fields, place) {
                            found.push((true, label, e));
                        }
                    }
                }
                Node::Set(s) => {
                    for e in mentioned_in(r.sets.get(s), mentioned) {
                        let id = r.entity_id_ranks[e as usize];
                        if !found.iter().any(|(term, value, _)| !*term && *value == id) {
                            let names = &r.entities[e as usize].names;
                            if let Some(ev) = self.first_hit(false, e, names, fields, place) {
                                found.push((false, id, ev));
                            }
                        }
                    }
                }
            }
        }
        let order = |f: usize| {
            fields
                .iter()
                .position(|&x| usize::from(x) == f)
                .unwrap_or(usize::MAX)
        };
        found.sort_by(|a, b| {
            (order(a.2 .2), a.2 .3, a.0, a.1).cmp(&(order(b.2 .2), b.2 .3, b.0, b.1))
        });
        let evidence = found.iter().map(|&(_, _, e)| e).collect();
        (self.found, self.stack) = (found, stack);
        evidence
    }

    /// The first field (in the rule's order) where one of `terms` is present, and the best hit
    /// there: a word before a regex, then the earliest.
    fn first_hit(
        &self,
        term: bool,
        value: u32,
        terms: &[u32],
        fields: &[u8],
        place: &mut impl FnMut(usize, u32) -> Option<(u32, u32)>,
    ) -> Option<Evidence> {
        for &f in fields {
            let f = usize::from(f);
            let hits = &self.hits[f];
            let mut best: Option<(Hit, u32)> = None;
            for t in terms {
                if let Some(&h) = hits.get(t) {
                    let h = if h.start == Hit::UNPLACED {
                        let Some((start, end)) = place(f, *t) else {
                            continue;
                        };
                        Hit {
                            start,
                            end,
                            regex: true,
                        }
                    } else {
                        h
                    };
                    if best.is_none_or(|(b, _)| (h.regex, h.start) < (b.regex, b.start)) {
                        best = Some((h, *t));
                    }
                }
            }
            if let Some((h, t)) = best {
                return Some((term, value, f, h.start, h.end, t));
            }
        }
        None
    }
}

/// The entities of `set` (sorted) that are `mentioned`, in the set's order: by reading the
/// smaller of the two (a tag's set may hold hundreds of entities, an article mentions a few).
fn mentioned_in(set: &[u32], mentioned: &FxHashSet<u32>) -> Vec<u32> {
    if set.len() <= mentioned.len() {
        return set
            .iter()
            .copied()
            .filter(|e| mentioned.contains(e))
            .collect();
    }
    let mut found: Vec<u32> = mentioned
        .iter()
        .copied()
        .filter(|e| set.binary_search(e).is_ok())
        .collect();
    found.sort_unstable();
    found
}

impl Rules {
    /// `term_links`' lists, one for each term: the number of rules it wakes, those rules, then
    /// the entities it names.
    pub fn link(terms: usize, rules: &Lists, entities: &Lists) -> Lists {
        let mut links = Lists::from_lists(&[]);
        let terms = terms.max(rules.len()).max(entities.len());
        for term in 0..terms as u32 {
            let (rules, entities) = (rules.get(term), entities.get(term));
            if !rules.is_empty() || !entities.is_empty() {
                links.items.push(rules.len() as u32);
                links.items.extend_from_slice(rules);
                links.items.extend_from_slice(entities);
            }
            links.offsets.push(links.items.len() as u32);
        }
        links
    }

    /// Ask for rule `index`.
    pub fn prefetch_rule(&self, index: u32) {
        if let Some(rule) = self.rules.get(index as usize) {
            prefetch(rule);
        }
    }

    /// Ask for rule `index`'s top conditions (reading the rule).
    pub fn prefetch_conditions(&self, index: u32) {
        let Some(rule) = self.rules.get(index as usize) else {
            return;
        };
        for node in [rule.matcher, rule.entities] {
            if let Some(Node::Cond(offset)) = node {
                if let Some(word) = self.conds.get(offset as usize) {
                    prefetch(word);
                }
            }
        }
    }

    /// The rules a term wakes and the entities it names.
    fn links(&self, term: u32) -> (&[u32], &[u32]) {
        match self.term_links.get(term) {
            [] => (&[], &[]),
            [count, rest @ ..] => rest.split_at(*count as usize),
        }
    }

    /// The condition at `offset` of `conds`: its min, and its all, any and none children.
    fn parts(&self, offset: u32) -> (u32, &[u32], &[u32], &[u32]) {
        let words = &self.conds[offset as usize..];
        let (all, any, none) = (words[0] as usize, words[1] as usize, words[2] as usize);
        let children = &words[4..4 + all + any + none];
        (
            words[3],
            &children[..all],
            &children[all..all + any],
            &children[all + any..],
        )
    }
}
