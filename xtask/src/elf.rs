//! Telling statically linked executables apart: the test image has no libc, so everything copied
//! into it must be static. A static ELF names no program interpreter (no PT_INTERP header).

use std::{fs::File, os::unix::fs::FileExt, path::Path};

use anyhow::{bail, ensure, Context, Result};

const PT_INTERP: u32 = 3;

/// Where the program header table is, read from the ELF file header.
#[derive(Debug, PartialEq)]
struct ProgramHeaders {
    offset: u64,
    entry_size: usize,
    count: usize,
    little_endian: bool,
}

pub fn is_static(path: &Path) -> Result<bool> {
    let file = File::open(path).with_context(|| format!("opening {} failed", path.display()))?;
    let mut header = [0u8; 64];
    let len = file.metadata().map(|m| m.len()).unwrap_or(0).min(64) as usize;
    file.read_exact_at(&mut header[..len], 0)
        .with_context(|| format!("reading the ELF header of {} failed", path.display()))?;
    let table = program_headers(&header[..len])
        .with_context(|| format!("{} is not a usable ELF executable", path.display()))?;
    let mut bytes = vec![0u8; table.entry_size * table.count];
    file.read_exact_at(&mut bytes, table.offset)
        .with_context(|| format!("reading the program headers of {} failed", path.display()))?;
    Ok(!has_interpreter(&table, &bytes))
}

fn program_headers(header: &[u8]) -> Result<ProgramHeaders> {
    ensure!(header.starts_with(b"\x7fELF"), "no ELF magic");
    ensure!(header.len() >= 52, "truncated ELF header");
    let little_endian = match header[5] {
        1 => true,
        2 => false,
        other => bail!("unknown ELF data encoding {other}"),
    };
    let u16_at = |at: usize| {
        let bytes = [header[at], header[at + 1]];
        usize::from(if little_endian {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    };
    let (offset, entry_size, count) = match header[4] {
        // ELFCLASS32
        1 => {
            let bytes = header[0x1c..0x20].try_into().expect("4 bytes");
            let offset = if little_endian {
                u32::from_le_bytes(bytes)
            } else {
                u32::from_be_bytes(bytes)
            };
            (u64::from(offset), u16_at(0x2a), u16_at(0x2c))
        }
        // ELFCLASS64
        2 => {
            ensure!(header.len() >= 64, "truncated ELF header");
            let bytes = header[0x20..0x28].try_into().expect("8 bytes");
            let offset = if little_endian {
                u64::from_le_bytes(bytes)
            } else {
                u64::from_be_bytes(bytes)
            };
            (offset, u16_at(0x36), u16_at(0x38))
        }
        other => bail!("unknown ELF class {other}"),
    };
    ensure!(
        entry_size >= 4,
        "program header entries of {entry_size} bytes"
    );
    Ok(ProgramHeaders {
        offset,
        entry_size,
        count,
        little_endian,
    })
}

fn has_interpreter(table: &ProgramHeaders, bytes: &[u8]) -> bool {
    bytes.chunks_exact(table.entry_size).any(|entry| {
        let p_type = entry[..4].try_into().expect("4 bytes");
        let p_type = if table.little_endian {
            u32::from_le_bytes(p_type)
        } else {
            u32::from_be_bytes(p_type)
        };
        p_type == PT_INTERP
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian ELF64 header whose program headers (56 bytes each) follow at offset 64.
    fn elf64(types: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..6].copy_from_slice(b"\x7fELF\x02\x01");
        bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for p_type in types {
            let mut entry = vec![0u8; 56];
            entry[..4].copy_from_slice(&p_type.to_le_bytes());
            bytes.extend(entry);
        }
        bytes
    }

    #[test]
    fn finds_the_interpreter_header() {
        let dynamic = elf64(&[6, PT_INTERP, 1]);
        let table = program_headers(&dynamic).unwrap();
        assert_eq!(
            table,
            ProgramHeaders {
                offset: 64,
                entry_size: 56,
                count: 3,
                little_endian: true
            }
        );
        assert!(has_interpreter(&table, &dynamic[64..]));

        let stat = elf64(&[1, 1, 4]);
        assert!(!has_interpreter(
            &program_headers(&stat).unwrap(),
            &stat[64..]
        ));
    }

    #[test]
    fn rejects_non_elf() {
        assert!(program_headers(b"#!/bin/sh\n").is_err());
    }

    #[test]
    fn reads_real_files() {
        // Test binaries on a gnu target are dynamically linked.
        let exe = std::env::current_exe().unwrap();
        assert!(!is_static(&exe).unwrap());
        assert!(is_static(Path::new("/nonexistent/busybox")).is_err());
    }
}
