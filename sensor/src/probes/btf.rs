//! Byte offsets of kernel struct members, read from the running kernel's BTF.
//!
//! Rust eBPF programs get no CO-RE relocations, so the agent looks up the few fields they read in
//! `/sys/kernel/btf/vmlinux` and hands the offsets over as a load-time constant
//! ([`sensor_common::KernelOffsets`]). Only what that needs is decoded: every type record is
//! stepped over once (type ids are implicit, so all of them must be counted), struct names are
//! indexed, and members are decoded on demand.
//!
//! Raw BTF is a header, a type section and a string section, all little endian; the format is
//! described in the kernel's `Documentation/bpf/btf.rst`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const MAGIC: u16 = 0xeb9f;
const VERSION: u8 = 1;
/// Bytes of the header fields read here; newer kernels may append fields (`hdr_len` is larger).
const HEADER_LEN: usize = 24;
/// `struct btf_type`: `name_off`, `info`, `size`/`type`.
const TYPE_LEN: usize = 12;
/// `struct btf_member`: `name_off`, `type`, `offset`.
const MEMBER_LEN: usize = 12;
/// Bound on type chains followed, so that a cyclic (corrupt) blob ends in an error rather than a
/// hang or a stack overflow. Real kernels nest a handful of levels at most.
const MAX_DEPTH: u32 = 32;

/// `BTF_KIND_*` values.
mod kind {
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

/// Why BTF could not be read or a member offset not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("BTF header: blob of {0} bytes is shorter than the header")]
    TooShort(usize),
    #[error("BTF header: bad magic {0:#x}")]
    BadMagic(u16),
    #[error("BTF header: unsupported version {0}")]
    BadVersion(u8),
    #[error("BTF header: hdr_len {hdr_len} does not fit a blob of {len} bytes")]
    BadHeaderLen { hdr_len: u32, len: usize },
    #[error("BTF {section} section: bytes {start}..{end} out of bounds (blob has {len})")]
    SectionOutOfBounds {
        section: &'static str,
        start: u64,
        end: u64,
        len: usize,
    },
    #[error("type id {id}: record at type section offset {offset} cut short")]
    Truncated { id: u32, offset: usize },
    #[error("type id {id}: unknown kind {kind}")]
    UnknownKind { id: u32, kind: u8 },
    #[error("type id {id} out of range (have {count})")]
    TypeOutOfRange { id: u32, count: usize },
    #[error("string offset {0} out of range or not NUL-terminated")]
    BadString(u32),
    #[error("type id {0}: type chain nested too deep (cyclic BTF?)")]
    TooDeep(u32),
    #[error("no struct {0} in BTF")]
    NoStruct(String),
    #[error("struct {struct_name} has no member {member}")]
    NoMember { struct_name: String, member: String },
    #[error("struct {struct_name} member {member}: type id {id} is not a struct or union")]
    NotComposite {
        struct_name: String,
        member: String,
        id: u32,
    },
    #[error("struct {struct_name} member {member}: bit offset {bits} is not byte aligned")]
    Unaligned {
        struct_name: String,
        member: String,
        bits: u64,
    },
    #[error("struct {struct_name} member {member}: bit offset {bits} is too large")]
    TooLarge {
        struct_name: String,
        member: String,
        bits: u64,
    },
}

/// Parsed BTF: the type and string sections plus an index of struct names.
pub struct Btf {
    types: Vec<u8>,
    strings: Vec<u8>,
    /// Start of each record in `types`, at index `id - 1` (id 0 is `void` and has no record).
    starts: Vec<usize>,
    /// Ids of the named STRUCT types, in id order, so that the first of duplicates wins.
    structs: HashMap<Box<[u8]>, Vec<u32>>,
}

/// The fixed part of a type record.
#[derive(Clone, Copy)]
struct Record {
    kind: u8,
    kind_flag: bool,
    vlen: u16,
    name_off: u32,
    /// `size` or `type`, depending on the kind.
    size_type: u32,
    /// Offset in the type section of the kind-specific data that follows.
    body: usize,
}

struct Member {
    name_off: u32,
    type_id: u32,
    bit_offset: u32,
}

/// What the caller asked for, to name it in errors.
struct Query<'a> {
    struct_name: &'a str,
    path: &'a str,
}

