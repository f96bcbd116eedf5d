//! One pass over a text: the evidence ([`Feats`]) the scorer weighs.

use super::lexicon::{is_unspaced_script, table, F_EN, F_FOREIGN, F_HEAD, F_LANG, F_PROG};
use super::shapes::{is_arith, is_code_ext, is_number_tuple};
use super::{BODY_WEIGHT, COD, MAX_WORD, N_INTENTS, QUOTE_WEIGHT, TAIL_MAX, TRA};

/// Evidence gathered from one text.
#[derive(Default, Debug)]
pub(super) struct Feats {
    /// Keyword and phrase scores, already weighted by where the word stood.
    pub(super) kw: [f32; N_INTENTS],
    pub(super) words: u32,
    pub(super) en_stop: u32,
    pub(super) foreign_stop: u32,
    // Code shapes.
    pub(super) fences: u32,
    pub(super) backticks: u32,
    pub(super) semis: u32,
    pub(super) braces: u32,
    pub(super) empty_parens: u32,
    pub(super) calls: u32,
    pub(super) code_ops: u32,
    pub(super) indent_lines: u32,
    pub(super) snake: u32,
    pub(super) camel: u32,
    pub(super) exts: u32,
    pub(super) err_types: u32,
    // Math shapes (numbers and arithmetic are weighted like words).
    pub(super) numbers: f32,
    pub(super) vars: u32,
    pub(super) arith: f32,
    pub(super) carets: u32,
    pub(super) math_syms: u32,
    pub(super) percents: f32,
    // "Is this X A or B?" about a quoted or pasted item.
    pub(super) is_this: bool,
    pub(super) or_words: u32,
    pub(super) quoted_words: u32,
    pub(super) has_body: bool,
    // Extraction shapes.
    pub(super) emails: u32,
    pub(super) urls: u32,
    // Scripts.
    pub(super) accented: u32,
    pub(super) non_latin: u32,
}

#[inline]
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

/// Byte offset where a pasted body starts: the first blank line, or the first newline right after ':'.
fn body_start(b: &[u8]) -> usize {
    for i in 0..b.len() {
        if b[i] != b'\n' {
            continue;
        }
        let mut j = i;
        while j > 0 && is_blank(b[j - 1]) {
            j -= 1;
        }
        if j > 0 && b[j - 1] == b':' {
            return i;
        }
        let mut k = i + 1;
        while k < b.len() && is_blank(b[k]) {
            k += 1;
        }
        if k < b.len() && b[k] == b'\n' {
            return i;
        }
    }
    b.len()
}

/// Start of the last paragraph (after the last blank line), if there is one.
fn last_paragraph(b: &[u8]) -> Option<usize> {
    let mut i = b.len();
    while i > 1 {
        i -= 1;
        if b[i] == b'\n' {
            let mut k = i;
            while k > 0 && is_blank(b[k - 1]) {
                k -= 1;
            }
            if k > 0 && b[k - 1] == b'\n' {
                return Some(i + 1);
            }
        }
    }
    None
}

/// A closing paragraph that asks something: a question, or one short sentence ("what's wrong here").
fn looks_like_instruction(par: &[u8]) -> bool {
    let par = par.trim_ascii();
    par.ends_with(b"?") || par.len() <= 160 && !par.windows(2).any(|w| w == b". " || w == b".\n")
}

/// Shape of one word, gathered while reading it.
#[derive(Default)]
struct WordShape {
    alphas: usize,
    digits: usize,
    underscore: bool,
    upper_after_lower: bool,
    cjk: bool,
}

