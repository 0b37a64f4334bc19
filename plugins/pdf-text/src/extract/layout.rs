//! Glyphs → words → lines → reading order, with pdftotext's thresholds
//! (TextOutputDev.cc) where it has them.

use super::Char;

/// A gap wider than this × font size starts a new word (poppler: minWordBreakSpace).
const WORD_BREAK: f64 = 0.1;
/// Words closer than this × font size touch without a space (poppler: maxCharSpacing).
const CHAR_SPACING: f64 = 0.03;
/// Letter-spaced lines: space threshold limits (poppler: maxWideCharSpacingMul, maxWideCharSpacing).
const WIDE_MUL: f64 = 1.3;
const WIDE_MAX: f64 = 0.4;
/// Duplicate glyphs (fake bold): same place within these × font size.
const DUP_PRI: f64 = 0.1;
const DUP_SEC: f64 = 0.2;
/// A glyph this far back (× font size) over the last one starts a new word.
const DUP_BREAK_OVERLAP: f64 = 0.5;
/// A gap wider than this × font size splits a line into fragments (columns, cells).
const FRAGMENT_GAP: f64 = 1.8;
/// Column gutters at least this × font size wide are cut first.
const COLUMN_GAP: f64 = 1.0;
/// With columns present, rows are cut first only at gaps this × font size high.
const SECTION_GAP: f64 = 0.8;

struct Word {
    rot: u8,
    base: f64,
    p0: f64,
    p1: f64,
    size: f64,
    font: usize,
    text: String,
    chars: usize,
    /// Primary start and end of the last glyph (for combining accents).
    last0: f64,
    last1: f64,
}

/// Primary (along the line) and secondary (down the page) coordinates.
fn coords(rot: u8, x: f64, y: f64) -> (f64, f64) {
    match rot {
        0 => (x, -y),
        1 => (-y, -x),
        2 => (-x, y),
        _ => (y, x),
    }
}

fn rotation(bx: f64, by: f64) -> u8 {
    if bx.abs() >= by.abs() {
        if bx >= 0.0 {
            0
        } else {
            2
        }
    } else if by < 0.0 {
        1
    } else {
        3
    }
}

fn is_space(t: &str) -> bool {
    let mut it = t.chars();
    matches!((it.next(), it.next()), (Some(c), None) if c.is_whitespace() || c == '\u{A0}')
}

/// poppler's combining table: spacing accents that TeX puts over a letter.
fn combining(c: char) -> Option<char> {
    Some(match c {
        '\u{60}' => '\u{300}',
        '\u{A8}' => '\u{308}',
        '\u{AF}' => '\u{304}',
        '\u{B4}' => '\u{301}',
        '\u{B8}' => '\u{327}',
        '\u{2C6}' => '\u{302}',
        '\u{2C7}' => '\u{30C}',
        '\u{2D8}' => '\u{306}',
        '\u{2D9}' => '\u{307}',
        '\u{2DA}' => '\u{30A}',
        '\u{2DC}' => '\u{303}',
        '\u{2DD}' => '\u{30B}',
        _ => return None,
    })
}

/// Text as it goes into a word: ligatures written out (as pdftotext mostly
/// does, whatever the ToUnicode says), NULs dropped.
fn push_text(out: &mut String, t: &str) {
    for c in t.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' => out.push_str("ft"),
            '\u{FB06}' => out.push_str("st"),
            '\0' => {}
            c => out.push(c),
        }
    }
}