impl Btf {
    /// Parses raw BTF, checking the header and that every type record is complete.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let (types, strings) = sections(data)?;
        let starts = record_starts(types)?;
        let mut btf = Btf {
            types: types.to_vec(),
            strings: strings.to_vec(),
            starts,
            structs: HashMap::new(),
        };
        btf.structs = btf.index_structs()?;
        Ok(btf)
    }

    /// Reads and parses a raw BTF file such as `/sys/kernel/btf/vmlinux`.
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Btf::parse(&data)
    }

    /// Byte offset of `path` (dotted, e.g. "ns.inum") inside struct `struct_name`.
    ///
    /// Members of anonymous structs and unions are found as if they were direct members, as in
    /// C. If several structs have that name, the first one that has the member is used.
    pub fn member_offset(&self, struct_name: &str, path: &str) -> Result<u32, BtfError> {
        let ids = self
            .structs
            .get(struct_name.as_bytes())
            .ok_or_else(|| BtfError::NoStruct(struct_name.to_string()))?;
        let query = Query { struct_name, path };
        for &id in ids {
            if let Some(bits) = self.path_offset(id, &query)? {
                return query.bytes(bits);
            }
        }
        Err(query.no_member())
    }

    fn index_structs(&self) -> Result<HashMap<Box<[u8]>, Vec<u32>>, BtfError> {
        let mut index: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for (id, &start) in (1u32..).zip(&self.starts) {
            let record = decode(&self.types, id, start)?;
            if record.kind == kind::STRUCT && record.name_off != 0 {
                let name = self.string(record.name_off)?;
                index.entry(name.into()).or_default().push(id);
            }
        }
        Ok(index)
    }

    fn record(&self, id: u32) -> Result<Record, BtfError> {
        let start = (id as usize)
            .checked_sub(1)
            .and_then(|index| self.starts.get(index))
            .ok_or(BtfError::TypeOutOfRange {
                id,
                count: self.starts.len(),
            })?;
        decode(&self.types, id, *start)
    }

    fn string(&self, offset: u32) -> Result<&[u8], BtfError> {
        let tail = self
            .strings
            .get(offset as usize..)
            .ok_or(BtfError::BadString(offset))?;
        let len = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or(BtfError::BadString(offset))?;
        Ok(&tail[..len])
    }

    fn member(&self, id: u32, record: Record, index: u16) -> Result<Member, BtfError> {
        let at = record.body + usize::from(index) * MEMBER_LEN;
        let offset = record.body - TYPE_LEN;
        let word =
            |n: usize| u32_at(&self.types, at + 4 * n).ok_or(BtfError::Truncated { id, offset });
        let raw_offset = word(2)?;
        Ok(Member {
            name_off: word(0)?,
            type_id: word(1)?,
            // With kind_flag set, the top 8 bits hold the bitfield size.
            bit_offset: if record.kind_flag {
                raw_offset & 0x00ff_ffff
            } else {
                raw_offset
            },
        })
    }

    /// Bit offset of the dotted path in struct `id`, or `None` if a component is missing.
    fn path_offset(&self, id: u32, query: &Query) -> Result<Option<u64>, BtfError> {
        let mut type_id = id;
        let mut bits = 0;
        for name in query.path.split('.') {
            // An empty component ("a..b") must not match a member whose name is empty.
            if name.is_empty() {
                return Ok(None);
            }
            let (parent, record) = self
                .composite(type_id)?
                .ok_or_else(|| query.not_composite(type_id))?;
            let Some((member_bits, member_type)) =
                self.find_member(parent, record, name.as_bytes(), 0)?
            else {
                return Ok(None);
            };
            bits += member_bits;
            type_id = member_type;
        }
        Ok(Some(bits))
    }

    /// Resolves `id` through typedefs and qualifiers to a struct or union, if it is one.
    fn composite(&self, mut id: u32) -> Result<Option<(u32, Record)>, BtfError> {
        for _ in 0..MAX_DEPTH {
            if id == 0 {
                return Ok(None);
            }
            let record = self.record(id)?;
            match record.kind {
                kind::STRUCT | kind::UNION => return Ok(Some((id, record))),
                kind::TYPEDEF | kind::CONST | kind::VOLATILE | kind::RESTRICT | kind::TYPE_TAG => {
                    id = record.size_type;
                }
                _ => return Ok(None),
            }
        }
        Err(BtfError::TooDeep(id))
    }

    /// Finds member `name` of struct or union `id`, looking inside anonymous members too, and
    /// returns its bit offset and type.
    fn find_member(
        &self,
        id: u32,
        record: Record,
        name: &[u8],
        depth: u32,
    ) -> Result<Option<(u64, u32)>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep(id));
        }
        for index in 0..record.vlen {
            let member = self.member(id, record, index)?;
            if member.name_off != 0 {
                if self.string(member.name_off)? == name {
                    return Ok(Some((member.bit_offset.into(), member.type_id)));
                }
                continue;
            }
            // Anonymous members that are not structs or unions (padding bitfields) hold no names.
            let Some((inner, inner_record)) = self.composite(member.type_id)? else {
                continue;
            };
            if let Some((bits, type_id)) = self.find_member(inner, inner_record, name, depth + 1)? {
                return Ok(Some((bits + u64::from(member.bit_offset), type_id)));
            }
        }
        Ok(None)
    }
}

