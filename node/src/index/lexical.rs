//! BM25 over cube text, one inverted index per tenant.
//!
//! Term statistics (document count, average length, document frequency) are per tenant: a
//! tenant's ranking never depends on — and so never reveals — another tenant's data.
//! Text is lower-cased, split on anything that is not a letter or digit, stripped of English
//! stop words and one-character tokens, and stemmed (Snowball English), for documents and
//! queries alike.

use std::collections::HashMap;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxBuildHasher;

use super::sharded::Sharded;

/// Longest token that is stemmed.
const MAX_WORD: usize = 40;

/// Longest token indexed, in bytes (a SHA-256 in hex fits). Longer runs — encoded blobs, long
/// ids — are cut to this prefix, for documents and queries alike: every write is tokenized on
/// every replica, and a token's cost (lower-casing, hashing into the postings) grows with its
/// length, so an unbounded token made a 1 KiB write cost ~4% of a node's CPU (`perf`).
const MAX_TOKEN: usize = 64;

/// `w` cut to at most [`MAX_TOKEN`] bytes, on a character boundary.
fn bounded(w: &str) -> &str {
    if w.len() <= MAX_TOKEN {
        return w;
    }
    let mut end = MAX_TOKEN;
    while !w.is_char_boundary(end) {
        end -= 1;
    }
    &w[..end]
}

/// BM25 parameters (the usual defaults).
const K1: f32 = 1.2;
const B: f32 = 0.75;

#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
    "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
    "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some",
    "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
    "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves",
];

fn stemmer() -> &'static Stemmer {
    static S: OnceLock<Stemmer> = OnceLock::new();
    S.get_or_init(|| Stemmer::create(Algorithm::English))
}

fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

/// The maximal runs of letters and digits in `text`. ASCII is classified byte by byte and
/// only other characters are decoded: every write indexes its text on every replica, and the
/// generic per-character `split` cost ~5% of a node's CPU under 1 KiB writes (`perf`).
fn words(text: &str) -> impl Iterator<Item = &str> {
    let b = text.as_bytes();
    let char_at = move |i: usize| text[i..].chars().next().expect("i is a char boundary");
    let mut i = 0;
    std::iter::from_fn(move || {
        // Skip separators: ASCII ones in a tight loop, others decoded.
        loop {
            while i < b.len() && b[i] < 0x80 && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
            if b[i] < 0x80 {
                break;
            }
            let c = char_at(i);
            if c.is_alphanumeric() {
                break;
            }
            i += c.len_utf8();
        }
        let start = i;
        loop {
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i >= b.len() || b[i] < 0x80 {
                break;
            }
            let c = char_at(i);
            if !c.is_alphanumeric() {
                break;
            }
            i += c.len_utf8();
        }
        Some(&text[start..i])
    })
}

/// The terms of `text`, in order, with repeats.
pub fn tokenize(text: &str) -> Vec<String> {
    words(text)
        .map(|w| bounded(w).to_lowercase())
        .filter(|w| w.chars().count() > 1 && !is_stop_word(w))
        // Tokens longer than any word (ids, hashes, encoded blobs) are kept as they are:
        // stemming them means nothing and costs time proportional to their length.
        .map(|w| if w.len() > MAX_WORD { w } else { stemmer().stem(&w).into_owned() })
        .collect()
}

/// Term frequencies of a document, sorted by term.
pub fn term_counts(text: &str) -> (Vec<(String, u32)>, u32) {
    let terms = tokenize(text);
    let len = terms.len() as u32;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for t in terms {
        *counts.entry(t).or_default() += 1;
    }
    let mut v: Vec<(String, u32)> = counts.into_iter().collect();
    v.sort();
    (v, len)
}

/// BM25's term weight; the one formula behind both ways of scoring.
fn term_score(idf: f32, tf: u32, len: u32, avg_len: f32) -> f32 {
    let tf = tf as f32;
    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len as f32 / avg_len))
}

