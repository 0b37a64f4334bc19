//! CMaps: a font's `/ToUnicode` (code → text) and the `/Encoding` CMap of a
//! composite font (byte string → codes by their code space, code → CID).
//! A small PostScript-token reader, enough for what producers write.

use std::collections::HashMap;
use std::rc::Rc;

/// Ranges of more than this many codes stay ranges instead of map entries.
const EXPAND_LIMIT: u32 = 512;

#[derive(Default)]
pub struct CMap {
    /// (low, high, bytes): the code space ranges.
    pub codespace: Vec<(u32, u32, u8)>,
    /// bfchar entries and small bfranges: code → text.
    text: HashMap<u32, Rc<str>>,
    /// Large bfranges: (low, high, UTF-16 of `low`), the last unit counting up.
    text_ranges: Vec<(u32, u32, Vec<u16>)>,
    /// cidchar entries and small cidranges: code → CID.
    cids: HashMap<u32, u32>,
    /// Large cidranges: (low, high, CID of `low`).
    cid_ranges: Vec<(u32, u32, u32)>,
    /// `usecmap /Identity-H` (or -V): codes not otherwise mapped are their own CID.
    pub identity: bool,
}

enum Tok<'a> {
    Hex(Vec<u8>),
    Name(&'a [u8]),
    Num(i64),
    Open,
    Close,
    Word(&'a [u8]),
}

fn tokens(data: &[u8]) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = data.len();
    let delim = |c: u8| c.is_ascii_whitespace() || b"[]<>/()%{}".contains(&c);
    while i < n {
        let c = data[i];
        match c {
            b'%' => {
                while i < n && data[i] != b'\n' && data[i] != b'\r' {
                    i += 1;
                }
            }
            b'<' if i + 1 < n && data[i + 1] == b'<' => i += 2,
            b'>' if i + 1 < n && data[i + 1] == b'>' => i += 2,
            b'<' => {
                i += 1;
                let mut bytes = Vec::new();
                let mut half: Option<u8> = None;
                while i < n && data[i] != b'>' {
                    if let Some(v) = (data[i] as char).to_digit(16) {
                        match half.take() {
                            Some(h) => bytes.push(h << 4 | v as u8),
                            None => half = Some(v as u8),
                        }
                    }
                    i += 1;
                }
                if let Some(h) = half {
                    bytes.push(h << 4);
                }
                i += 1;
                out.push(Tok::Hex(bytes));
            }
            b'(' => {
                // Literal strings are rare in CMaps; keep the raw bytes.
                i += 1;
                let mut depth = 1;
                let mut bytes = Vec::new();
                while i < n {
                    match data[i] {
                        b'\\' if i + 1 < n => {
                            i += 1;
                            bytes.push(data[i]);
                        }
                        b'(' => {
                            depth += 1;
                            bytes.push(b'(');
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            bytes.push(b')');
                        }
                        b => bytes.push(b),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Hex(bytes));
            }
            b'[' => {
                out.push(Tok::Open);
                i += 1;
            }
            b']' => {
                out.push(Tok::Close);
                i += 1;
            }
            b'/' => {
                let start = i + 1;
                i += 1;
                while i < n && !delim(data[i]) {
                    i += 1;
                }
                out.push(Tok::Name(&data[start..i]));
            }
            c if c.is_ascii_whitespace() || c == b'{' || c == b'}' || c == b')' || c == b'>' => i += 1,
            _ => {
                let start = i;
                while i < n && !delim(data[i]) {
                    i += 1;
                }
                let word = &data[start..i];
                match std::str::from_utf8(word).ok().and_then(|s| s.parse::<i64>().ok()) {
                    Some(v) => out.push(Tok::Num(v)),
                    None => out.push(Tok::Word(word)),
                }
            }
        }
    }
    out
}

fn code(bytes: &[u8]) -> u32 {
    bytes.iter().take(4).fold(0u32, |a, &b| a << 8 | b as u32)
}

fn utf16(bytes: &[u8]) -> Vec<u16> {
    bytes.chunks(2).map(|c| if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { c[0] as u16 }).collect()
}

pub fn utf16_string(units: &[u16]) -> String {
    char::decode_utf16(units.iter().copied()).map(|r| r.unwrap_or('\u{FFFD}')).collect()
}

impl CMap {
    pub fn parse(data: &[u8]) -> CMap {
        let toks = tokens(data);
        let mut map = CMap::default();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Word(b"begincodespacerange") => {
                    i += 1;
                    while i + 1 < toks.len() {
                        match (&toks[i], &toks[i + 1]) {
                            (Tok::Hex(lo), Tok::Hex(hi)) => {
                                map.codespace.push((code(lo), code(hi), lo.len().clamp(1, 4) as u8));
                                i += 2;
                            }
                            _ => break,
                        }
                    }
                }
                Tok::Word(b"beginbfchar") => {
                    i += 1;
                    while i + 1 < toks.len() {
                        match (&toks[i], &toks[i + 1]) {
                            (Tok::Hex(src), Tok::Hex(dst)) => {
                                map.text.insert(code(src), utf16_string(&utf16(dst)).into());
                            }
                            (Tok::Hex(src), Tok::Name(name)) => {
                                if let Some(t) = super::glyphs::name_to_text(name) {
                                    map.text.insert(code(src), t.into());
                                }
                            }
                            (Tok::Hex(src), Tok::Num(v)) => {
                                if let Some(c) = char::from_u32(*v as u32) {
                                    map.text.insert(code(src), c.to_string().into());
                                }
                            }
                            _ => break,
                        }
                        i += 2;
                    }
                }
                Tok::Word(b"beginbfrange") => {
                    i += 1;
                    while i + 2 < toks.len() {
                        let (lo, hi) = match (&toks[i], &toks[i + 1]) {
                            (Tok::Hex(lo), Tok::Hex(hi)) => (code(lo), code(hi)),
                            _ => break,
                        };
                        match &toks[i + 2] {
                            Tok::Hex(dst) => {
                                let base = utf16(dst);
                                if hi >= lo && hi - lo < EXPAND_LIMIT {
                                    for c in lo..=hi {
                                        let mut units = base.clone();
                                        if let Some(last) = units.last_mut() {
                                            *last = last.wrapping_add((c - lo) as u16);
                                        }
                                        map.text.insert(c, utf16_string(&units).into());
                                    }
                                } else if hi >= lo {
                                    map.text_ranges.push((lo, hi, base));
                                }
                                i += 3;
                            }
                            Tok::Open => {
                                let mut j = i + 3;
                                let mut c = lo;
                                while j < toks.len() {
                                    match &toks[j] {
                                        Tok::Hex(dst) => {
                                            if c <= hi {
                                                map.text.insert(c, utf16_string(&utf16(dst)).into());
                                            }
                                            c += 1;
                                        }
                                        Tok::Name(name) => {
                                            if let Some(t) = super::glyphs::name_to_text(name) {
                                                map.text.insert(c, t.into());
                                            }
                                            c += 1;
                                        }
                                        Tok::Close => break,
                                        _ => {}
                                    }
                                    j += 1;
                                }
                                i = j + 1;
                            }
                            _ => break,
                        }
                    }
                }
                Tok::Word(b"begincidchar") => {
                    i += 1;
                    while i + 1 < toks.len() {
                        match (&toks[i], &toks[i + 1]) {
                            (Tok::Hex(src), Tok::Num(cid)) => {
                                map.cids.insert(code(src), *cid as u32);
                            }
                            _ => break,
                        }
                        i += 2;
                    }
                }
                Tok::Word(b"begincidrange") => {
                    i += 1;
                    while i + 2 < toks.len() {
                        match (&toks[i], &toks[i + 1], &toks[i + 2]) {
                            (Tok::Hex(lo), Tok::Hex(hi), Tok::Num(cid)) => {
                                let (lo, hi, cid) = (code(lo), code(hi), *cid as u32);
                                if hi >= lo && hi - lo < EXPAND_LIMIT {
                                    for c in lo..=hi {
                                        map.cids.insert(c, cid + (c - lo));
                                    }
                                } else if hi >= lo {
                                    map.cid_ranges.push((lo, hi, cid));
                                }
                            }
                            _ => break,
                        }
                        i += 3;
                    }
                }
                Tok::Name(name) if matches!(toks.get(i + 1), Some(Tok::Word(b"usecmap"))) => {
                    if name.starts_with(b"Identity") {
                        map.identity = true;
                        if map.codespace.is_empty() {
                            map.codespace.push((0, 0xFFFF, 2));
                        }
                    }
                    i += 2;
                }
                _ => i += 1,
            }
        }
        map
    }

    /// The 2-byte identity CMap (`Identity-H`, `Identity-V`).
    pub fn identity() -> CMap {
        CMap { codespace: vec![(0, 0xFFFF, 2)], identity: true, ..CMap::default() }
    }

    pub fn text(&self, code: u32) -> Option<Rc<str>> {
        if let Some(t) = self.text.get(&code) {
            return Some(t.clone());
        }
        self.text_ranges.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&code)).map(|(lo, _, base)| {
            let mut units = base.clone();
            if let Some(last) = units.last_mut() {
                *last = last.wrapping_add((code - lo) as u16);
            }
            utf16_string(&units).into()
        })
    }

    pub fn has_text(&self) -> bool {
        !self.text.is_empty() || !self.text_ranges.is_empty()
    }

    pub fn cid(&self, code: u32) -> u32 {
        if let Some(c) = self.cids.get(&code) {
            return *c;
        }
        if let Some((lo, _, cid)) = self.cid_ranges.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&code)) {
            return cid + (code - lo);
        }
        if self.identity || (self.cids.is_empty() && self.cid_ranges.is_empty()) {
            code
        } else {
            0
        }
    }

    /// Splits `bytes` into codes by the code space: (code, byte length).
    pub fn split(&self, bytes: &[u8], out: &mut Vec<(u32, u8)>) {
        let mut i = 0;
        while i < bytes.len() {
            let mut found = None;
            for len in 1..=4u8 {
                if i + len as usize > bytes.len() {
                    break;
                }
                let c = code(&bytes[i..i + len as usize]);
                if self.codespace.iter().any(|&(lo, hi, n)| n == len && lo <= c && c <= hi) {
                    found = Some((c, len));
                    break;
                }
            }
            let (c, len) = found.unwrap_or_else(|| {
                // Outside every range: take the shortest length the space uses.
                let len = self.codespace.iter().map(|r| r.2).min().unwrap_or(2).min((bytes.len() - i) as u8);
                (code(&bytes[i..i + len as usize]), len)
            });
            out.push((c, len));
            i += len as usize;
        }
    }
}
