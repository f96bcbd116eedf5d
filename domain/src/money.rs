//! Money and usage bounds. Every amount is integer micro-dollars (`i64`); every sum of amounts
//! saturates instead of wrapping, and the inputs of a charge (an upstream's reported usage, a
//! price) are bounded, so no reported or stored value can overflow a ledger, a read model or a
//! `SUM` in the store.

/// The most tokens of one kind (prompt, completion, cached, cache write, reasoning) one request
/// may report. The largest context windows are about 10 million tokens; an upstream reporting
/// more than ten times that is broken or hostile, and its answer is refused, not charged.
pub const MAX_USAGE_TOKENS: u64 = 100_000_000;

/// The dearest price a catalog entry or a price override may set: $10,000 per million tokens, in
/// micro-dollars per million tokens (the dearest real model is under $1,000).
pub const MAX_PRICE_PER_MTOK: u64 = 10_000_000_000;

/// The most one charge can be: every usage kind at its bound, at the dearest price. Charges
/// recorded before the bounds existed are clamped to it when read.
pub const MAX_CHARGE_MICROS: i64 = (4 * (MAX_USAGE_TOKENS as u128) * (MAX_PRICE_PER_MTOK as u128) / 1_000_000) as i64;

/// A token count clamped to [`MAX_USAGE_TOKENS`].
pub fn bounded_tokens(n: u64) -> u64 {
    n.min(MAX_USAGE_TOKENS)
}

/// An amount clamped to `0..=MAX_CHARGE_MICROS`.
pub fn bounded_charge(micros: i64) -> i64 {
    micros.clamp(0, MAX_CHARGE_MICROS)
}

/// The saturating sum of amounts (never wraps, never panics).
pub fn sum_micros<I: IntoIterator<Item = i64>>(items: I) -> i64 {
    items.into_iter().fold(0i64, i64::saturating_add)
}

/// The saturating sum of token counts.
pub fn sum_tokens<I: IntoIterator<Item = u64>>(items: I) -> u64 {
    items.into_iter().fold(0u64, u64::saturating_add)
}

/// A token count as a signed database integer (saturating; counts are bounded far below).
pub fn tokens_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_leave_headroom_for_sums() {
        // A charge at the bound is about $4M; a store can add millions of them before the
        // saturating sums matter.
        assert_eq!(MAX_CHARGE_MICROS, 4_000_000_000_000);
        assert_eq!(sum_micros([i64::MAX, i64::MAX, 1]), i64::MAX);
        assert_eq!(sum_micros([-5, 3]), -2);
        assert_eq!(sum_tokens([u64::MAX, 1]), u64::MAX);
        assert_eq!(bounded_charge(i64::MAX), MAX_CHARGE_MICROS);
        assert_eq!(bounded_charge(-1), 0);
        assert_eq!(tokens_i64(u64::MAX), i64::MAX);
    }
}