/// One tenant's inverted index: term → document slot → term frequency.
///
/// Why a map per term and not a list: a document leaves the index on every change of its
/// cube (re-indexed), on expiry and on purge, and a list made that cost the length of each of
/// its terms' postings — a common term in a tenant of 100,000 cubes turned the expiry sweep
/// into 60% of a node's CPU and starved writers to a tenth of their throughput (`perf`,
/// bench-lifecycle). Scoring visits the same postings either way.
///
/// A posting holds the document's length beside the term's frequency, so scoring reads
/// nothing but the postings: looking each length up in its document, scattered over the
/// heap, cost a cache miss per posting and most of a tenant-wide query's time.
#[derive(Default)]
pub struct Lexical {
    /// term → document slot → (term frequency, document length in terms).
    postings: HashMap<String, Sharded<u32, (u32, u32), FxBuildHasher>>,
    docs: u32,
    total_len: u64,
}

impl Lexical {
    pub fn add(&mut self, slot: u32, terms: &[(String, u32)], len: u32) {
        for (t, tf) in terms {
            self.postings.entry(t.clone()).or_default().insert(slot, (*tf, len));
        }
        self.docs += 1;
        self.total_len += len as u64;
    }

    pub fn remove(&mut self, slot: u32, terms: &[(String, u32)], len: u32) {
        for (t, _) in terms {
            if let Some(p) = self.postings.get_mut(t) {
                p.remove(&slot);
                if p.is_empty() {
                    self.postings.remove(t);
                }
            }
        }
        self.docs = self.docs.saturating_sub(1);
        self.total_len = self.total_len.saturating_sub(len as u64);
    }

    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }

    fn avg_len(&self) -> f32 {
        if self.docs == 0 {
            1.0
        } else {
            (self.total_len as f32 / self.docs as f32).max(1.0)
        }
    }

    fn idf(&self, df: usize) -> f32 {
        let (n, df) = (self.docs as f32, df as f32);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    fn term_score(&self, idf: f32, tf: u32, len: u32) -> f32 {
        term_score(idf, tf, len, self.avg_len())
    }

    /// BM25 scores of every document that contains a query term; `query` holds distinct
    /// terms, `slots` bounds the slot numbers (the index's document table). Admission (scope,
    /// filter, ACL) is the caller's: it is tested on the best-scored documents first
    /// ([`Scores::best`]), so a query that admits most documents tests few of them.
    ///
    /// Term at a time into a dense accumulator: a document's score is the sum over `query`'s
    /// terms in their order, the same sum [`Self::score_doc`] makes. Returned as accumulated: a
    /// list of the documents reached when the postings are few, else one score per slot.
    pub fn accumulate(&self, query: &[String], slots: usize) -> Scores {
        let avg = self.avg_len();
        let mut acc = vec![0f32; slots];
        let lists: Vec<_> = query.iter().filter_map(|t| self.postings.get(t)).collect();
        let postings: usize = lists.iter().map(|p| p.len()).sum();
        // Few postings: note each document as it is first reached. Many (a query of common
        // words over a whole tenant reaches most documents): that test mispredicts at every
        // other posting, and reading the accumulator from end to end afterwards costs less.
        let sparse = postings < slots / 4;
        let mut touched = Vec::new();
        for p in lists {
            let idf = self.idf(p.len());
            // Internal iteration (`for_each`): a `for` over the shards' chained iterators
            // would test at every posting whether the shard ended.
            p.iter().for_each(|(&slot, &(tf, len))| {
                let Some(a) = acc.get_mut(slot as usize) else {
                    return;
                };
                // Every term score is > 0 (idf > 0, tf >= 1), so 0 means not yet seen.
                if sparse && *a == 0.0 {
                    touched.push(slot);
                }
                *a += term_score(idf, tf, len, avg);
            });
        }
        if sparse {
            return Scores::Listed(touched.into_iter().map(|s| (s, acc[s as usize])).collect());
        }
        Scores::Slots(acc)
    }

    /// Every document [`Self::accumulate`] reached, as (slot, score): what the tests compare.
    #[cfg(test)]
    pub fn score(&self, query: &[String], slots: usize) -> Vec<(u32, f32)> {
        self.accumulate(query, slots).all()
    }

    /// How many postings scoring `query` through the inverted index would visit.
    pub fn postings_len(&self, query: &[String]) -> usize {
        query.iter().filter_map(|t| self.postings.get(t)).map(|p| p.len()).sum()
    }

    /// The BM25 score of one document (its sorted term counts) for `query`.
    pub fn score_doc(&self, query: &[String], terms: &[(String, u32)], len: u32) -> f32 {
        query
            .iter()
            .filter_map(|q| {
                let i = terms.binary_search_by(|(t, _)| t.as_str().cmp(q)).ok()?;
                let df = self.postings.get(q).map_or(0, |p| p.len());
                Some(self.term_score(self.idf(df), terms[i].1, len))
            })
            .sum()
    }
}

