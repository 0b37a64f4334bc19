//! Glyph names to text: the Adobe Glyph List (crate `pdf_encoding`), `uniXXXX`
//! and `uXXXX[XX]` names, `a_b` ligature names, `.suffix` variants, and the
//! few names TeX fonts use that the list lacks.

fn hex_units(s: &str) -> Option<String> {
    if s.is_empty() || s.len() % 4 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let units: Vec<u16> = (0..s.len() / 4).map(|i| u16::from_str_radix(&s[i * 4..i * 4 + 4], 16).unwrap()).collect();
    Some(super::cmap::utf16_string(&units))
}

/// Ligatures named by glyph names are written out, as pdftotext does
/// (it keeps U+FB01 only where a ToUnicode CMap says so).
fn expand(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' => out.push_str("ft"),
            '\u{FB06}' => out.push_str("st"),
            c => out.push(c),
        }
    }
    out
}

/// poppler's numeric glyph names (`a36`, `g7`, `cid123` is not one): at most two
/// letters, then a decimal number, or two hex digits when the font's names are hex.
pub fn numeric(name: &[u8], hex: bool) -> Option<String> {
    let n = name.iter().take(2).take_while(|c| c.is_ascii_alphabetic()).count();
    let digits = std::str::from_utf8(&name[n..]).ok()?;
    if digits.is_empty() {
        return None;
    }
    let v = if hex {
        if digits.len() != 2 {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()?
    } else {
        digits.parse::<u32>().ok()?
    };
    char::from_u32(v).filter(|c| *c != '\0').map(String::from)
}

/// Whether a font's names are hex numbers (`Ax1`, `fe`), as poppler guesses it.
pub fn looks_hex(name: &[u8]) -> bool {
    let n = name.iter().take(2).take_while(|c| c.is_ascii_alphabetic()).count();
    let rest = &name[n..];
    let rest = if rest.is_empty() && name.len() == 2 { name } else { rest };
    rest.len() == 2 && rest.iter().all(|c| c.is_ascii_hexdigit()) && rest.iter().any(|c| c.is_ascii_alphabetic())
}

fn one(name: &str) -> Option<String> {
    if let Some(t) = pdf_encoding::glyphname_to_unicode(name) {
        return Some(expand(t));
    }
    let extra = match name {
        "dotlessj" => "\u{237}",
        "visiblespace" | "visualspace" => "\u{2423}",
        "angbracketleft" => "\u{27E8}",
        "angbracketright" => "\u{27E9}",
        "circlecopyrt" => "\u{A9}",
        "negationslash" => "\u{338}",
        "compwordmark" | "cwm" | "suppress" => "",
        "nbspace" | "nonbreakingspace" => "\u{A0}",
        "sfthyphen" => "\u{AD}",
        "Delta" => "\u{394}",
        "Omega" => "\u{3A9}",
        "mu" => "\u{3BC}",
        _ => {
            if let Some(hex) = name.strip_prefix("uni") {
                return hex_units(hex);
            }
            if let Some(hex) = name.strip_prefix('u') {
                if (4..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).map(String::from);
                }
            }
            return None;
        }
    };
    Some(extra.to_string())
}

/// The text a glyph name stands for, if it is known.
pub fn name_to_text(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    if let Some(t) = one(name) {
        return Some(t);
    }
    let base = name.split('.').next().unwrap_or(name);
    if base.is_empty() {
        return None;
    }
    if base != name {
        if let Some(t) = one(base) {
            return Some(t);
        }
    }
    if base.contains('_') {
        let mut out = String::new();
        for part in base.split('_') {
            out.push_str(&one(part)?);
        }
        return Some(out);
    }
    None
}
