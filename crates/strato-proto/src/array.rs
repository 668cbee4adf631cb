//! What an array answers wherever its items are (a server's heap, its shared-memory arena,
//! Redis's scripts say the same in Lua): the errors for an index or a range past the end,
//! and for an item of the wrong size in an array of fixed-size items
//! ([`crate::Init::PackedArray`]).
//!
//! ```
//! use strato_proto::{array, Answer, ErrorKind};
//! assert!(matches!(array::out_of_bounds(4, 3), Answer::Error { kind: ErrorKind::OutOfBounds, .. }));
//! assert_eq!(array::item_count(8, 24), Ok(3));
//! assert!(array::item_count(8, 20).is_err());
//! ```

use crate::{Answer, ErrorKind};

/// The answer to an index at or past `len`.
pub fn out_of_bounds(index: u64, len: u64) -> Answer {
    Answer::Error {
        kind: ErrorKind::OutOfBounds,
        message: format!("index {index} out of bounds for length {len}"),
    }
}

/// The answer to a range `start..end` that is reversed or ends past `len`.
pub fn range_out_of_bounds(start: u64, end: u64, len: u64) -> Answer {
    Answer::Error {
        kind: ErrorKind::OutOfBounds,
        message: format!("range {start}..{end} out of bounds for length {len}"),
    }
}

/// `start..end` as indices of an array of `len` items, or the error answer.
pub fn check_range(start: u64, end: u64, len: u64) -> Result<std::ops::Range<u64>, Answer> {
    if start > end || end > len {
        return Err(range_out_of_bounds(start, end, len));
    }
    Ok(start..end)
}

/// The answer to writing an item of `got` bytes into an array of `item_bytes`-byte items.
pub fn wrong_item_size(got: usize, item_bytes: u32) -> Answer {
    Answer::Error {
        kind: ErrorKind::BadValue,
        message: format!("an item of {got} bytes in an array of {item_bytes}-byte items"),
    }
}

/// How many items `packed_len` bytes of `item_bytes`-byte items are; an error message if
/// the item size is 0 or does not divide them.
pub fn item_count(item_bytes: u32, packed_len: usize) -> Result<u64, String> {
    if item_bytes == 0 || !packed_len.is_multiple_of(item_bytes as usize) {
        return Err(format!(
            "an array of {item_bytes}-byte items cannot be made of {packed_len} bytes \
             (the item size must be positive and divide them)"
        ));
    }
    Ok((packed_len / item_bytes as usize) as u64)
}
