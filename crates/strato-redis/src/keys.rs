//! Key names. Every key of an object starts with `strato:{name}:`: the braces are Redis
//! Cluster's hash tag, so all of an object's keys live in one slot and one script can touch
//! them all.

/// The prefix of object `name`'s keys. A `}` in the name would end the hash tag early, so
/// it is escaped.
///
/// ```
/// assert_eq!(strato_redis::key_prefix("jobs"), "strato:{jobs}:");
/// assert_eq!(strato_redis::key_prefix("a}b"), "strato:{a%7Db}:");
/// ```
pub fn prefix(name: &str) -> String {
    let escaped = name.replace('%', "%25").replace('}', "%7D");
    format!("strato:{{{escaped}}}:")
}