pub(super) fn scan(text: &str) -> Feats {
    let t = table();
    let b = text.as_bytes();
    let n = b.len();
    let mut f = Feats::default();

    // Zones: the instruction, a pasted body (after the first blank line or ":\n"), and a short
    // last paragraph after the body, read as an instruction again ("...\n\nwhat's wrong here?").
    let body = body_start(b);
    let body_text = body + b[body..].iter().take_while(|c| c.is_ascii_whitespace()).count();
    let tail = match last_paragraph(b) {
        Some(p) if p > body_text && n - p <= TAIL_MAX && looks_like_instruction(&b[p..]) => p,
        _ => n,
    };
    f.has_body = body_text < n;
    let zone_weight = |at: usize| if at < body || at >= tail { 1.0 } else { BODY_WEIGHT };

    let mut quote: Option<char> = None;
    let mut word_buf = [0u8; MAX_WORD];
    let mut prev_buf = [0u8; MAX_WORD];
    let mut prev_len = 0usize; // 0: no previous word (start, or after a phrase-breaking mark)
    let mut prev_flags = 0u8;
    let mut pair_buf = [0u8; 2 * MAX_WORD + 1];

    let mut i = 0;
    while i < n {
        let c = b[i];
        let starts_word = is_word_byte(c) || (c >= 0x80 && char_at(text, i).is_alphanumeric());
        if starts_word {
            // ---- a word ------------------------------------------------------------------------
            let start = i;
            let mut shape = WordShape::default();
            let mut seen_lower = false;
            while i < n {
                let c = b[i];
                if c < 0x80 {
                    if !is_word_byte(c) {
                        break;
                    }
                    if c.is_ascii_lowercase() {
                        seen_lower = true;
                        shape.alphas += 1;
                    } else if c.is_ascii_uppercase() {
                        shape.upper_after_lower |= seen_lower;
                        shape.alphas += 1;
                    } else if c.is_ascii_digit() {
                        shape.digits += 1;
                    } else {
                        shape.underscore = true;
                    }
                    i += 1;
                } else {
                    let ch = char_at(text, i);
                    if !ch.is_alphanumeric() {
                        break;
                    }
                    let cp = ch as u32;
                    if is_unspaced_script(ch) {
                        shape.cjk = true;
                        f.non_latin += 1;
                    } else if (0xC0..=0x24F).contains(&cp) {
                        f.accented += 1;
                    } else if cp >= 0x370 {
                        f.non_latin += 1;
                    }
                    shape.alphas += 1;
                    i += ch.len_utf8();
                }
            }
            let word = &text[start..i];
            f.words += 1;
            if quote.is_some() {
                f.quoted_words += 1;
            }
            // Where the word stands: instruction, pasted body, quotes.
            let mut w = zone_weight(start);
            if quote.is_some() {
                w *= QUOTE_WEIGHT;
            }
            word_shapes(&mut f, b, word, start, i, &shape, w);

            let Some(len) = lowercase_into(word, &mut word_buf) else {
                prev_len = 0;
                continue;
            };
            if shape.alphas == 0 {
                prev_len = 0; // numbers break phrases
                continue;
            }
            let lw = std::str::from_utf8(&word_buf[..len]).unwrap_or("");
            let hit = t.words.get(lw);
            let flags = hit.map_or(0, |e| e.flags);
            match hit {
                Some(e) => {
                    let single_var = len == 1 && matches!(lw, "x" | "y" | "z" | "n" | "f" | "k");
                    // The second half of a hyphenated compound ("leak-proof") is not the word itself.
                    let compound = start >= 2 && b[start - 1] == b'-' && b[start - 2].is_ascii_alphabetic();
                    let uw = if single_var {
                        w.min(0.6)
                    } else if compound {
                        w * 0.3
                    } else {
                        w
                    };
                    add(&mut f.kw, &e.w, uw);
                    f.en_stop += (flags & F_EN != 0) as u32;
                    f.foreign_stop += (flags & F_FOREIGN != 0) as u32;
                }
                None if len >= 5 => {
                    if let Some((_, e)) = t.prefixes.iter().find(|(p, _)| lw.starts_with(p)) {
                        add(&mut f.kw, &e.w, w);
                    }
                }
                None => {}
            }
            if prev_len > 0 {
                let prev = &prev_buf[..prev_len];
                // Two-word phrases, looked up only after a word that starts one.
                if prev_flags & F_HEAD != 0 {
                    pair_buf[..prev_len].copy_from_slice(prev);
                    pair_buf[prev_len] = b' ';
                    pair_buf[prev_len + 1..prev_len + 1 + len].copy_from_slice(&word_buf[..len]);
                    if let Ok(pair) = std::str::from_utf8(&pair_buf[..prev_len + 1 + len]) {
                        if let Some(e) = t.words.get(pair) {
                            add(&mut f.kw, &e.w, w);
                        }
                    }
                }
                let after_prep = matches!(prev, b"in" | b"into" | b"to" | b"from" | b"for" | b"en" | b"al" | b"using");
                // "into japanese", "from thai", "in english"; "in python", "using rust".
                if flags & F_LANG != 0 && after_prep {
                    f.kw[TRA] += 3.0 * w;
                }
                if flags & F_PROG != 0 && after_prep {
                    f.kw[COD] += 1.5 * w;
                }
                if quote.is_none() {
                    if lw == "or" {
                        f.or_words += 1;
                    } else if matches!(prev, b"is" | b"are" | b"does" | b"do")
                        && matches!(lw, "this" | "these" | "the" | "it")
                    {
                        f.is_this = true;
                    }
                }
            } else if quote.is_none() && lw == "or" {
                f.or_words += 1;
            }
            // A language named anywhere hints at translation.
            if flags & F_LANG != 0 {
                f.kw[TRA] += 1.5 * w;
            }
            if shape.cjk {
                for (pat, e) in &t.cjk {
                    if word.contains(pat) {
                        add(&mut f.kw, &e.w, w);
                    }
                }
            }
            prev_buf[..len].copy_from_slice(&word_buf[..len]);
            prev_len = len;
            prev_flags = flags;
            continue;
        }

        // ---- anything else -------------------------------------------------------------------
        if c >= 0x80 {
            let ch = char_at(text, i);
            match ch {
                '“' | '«' | '「' | '『' | '„' | '‘' if quote.is_none() => quote = Some(ch),
                '”' | '»' | '」' | '』' if quote.is_some() => quote = None,
                '’' if quote == Some('‘') => quote = None,
                '²' | '³' | '√' | '∫' | '∑' | 'π' | '≤' | '≥' | '≠' | '±' | '×' | '÷' | '∞' | '∂' | '≈' => {
                    f.math_syms += 1
                }
                _ => {}
            }
            if !matches!(ch, '’' | '–' | '\u{a0}') {
                prev_len = 0;
            }
            i += ch.len_utf8();
            continue;
        }
        let next = if i + 1 < n { b[i + 1] } else { 0 };
        let prev = if i > 0 { b[i - 1] } else { 0 };
        let mut step = 1;
        match c {
            b'\n' => {
                let mut k = i + 1;
                let mut indent = 0;
                while k < n && is_blank(b[k]) {
                    indent += if b[k] == b'\t' { 4 } else { 1 };
                    k += 1;
                }
                if k < n && b[k] == b'\n' {
                    quote = None; // a blank line ends any quote
                } else if indent >= 2 && k < n {
                    f.indent_lines += 1;
                }
            }
            b'`' if next == b'`' && i + 2 < n && b[i + 2] == b'`' => {
                f.fences += 1;
                step = 3;
            }
            b'`' => f.backticks += 1,
            b';' if next == 0 || next.is_ascii_whitespace() || next == b'}' || next == b')' => f.semis += 1,
            b'{' | b'}' => f.braces += 1,
            b'(' => {
                f.empty_parens += (next == b')') as u32;
                if is_number_tuple(&b[i..]) {
                    f.arith += zone_weight(i);
                }
                f.calls += is_word_byte(prev) as u32;
            }
            b'=' if next == b'=' || next == b'>' => {
                f.code_ops += 1;
                step = 2;
            }
            b'=' if matches!(prev, b'!' | b'+' | b'-' | b'*' | b'|' | b'&') => f.code_ops += 1,
            b'-' if next == b'>' => {
                f.code_ops += 1;
                step = 2;
            }
            b':' if next == b':' => {
                f.code_ops += 1;
                step = 2;
            }
            b'/' if next == b'/' => {
                // "//" is a comment or floor division, unless it is "https://".
                f.code_ops += (prev != b':') as u32;
                step = 2;
            }
            b'&' if next == b'&' => {
                f.code_ops += 1;
                step = 2;
            }
            b'|' if next == b'|' => {
                f.code_ops += 1;
                step = 2;
            }
            b'+' if next == b'+' => {
                f.code_ops += 1;
                step = 2;
            }
            b'<' if next == b'/' => f.code_ops += 1,
            b'^' => f.carets += 1,
            b'%' if prev.is_ascii_digit() => f.percents += zone_weight(i),
            b'=' | b'+' | b'*' | b'-' | b'/' | b'<' | b'>' if is_arith(b, i) => f.arith += zone_weight(i),
            b'@' if is_word_byte(prev) && is_word_byte(next) => f.emails += 1,
            b'"' => quote = if quote.is_some() { None } else { Some('"') },
            b'\'' => {
                // An apostrophe inside a word ("don't") is not a quote.
                let next_word = is_word_byte(next) || next >= 0x80;
                if quote == Some('\'') {
                    if !next_word {
                        quote = None;
                    }
                } else if quote.is_none() && !is_word_byte(prev) && next_word {
                    quote = Some('\'');
                }
            }
            _ => {}
        }
        // Sentence and bracket marks end a phrase; spaces, hyphens, apostrophes and "tl;dr" do not.
        if matches!(c, b'.' | b'!' | b'?' | b':' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b'\n') {
            prev_len = 0;
        }
        i += step;
    }
    f
}

