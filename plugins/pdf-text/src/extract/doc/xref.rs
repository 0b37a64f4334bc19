//! Cross-reference data: classic `xref` tables and xref streams (PDF 1.5),
//! following `/Prev` and the `/XRefStm` of hybrid files; the newest section
//! of an updated file wins. Anything unexpected gives `None`, and the caller
//! falls back to lopdf's full load (which can rebuild a broken table).

use super::lex::Lexer;
use super::parse_indirect;
use lopdf::{Dictionary, Object};

/// Updates chained by `/Prev` followed at most.
const MAX_SECTIONS: usize = 512;
/// Object numbers above this are refused here (lopdf's full load takes the file).
pub const MAX_OBJECTS: usize = 1 << 23;

/// Where an object lives.
#[derive(Clone, Copy, Debug)]
pub enum Entry {
    /// `N G obj` at this byte offset.
    Offset(usize),
    /// Member `index` of object stream `container`.
    InStream { container: u32, index: u32 },
}

pub struct Xref {
    /// By object number (a vector, not a hash map: it is filled and read per object).
    pub entries: Vec<Option<Entry>>,
    pub trailer: Dictionary,
}

/// The file's cross-reference data, from the `startxref` at its end.
pub fn read(buf: &[u8]) -> Option<Xref> {
    let tail = buf.len().saturating_sub(2048);
    let at = tail + find_last(&buf[tail..], b"startxref")?;
    let mut lx = Lexer::new(buf, at + 9);
    let mut offset = lx.uint()? as usize;
    let mut xref = Xref { entries: Vec::new(), trailer: Dictionary::new() };
    let mut seen = Vec::new();
    for n in 0..MAX_SECTIONS {
        if seen.contains(&offset) {
            break; // a /Prev loop
        }
        seen.push(offset);
        let trailer = section(buf, offset, &mut xref.entries)?;
        // Hybrid files: the xref stream named by the table's trailer comes before /Prev.
        if let Some(stm) = trailer.get(b"XRefStm").ok().and_then(|o| o.as_i64().ok()) {
            section(buf, usize::try_from(stm).ok()?, &mut xref.entries)?;
        }
        let prev = trailer.get(b"Prev").ok().and_then(|o| o.as_i64().ok());
        if n == 0 {
            xref.trailer = trailer;
        }
        match prev {
            Some(p) => offset = usize::try_from(p).ok()?,
            None => break,
        }
    }
    Some(xref)
}

/// One section at `offset`: its entries (those not already known) and its trailer.
fn section(buf: &[u8], offset: usize, entries: &mut Vec<Option<Entry>>) -> Option<Dictionary> {
    let mut lx = Lexer::new(buf, offset);
    if lx.keyword(b"xref") {
        return table(&mut lx, entries);
    }
    let (_, object) = parse_indirect(buf, offset, &|_| None)?;
    let Object::Stream(stream) = object else { return None };
    if stream.dict.get(b"Type").ok()?.as_name().ok()? != b"XRef" {
        return None;
    }
    let data = stream.get_plain_content_with_limit(super::MAX_XREF).ok()?;
    let w: Vec<usize> = stream.dict.get(b"W").ok()?.as_array().ok()?.iter().filter_map(|o| o.as_i64().ok()).map(|v| v.clamp(0, 8) as usize).collect();
    if w.len() != 3 {
        return None;
    }
    let size = stream.dict.get(b"Size").ok()?.as_i64().ok()?;
    let index: Vec<i64> = match stream.dict.get(b"Index").ok().and_then(|o| o.as_array().ok()) {
        Some(a) => a.iter().filter_map(|o| o.as_i64().ok()).collect(),
        None => vec![0, size],
    };
    let row = w[0] + w[1] + w[2];
    if row == 0 {
        return None;
    }
    let field = |bytes: &[u8]| bytes.iter().fold(0u64, |v, &b| v << 8 | b as u64);
    let mut rows = data.chunks_exact(row);
    for pair in index.chunks_exact(2) {
        let (start, count) = (u32::try_from(pair[0]).ok()?, u32::try_from(pair[1]).ok()?);
        for i in 0..count {
            let Some(r) = rows.next() else { break };
            let kind = if w[0] == 0 { 1 } else { field(&r[..w[0]]) };
            let (a, b) = (field(&r[w[0]..w[0] + w[1]]), field(&r[w[0] + w[1]..]));
            let entry = match kind {
                1 => Entry::Offset(a as usize),
                2 => Entry::InStream { container: a as u32, index: b as u32 },
                _ => continue,
            };
            add(entries, start as usize + i as usize, entry)?;
        }
    }
    let mut trailer = stream.dict;
    for key in [&b"Type"[..], b"W", b"Index", b"Filter", b"DecodeParms", b"Length"] {
        trailer.remove(key);
    }
    Some(trailer)
}

/// A classic table after its `xref` keyword, and the `trailer` dictionary.
fn table(lx: &mut Lexer, entries: &mut Vec<Option<Entry>>) -> Option<Dictionary> {
    loop {
        if lx.keyword(b"trailer") {
            return match lx.object(true)? {
                Object::Dictionary(d) => Some(d),
                _ => None,
            };
        }
        let start = lx.uint()? as u32;
        let count = lx.uint()? as u32;
        for i in 0..count as usize {
            let (offset, kind) = match row(lx) {
                Some(r) => r,
                None => {
                    let offset = lx.uint()?;
                    let _gen = lx.uint()?;
                    (offset, lx.word())
                }
            };
            // Some writers number the first subsection from 1 by mistake; lopdf
            // copes the same way: take the entries as they stand.
            if kind == b"n" && offset > 0 {
                add(entries, start as usize + i, Entry::Offset(offset as usize))?;
            } else if kind != b"f" && kind != b"n" {
                return None;
            }
        }
    }
}

/// Sets entry `n` unless a newer section did.
fn add(entries: &mut Vec<Option<Entry>>, n: usize, entry: Entry) -> Option<()> {
    if n >= MAX_OBJECTS {
        return None;
    }
    if entries.len() <= n {
        entries.resize(n + 1, None);
    }
    entries[n].get_or_insert(entry);
    Some(())
}

/// A table row as the standard writes it, `oooooooooo ggggg n` and two
/// bytes of line end, read without the lexer (tables run to 100,000s of rows).
fn row<'a>(lx: &mut Lexer<'a>) -> Option<(u64, &'a [u8])> {
    lx.skip();
    let r = lx.buf.get(lx.pos..lx.pos + 18)?;
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0u64, |v, b| v * 10 + (b - b'0') as u64));
    let offset = digits(&r[..10])?;
    digits(&r[11..16])?;
    if r[10] != b' ' || r[16] != b' ' || !matches!(r[17], b'n' | b'f') {
        return None;
    }
    lx.pos += 18;
    Some((offset, &lx.buf[lx.pos - 1..lx.pos]))
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}