/// The BM25 scores of one query, as [`Lexical::accumulate`] gathered them. Every score of a
/// document a term reached is > 0.
pub enum Scores {
    /// The documents reached, with their scores.
    Listed(Vec<(u32, f32)>),
    /// One score per slot; 0 for documents no term reached.
    Slots(Vec<f32>),
}

impl Scores {
    /// Every document reached, with its score.
    pub fn all(self) -> Vec<(u32, f32)> {
        match self {
            Scores::Listed(scored) => scored,
            Scores::Slots(acc) => acc.into_iter().enumerate().filter(|(_, a)| *a > 0.0).map(|(s, a)| (s as u32, a)).collect(),
        }
    }

    /// The documents whose score is at least the `n`-th best one — ties at that score
    /// included, so each of them outranks every document left out — or `None` when that would
    /// be every document reached ([`Self::all`] then). Over a big tenant a query of common
    /// words reaches most documents; listing them all, to select a few dozen, cost more than
    /// scoring them did (`perf`, 1M cubes). Here one pass finds the cut-off with a heap of `n`
    /// scores, which few scores enter after the first `n`, and a second collects what reaches
    /// it.
    pub fn best(&self, n: usize) -> Option<Vec<(u32, f32)>> {
        let Scores::Slots(acc) = self else { return None };
        // Positive floats order as their bit patterns do: the heap holds integers.
        let mut heap = std::collections::BinaryHeap::with_capacity(n + 1);
        let mut reached = 0usize;
        for &a in acc {
            if a > 0.0 {
                reached += 1;
                let bits = std::cmp::Reverse(a.to_bits());
                if heap.len() < n {
                    heap.push(bits);
                } else if heap.peek().is_some_and(|low| bits < *low) {
                    heap.pop();
                    heap.push(bits);
                }
            }
        }
        let cut = f32::from_bits(heap.peek().filter(|_| n > 0 && reached > n)?.0);
        let best: Vec<(u32, f32)> = acc.iter().enumerate().filter(|(_, a)| **a >= cut).map(|(s, a)| (s as u32, *a)).collect();
        (best.len() < reached).then_some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_word_list_is_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn words_are_the_alphanumeric_runs_of_any_script() {
        let texts = [
            "",
            "   ",
            "a",
            "Hello, world! 42x",
            "ümlaut Straße—naïve café",
            "日本語のテキスト と 数字123",
            "tab\tnew\nline",
            "emoji🙂between",
            "x".repeat(1024).as_str(),
            "trailing-",
            "-leading",
            "mixed_under_score",
            "١٢٣ arabic digits",
        ]
        .map(String::from);
        for t in &texts {
            let reference: Vec<&str> = t.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
            assert_eq!(words(t).collect::<Vec<_>>(), reference, "{t:?}");
        }
    }

    #[test]
    fn long_tokens_are_cut_to_a_bounded_prefix_on_a_char_boundary() {
        let long = "ab".repeat(600);
        assert_eq!(tokenize(&long), vec![long[..MAX_TOKEN].to_string()]);
        // 63 ASCII bytes then 2-byte characters: the cut falls inside one and moves back.
        let mixed = format!("{}{}", "a".repeat(63), "é".repeat(10));
        assert_eq!(tokenize(&mixed), vec!["a".repeat(63)]);
        // A query for the whole long token still finds the document.
        let mut l = Lexical::default();
        let (terms, len) = term_counts(&format!("key {long}"));
        l.add(0, &terms, len);
        let (q, _) = term_counts(&long);
        assert!(q.iter().all(|(t, _)| l.postings.contains_key(t)));
    }

    #[test]
    fn tokens_are_lowercased_stemmed_and_without_stop_words() {
        assert_eq!(tokenize("The Painters were PAINTING a mural, Caroline's!"), vec!["painter", "paint", "mural", "carolin"]);
    }

    #[test]
    fn rarer_terms_weigh_more_and_both_ways_of_scoring_agree() {
        let mut l = Lexical::default();
        let docs = ["apple banana", "apple cherry", "apple", "durian"];
        let mut lens = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            let (terms, len) = term_counts(d);
            l.add(i as u32, &terms, len);
            lens.push(len);
        }
        let q = tokenize("banana apple");
        let s: HashMap<u32, f32> = l.score(&q, docs.len()).into_iter().collect();
        assert!(s[&0] > s[&1], "doc 0 has the rare term too");
        assert!(!s.contains_key(&3), "no query term, no score");
        let (terms, len) = term_counts(docs[1]);
        assert_eq!(l.score_doc(&q, &terms, len), s[&1], "the same sum, term by term");
    }