impl Query<'_> {
    fn bytes(&self, bits: u64) -> Result<u32, BtfError> {
        if !bits.is_multiple_of(8) {
            return Err(BtfError::Unaligned {
                struct_name: self.struct_name.to_string(),
                member: self.path.to_string(),
                bits,
            });
        }
        u32::try_from(bits / 8).map_err(|_| BtfError::TooLarge {
            struct_name: self.struct_name.to_string(),
            member: self.path.to_string(),
            bits,
        })
    }

    fn no_member(&self) -> BtfError {
        BtfError::NoMember {
            struct_name: self.struct_name.to_string(),
            member: self.path.to_string(),
        }
    }

    fn not_composite(&self, id: u32) -> BtfError {
        BtfError::NotComposite {
            struct_name: self.struct_name.to_string(),
            member: self.path.to_string(),
            id,
        }
    }
}

/// Resolves every field of [`sensor_common::KernelOffsets`] from `btf` and sets `valid = 1`.
pub fn kernel_offsets(btf: &Btf) -> Result<sensor_common::KernelOffsets, BtfError> {
    Ok(sensor_common::KernelOffsets {
        valid: 1,
        task_real_parent: btf.member_offset("task_struct", "real_parent")?,
        task_tgid: btf.member_offset("task_struct", "tgid")?,
        task_nsproxy: btf.member_offset("task_struct", "nsproxy")?,
        task_mm: btf.member_offset("task_struct", "mm")?,
        nsproxy_mnt_ns: btf.member_offset("nsproxy", "mnt_ns")?,
        nsproxy_net_ns: btf.member_offset("nsproxy", "net_ns")?,
        nsproxy_pid_ns_for_children: btf.member_offset("nsproxy", "pid_ns_for_children")?,
        mnt_ns_inum: btf.member_offset("mnt_namespace", "ns.inum")?,
        net_inum: btf.member_offset("net", "ns.inum")?,
        pid_ns_inum: btf.member_offset("pid_namespace", "ns.inum")?,
        mm_arg_start: btf.member_offset("mm_struct", "arg_start")?,
        mm_arg_end: btf.member_offset("mm_struct", "arg_end")?,
        mm_exe_file: btf.member_offset("mm_struct", "exe_file")?,
        task_fs: btf.member_offset("task_struct", "fs")?,
        fs_root_dentry: btf.member_offset("fs_struct", "root.dentry")?,
        dentry_inode: btf.member_offset("dentry", "d_inode")?,
        inode_ino: btf.member_offset("inode", "i_ino")?,
        inode_sb: btf.member_offset("inode", "i_sb")?,
        sb_dev: btf.member_offset("super_block", "s_dev")?,
        task_files: btf.member_offset("task_struct", "files")?,
        files_fdt: btf.member_offset("files_struct", "fdt")?,
        fdtable_fd: btf.member_offset("fdtable", "fd")?,
        file_dentry: btf.member_offset("file", "f_path.dentry")?,
        dentry_name: btf.member_offset("dentry", "d_name.name")?,
        dentry_sb: btf.member_offset("dentry", "d_sb")?,
        sb_magic: btf.member_offset("super_block", "s_magic")?,
    })
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Checks the header and returns the type and string sections.
fn sections(data: &[u8]) -> Result<(&[u8], &[u8]), BtfError> {
    if data.len() < HEADER_LEN {
        return Err(BtfError::TooShort(data.len()));
    }
    let field = |at: usize| u32_at(data, at).ok_or(BtfError::TooShort(data.len()));
    let magic = u16::from_le_bytes([data[0], data[1]]);
    if magic != MAGIC {
        return Err(BtfError::BadMagic(magic));
    }
    if data[2] != VERSION {
        return Err(BtfError::BadVersion(data[2]));
    }
    let hdr_len = field(4)?;
    if (hdr_len as usize) < HEADER_LEN || hdr_len as usize > data.len() {
        return Err(BtfError::BadHeaderLen {
            hdr_len,
            len: data.len(),
        });
    }
    let types = section(data, "type", hdr_len, field(8)?, field(12)?)?;
    let strings = section(data, "string", hdr_len, field(16)?, field(20)?)?;
    Ok((types, strings))
}

/// A section's bytes; its offset counts from the end of the header.
fn section<'a>(
    data: &'a [u8],
    name: &'static str,
    hdr_len: u32,
    offset: u32,
    len: u32,
) -> Result<&'a [u8], BtfError> {
    let start = u64::from(hdr_len) + u64::from(offset);
    let end = start + u64::from(len);
    let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
    range
        .and_then(|(start, end)| data.get(start..end))
        .ok_or(BtfError::SectionOutOfBounds {
            section: name,
            start,
            end,
            len: data.len(),
        })
}

