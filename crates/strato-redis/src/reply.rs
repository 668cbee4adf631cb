//! The scripts' replies: a tag letter, then netstring fields (`<len>:<bytes>`), decoded
//! into the protocol's [`Answer`]s.

use strato_proto::{Answer, Blob, ErrorKind, Scalar};

/// A decoded script reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub tag: u8,
    pub fields: Vec<Vec<u8>>,
}

impl Reply {
    /// Splits a reply into its tag and fields.
    pub fn decode(bytes: &[u8]) -> Result<Reply, String> {
        let (&tag, mut rest) = bytes.split_first().ok_or("an empty reply")?;
        let mut fields = Vec::new();
        while !rest.is_empty() {
            let (field, after) = netstring(rest)?;
            fields.push(field.to_vec());
            rest = after;
        }
        Ok(Reply { tag, fields })
    }

    /// Field `i` as text.
    pub fn text(&self, i: usize) -> Result<&str, String> {
        let field = self
            .fields
            .get(i)
            .ok_or_else(|| format!("reply lacks field {i}"))?;
        std::str::from_utf8(field).map_err(|e| e.to_string())
    }

    /// Field `i` as a number.
    pub fn number<T: std::str::FromStr>(&self, i: usize) -> Result<T, String> {
        let text = self.text(i)?;
        text.parse()
            .map_err(|_| format!("reply field `{text}` is not a number"))
    }

    /// Field `i` as a flag ("1" or "0").
    pub fn flag(&self, i: usize) -> Result<bool, String> {
        Ok(self.text(i)? == "1")
    }

    /// Field `i` as a value.
    pub fn blob(&self, i: usize) -> Result<Blob, String> {
        let field = self
            .fields
            .get(i)
            .ok_or_else(|| format!("reply lacks field {i}"))?;
        Ok(Blob::from(field.clone()))
    }

    /// Fields `flavour`, `bits` as an atomic's value.
    pub fn scalar(&self, at: usize) -> Result<Scalar, String> {
        scalar_from(self.text(at)?, self.number(at + 1)?)
    }

    /// The answer this reply stands for.
    pub fn answer(self) -> Result<Answer, String> {
        Ok(match self.tag {
            b'D' => Answer::Done,
            b'B' => Answer::Blob(self.blob(0)?),
            b'M' => Answer::MaybeBlob(Some(self.blob(0)?)),
            b'N' => Answer::MaybeBlob(None),
            b'S' => Answer::Blobs(self.fields.into_iter().map(Blob::from).collect()),
            b'P' => Answer::Pairs(pairs(self.fields)),
            b'V' => Answer::Versioned {
                version: self.number(0)?,
                value: self.blob(1)?,
            },
            b'L' => Answer::Locked {
                lease: self.number(0)?,
                poisoned: self.flag(1)?,
                value: self.blob(2)?,
            },
            b'G' => Answer::Passed {
                leader: self.flag(0)?,
            },
            b'C' => Answer::Count(self.number(0)?),
            b'Y' => Answer::Bool(self.flag(0)?),
            b'A' => Answer::Scalar(self.scalar(0)?),
            b'X' => match self.flag(0)? {
                true => Answer::Exchanged(Ok(self.scalar(1)?)),
                false => Answer::Exchanged(Err(self.scalar(1)?)),
            },
            b'U' => Answer::TaskCounts {
                pending: self.number(0)?,
                leased: self.number(1)?,
                workers: self.number(2)?,
            },
            b'K' => Answer::WouldBlock,
            b'T' => Answer::TimedOut,
            b'Z' => Answer::Disconnected,
            b'R' => Answer::Broken,
            b'E' => Answer::Error {
                kind: error_kind(self.text(0)?)?,
                message: self.text(1)?.to_string(),
            },
            other => return Err(format!("unknown reply tag `{}`", other as char)),
        })
    }
}

/// Encodes fields as netstrings (the scripts' task records use the same form).
pub(crate) fn netstrings<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(field.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(field);
    }
    out
}

fn netstring(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let colon = bytes
        .iter()
        .position(|b| *b == b':')
        .ok_or("a field without a length")?;
    let len: usize = std::str::from_utf8(&bytes[..colon])
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or("a field with a bad length")?;
    let body = bytes
        .get(colon + 1..colon + 1 + len)
        .ok_or("a field longer than the reply")?;
    Ok((body, &bytes[colon + 1 + len..]))
}

