//! Reads the GNU build id (`.note.gnu.build-id`) of an ELF executable: the linker's hash of
//! the binary's contents, a cheap and exact identity for "the same executable".

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const PT_NOTE: u32 = 4;
const NT_GNU_BUILD_ID: u32 = 3;

/// The build id as hex, if `path` is a 64-bit little-endian ELF file that has one.
pub(crate) fn build_id(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let header = read_at(&mut file, 0, 64)?;
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let phoff = u64_at(&header, 0x20)?;
    let phentsize = u16_at(&header, 0x36)? as u64;
    let phnum = u16_at(&header, 0x38)? as u64;
    (0..phnum.min(256)).find_map(|i| {
        let phdr = read_at(&mut file, phoff + i * phentsize, 56)?;
        if u32_at(&phdr, 0)? != PT_NOTE {
            return None;
        }
        let (offset, size) = (u64_at(&phdr, 8)?, u64_at(&phdr, 32)?);
        let notes = read_at(&mut file, offset, size.min(1 << 16) as usize)?;
        find_build_id(&notes)
    })
}

/// Walks the notes of one `PT_NOTE` segment.
fn find_build_id(notes: &[u8]) -> Option<String> {
    let mut at = 0usize;
    while at + 12 <= notes.len() {
        let namesz = u32_at(notes, at)? as usize;
        let descsz = u32_at(notes, at + 4)? as usize;
        let kind = u32_at(notes, at + 8)?;
        let name_at = at + 12;
        let desc_at = name_at + namesz.next_multiple_of(4);
        let name = notes.get(name_at..name_at + namesz)?;
        let desc = notes.get(desc_at..desc_at + descsz)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        at = desc_at + descsz.next_multiple_of(4);
    }
    None
}

fn read_at(file: &mut File, offset: u64, len: usize) -> Option<Vec<u8>> {
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = vec![0; len];
    file.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_found_among_others() {
        let mut notes = Vec::new();
        for (name, kind, desc) in [
            (&b"XYZ\0"[..], 1u32, &[9u8; 5][..]),
            (b"GNU\0", 3, &[0xab, 0xcd]),
        ] {
            notes.extend((name.len() as u32).to_le_bytes());
            notes.extend((desc.len() as u32).to_le_bytes());
            notes.extend(kind.to_le_bytes());
            notes.extend(name);
            notes.extend(desc);
            notes.resize(notes.len().next_multiple_of(4), 0);
        }
        assert_eq!(find_build_id(&notes).as_deref(), Some("abcd"));
    }

    #[test]
    fn truncated_notes_are_ignored() {
        assert_eq!(
            find_build_id(&[4, 0, 0, 0, 200, 0, 0, 0, 3, 0, 0, 0, b'G']),
            None
        );
    }

    #[test]
    fn not_an_elf_file_has_no_id() {
        let path = std::env::temp_dir().join(format!("strato-not-elf-{}", std::process::id()));
        std::fs::write(&path, b"#!/bin/sh\n").unwrap();
        assert_eq!(build_id(&path), None);
        std::fs::remove_file(path).unwrap();
    }
}