/// Steps over every record, checking that each is complete, and returns where each starts.
fn record_starts(types: &[u8]) -> Result<Vec<usize>, BtfError> {
    // vmlinux records average a little over 30 bytes; this avoids most regrowth.
    let mut starts = Vec::with_capacity(types.len() / 24);
    let mut at = 0;
    let mut id = 1u32;
    while at < types.len() {
        let record = decode(types, id, at)?;
        let body_len = body_len(record.kind, record.vlen).ok_or(BtfError::UnknownKind {
            id,
            kind: record.kind,
        })?;
        let end = record.body + body_len;
        if end > types.len() {
            return Err(BtfError::Truncated { id, offset: at });
        }
        starts.push(at);
        at = end;
        id += 1;
    }
    Ok(starts)
}

fn decode(types: &[u8], id: u32, start: usize) -> Result<Record, BtfError> {
    let word =
        |n: usize| u32_at(types, start + 4 * n).ok_or(BtfError::Truncated { id, offset: start });
    let info = word(1)?;
    Ok(Record {
        kind: ((info >> 24) & 0x1f) as u8,
        kind_flag: info >> 31 != 0,
        vlen: (info & 0xffff) as u16,
        name_off: word(0)?,
        size_type: word(2)?,
        body: start + TYPE_LEN,
    })
}