    #[test]
    fn few_and_many_postings_are_accumulated_alike() {
        let mut l = Lexical::default();
        let docs: Vec<String> = (0..200).map(|i| format!("common w{} w{} {}", i % 7, i % 13, if i % 50 == 0 { "rare" } else { "" })).collect();
        for (i, d) in docs.iter().enumerate() {
            let (terms, len) = term_counts(d);
            l.add(i as u32, &terms, len);
        }
        for query in ["rare", "common w3 w5", "rare w1"] {
            let q = tokenize(query);
            // Slots far beyond the postings take the sparse way, the exact count the full scan.
            let (mut sparse, mut full) = (l.score(&q, 100_000), l.score(&q, docs.len()));
            sparse.sort_by_key(|(s, _)| *s);
            full.sort_by_key(|(s, _)| *s);
            assert!(!full.is_empty());
            assert_eq!(sparse, full, "{query}");
            for (slot, score) in full {
                let (terms, len) = term_counts(&docs[slot as usize]);
                assert_eq!(l.score_doc(&q, &terms, len), score, "{query}: slot {slot}");
            }
        }
    }

    #[test]
    fn the_best_are_every_document_at_or_above_the_nth_best_score() {
        let mut l = Lexical::default();
        // Two words, lengths 1-4: few distinct scores, so every cut-off falls among ties.
        let docs: Vec<String> =
            (0..400).map(|i| ["apple", "apple river", "river river apple", "stone apple apple river"][i % 4].to_string()).collect();
        for (i, d) in docs.iter().enumerate() {
            let (terms, len) = term_counts(d);
            l.add(i as u32, &terms, len);
        }
        let q = tokenize("apple river");
        let mut all = l.score(&q, docs.len());
        assert_eq!(all.len(), 400);
        all.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        for n in [1, 50, 100, 101, 250, 399, 400, 1_000] {
            let got = l.accumulate(&q, docs.len()).best(n);
            let cut = all.get(n - 1).map(|(_, s)| *s);
            let want: Vec<(u32, f32)> = all.iter().copied().filter(|(_, s)| cut.is_some_and(|c| *s >= c)).collect();
            match got {
                Some(mut best) => {
                    best.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
                    assert_eq!(best, want, "n {n}");
                    assert!(best.len() >= n && best.len() < all.len(), "n {n}");
                }
                None => assert!(cut.is_none() || want.len() == all.len(), "n {n}: None only when the best are all"),
            }
        }
        // A few postings over many slots are listed as reached: no selection there.
        assert!(l.accumulate(&q, 1_000_000).best(10).is_none());
    }
}
