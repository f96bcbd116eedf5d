//! Whole-word matching of many terms at once (terms and topic keywords): Aho-Corasick over
//! ASCII-case-insensitive patterns, overlapping matches filtered to those on word boundaries,
//! then chosen leftmost-longest without overlap. A term with non-ASCII letters is also searched
//! all lower-case, all upper-case and capitalised (no full Unicode case folding).

use std::collections::{HashMap, HashSet};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// A word character: a match must not continue into one on either side.
pub(crate) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[derive(Debug)]
pub(crate) struct Words {
    ac: AhoCorasick,
    /// Pattern index → the index of the term it is a spelling of (distinct, case-insensitively).
    term_of: Vec<usize>,
    pub(crate) distinct: usize,
}

/// One occurrence: which distinct term, and its byte span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Occurrence {
    pub term: usize,
    pub start: usize,
    pub end: usize,
}

impl Words {
    pub(crate) fn new(terms: &[String]) -> Result<Self, String> {
        let mut patterns: Vec<String> = Vec::with_capacity(terms.len());
        let mut term_of = Vec::with_capacity(terms.len());
        // Distinct terms by their lower-case form; spellings already added (ASCII-folded, as the
        // matcher folds them).
        let mut distinct: HashMap<String, usize> = HashMap::new();
        let mut added: HashSet<String> = HashSet::new();
        for term in terms {
            let next = distinct.len();
            let idx = *distinct.entry(term.to_lowercase()).or_insert(next);
            let mut spellings = vec![term.clone()];
            if !term.is_ascii() {
                let mut chars = term.chars();
                let capitalised: String = match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
                    None => String::new(),
                };
                spellings.extend([term.to_lowercase(), term.to_uppercase(), capitalised]);
            }
            for s in spellings {
                if !s.is_empty() && added.insert(s.to_ascii_lowercase()) {
                    patterns.push(s);
                    term_of.push(idx);
                }
            }
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| format!("cannot build the term matcher: {e}"))?;
        Ok(Words { ac, term_of, distinct: distinct.len() })
    }

    /// Whole-word occurrences, leftmost-longest, not overlapping, sorted by start.
    pub(crate) fn find(&self, text: &str) -> Vec<Occurrence> {
        let mut all: Vec<Occurrence> = self
            .ac
            .find_overlapping_iter(text)
            .filter(|m| on_boundaries(text, m.start(), m.end()))
            .filter_map(|m| {
                let term = *self.term_of.get(m.pattern().as_usize())?;
                Some(Occurrence { term, start: m.start(), end: m.end() })
            })
            .collect();
        all.sort_by_key(|o| (o.start, std::cmp::Reverse(o.end)));
        let mut out: Vec<Occurrence> = Vec::with_capacity(all.len());
        for o in all {
            if out.last().is_none_or(|last| o.start >= last.end) {
                out.push(o);
            }
        }
        out
    }
}

/// The match does not continue a word: if its first (last) char is a word char, the char before
/// (after) it is not.
fn on_boundaries(text: &str, start: usize, end: usize) -> bool {
    let (Some(first), Some(last)) =
        (text.get(start..end).and_then(|m| m.chars().next()), text[..end].chars().next_back())
    else {
        return false;
    };
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let glued_left = is_word(first) && before.is_some_and(is_word);
    let glued_right = is_word(last) && after.is_some_and(is_word);
    !glued_left && !glued_right
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(terms: &[&str]) -> Words {
        Words::new(&terms.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn spans(w: &Words, text: &str) -> Vec<(usize, usize)> {
        w.find(text).iter().map(|o| (o.start, o.end)).collect()
    }

    #[test]
    fn whole_words_case_insensitively() {
        let w = words(&["cat", "Secret Plan"]);
        assert_eq!(spans(&w, "Cat, concatenate, CAT_x, cats, the secret PLAN."), vec![(0, 3), (35, 46)]);
        assert_eq!(spans(&w, "secret planning"), vec![]);
    }

    #[test]
    fn leftmost_longest_without_overlap() {
        let w = words(&["new", "new york", "york city"]);
        assert_eq!(spans(&w, "new york city"), vec![(0, 8)]);
        // "foobar" is not a whole word here, so the shorter "foo" is not either; "bar" is.
        let w = words(&["foo", "foobar", "bar"]);
        assert_eq!(spans(&w, "foobarx foo-bar"), vec![(8, 11), (12, 15)]);
    }

    #[test]
    fn punctuation_edges_and_non_ascii() {
        let w = words(&["c++", "Ärger"]);
        assert_eq!(spans(&w, "I like C++."), vec![(7, 10)]);
        assert_eq!(spans(&w, "kein ärger, ÄRGER oder Ärger"), vec![(5, 11), (13, 19), (25, 31)]);
        assert_eq!(spans(&w, "Ärgernis"), vec![]);
    }

    #[test]
    fn duplicate_spellings_are_one_term() {
        let w = words(&["Rifle", "rifle", "ammo"]);
        assert_eq!(w.distinct, 2);
        let found = w.find("rifle RIFLE ammo");
        assert_eq!(found.iter().map(|o| o.term).collect::<Vec<_>>(), vec![0, 0, 1]);
    }
}