/// Bytes that follow the fixed record for `kind`, or `None` for a kind unknown here.
fn body_len(kind: u8, vlen: u16) -> Option<usize> {
    let per_item = match kind {
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => return Some(0),
        kind::INT | kind::VAR | kind::DECL_TAG => return Some(4),
        kind::ARRAY => return Some(12),
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12,
        kind::ENUM | kind::FUNC_PROTO => 8,
        _ => return None,
    };
    Some(per_item * usize::from(vlen))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes synthetic BTF; ids are handed out in the order types are added, from 1.
    struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        next_id: u32,
    }

    fn info(kind: u8, vlen: usize) -> u32 {
        u32::from(kind) << 24 | vlen as u32
    }

    const KIND_FLAG: u32 = 1 << 31;

    impl Builder {
        fn new() -> Self {
            let (types, strings, next_id) = (Vec::new(), vec![0], 1);
            Builder {
                types,
                strings,
                next_id,
            }
        }

        fn name(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            (self.strings.len() - name.len() - 1) as u32
        }

        fn add(&mut self, name: &str, info: u32, size_type: u32, body: &[u32]) -> u32 {
            let name_off = self.name(name);
            for word in [name_off, info, size_type].iter().chain(body) {
                self.types.extend_from_slice(&word.to_le_bytes());
            }
            self.next_id += 1;
            self.next_id - 1
        }

        fn int(&mut self) -> u32 {
            self.add("int", info(kind::INT, 0), 4, &[32])
        }

        fn link(&mut self, kind: u8, name: &str, target: u32) -> u32 {
            self.add(name, info(kind, 0), target, &[])
        }

        /// A struct or union (`info` without vlen); members are (name, type id, offset word).
        fn composite(&mut self, name: &str, info: u32, members: &[(&str, u32, u32)]) -> u32 {
            let mut body = Vec::new();
            for &(member, type_id, offset) in members {
                body.extend([self.name(member), type_id, offset]);
            }
            self.add(name, info | members.len() as u32, 64, &body)
        }

        fn strukt(&mut self, name: &str, members: &[(&str, u32, u32)]) -> u32 {
            self.composite(name, info(kind::STRUCT, 0), members)
        }

        fn build(&self) -> Vec<u8> {
            let (type_len, str_len) = (self.types.len() as u32, self.strings.len() as u32);
            let mut blob = vec![0x9f, 0xeb, VERSION, 0];
            for word in [24, 0, type_len, type_len, str_len] {
                blob.extend_from_slice(&word.to_le_bytes());
            }
            blob.extend_from_slice(&self.types);
            blob.extend_from_slice(&self.strings);
            blob
        }

        fn parse(&self) -> Btf {
            Btf::parse(&self.build()).expect("synthetic BTF parses")
        }
    }

    /// `struct ns_common { int stashed; int inum; }`, `typedef struct ns_common ns_t`, and
    /// `struct pid_namespace` with `int a` at byte 0, `int b` at 4 and `const ns_t ns` at 16.
    fn namespaces() -> Builder {
        let mut b = Builder::new();
        let int = b.int();
        let ns_common = b.strukt("ns_common", &[("stashed", int, 0), ("inum", int, 32)]);
        let ns_t = b.link(kind::TYPEDEF, "ns_t", ns_common);
        let ns = b.link(kind::CONST, "", ns_t);
        b.strukt(
            "pid_namespace",
            &[("a", int, 0), ("b", int, 32), ("ns", ns, 128)],
        );
        b
    }

    fn parse_err(blob: &[u8]) -> BtfError {
        Btf::parse(blob).err().expect("parse should fail")
    }

    fn set_word(blob: &mut [u8], at: usize, value: u32) {
        blob[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn plain_member() {
        let btf = namespaces().parse();
        assert_eq!(btf.member_offset("pid_namespace", "a").unwrap(), 0);
        assert_eq!(btf.member_offset("pid_namespace", "b").unwrap(), 4);
        assert_eq!(btf.member_offset("ns_common", "inum").unwrap(), 4);
    }

    #[test]
    fn dotted_path_through_typedef_and_const() {
        let btf = namespaces().parse();
        assert_eq!(btf.member_offset("pid_namespace", "ns").unwrap(), 16);
        assert_eq!(btf.member_offset("pid_namespace", "ns.inum").unwrap(), 20);
    }

    #[test]
    fn member_inside_anonymous_union_and_struct() {
        // struct mm_struct { int x; /* at 16: */ volatile struct { int pad; /* at 8: */
        //     union { int y; struct { /* at 4: */ int arg_start; }; }; }; };
        let mut b = Builder::new();
        let int = b.int();
        let innermost = b.strukt("", &[("arg_start", int, 32)]);
        let members = [("y", int, 0), ("", innermost, 0)];
        let union = b.composite("", info(kind::UNION, 0), &members);
        let anon = b.strukt("", &[("pad", int, 0), ("", union, 64)]);
        let volatile = b.link(kind::VOLATILE, "", anon);
        b.strukt("mm_struct", &[("x", int, 0), ("", volatile, 128)]);
        let btf = b.parse();
        assert_eq!(btf.member_offset("mm_struct", "y").unwrap(), 16 + 8);
        assert_eq!(
            btf.member_offset("mm_struct", "arg_start").unwrap(),
            16 + 8 + 4
        );
        let err = btf.member_offset("mm_struct", "pad.x").unwrap_err();
        assert!(matches!(err, BtfError::NotComposite { id: 1, .. }), "{err}");
    }

    #[test]
    fn bitfield_kind_flag_offsets() {
        let mut b = Builder::new();
        let int = b.int();
        // With kind_flag set, the top byte is the bitfield size, not part of the offset.
        let members = [
            ("flags", int, 3 << 24 | 40),
            ("odd", int, 5 << 24 | 43),
            ("whole", int, 64),
        ];
        b.composite("bits", info(kind::STRUCT, 0) | KIND_FLAG, &members);
        let btf = b.parse();
        assert_eq!(btf.member_offset("bits", "flags").unwrap(), 5);
        assert_eq!(btf.member_offset("bits", "whole").unwrap(), 8);
        let err = btf.member_offset("bits", "odd").unwrap_err();
        let text = "struct bits member odd: bit offset 43 is not byte aligned";
        assert_eq!(err.to_string(), text);
    }

    #[test]
    fn missing_struct() {
        let btf = namespaces().parse();
        let err = btf.member_offset("task_struct", "pid").unwrap_err();
        assert_eq!(err.to_string(), "no struct task_struct in BTF");
        // A typedef of that name is not a struct.
        let err = btf.member_offset("ns_t", "inum").unwrap_err();
        assert!(matches!(err, BtfError::NoStruct(_)), "{err}");
    }

    #[test]
    fn missing_member() {
        let btf = namespaces().parse();
        for path in ["real_parent", "ns.nope", "", "ns..inum", "ns."] {
            let err = btf.member_offset("pid_namespace", path).unwrap_err();
            let text = format!("struct pid_namespace has no member {path}");
            assert_eq!(err.to_string(), text);
        }
        let err = btf.member_offset("pid_namespace", "ns.inum.x").unwrap_err();
        let text = "struct pid_namespace member ns.inum.x: type id 1 is not a struct or union";
        assert_eq!(err.to_string(), text);
    }

    #[test]
    fn duplicate_struct_names_use_first_with_member() {
        let mut b = Builder::new();
        let int = b.int();
        b.strukt("dup", &[("a", int, 0)]);
        b.strukt("dup", &[("a", int, 8), ("b", int, 16)]);
        let btf = b.parse();
        assert_eq!(btf.member_offset("dup", "a").unwrap(), 0);
        assert_eq!(btf.member_offset("dup", "b").unwrap(), 2);
    }

    #[test]
    fn steps_over_every_kind() {
        let mut b = Builder::new();
        let int = b.int();
        b.link(kind::PTR, "", int);
        b.add("", info(kind::ARRAY, 0), 0, &[int, int, 4]);
        b.add("e", info(kind::ENUM, 2), 4, &[1, 0, 1, 1]);
        b.add("f", info(kind::FWD, 0) | KIND_FLAG, 0, &[]);
        let proto = b.add("", info(kind::FUNC_PROTO, 2), int, &[0, int, 0, int]);
        b.add("fn", info(kind::FUNC, 0), proto, &[]);
        let var = b.add("v", info(kind::VAR, 0), int, &[1]);
        b.add(".data", info(kind::DATASEC, 1), 4, &[var, 0, 4]);
        b.add("double", info(kind::FLOAT, 0), 8, &[]);
        b.add("tag", info(kind::DECL_TAG, 0), var, &[u32::MAX]);
        let user = b.link(kind::TYPE_TAG, "user", int);
        b.add("e64", info(kind::ENUM64, 1), 8, &[1, 2, 3]);
        let inner = b.strukt("inner", &[("x", user, 32)]);
        let restrict = b.link(kind::RESTRICT, "", inner);
        let rcu = b.link(kind::TYPE_TAG, "rcu", restrict);
        b.strukt("last", &[("u", rcu, 64)]);
        assert_eq!(b.parse().member_offset("last", "u.x").unwrap(), 12);
    }

    #[test]
    fn bad_header() {
        let good = namespaces().build();
        let mut blob = good.clone();
        set_word(&mut blob, 0, 0x0100_1234);
        assert_eq!(parse_err(&blob).to_string(), "BTF header: bad magic 0x1234");
        let mut blob = good.clone();
        blob[2] = 2;
        assert!(matches!(parse_err(&blob), BtfError::BadVersion(2)));
        let mut blob = good.clone();
        set_word(&mut blob, 4, 12);
        let err = parse_err(&blob);
        assert!(
            matches!(err, BtfError::BadHeaderLen { hdr_len: 12, .. }),
            "{err}"
        );
        assert!(matches!(parse_err(&good[..10]), BtfError::TooShort(10)));
    }

    #[test]
    fn longer_header_is_accepted() {
        // Newer kernels append header fields (a layout section); the offsets still count from
        // the end of the whole header.
        let mut blob = namespaces().build();
        blob.splice(24..24, [0xaa; 8]);
        set_word(&mut blob, 4, 32);
        let btf = Btf::parse(&blob).unwrap();
        assert_eq!(btf.member_offset("pid_namespace", "ns.inum").unwrap(), 20);
    }

    #[test]
    fn section_out_of_bounds() {
        let good = namespaces().build();
        for (field, section) in [(8, "type"), (20, "string")] {
            let mut blob = good.clone();
            set_word(&mut blob, field, u32::MAX);
            let err = parse_err(&blob);
            assert!(matches!(err, BtfError::SectionOutOfBounds { section: s, .. } if s == section));
        }
    }

    #[test]
    fn type_record_cut_short() {
        let b = namespaces();
        let mut blob = b.build();
        // Shorten the type section by one word: the last struct loses part of a member.
        set_word(&mut blob, 12, b.types.len() as u32 - 4);
        let err = parse_err(&blob);
        let last = b.next_id - 1;
        assert!(
            matches!(err, BtfError::Truncated { id, .. } if id == last),
            "{err}"
        );
        // The fixed part of a record cut short.
        set_word(&mut blob, 12, 8);
        let err = parse_err(&blob);
        assert_eq!(
            err.to_string(),
            "type id 1: record at type section offset 0 cut short"
        );
    }

    #[test]
    fn unknown_kind() {
        let mut b = Builder::new();
        b.int();
        b.add("new", info(25, 0), 0, &[]);
        assert_eq!(
            parse_err(&b.build()).to_string(),
            "type id 2: unknown kind 25"
        );
    }

    #[test]
    fn bad_references() {
        let mut b = Builder::new();
        let int = b.int();
        let looped = b.link(kind::TYPEDEF, "loop", b.next_id);
        b.strukt("s", &[("far", 999, 0), ("cyc", looped, 32)]);
        let selfish = b.next_id;
        b.strukt("selfish", &[("", selfish, 0), ("x", int, 0)]);
        b.add("badname", info(kind::STRUCT, 1), 4, &[1 << 20, int, 0]);
        let btf = b.parse();
        let err = btf.member_offset("s", "far.x").unwrap_err();
        assert_eq!(err.to_string(), "type id 999 out of range (have 5)");
        let err = btf.member_offset("s", "cyc.x").unwrap_err();
        assert!(matches!(err, BtfError::TooDeep(_)), "{err}");
        let err = btf.member_offset("selfish", "x").unwrap_err();
        assert!(matches!(err, BtfError::TooDeep(_)), "{err}");
        let err = btf.member_offset("badname", "x").unwrap_err();
        assert!(matches!(err, BtfError::BadString(0x10_0000)), "{err}");
    }

    #[test]
    fn corrupt_blobs_never_panic() {
        let good = namespaces().build();
        for len in 0..good.len() {
            assert!(
                Btf::parse(&good[..len]).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
        for at in 0..good.len() {
            for value in [0, 1, 0x80, 0xff] {
                let mut blob = good.clone();
                blob[at] = value;
                if let Ok(btf) = Btf::parse(&blob) {
                    let _ = btf.member_offset("pid_namespace", "ns.inum");
                    let _ = btf.member_offset("ns_common", "inum");
                }
            }
        }
    }

    #[test]
    fn io_error_names_the_file() {
        let err = Btf::from_file(Path::new("/nonexistent/btf")).err().unwrap();
        assert!(
            err.to_string().starts_with("reading /nonexistent/btf: "),
            "{err}"
        );
    }

    #[test]
    fn real_vmlinux() {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        if !path.exists() {
            eprintln!("skipping real_vmlinux: {} does not exist", path.display());
            return;
        }
        let o = kernel_offsets(&Btf::from_file(path).unwrap()).unwrap();
        assert_eq!(o.valid, 1);
        let pointers = [
            o.task_real_parent,
            o.task_nsproxy,
            o.task_mm,
            o.mm_arg_start,
            o.task_fs,
            o.fs_root_dentry,
            o.dentry_inode,
            o.inode_sb,
            o.mm_exe_file,
            o.task_files,
            o.files_fdt,
            o.fdtable_fd,
            o.file_dentry,
            o.dentry_name,
            o.dentry_sb,
        ];
        let ns_pointers = [
            o.nsproxy_mnt_ns,
            o.nsproxy_net_ns,
            o.nsproxy_pid_ns_for_children,
        ];
        for offset in pointers.into_iter().chain(ns_pointers) {
            assert!(offset != 0 && offset % 8 == 0 && offset < 65536, "{o:?}");
        }
        // ns_common never starts with inum, so even mnt_namespace (which starts with its
        // ns_common) has a non-zero ns.inum offset.
        for offset in [o.task_tgid, o.mnt_ns_inum, o.net_inum, o.pid_ns_inum] {
            assert!(offset != 0 && offset % 4 == 0 && offset < 65536, "{o:?}");
        }
        assert_eq!(o.mm_arg_end, o.mm_arg_start + 8);
    }
}