fn single(t: &str) -> Option<char> {
    let mut it = t.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

fn words(chars: Vec<Char>, width: f64, height: f64) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut cur: Option<Word> = None;
    let mut last_overlap = false;
    for ch in chars {
        let size = ch.size.abs();
        // Off the page (poppler drops these), or degenerate.
        if !(ch.x.is_finite() && ch.y.is_finite()) || size <= 0.0 || !size.is_finite() {
            continue;
        }
        if ch.x + ch.dx.max(0.0) < 0.0 || ch.x > width || ch.y + size < 0.0 || ch.y - size > height {
            continue;
        }
        let rot = rotation(ch.bx, ch.by);
        let (p0, base) = coords(rot, ch.x, ch.y);
        let (pe, _) = coords(rot, ch.x + ch.dx, ch.y + ch.dy);
        let (p0, p1) = if pe >= p0 { (p0, pe) } else { (pe, p0) };
        let Some(text) = ch.text else {
            // A glyph without text keeps its room in the word it belongs to.
            if let Some(w) = cur.as_mut() {
                if w.rot == rot && (base - w.base).abs() <= 0.5 && (p0 - w.p1) <= WORD_BREAK * w.size {
                    w.p1 = w.p1.max(p1);
                }
            }
            continue;
        };
        if is_space(&text) {
            if let Some(w) = cur.take() {
                words.push(w);
            }
            continue;
        }
        if text.is_empty() {
            continue;
        }
        if let Some(w) = cur.as_mut() {
            // A spacing accent over the last letter, or a letter under the last accent.
            if w.rot == rot && w.chars > 0 {
                let mid = (p0 + p1) / 2.0;
                let last_mid = (w.last0 + w.last1) / 2.0;
                let close = (mid - last_mid).abs() < (w.last1 - w.last0).abs().max(p1 - p0) * 0.3 + 0.05 * size
                    && (base - w.base).abs() < 0.4 * w.size.max(size);
                let this_accent = single(&text).and_then(combining);
                let last_char = w.text.chars().last();
                if close {
                    if let (Some(acc), Some(l)) = (this_accent, last_char) {
                        if l.is_alphanumeric() {
                            w.text.push(acc);
                            continue;
                        }
                    }
                    if let Some(acc) = last_char.and_then(combining) {
                        if single(&text).is_some_and(|c| c.is_alphanumeric()) {
                            w.text.pop();
                            push_text(&mut w.text, &text);
                            w.text.push(acc);
                            w.last0 = p0;
                            w.last1 = p1;
                            w.p1 = w.p1.max(p1);
                            continue;
                        }
                    }
                }
            }
            let sp = p0 - w.p1;
            let delta = p0 - w.last0;
            let overlap = delta.abs() < DUP_PRI * w.size && (base - w.base).abs() < DUP_SEC * w.size;
            let brk = w.rot != rot
                || overlap
                || last_overlap
                || sp < -DUP_BREAK_OVERLAP * w.size
                || sp > WORD_BREAK * w.size
                || (base - w.base).abs() > 0.5
                || (size - w.size).abs() > 0.01 * size.max(w.size);
            last_overlap = overlap;
            if brk {
                words.push(cur.take().unwrap());
            }
        } else {
            last_overlap = false;
        }
        let w = cur.get_or_insert_with(|| Word {
            rot,
            base,
            p0,
            p1,
            size,
            font: ch.font,
            text: String::new(),
            chars: 0,
            last0: p0,
            last1: p1,
        });
        push_text(&mut w.text, &text);
        w.chars += 1;
        w.p0 = w.p0.min(p0);
        w.p1 = w.p1.max(p1);
        w.last0 = p0;
        w.last1 = p1;
    }
    if let Some(w) = cur {
        words.push(w);
    }
    dedupe(words)
}

/// Drops words drawn twice at the same place (fake bold, shadows).
fn dedupe(mut words: Vec<Word>) -> Vec<Word> {
    if words.len() < 2 {
        return words;
    }
    let mut order: Vec<usize> = (0..words.len()).collect();
    order.sort_by(|&a, &b| words[a].base.total_cmp(&words[b].base));
    let mut dead = vec![false; words.len()];
    for (k, &i) in order.iter().enumerate() {
        if dead[i] {
            continue;
        }
        for &j in &order[k + 1..] {
            let (a, b) = (&words[i], &words[j]);
            if b.base - a.base > DUP_SEC * a.size {
                break;
            }
            if !dead[j]
                && a.rot == b.rot
                && a.text == b.text
                && (a.p0 - b.p0).abs() < DUP_PRI * a.size
                && (a.p1 - b.p1).abs() < DUP_PRI * a.size
            {
                dead[j] = true;
            }
        }
    }
    let mut i = 0;
    words.retain(|_| {
        i += 1;
        !dead[i - 1]
    });
    words
}

struct Fragment {
    p0: f64,
    p1: f64,
    s0: f64,
    s1: f64,
    base: f64,
    size: f64,
    text: String,
}

fn fragments(mut line: Vec<Word>, out: &mut Vec<Fragment>) {
    line.sort_by(|a, b| a.p0.total_cmp(&b.p0));
    // The space threshold of the line (poppler's TextLine::coalesce).
    let size = line[0].size;
    let mut space = CHAR_SPACING * size;
    if line.len() > 1 && line.iter().all(|w| w.chars == 1) {
        let min = line.windows(2).map(|p| p[1].p0 - p[0].p1).fold(f64::INFINITY, f64::min);
        if min > 0.0 {
            space = (WIDE_MUL * min).min(WIDE_MAX * size);
        }
    }
    let mut frag: Option<Fragment> = None;
    let mut last_font = usize::MAX;
    for w in line {
        if let Some(f) = frag.as_mut() {
            let gap = w.p0 - f.p1;
            if gap > FRAGMENT_GAP * f.size.max(w.size) {
                out.push(frag.take().unwrap());
            } else {
                if gap >= space || (gap > 0.0 && w.font != last_font && gap >= CHAR_SPACING * w.size) {
                    f.text.push(' ');
                }
                f.text.push_str(&w.text);
                f.p1 = f.p1.max(w.p1);
                f.s0 = f.s0.min(w.base - 0.8 * w.size);
                f.s1 = f.s1.max(w.base + 0.2 * w.size);
                f.size = f.size.max(w.size);
                last_font = w.font;
                continue;
            }
        }
        last_font = w.font;
        frag = Some(Fragment {
            p0: w.p0,
            p1: w.p1,
            s0: w.base - 0.8 * w.size,
            s1: w.base + 0.2 * w.size,
            base: w.base,
            size: w.size,
            text: w.text,
        });
    }
    out.extend(frag);
}

