//! The export file: MemMesh's own format for moving memory between clusters (MemDumper /
//! MemLoader), as written by `memmesh export` and read by `memmesh import`.
//!
//! JSON Lines, UTF-8, one object per line, optionally gzip-compressed (a name ending in `.gz`
//! when written; recognised by its magic bytes when read):
//!
//! ```text
//! {"memmesh_export":{"format_version":1,"tenant":"acme","user":"","revision":812,...}}
//! {"policy":{...}}                         zero or more: the proto3 JSON of a Policy
//! {"cube":{...},"history":[{...},...]}     one per cube: the proto3 JSON of an ExportedCube
//! {"end":{"cubes":1234,"policies":2}}      last: a file without it was cut short
//! ```
//!
//! Cubes and policies use the proto3 JSON mapping of `memmesh.v1` with the .proto field names,
//! so any protobuf library reads them (Python: `json_format.ParseDict`). One field is left
//! out: `revision`, which numbers one cluster's log and means nothing in another (an import
//! gives every version the import's revision). Everything else — ids, versions, timestamps,
//! provenance, usage, access lists, links, vectors — is kept.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use memmesh_proto::{ExportedCube, MemCube, Policy};
use serde::{Deserialize, Serialize};

/// The format version this client writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The first line of a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    pub tenant: String,
    /// Only this user's memory ("" = the whole tenant).
    #[serde(default)]
    pub user: String,
    /// The source cluster's revision the export is consistent at.
    #[serde(default)]
    pub revision: u64,
    /// Whether past versions are included.
    #[serde(default)]
    pub history: bool,
    /// Milliseconds since the epoch, when the export was written.
    #[serde(default)]
    pub exported_at_ms: i64,
    /// What wrote the file: `memmesh export`, or an importer (`mem0`, `letta`).
    #[serde(default)]
    pub source: String,
}

/// The last line of a file: what it holds, to detect a file that was cut short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct End {
    pub cubes: u64,
    pub policies: u64,
}

/// One line of a file. (Cube lines are nearly all of a file: boxing them would cost an
/// allocation per cube for nothing.)
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Record {
    Header(Header),
    Policy(Policy),
    Cube(ExportedCube),
    End(End),
}

/// The on-disk shape of a line: exactly one of the keys is present.
#[derive(Default, Serialize, Deserialize)]
struct Line {
    #[serde(skip_serializing_if = "Option::is_none")]
    memmesh_export: Option<Header>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<Policy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cube: Option<MemCube>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history: Vec<MemCube>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<End>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {reason}")]
    Format { line: u64, reason: String },
}

fn without_revision(mut c: MemCube) -> MemCube {
    c.revision = 0;
    c
}

/// Writes a file: the header, then policies and cubes, then [`Writer::finish`].
pub struct Writer<W: Write> {
    out: W,
    end: End,
}

impl<W: Write> Writer<W> {
    pub fn new(mut out: W, header: &Header) -> Result<Self, FileError> {
        Self::line(&mut out, &Line { memmesh_export: Some(header.clone()), ..Default::default() })?;
        Ok(Self { out, end: End::default() })
    }

    fn line(out: &mut W, l: &Line) -> Result<(), FileError> {
        serde_json::to_writer(&mut *out, l).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    }

    pub fn policy(&mut self, p: &Policy) -> Result<(), FileError> {
        self.end.policies += 1;
        Self::line(&mut self.out, &Line { policy: Some(p.clone()), ..Default::default() })
    }

    pub fn cube(&mut self, e: ExportedCube) -> Result<(), FileError> {
        self.end.cubes += 1;
        let l = Line { cube: e.cube.map(without_revision), history: e.history.into_iter().map(without_revision).collect(), ..Default::default() };
        Self::line(&mut self.out, &l)
    }

    /// Writes the end line and returns the output and the counts.
    pub fn finish(mut self) -> Result<(W, End), FileError> {
        Self::line(&mut self.out, &Line { end: Some(self.end), ..Default::default() })?;
        self.out.flush()?;
        Ok((self.out, self.end))
    }
}

