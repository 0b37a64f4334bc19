//! Glyph widths of the standard 14 fonts, for fonts that name one and carry
//! no `/Widths` (Ghostscript writes non-embedded Times, Helvetica … that way).
//! Positions decide spaces and order here, so one average width per font
//! splits and glues words; poppler uses these same Adobe AFM metrics.
//! Obliques share their upright's widths, so only uprights are linked in.

use super::glyphs::name_to_text;
use pdf_core_14_font_afms as afm;
use std::collections::HashMap;

/// Widths (in text space units, 1/1000 em scaled to 1) by the text each glyph
/// stands for, or `None` when `base` is no standard 14 font (or alias).
pub fn widths(base: &[u8]) -> Option<HashMap<String, f64>> {
    let name = String::from_utf8_lossy(base);
    // A subset tag (`ABCDEF+Times-Roman`) is not part of the name.
    let name = name.split_once('+').map_or(&*name, |(_, n)| n);
    let bold = name.contains("Bold");
    let italic = name.contains("Italic") || name.contains("Oblique");
    let text = if name.starts_with("Courier") {
        if bold { afm::COURIER_BOLD } else { afm::COURIER }
    } else if name.starts_with("Helvetica") || name.starts_with("Arial") {
        if bold { afm::HELVETICA_BOLD } else { afm::HELVETICA }
    } else if name.starts_with("Times") {
        match (bold, italic) {
            (true, true) => afm::TIMES_BOLD_ITALIC,
            (true, false) => afm::TIMES_BOLD,
            (false, true) => afm::TIMES_ITALIC,
            (false, false) => afm::TIMES_ROMAN,
        }
    } else if name.starts_with("Symbol") {
        afm::SYMBOL
    } else if name.starts_with("ZapfDingbats") || name.starts_with("Dingbats") {
        afm::ZAPF_DINGBATS
    } else {
        return None;
    };
    let mut out = HashMap::new();
    // `C 32 ; WX 250 ; N space ; B 0 0 0 0 ;`
    for line in text.lines().filter(|l| l.starts_with("C ")) {
        let (mut width, mut glyph) = (None, None);
        for field in line.split(';') {
            let mut parts = field.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some("WX"), Some(w)) => width = w.parse::<f64>().ok(),
                (Some("N"), Some(n)) => glyph = Some(n),
                _ => {}
            }
        }
        if let (Some(w), Some(t)) = (width, glyph.and_then(|g| name_to_text(g.as_bytes()))) {
            out.entry(t).or_insert(w / 1000.0);
        }
    }
    Some(out)
}