/// Gaps in the union of intervals: (start of gap, end of gap).
fn gaps(mut iv: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    iv.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    let mut end = f64::NEG_INFINITY;
    for (a, b) in iv {
        if end > f64::NEG_INFINITY && a > end {
            out.push((end, a));
        }
        end = end.max(b);
    }
    out
}

fn median_size(f: &[Fragment], ids: &[usize]) -> f64 {
    let mut s: Vec<f64> = ids.iter().map(|&i| f[i].size).collect();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// Recursive XY cut: rows at big gaps, columns at gutters, rows at any gap.
fn xy_cut(f: &[Fragment], ids: Vec<usize>, out: &mut Vec<usize>, depth: usize) {
    if ids.len() <= 1 || depth > 64 {
        let mut ids = ids;
        ids.sort_by(|&a, &b| f[a].base.total_cmp(&f[b].base).then(f[a].p0.total_cmp(&f[b].p0)));
        out.extend(ids);
        return;
    }
    let size = median_size(f, &ids);
    let rows = gaps(ids.iter().map(|&i| (f[i].s0, f[i].s1)).collect());
    let cols: Vec<(f64, f64)> =
        gaps(ids.iter().map(|&i| (f[i].p0, f[i].p1)).collect()).into_iter().filter(|g| g.1 - g.0 >= COLUMN_GAP * size).collect();
    let big_rows: Vec<(f64, f64)> = rows.iter().copied().filter(|g| g.1 - g.0 >= SECTION_GAP * size).collect();
    let (cuts, by_rows) = if !big_rows.is_empty() && !cols.is_empty() {
        (big_rows, true)
    } else if !cols.is_empty() {
        (cols, false)
    } else if !rows.is_empty() {
        (rows, true)
    } else {
        let mut ids = ids;
        ids.sort_by(|&a, &b| f[a].base.total_cmp(&f[b].base).then(f[a].p0.total_cmp(&f[b].p0)));
        out.extend(ids);
        return;
    };
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); cuts.len() + 1];
    for i in ids {
        let key = if by_rows { f[i].s0 } else { f[i].p0 };
        let g = cuts.iter().take_while(|c| key >= c.1).count();
        groups[g].push(i);
    }
    for g in groups {
        if !g.is_empty() {
            xy_cut(f, g, out, depth + 1);
        }
    }
}

pub fn text(chars: Vec<Char>, width: f64, height: f64) -> String {
    let words = words(chars, width, height);
    let mut out = String::new();
    let mut by_rot: [Vec<Word>; 4] = Default::default();
    for w in words {
        by_rot[w.rot as usize & 3].push(w);
    }
    for mut ws in by_rot {
        if ws.is_empty() {
            continue;
        }
        ws.sort_by(|a, b| a.base.total_cmp(&b.base).then(a.p0.total_cmp(&b.p0)));
        // Lines: words whose baselines lie within half a font size.
        let mut frags = Vec::new();
        let mut line: Vec<Word> = Vec::new();
        let mut line_base = 0.0;
        let mut line_size: f64 = 0.0;
        for w in ws {
            if !line.is_empty() && (w.base - line_base) > 0.5 * line_size.max(w.size).min(line_size.min(w.size) * 2.0) {
                fragments(std::mem::take(&mut line), &mut frags);
            }
            if line.is_empty() {
                line_base = w.base;
                line_size = w.size;
            }
            line_size = line_size.max(w.size);
            line.push(w);
        }
        if !line.is_empty() {
            fragments(line, &mut frags);
        }
        let mut order = Vec::with_capacity(frags.len());
        xy_cut(&frags, (0..frags.len()).collect(), &mut order, 0);
        for (k, &i) in order.iter().enumerate() {
            let fr = &frags[i];
            let next = order.get(k + 1).map(|&j| &frags[j]);
            let continues = next.is_some_and(|n| {
                n.base > fr.base && n.base - fr.base < 3.0 * fr.size.max(n.size) && n.p0 < fr.p1 && n.p1 > fr.p0
            });
            if continues && fr.text.ends_with('-') {
                out.push_str(&fr.text[..fr.text.len() - 1]);
                continue;
            }
            out.push_str(&fr.text);
            out.push('\n');
            if let Some(n) = next {
                if !continues || n.s0 - fr.s1 > 0.8 * fr.size {
                    out.push('\n');
                }
            }
        }
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
    }
    out
}