/// Reads a file line by line, checking its structure: a header first, an end line last whose
/// counts match, nothing after it.
pub struct Reader<R: BufRead> {
    input: R,
    line: u64,
    seen: End,
    ended: bool,
    buf: String,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        Self { input, line: 0, seen: End::default(), ended: false, buf: String::new() }
    }

    fn bad<T>(&self, reason: impl Into<String>) -> Result<T, FileError> {
        Err(FileError::Format { line: self.line, reason: reason.into() })
    }

    /// The next record; `None` after the end line.
    pub fn next_record(&mut self) -> Result<Option<Record>, FileError> {
        loop {
            self.buf.clear();
            if self.input.read_line(&mut self.buf)? == 0 {
                if !self.ended {
                    return self.bad(if self.line == 0 { "empty file" } else { "the file ends without its end line: it was cut short" });
                }
                return Ok(None);
            }
            self.line += 1;
            if self.buf.trim().is_empty() {
                continue;
            }
            if self.ended {
                return self.bad("data after the end line");
            }
            let l: Line = match serde_json::from_str(&self.buf) {
                Ok(l) => l,
                Err(e) => return self.bad(e.to_string()),
            };
            let keys = [l.memmesh_export.is_some(), l.policy.is_some(), l.cube.is_some(), l.end.is_some()].iter().filter(|k| **k).count();
            if keys != 1 || (!l.history.is_empty() && l.cube.is_none()) {
                return self.bad("a line holds exactly one of memmesh_export, policy, cube (with its history) or end");
            }
            let first = self.line == 1;
            return match l {
                Line { memmesh_export: Some(h), .. } if first => {
                    if h.format_version != FORMAT_VERSION {
                        return self.bad(format!("format version {} (this client reads {FORMAT_VERSION})", h.format_version));
                    }
                    Ok(Some(Record::Header(h)))
                }
                _ if first => self.bad("not a MemMesh export: the first line is not a memmesh_export header"),
                Line { memmesh_export: Some(_), .. } => self.bad("a second header"),
                Line { policy: Some(p), .. } => {
                    self.seen.policies += 1;
                    Ok(Some(Record::Policy(p)))
                }
                Line { cube: Some(c), history, .. } => {
                    self.seen.cubes += 1;
                    Ok(Some(Record::Cube(ExportedCube { cube: Some(c), history })))
                }
                Line { end: Some(end), .. } => {
                    if end != self.seen {
                        return self.bad(format!("the end line counts {end:?}, the file holds {:?}", self.seen));
                    }
                    self.ended = true;
                    Ok(Some(Record::End(end)))
                }
                _ => unreachable!("exactly one key is set"),
            };
        }
    }
}

/// Whether a file of this name is written gzip-compressed (it ends in `.gz`).
pub fn compressed(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Opens a file for writing, gzip-compressed or not.
pub fn create(path: &Path, gzip: bool) -> std::io::Result<Box<dyn Write>> {
    let f = BufWriter::with_capacity(1 << 20, File::create(path)?);
    Ok(if gzip { Box::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast())) } else { Box::new(f) })
}

/// Opens a file for reading, decompressing it if it starts with gzip's magic bytes; `counter`
/// is told how many bytes of the file were read so far (for progress).
pub fn open(path: &Path, counter: impl Fn(u64) + 'static) -> std::io::Result<Box<dyn BufRead>> {
    let mut f = BufReader::with_capacity(1 << 20, Counting { inner: File::open(path)?, read: 0, tell: Box::new(counter) });
    let gz = f.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz { Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(f))) } else { Box::new(f) })
}

struct Counting<R> {
    inner: R,
    read: u64,
    tell: Box<dyn Fn(u64)>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.tell)(self.read);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use memmesh_proto::{Content, Embedding, Scope};

    use super::*;

    fn cube(v: u64) -> MemCube {
        MemCube {
            id: "01J0000000000000000000000A".into(),
            scope: Some(Scope { tenant: "acme".into(), user: "alice".into(), ..Default::default() }),
            content: Some(Content { text: format!("version {v}"), ..Default::default() }),
            version: v,
            revision: 40 + v,
            created_at_ms: 1_700_000_000_000,
            updated_at_ms: 1_700_000_000_000 + v as i64,
            embedding: Some(Embedding { vector: vec![0.1, -0.333_333_34, 1e-7], model: "m".into() }),
            ..Default::default()
        }
    }

    fn write(records: impl FnOnce(&mut Writer<Vec<u8>>)) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), &Header { format_version: 1, tenant: "acme".into(), ..Default::default() }).unwrap();
        records(&mut w);
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>, FileError> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn a_written_file_reads_back_exactly_without_revisions() {
        let bytes = write(|w| {
            w.policy(&Policy { name: "p".into(), ..Default::default() }).unwrap();
            w.cube(ExportedCube { cube: Some(cube(3)), history: vec![cube(1), cube(2)] }).unwrap();
        });
        let recs = read_all(&bytes).unwrap();
        assert_eq!(recs.len(), 4);
        let Record::Cube(e) = &recs[2] else { panic!("third record is the cube: {recs:?}") };
        assert_eq!(e.cube.as_ref().unwrap(), &MemCube { revision: 0, ..cube(3) });
        assert_eq!(e.history, vec![MemCube { revision: 0, ..cube(1) }, MemCube { revision: 0, ..cube(2) }]);
        assert_eq!(recs[3], Record::End(End { cubes: 1, policies: 1 }));
    }

    #[test]
    fn a_cut_or_damaged_file_is_refused_with_its_line() {
        let bytes = write(|w| w.cube(ExportedCube { cube: Some(cube(1)), history: vec![] }).unwrap());
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let err = |s: String| read_all(s.as_bytes()).expect_err("must be refused").to_string();
        // No end line.
        assert!(err(lines[..2].join("\n")).contains("cut short"));
        // An end line that does not match.
        assert!(err(format!("{}\n{}\n", lines[0], lines[2])).contains("line 2"));
        // No header.
        assert!(err(lines[1..].join("\n")).contains("line 1: not a MemMesh export"));
        // Data after the end.
        assert!(err(format!("{text}{}\n", lines[1])).contains("after the end"));
        // A broken line.
        assert!(err(format!("{}\n{{\"cube\": 3}}\n{}\n", lines[0], lines[2])).starts_with("line 2:"));
        // Another format version.
        assert!(err(text.replace("\"format_version\":1", "\"format_version\":2")).contains("format version 2"));
    }
}