/// Code- and math-like shapes of one word.
fn word_shapes(f: &mut Feats, b: &[u8], word: &str, start: usize, end: usize, shape: &WordShape, w: f32) {
    let n = b.len();
    if shape.alphas == 0 {
        f.numbers += w;
        return;
    }
    if shape.digits > 0 && shape.digits <= 3 && shape.alphas == 1 && matches!(b[end - 1], b'x' | b'y' | b'z' | b'n') {
        f.vars += 1; // "3x", "2y"
    }
    if shape.underscore && word.len() > 2 && !word.starts_with('_') && !word.ends_with('_') {
        f.snake += 1;
    }
    let first = b[start];
    if shape.upper_after_lower && first.is_ascii_lowercase() {
        f.camel += 1; // "readFile", "useEffect"
    }
    if first.is_ascii_uppercase() && word.len() > 6 && (word.ends_with("Error") || word.ends_with("Exception")) {
        f.err_types += 1; // "KeyError", "NullPointerException"
    }
    if start >= 2 && b[start - 1] == b'.' && is_word_byte(b[start - 2]) && (end >= n || !is_word_byte(b[end])) {
        f.exts += is_code_ext(word) as u32; // "app.py", "src/cart.rs"
    }
    if matches!(word, "http" | "https" | "www") {
        f.urls += 1;
    }
}

#[inline]
fn char_at(text: &str, i: usize) -> char {
    text[i..].chars().next().unwrap_or('\0')
}

#[inline]
fn add(acc: &mut [f32; N_INTENTS], w: &[f32; N_INTENTS], scale: f32) {
    for k in 0..N_INTENTS {
        acc[k] += w[k] * scale;
    }
}

/// Lowercase `word` into `buf`; `None` if it does not fit.
fn lowercase_into(word: &str, buf: &mut [u8; MAX_WORD]) -> Option<usize> {
    if word.len() > MAX_WORD {
        return None;
    }
    if word.is_ascii() {
        for (d, s) in buf.iter_mut().zip(word.bytes()) {
            *d = s.to_ascii_lowercase();
        }
        return Some(word.len());
    }
    let mut len = 0;
    for ch in word.chars() {
        for lc in ch.to_lowercase() {
            let l = lc.len_utf8();
            if len + l > MAX_WORD {
                return None;
            }
            lc.encode_utf8(&mut buf[len..len + l]);
            len += l;
        }
    }
    Some(len)
}
