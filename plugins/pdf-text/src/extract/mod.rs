//! Layout-aware page text, modelled on poppler's `pdftotext` (TextOutputDev):
//! the content stream is interpreted with its text and graphics state, every
//! glyph gets a position, an advance and a font size in device space, words
//! break at space characters and at gaps wider than a tenth of the font size,
//! lines form by baseline, and a recursive XY cut orders the line fragments
//! (columns, headers and footers where they stand). Ligatures are expanded,
//! TeX's spacing accents become combining marks after their letter, and a
//! hyphen that ends a line is joined with the next line, as pdftotext does.

mod cmap;
pub mod doc;
mod font;
mod glyphs;
mod layout;
mod std14;

use font::{Font, Glyph};
use doc::lex::{Lexer, Token};
use lopdf::{Dictionary, Object, ObjectId};
use std::collections::HashMap;
use std::rc::Rc;

pub use doc::Doc;

/// Largest decompressed content per page (and per form) we accept.
pub const MAX_CONTENT: usize = 64 * 1024 * 1024;
/// Forms inside forms deeper than this are not followed.
const MAX_DEPTH: usize = 12;

pub fn deref<'a>(doc: &'a Doc, o: &'a Object) -> Option<&'a Object> {
    doc.deref(o)
}

pub fn num(o: &Object) -> Option<f64> {
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(*r as f64),
        _ => None,
    }
}

/// Fonts already read, by the object that holds them. They live as long as
/// the document's extractor (one per document), so pages share them.
#[derive(Default)]
pub struct Fonts {
    by_id: HashMap<ObjectId, Rc<Font>>,
}

#[derive(Clone, Copy)]
struct M([f64; 6]);

impl M {
    const ID: M = M([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    /// self × other (PDF row-vector convention: apply self first).
    fn then(&self, o: &M) -> M {
        let (a, b) = (self.0, o.0);
        M([
            a[0] * b[0] + a[1] * b[2],
            a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2],
            a[2] * b[1] + a[3] * b[3],
            a[4] * b[0] + a[5] * b[2] + b[4],
            a[4] * b[1] + a[5] * b[3] + b[5],
        ])
    }
    fn translate(tx: f64, ty: f64) -> M {
        M([1.0, 0.0, 0.0, 1.0, tx, ty])
    }
    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = self.0;
        (x * m[0] + y * m[2] + m[4], x * m[1] + y * m[3] + m[5])
    }
}

#[derive(Clone)]
struct State {
    ctm: M,
    font: Option<(usize, Rc<Font>)>,
    size: f64,
    char_space: f64,
    word_space: f64,
    scale: f64,
    leading: f64,
    rise: f64,
}

/// One glyph on the page, in device space (y up).
pub struct Char {
    pub x: f64,
    pub y: f64,
    /// Advance vector in device space.
    pub dx: f64,
    pub dy: f64,
    /// Baseline direction (unit-free) in device space.
    pub bx: f64,
    pub by: f64,
    pub size: f64,
    pub font: usize,
    /// None: a glyph with no text (its advance still counts).
    pub text: Option<Rc<str>>,
}

struct Interp<'a> {
    doc: &'a Doc,
    fonts: &'a mut Fonts,
    chars: Vec<Char>,
    glyphs: Vec<Glyph>,
    tm: M,
    tlm: M,
}

fn operand(ops: &[Object], i: usize) -> f64 {
    ops.get(i).and_then(num).unwrap_or(0.0)
}

fn font_key(rc: &Rc<Font>) -> usize {
    Rc::as_ptr(rc) as usize
}

impl<'a> Interp<'a> {
    fn font(&mut self, resources: Option<&Dictionary>, name: &[u8]) -> Option<Rc<Font>> {
        let doc = self.doc;
        let fonts = resources?.get(b"Font").ok().and_then(|o| deref(doc, o))?.as_dict().ok()?;
        let entry = fonts.get(name).ok()?;
        match entry {
            Object::Reference(id) => {
                if let Some(f) = self.fonts.by_id.get(id) {
                    return Some(f.clone());
                }
                let dict = doc.dict(*id)?;
                let f = Rc::new(Font::load(doc, dict));
                self.fonts.by_id.insert(*id, f.clone());
                Some(f)
            }
            Object::Dictionary(d) => Some(Rc::new(Font::load(doc, d))),
            _ => None,
        }
    }

