//! Fonts: how a shown string splits into codes, the text of each code and its
//! advance width. Text comes from `/ToUnicode` first, then the encoding
//! (`/Differences` glyph names over a base encoding, or the built-in encoding
//! of an embedded Type 1 program), the way poppler decides it.

use super::cmap::CMap;
use super::glyphs::{self, name_to_text};
use super::{deref, num, Doc};
use lopdf::{Dictionary, Object};
use pdf_encoding::ForwardMap;
use std::collections::HashMap;
use std::rc::Rc;

pub enum Codes {
    /// One byte per code.
    Simple,
    /// Codes by the code space of the font's CMap (composite fonts).
    Composite(CMap),
}

pub struct Font {
    codes: Codes,
    to_unicode: Option<CMap>,
    /// Text per code of a simple font: ToUnicode, else its encoding.
    simple: Vec<Option<Rc<str>>>,
    /// Advance per code (simple) in text space units per unit of font size.
    widths: Vec<f64>,
    default_width: f64,
    /// Composite fonts: CID → width (already / 1000).
    cid_widths: HashMap<u32, f64>,
    cid_width_ranges: Vec<(u32, u32, f64)>,
    /// Composite fonts whose encoding names a UCS-2/UTF-16 CMap: the code is the text.
    code_is_unicode: bool,
    pub vertical: bool,
    /// Multiplies the font size for spacing decisions (Type 3 fonts).
    pub size_factor: f64,
    /// Type 3: the horizontal scale of the font matrix (glyph space → text space).
    scale: f64,
}

pub struct Glyph {
    pub code: u32,
    pub len: u8,
    pub text: Option<Rc<str>>,
    /// Advance in text space per unit of font size (before Tc, Tw, Tz).
    pub width: f64,
}

fn forward(name: &[u8]) -> Option<&'static ForwardMap> {
    Some(match name {
        b"WinAnsiEncoding" => &pdf_encoding::WINANSI,
        b"MacRomanEncoding" => &pdf_encoding::MACROMAN,
        b"StandardEncoding" => &pdf_encoding::STANDARD,
        b"MacExpertEncoding" => &pdf_encoding::MACEXPERT,
        b"SymbolEncoding" => &pdf_encoding::SYMBOL,
        b"ZapfDingbatsEncoding" => &pdf_encoding::ZDINGBAT,
        _ => return None,
    })
}

