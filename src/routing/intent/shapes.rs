//! Shapes of a span of bytes that read as code or as mathematics.

pub(super) fn is_code_ext(ext: &str) -> bool {
    matches!(
        ext,
        "py" | "rs"
            | "js"
            | "ts"
            | "tsx"
            | "jsx"
            | "go"
            | "java"
            | "kt"
            | "c"
            | "h"
            | "cpp"
            | "hpp"
            | "cc"
            | "rb"
            | "php"
            | "cs"
            | "swift"
            | "sh"
            | "yaml"
            | "yml"
            | "toml"
            | "sql"
            | "css"
            | "scss"
            | "vue"
            | "lock"
            | "ipynb"
            | "gradle"
            | "xml"
    )
}

/// Is the operator at `i` between two operands (numbers, one-letter variables, brackets)?
pub(super) fn is_arith(b: &[u8], i: usize) -> bool {
    let spaced_before = i > 0 && b[i - 1] == b' ';
    let spaced_after = i + 1 < b.len() && b[i + 1] == b' ';
    // Left operand.
    let mut l = i;
    while l > 0 && b[l - 1] == b' ' {
        l -= 1;
    }
    if l == 0 {
        return false;
    }
    let lc = b[l - 1];
    let left_ok = if lc.is_ascii_digit() {
        let mut k = l - 1;
        while k > 0 && b[k - 1].is_ascii_digit() {
            k -= 1;
        }
        // "555-0132" and "2024-03-11" are not arithmetic; "1/2" and "3 - 1" are.
        (spaced_before || l - k <= 2) && (k == 0 || !b[k - 1].is_ascii_alphabetic() || is_single_letter_before(b, k))
    } else if lc == b')' || lc == b']' || lc == b'!' || lc == b'.' && l >= 2 && b[l - 2] == b'.' {
        true
    } else if lc.is_ascii_alphabetic() {
        // one-letter variable ("x + 1"), possibly with a coefficient ("3x")
        let mut k = l - 1;
        while k > 0 && b[k - 1].is_ascii_digit() {
            k -= 1;
        }
        (k == 0 || !b[k - 1].is_ascii_alphabetic() && b[k - 1] != b'\'')
            && matches!(lc, b'x' | b'y' | b'z' | b'n' | b'a' | b'b' | b'c' | b'k')
            && (l - 1 == k || b[k].is_ascii_digit())
            && !(lc == b'a' && l - 1 == k && k > 0 && b[k - 1] == b' ')
    } else {
        false
    };
    if !left_ok {
        return false;
    }
    // Right operand.
    let mut r = i + 1;
    while r < b.len() && b[r] == b' ' {
        r += 1;
    }
    if r >= b.len() {
        return false;
    }
    let rc = b[r];
    if rc.is_ascii_digit() {
        let mut k = r;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        spaced_after || k - r <= 2
    } else if rc == b'(' || rc == b'-' && r + 1 < b.len() && b[r + 1].is_ascii_digit() {
        true
    } else if rc.is_ascii_alphabetic() {
        let mut k = r;
        while k < b.len() && b[k].is_ascii_alphabetic() {
            k += 1;
        }
        let wlen = k - r;
        wlen == 1 && matches!(rc, b'x' | b'y' | b'z' | b'n' | b'b' | b'c' | b'k')
            || wlen <= 4 && matches!(&b[r..k], b"sin" | b"cos" | b"tan" | b"log" | b"ln" | b"sqrt" | b"e")
    } else {
        false
    }
}

/// "(2, 3)" or "(-1.5, 4)": a point or a tuple of numbers.
pub(super) fn is_number_tuple(b: &[u8]) -> bool {
    let mut k = 1;
    let mut numbers = 0;
    loop {
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        if k < b.len() && b[k] == b'-' {
            k += 1;
        }
        let start = k;
        while k < b.len() && (b[k].is_ascii_digit() || b[k] == b'.') {
            k += 1;
        }
        if k == start || k - start > 8 {
            return false;
        }
        numbers += 1;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        match b.get(k) {
            Some(b',') if numbers < 4 => k += 1,
            Some(b')') => return numbers >= 2,
            _ => return false,
        }
    }
}

fn is_single_letter_before(b: &[u8], k: usize) -> bool {
    // "x2" style: the letter right before the digits stands alone.
    k >= 1 && (k == 1 || !b[k - 2].is_ascii_alphabetic())
}