    fn show(&mut self, st: &State, bytes: &[u8]) {
        let Some((key, font)) = st.font.clone() else { return };
        self.glyphs.clear();
        let mut glyphs = std::mem::take(&mut self.glyphs);
        font.decode(bytes, &mut glyphs);
        let fs = st.size;
        for g in glyphs.drain(..) {
            let trm = M([fs * st.scale, 0.0, 0.0, fs, 0.0, st.rise]).then(&self.tm).then(&st.ctm);
            let m = self.tm.then(&st.ctm);
            let space = g.len == 1 && g.code == 32;
            let (tx, ty) = if font.vertical {
                (0.0, -(g.width.max(1.0) * fs + st.char_space + if space { st.word_space } else { 0.0 }))
            } else {
                ((g.width * fs + st.char_space + if space { st.word_space } else { 0.0 }) * st.scale, 0.0)
            };
            let (x, y) = (trm.0[4], trm.0[5]);
            // The glyph's box, like poppler's: its advance without Tc and Tw.
            let (gx, gy) = if font.vertical { (0.0, -g.width.max(1.0) * fs) } else { (g.width * fs * st.scale, 0.0) };
            let dx = gx * m.0[0] + gy * m.0[2];
            let dy = gx * m.0[1] + gy * m.0[3];
            let size = fs * (m.0[2] * m.0[2] + m.0[3] * m.0[3]).sqrt() * font.size_factor;
            let (bx, by) = if font.vertical { (m.0[2] * -1.0, m.0[3] * -1.0) } else { (m.0[0], m.0[1]) };
            #[cfg(debug_assertions)]
            if std::env::var_os("PDF_TEXT_DEBUG").is_some() {
                eprintln!("{key:x} code={:x} {:?} x={x:.1} y={y:.1} dx={dx:.2} size={size:.1}", g.code, g.text);
            }
            self.chars.push(Char { x, y, dx, dy, bx, by, size, font: key, text: g.text });
            self.tm = M::translate(tx, ty).then(&self.tm);
        }
        self.glyphs = glyphs;
    }

    fn run(&mut self, content: &[u8], resources: Option<&Dictionary>, st: &mut State, depth: usize) -> Result<(), String> {
        let mut stack: Vec<State> = Vec::new();
        let mut lx = Lexer::new(content, 0);
        let mut operands: Vec<Object> = Vec::new();
        while let Some(token) = lx.token() {
            let op = match token {
                Token::Operand(o) => {
                    // Operands pile up only before an operator: a runaway list is junk.
                    if operands.len() < 4096 {
                        operands.push(o);
                    }
                    continue;
                }
                Token::Operator(op) => op,
            };
            let o = &operands[..];
            match op {
                b"q" => stack.push(st.clone()),
                b"Q" => {
                    if let Some(s) = stack.pop() {
                        *st = s;
                    }
                }
                b"cm" => {
                    let m = M([operand(o, 0), operand(o, 1), operand(o, 2), operand(o, 3), operand(o, 4), operand(o, 5)]);
                    st.ctm = m.then(&st.ctm);
                }
                b"BT" => {
                    self.tm = M::ID;
                    self.tlm = M::ID;
                }
                b"Tf" => {
                    st.size = operand(o, 1);
                    let name = o.first().and_then(|n| n.as_name().ok()).unwrap_or(b"");
                    st.font = self.font(resources, name).map(|f| (font_key(&f), f));
                }
                b"Tc" => st.char_space = operand(o, 0),
                b"Tw" => st.word_space = operand(o, 0),
                b"Tz" => st.scale = operand(o, 0) / 100.0,
                b"TL" => st.leading = operand(o, 0),
                b"Ts" => st.rise = operand(o, 0),
                b"Td" => {
                    self.tlm = M::translate(operand(o, 0), operand(o, 1)).then(&self.tlm);
                    self.tm = self.tlm;
                }
                b"TD" => {
                    st.leading = -operand(o, 1);
                    self.tlm = M::translate(operand(o, 0), operand(o, 1)).then(&self.tlm);
                    self.tm = self.tlm;
                }
                b"Tm" => {
                    self.tlm = M([operand(o, 0), operand(o, 1), operand(o, 2), operand(o, 3), operand(o, 4), operand(o, 5)]);
                    self.tm = self.tlm;
                }
                b"T*" => {
                    self.tlm = M::translate(0.0, -st.leading).then(&self.tlm);
                    self.tm = self.tlm;
                }
                b"Tj" => {
                    if let Some(Object::String(s, _)) = o.first() {
                        self.show(st, s);
                    }
                }
                b"'" => {
                    self.tlm = M::translate(0.0, -st.leading).then(&self.tlm);
                    self.tm = self.tlm;
                    if let Some(Object::String(s, _)) = o.first() {
                        self.show(st, s);
                    }
                }
                b"\"" => {
                    st.word_space = operand(o, 0);
                    st.char_space = operand(o, 1);
                    self.tlm = M::translate(0.0, -st.leading).then(&self.tlm);
                    self.tm = self.tlm;
                    if let Some(Object::String(s, _)) = o.get(2) {
                        self.show(st, s);
                    }
                }
                b"TJ" => {
                    if let Some(Object::Array(items)) = o.first() {
                        for item in items {
                            match item {
                                Object::String(s, _) => self.show(st, s),
                                other => {
                                    if let Some(n) = num(other) {
                                        let vertical = st.font.as_ref().is_some_and(|f| f.1.vertical);
                                        let adj = -n / 1000.0 * st.size;
                                        self.tm = if vertical {
                                            M::translate(0.0, adj).then(&self.tm)
                                        } else {
                                            M::translate(adj * st.scale, 0.0).then(&self.tm)
                                        };
                                    }
                                }
                            }
                        }
                    }
                }
                b"Do" if depth < MAX_DEPTH => 'form: {
                    let name = o.first().and_then(|n| n.as_name().ok()).unwrap_or(b"");
                    let doc = self.doc;
                    let Some(xobjects) = resources.and_then(|r| r.get(b"XObject").ok()).and_then(|o| deref(doc, o)).and_then(|o| o.as_dict().ok()) else {
                        break 'form;
                    };
                    let Some(stream) = xobjects.get(name).ok().and_then(|o| deref(doc, o)).and_then(|o| o.as_stream().ok()) else {
                        break 'form;
                    };
                    if stream.dict.get(b"Subtype").ok().and_then(|o| o.as_name().ok()) != Some(b"Form") {
                        break 'form;
                    }
                    let Ok(data) = stream.get_plain_content_with_limit(MAX_CONTENT) else { break 'form };
                    let matrix: Vec<f64> = stream
                        .dict
                        .get(b"Matrix")
                        .ok()
                        .and_then(|o| deref(doc, o))
                        .and_then(|o| o.as_array().ok())
                        .map(|a| a.iter().filter_map(num).collect())
                        .unwrap_or_default();
                    let form_resources =
                        stream.dict.get(b"Resources").ok().and_then(|o| deref(doc, o)).and_then(|o| o.as_dict().ok()).or(resources);
                    let mut inner = st.clone();
                    if matrix.len() == 6 {
                        inner.ctm = M([matrix[0], matrix[1], matrix[2], matrix[3], matrix[4], matrix[5]]).then(&st.ctm);
                    }
                    let (tm, tlm) = (self.tm, self.tlm);
                    // A broken form costs its own text, not the page's.
                    let _ = self.run(&data, form_resources, &mut inner, depth + 1);
                    self.tm = tm;
                    self.tlm = tlm;
                }
                // Inline image data is skipped unread.
                b"ID" => lx.skip_inline_image(),
                _ => {}
            }
            operands.clear();
        }
        Ok(())
    }
}