/// The built-in encoding of an embedded Type 1 font program (`/FontFile`):
/// its `dup <code> /<name> put` entries, or None for `StandardEncoding`.
fn type1_builtin(doc: &Doc, descriptor: &Dictionary) -> Option<Vec<Option<String>>> {
    let stream = deref(doc, descriptor.get(b"FontFile").ok()?)?.as_stream().ok()?;
    let data = stream.get_plain_content_with_limit(16 << 20).ok()?;
    let clear = match stream.dict.get(b"Length1").ok().and_then(|o| deref(doc, o)).and_then(num) {
        Some(l) if (l as usize) <= data.len() && l > 0.0 => &data[..l as usize],
        _ => &data[..],
    };
    let start = find(clear, b"/Encoding")?;
    let rest = &clear[start + 9..];
    let head = &rest[..rest.len().min(40)];
    if find(head, b"StandardEncoding").is_some() {
        return None;
    }
    let end = find(rest, b"readonly def").or_else(|| find(rest, b"currentdict end")).unwrap_or(rest.len());
    let body = &rest[..end];
    let mut table: Vec<Option<String>> = vec![None; 256];
    let words: Vec<&[u8]> = body.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect();
    for w in words.windows(4) {
        if w[0] == b"dup" && w[3] == b"put" && w[2].starts_with(b"/") {
            if let Some(code) = std::str::from_utf8(w[1]).ok().and_then(|s| s.parse::<usize>().ok()) {
                if code < 256 {
                    table[code] = name_to_text(&w[2][1..]);
                }
            }
        }
    }
    Some(table)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn base_font_name(dict: &Dictionary) -> Vec<u8> {
    let name = dict.get(b"BaseFont").ok().and_then(|o| o.as_name().ok()).unwrap_or(b"");
    // Subset fonts: "ABCDEF+Name".
    match name.iter().position(|&c| c == b'+') {
        Some(p) if p == 6 => name[p + 1..].to_vec(),
        _ => name.to_vec(),
    }
}

/// Average widths for the standard 14 fonts when a PDF gives no `/Widths`.
fn std14_width(base: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(base);
    if s.contains("Courier") {
        0.6
    } else if s.contains("Times") {
        0.45
    } else {
        0.5
    }
}

impl Font {
    pub fn load(doc: &Doc, dict: &Dictionary) -> Font {
        let subtype = dict.get(b"Subtype").ok().and_then(|o| o.as_name().ok()).unwrap_or(b"");
        let to_unicode = dict
            .get(b"ToUnicode")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_stream().ok())
            .and_then(|s| s.get_plain_content_with_limit(16 << 20).ok())
            .map(|data| CMap::parse(&data))
            .filter(|m| m.has_text());
        if subtype == b"Type0" {
            Self::composite(doc, dict, to_unicode)
        } else {
            Self::simple(doc, dict, subtype, to_unicode)
        }
    }

    fn simple(doc: &Doc, dict: &Dictionary, subtype: &[u8], to_unicode: Option<CMap>) -> Font {
        let base = base_font_name(dict);
        let descriptor = dict.get(b"FontDescriptor").ok().and_then(|o| deref(doc, o)).and_then(|o| o.as_dict().ok());
        let flags = descriptor.and_then(|d| d.get(b"Flags").ok()).and_then(|o| deref(doc, o)).and_then(num).unwrap_or(0.0) as i64;
        let symbolic = flags & 4 != 0 && flags & 32 == 0;
        let encoding = dict.get(b"Encoding").ok().and_then(|o| deref(doc, o));
        let (base_name, differences) = match encoding {
            Some(Object::Name(n)) => (Some(n.as_slice()), None),
            Some(Object::Dictionary(d)) => (
                d.get(b"BaseEncoding").ok().and_then(|o| o.as_name().ok()),
                d.get(b"Differences").ok().and_then(|o| deref(doc, o)).and_then(|o| o.as_array().ok()),
            ),
            _ => (None, None),
        };
        // Base table: the named encoding, else the font's own, else the default.
        let mut simple: Vec<Option<String>> = vec![None; 256];
        let named = base_name.and_then(forward);
        let builtin = if named.is_none() && subtype == b"Type1" { descriptor.and_then(|d| type1_builtin(doc, d)) } else { None };
        if let Some(table) = builtin {
            simple = table;
        } else {
            let is_symbol_font = base.starts_with(b"Symbol");
            let is_dingbats = base.starts_with(b"ZapfDingbats") || base.starts_with(b"Dingbats");
            let map = named.or(if is_symbol_font {
                Some(&pdf_encoding::SYMBOL)
            } else if is_dingbats {
                Some(&pdf_encoding::ZDINGBAT)
            } else if subtype == b"TrueType" && symbolic {
                None
            } else if subtype == b"TrueType" {
                Some(&pdf_encoding::WINANSI)
            } else if subtype == b"Type3" {
                None
            } else {
                Some(&pdf_encoding::STANDARD)
            });
            match map {
                Some(map) => {
                    for (code, slot) in simple.iter_mut().enumerate() {
                        *slot = map.get(code as u8).map(String::from);
                    }
                }
                None if subtype == b"TrueType" => {
                    // Symbolic TrueType without an encoding: codes (or 0xF0xx) are text.
                    for (code, slot) in simple.iter_mut().enumerate() {
                        if code >= 32 {
                            *slot = char::from_u32(code as u32).map(String::from);
                        }
                    }
                }
                None => {}
            }
        }
        if let Some(diffs) = differences {
            let mut code = 0usize;
            let mut unknown: Vec<(usize, &[u8])> = Vec::new();
            for item in diffs {
                match deref(doc, item) {
                    Some(Object::Integer(i)) => code = (*i).max(0) as usize,
                    Some(Object::Name(name)) => {
                        if code < 256 {
                            simple[code] = name_to_text(name);
                            if simple[code].is_none() && name.as_slice() != b".notdef" {
                                unknown.push((code, name));
                            }
                        }
                        code += 1;
                    }
                    _ => {}
                }
            }
            let hex = unknown.iter().any(|(_, n)| glyphs::looks_hex(n));
            for (code, name) in unknown {
                simple[code] = glyphs::numeric(name, hex);
            }
        }

        // Widths.
        let (scale, size_factor) = if subtype == b"Type3" {
            let m: Vec<f64> = dict
                .get(b"FontMatrix")
                .ok()
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
                .map(|a| a.iter().filter_map(|o| deref(doc, o).and_then(num)).collect())
                .unwrap_or_default();
            let (a, d) = if m.len() == 6 { (m[0], m[3]) } else { (0.001, 0.001) };
            (a, if a != 0.0 { (d / a).abs() } else { 1.0 })
        } else {
            (0.001, 1.0)
        };
        let missing = descriptor.and_then(|d| d.get(b"MissingWidth").ok()).and_then(|o| deref(doc, o)).and_then(num).unwrap_or(0.0) * scale;
        let first = dict.get(b"FirstChar").ok().and_then(|o| deref(doc, o)).and_then(num).unwrap_or(0.0).max(0.0) as usize;
        let list = dict.get(b"Widths").ok().and_then(|o| deref(doc, o)).and_then(|o| o.as_array().ok());
        let mut widths = vec![missing; 256];
        let default_width = match list {
            Some(list) => {
                for (i, w) in list.iter().enumerate() {
                    if let (Some(slot), Some(w)) = (widths.get_mut(first + i), deref(doc, w).and_then(num)) {
                        *slot = w * scale;
                    }
                }
                missing
            }
            None => {
                let w = std14_width(&base);
                widths.iter_mut().for_each(|slot| *slot = w);
                match super::std14::widths(&base) {
                    // Each glyph's own width, where the encoding says which glyph.
                    Some(metrics) => {
                        for (slot, text) in widths.iter_mut().zip(&simple) {
                            if let Some(m) = text.as_ref().and_then(|t| metrics.get(t)) {
                                *slot = *m;
                            }
                        }
                    }
                    None if !base.starts_with(b"Courier") => widths[32] = 0.25,
                    None => {}
                }
                w
            }
        };
        // poppler's guess at a Type 3 font's real size: the width of 'm' (or any glyph).
        let mut size_factor = size_factor;
        if subtype == b"Type3" {
            let pick = simple
                .iter()
                .position(|t| t.as_deref() == Some("m"))
                .map(|c| (c, 0.6))
                .or_else(|| simple.iter().position(|t| t.as_deref().is_some_and(|t| t.len() == 1 && t.as_bytes()[0].is_ascii_alphabetic())).map(|c| (c, 0.5)))
                .or_else(|| widths.iter().position(|&w| w > 0.0).map(|c| (c, 0.5)));
            if let Some((code, generic)) = pick {
                if widths[code] > 0.0 {
                    size_factor *= widths[code] / generic;
                }
            }
        }
        let simple = simple
            .into_iter()
            .enumerate()
            .map(|(code, t)| to_unicode.as_ref().and_then(|m| m.text(code as u32)).or_else(|| t.map(Rc::from)))
            .collect();
        Font {
            codes: Codes::Simple,
            to_unicode,
            simple,
            widths,
            default_width,
            cid_widths: HashMap::new(),
            cid_width_ranges: Vec::new(),
            code_is_unicode: false,
            vertical: false,
            size_factor,
            scale,
        }
    }

    fn composite(doc: &Doc, dict: &Dictionary, to_unicode: Option<CMap>) -> Font {
        let encoding = dict.get(b"Encoding").ok().and_then(|o| deref(doc, o));
        let (cmap, vertical, code_is_unicode) = match encoding {
            Some(Object::Name(name)) => {
                let n = String::from_utf8_lossy(name);
                (CMap::identity(), n.ends_with("-V"), n.contains("UCS2") || n.contains("UTF16"))
            }
            Some(Object::Stream(s)) => {
                let data = s.get_plain_content_with_limit(16 << 20).unwrap_or_default();
                let mut map = CMap::parse(&data);
                if map.codespace.is_empty() {
                    map.codespace.push((0, 0xFFFF, 2));
                }
                let wmode = s.dict.get(b"WMode").ok().and_then(num).unwrap_or(0.0);
                (map, wmode == 1.0, false)
            }
            _ => (CMap::identity(), false, false),
        };
        let descendant = dict
            .get(b"DescendantFonts")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
            .and_then(|a| a.first())
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_dict().ok());
        let mut cid_widths = HashMap::new();
        let mut cid_width_ranges = Vec::new();
        let mut default_width = 1.0;
        if let Some(d) = descendant {
            if let Some(dw) = d.get(b"DW").ok().and_then(|o| deref(doc, o)).and_then(num) {
                default_width = dw / 1000.0;
            }
            if let Some(w) = d.get(b"W").ok().and_then(|o| deref(doc, o)).and_then(|o| o.as_array().ok()) {
                let mut i = 0;
                while i < w.len() {
                    let Some(first) = deref(doc, &w[i]).and_then(num) else { break };
                    match w.get(i + 1).and_then(|o| deref(doc, o)) {
                        Some(Object::Array(list)) => {
                            for (k, v) in list.iter().enumerate() {
                                if let Some(v) = deref(doc, v).and_then(num) {
                                    cid_widths.insert(first as u32 + k as u32, v / 1000.0);
                                }
                            }
                            i += 2;
                        }
                        Some(last) => {
                            let (Some(last), Some(v)) = (num(last), w.get(i + 2).and_then(|o| deref(doc, o)).and_then(num)) else { break };
                            cid_width_ranges.push((first as u32, last as u32, v / 1000.0));
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
        }
        Font {
            codes: Codes::Composite(cmap),
            to_unicode,
            simple: Vec::new(),
            widths: Vec::new(),
            default_width,
            cid_widths,
            cid_width_ranges,
            code_is_unicode,
            vertical,
            size_factor: 1.0,
            scale: 0.001,
        }
    }

    pub fn decode(&self, bytes: &[u8], out: &mut Vec<Glyph>) {
        match &self.codes {
            Codes::Simple => {
                for &b in bytes {
                    let code = b as u32;
                    let text = self.simple[b as usize].clone();
                    out.push(Glyph { code, len: 1, text, width: self.widths[b as usize] });
                }
            }
            Codes::Composite(cmap) => {
                let mut codes = Vec::with_capacity(bytes.len() / 2 + 1);
                cmap.split(bytes, &mut codes);
                for (code, len) in codes {
                    let cid = cmap.cid(code);
                    let width = match self.cid_widths.get(&cid) {
                        Some(w) => *w,
                        None => self
                            .cid_width_ranges
                            .iter()
                            .find(|(lo, hi, _)| (*lo..=*hi).contains(&cid))
                            .map(|r| r.2)
                            .unwrap_or(self.default_width),
                    };
                    let text = self.to_unicode.as_ref().and_then(|m| m.text(code)).or_else(|| {
                        if self.code_is_unicode {
                            char::from_u32(code).map(|c| Rc::from(c.to_string()))
                        } else {
                            None
                        }
                    });
                    out.push(Glyph { code, len, text, width });
                }
            }
        }
        let _ = self.default_width;
        let _ = self.scale;
    }
}
