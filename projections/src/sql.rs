//! SQL fragments whose text differs between the backends.

use crate::db::Backend;

/// `SUM(expr)` as a `bigint` that saturates at the `i64` bounds instead of failing the query
/// (an empty set sums to 0). Postgres sums bigints into an exact `numeric`, clamped before the
/// cast. SQLite's `SUM` raises "integer overflow" when the total leaves `i64`, so it uses `TOTAL`
/// (a double; exact for integer totals below 2^53, about $9 billion in micro-dollars) and SQLite's
/// saturating `CAST` to `INTEGER`. Either way no stored value can make a read (or a start) fail.
pub fn sat_sum(backend: Backend, expr: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "CAST(LEAST(GREATEST(COALESCE(SUM({expr}), 0), -9223372036854775808), 9223372036854775807) AS bigint)"
        ),
        Backend::Sqlite => format!("CAST(TOTAL({expr}) AS INTEGER)"),
    }
}