/// An inheritable page attribute (`/Resources`, `/MediaBox`, `/CropBox`, `/Rotate`).
fn inherited<'a>(doc: &'a Doc, page: ObjectId, key: &[u8]) -> Option<&'a Object> {
    let mut dict = doc.dict(page)?;
    for _ in 0..32 {
        if let Ok(v) = dict.get(key) {
            return deref(doc, v);
        }
        dict = dict.get(b"Parent").ok().and_then(|o| deref(doc, o)).and_then(|o| o.as_dict().ok())?;
    }
    None
}

fn rect(doc: &Doc, o: Option<&Object>) -> Option<[f64; 4]> {
    let a = o?.as_array().ok()?;
    let v: Vec<f64> = a.iter().filter_map(|o| deref(doc, o).and_then(num)).collect();
    (v.len() == 4).then(|| [v[0].min(v[2]), v[1].min(v[3]), v[0].max(v[2]), v[1].max(v[3])])
}

/// The text of one page, lines in reading order.
pub fn page_text(doc: &Doc, page: ObjectId, fonts: &mut Fonts) -> Result<String, String> {
    let content = doc.page_content(page, MAX_CONTENT).map_err(|e| format!("page content: {e}"))?;
    let resources = inherited(doc, page, b"Resources").and_then(|o| o.as_dict().ok());
    let media = rect(doc, inherited(doc, page, b"MediaBox")).unwrap_or([0.0, 0.0, 612.0, 792.0]);
    let crop = rect(doc, inherited(doc, page, b"CropBox")).map(|c| [c[0].max(media[0]), c[1].max(media[1]), c[2].min(media[2]), c[3].min(media[3])]);
    let bbox = crop.filter(|c| c[2] > c[0] && c[3] > c[1]).unwrap_or(media);
    let rotate = inherited(doc, page, b"Rotate").and_then(num).unwrap_or(0.0) as i64;
    // Device space: the box's origin at 0,0, turned by /Rotate (clockwise), y up.
    let (w, h) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
    let shift = M::translate(-bbox[0], -bbox[1]);
    let (turn, dev_w, dev_h) = match rotate.rem_euclid(360) {
        90 => (M([0.0, -1.0, 1.0, 0.0, 0.0, w]), h, w),
        180 => (M([-1.0, 0.0, 0.0, -1.0, w, h]), w, h),
        270 => (M([0.0, 1.0, -1.0, 0.0, h, 0.0]), h, w),
        _ => (M::ID, w, h),
    };
    let base = shift.then(&turn);
    let mut interp = Interp { doc, fonts, chars: Vec::new(), glyphs: Vec::new(), tm: M::ID, tlm: M::ID };
    let mut st = State { ctm: base, font: None, size: 0.0, char_space: 0.0, word_space: 0.0, scale: 1.0, leading: 0.0, rise: 0.0 };
    interp.run(&content, resources, &mut st, 0)?;
    let chars = std::mem::take(&mut interp.chars);
    Ok(layout::text(chars, dev_w, dev_h))
}

#[allow(dead_code)]
fn unused(_: M) {
    let _ = M::apply;
}