/// Key-value pairs in key-byte order, like the state server's map.
fn pairs(fields: Vec<Vec<u8>>) -> Vec<(Blob, Blob)> {
    let mut it = fields.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((Blob::from(k), Blob::from(v)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// An atomic's flavour letter and value bits, as the scripts store them.
pub(crate) fn scalar_parts(value: Scalar) -> (&'static str, i64) {
    match value {
        Scalar::I64(v) => ("I", v),
        Scalar::U64(v) => ("U", v as i64),
        Scalar::Bool(v) => ("B", v as i64),
        Scalar::F64(v) => ("F", v.to_bits() as i64),
        Scalar::U32(v) => ("U32", v.into()),
        Scalar::I32(v) => ("I32", v.into()),
        Scalar::U16(v) => ("U16", v.into()),
        Scalar::I16(v) => ("I16", v.into()),
        Scalar::U8(v) => ("U8", v.into()),
        Scalar::I8(v) => ("I8", v.into()),
    }
}

fn scalar_from(flavour: &str, bits: i64) -> Result<Scalar, String> {
    Ok(match flavour {
        "I" => Scalar::I64(bits),
        "U" => Scalar::U64(bits as u64),
        "B" => Scalar::Bool(bits != 0),
        "F" => Scalar::F64(f64::from_bits(bits as u64)),
        "U32" => Scalar::U32(narrow(bits)?),
        "I32" => Scalar::I32(narrow(bits)?),
        "U16" => Scalar::U16(narrow(bits)?),
        "I16" => Scalar::I16(narrow(bits)?),
        "U8" => Scalar::U8(narrow(bits)?),
        "I8" => Scalar::I8(narrow(bits)?),
        other => return Err(format!("unknown atomic flavour `{other}`")),
    })
}

/// A narrow integer's value from the bits the scripts keep.
fn narrow<T: TryFrom<i64>>(bits: i64) -> Result<T, String> {
    T::try_from(bits).map_err(|_| format!("atomic value {bits} out of its type's range"))
}

fn error_kind(name: &str) -> Result<ErrorKind, String> {
    Ok(match name {
        "NotFound" => ErrorKind::NotFound,
        "Deleted" => ErrorKind::Deleted,
        "WrongType" => ErrorKind::WrongType,
        "OutOfBounds" => ErrorKind::OutOfBounds,
        "Invalid" => ErrorKind::Invalid,
        "AlreadySet" => ErrorKind::AlreadySet,
        "Overflow" => ErrorKind::Overflow,
        "BadValue" => ErrorKind::BadValue,
        "WrongBinary" => ErrorKind::WrongBinary,
        "Unsupported" => ErrorKind::Unsupported,
        "MethodFailed" => ErrorKind::MethodFailed,
        other => return Err(format!("unknown error kind `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_round_trip_through_netstrings() {
        let mut bytes = b"L".to_vec();
        bytes.extend(netstrings([&b"7"[..], b"0", b"va:lue"]));
        let answer = Reply::decode(&bytes).unwrap().answer().unwrap();
        assert_eq!(
            answer,
            Answer::Locked {
                lease: 7,
                poisoned: false,
                value: Blob::from(b"va:lue".to_vec())
            }
        );
    }

    #[test]
    fn truncated_replies_are_errors() {
        assert!(Reply::decode(b"B5:abc").is_err());
        assert!(Reply::decode(b"").is_err());
        assert!(Reply::decode(b"Bx:abc").is_err());
    }

    #[test]
    fn scalars_keep_their_bits() {
        for value in [
            Scalar::U64(u64::MAX),
            Scalar::I64(-3),
            Scalar::Bool(true),
            Scalar::F64(-0.5),
            Scalar::U32(u32::MAX),
            Scalar::I32(i32::MIN),
            Scalar::U16(7),
            Scalar::I16(-2),
            Scalar::U8(255),
            Scalar::I8(-128),
        ] {
            let (flavour, bits) = scalar_parts(value);
            assert_eq!(scalar_from(flavour, bits), Ok(value));
        }
    }
}
