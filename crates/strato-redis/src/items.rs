//! Queue and channel items in Redis: small ones inline in the object's list, large ones
//! beside it in the object's item hash (`<prefix>b`), written and read with native
//! commands, the list holding a short reference.
//!
//! Redis 7 hashes every byte of a string that enters Lua (a hash-flooding fix): a 1 MiB
//! item passed to a script as an argument, popped from a list inside it, or returned from
//! it costs about 1.5 ms each time (measured: docs/benchmarks.md). So an item of
//! [`LARGE_ITEM`] bytes or more never enters a script: `HSET` stores it under a field
//! unique to the put, the scripts move the reference as they would the item, and the
//! getter reads it with `HGET`. The field is deleted when the getter acknowledges the item
//! (with its next call on the object, its heartbeat, or its exit); until then a getter that
//! dies leaves the reference to come back to the queue, as an inline item would.

use crate::Failure;

/// Items of this many bytes or more are stored beside the scripts.
pub(crate) const LARGE_ITEM: usize = 64 << 10;

/// The first byte of an item as the scripts store it: the item itself follows.
const INLINE: u8 = b'i';
/// The first byte of a reference: the field of the item hash follows.
const STORED: u8 = b's';

/// The hash that holds object `name`'s large items (in the object's hash slot).
pub(crate) fn item_hash(name: &str) -> String {
    format!("{}b", crate::keys::prefix(name))
}

/// What the scripts get for `item`: `Ok` with the item tagged inline, or, when it is
/// large, `Err` with it untouched, for the caller to store under a field and pass the
/// field's [`reference`] instead.
pub(crate) fn inline(mut item: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
    if item.len() >= LARGE_ITEM {
        return Err(item);
    }
    item.insert(0, INLINE);
    Ok(item)
}

/// The reference the scripts move in place of an item stored under `field`.
pub(crate) fn reference(field: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len() + 1);
    out.push(STORED);
    out.extend_from_slice(field.as_bytes());
    out
}

/// An item as the scripts gave it back.
#[derive(Debug, PartialEq)]
pub(crate) enum Item {
    /// The item itself.
    Inline(Vec<u8>),
    /// The field of the item hash it is stored under.
    Stored(String),
}

/// Reads what the scripts stored: a tagged item or a reference.
pub(crate) fn parse(mut stored: Vec<u8>) -> Result<Item, Failure> {
    match stored.first() {
        Some(&INLINE) => {
            stored.remove(0);
            Ok(Item::Inline(stored))
        }
        Some(&STORED) => String::from_utf8(stored[1..].to_vec())
            .map(Item::Stored)
            .map_err(|_| Failure::Protocol("an item reference that is not text".into())),
        _ => Err(Failure::Protocol(
            "an item in Redis without strato's tag (written by another strato release?)".into(),
        )),
    }
}

/// The acknowledgement that deletes the item stored under `field` (the scripts' `ack`).
pub(crate) fn release_ack(field: &str) -> String {
    format!("b:{field}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_tagged_and_read_back() {
        let small = inline(b"abc".to_vec()).unwrap();
        assert_eq!(small, b"iabc");
        assert_eq!(parse(small).unwrap(), Item::Inline(b"abc".to_vec()));
        assert_eq!(
            parse(inline(Vec::new()).unwrap()).unwrap(),
            Item::Inline(Vec::new())
        );
        let large = vec![7u8; LARGE_ITEM];
        assert_eq!(inline(large.clone()), Err(large));
        assert_eq!(
            parse(reference("12.3")).unwrap(),
            Item::Stored("12.3".into())
        );
        assert_eq!(release_ack("12.3"), "b:12.3");
    }

    #[test]
    fn an_untagged_item_is_a_clear_error() {
        for untagged in [Vec::new(), b"x".to_vec()] {
            let error = parse(untagged).unwrap_err().to_string();
            assert!(error.contains("without strato's tag"), "{error}");
        }
        assert!(parse(vec![STORED, 0xff]).is_err());
    }
}
