//! PDF syntax (ISO 32000-1, 7.2–7.3) read straight into lopdf's `Object`s:
//! one lexer for indirect objects (with `N G R` references and streams) and
//! for content streams (operands, then an operator). lopdf keeps its own
//! parser private, and its `Content::decode` builds every operation of a page
//! up front; this one hands each operator over as it is read.

use lopdf::{Dictionary, Object, StringFormat};

/// Nesting deeper than this (arrays in dictionaries in arrays …) is refused.
const MAX_NESTING: usize = 64;

pub fn is_white(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

fn is_delim(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn is_regular(b: u8) -> bool {
    !is_white(b) && !is_delim(b)
}

/// What a content stream holds next.
pub enum Token<'a> {
    Operand(Object),
    Operator(&'a [u8]),
}

pub struct Lexer<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at `pos` (past the end: at the end, so a bad offset reads nothing).
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Lexer { buf, pos: pos.min(buf.len()) }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Skips white space and comments.
    pub fn skip(&mut self) {
        while let Some(b) = self.peek() {
            if is_white(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(b) = self.peek() {
                    if b == b'\n' || b == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// A run of regular characters (a keyword or a number), after white space.
    pub fn word(&mut self) -> &'a [u8] {
        self.skip();
        let start = self.pos;
        while self.peek().is_some_and(is_regular) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// An unsigned integer, after white space.
    pub fn uint(&mut self) -> Option<u64> {
        let w = self.word();
        if w.is_empty() || !w.iter().all(u8::is_ascii_digit) || w.len() > 18 {
            return None;
        }
        Some(w.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64))
    }

    /// Whether `keyword` comes next (after white space); consumes it if so.
    pub fn keyword(&mut self, keyword: &[u8]) -> bool {
        let save = self.pos;
        if self.word() == keyword {
            return true;
        }
        self.pos = save;
        false
    }

    /// One direct object; `refs` reads `N G R` as a reference (never in content streams).
    pub fn object(&mut self, refs: bool) -> Option<Object> {
        self.object_at(refs, 0)
    }

    fn object_at(&mut self, refs: bool, depth: usize) -> Option<Object> {
        if depth > MAX_NESTING {
            return None;
        }
        self.skip();
        let b = self.peek()?;
        match b {
            b'/' => Some(Object::Name(self.name())),
            b'(' => Some(Object::String(self.literal(), StringFormat::Literal)),
            b'<' if self.buf.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                self.dictionary(refs, depth).map(Object::Dictionary)
            }
            b'<' => Some(Object::String(self.hex(), StringFormat::Hexadecimal)),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip();
                    match self.peek()? {
                        b']' => {
                            self.pos += 1;
                            return Some(Object::Array(items));
                        }
                        _ => items.push(self.object_at(refs, depth + 1)?),
                    }
                }
            }
            _ if is_regular(b) => {
                let w = self.word();
                match w {
                    b"true" => Some(Object::Boolean(true)),
                    b"false" => Some(Object::Boolean(false)),
                    b"null" => Some(Object::Null),
                    _ => {
                        let n = number(w)?;
                        if refs {
                            if let Object::Integer(id) = n {
                                if let Some(r) = self.reference(id) {
                                    return Some(r);
                                }
                            }
                        }
                        Some(n)
                    }
                }
            }
            _ => None,
        }
    }

    /// `G R` after an object number, or nothing (and the position kept).
    fn reference(&mut self, id: i64) -> Option<Object> {
        let save = self.pos;
        let found = (|| {
            let gen = self.uint()?;
            (self.word() == b"R").then_some(())?;
            Some(Object::Reference((u32::try_from(id).ok()?, u16::try_from(gen).ok()?)))
        })();
        if found.is_none() {
            self.pos = save;
        }
        found
    }

    fn dictionary(&mut self, refs: bool, depth: usize) -> Option<Dictionary> {
        let mut dict = Dictionary::new();
        loop {
            self.skip();
            match self.peek()? {
                b'>' if self.buf.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    return Some(dict);
                }
                b'/' => {
                    let key = self.name();
                    self.skip();
                    // A key without a value (`/K >>`) is dropped, as readers do.
                    if self.peek() == Some(b'>') {
                        continue;
                    }
                    let value = self.object_at(refs, depth + 1)?;
                    dict.set(key, value);
                }
                _ => return None,
            }
        }
    }

    fn name(&mut self) -> Vec<u8> {
        self.pos += 1; // '/'
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            if !is_regular(b) {
                break;
            }
            self.pos += 1;
            if b == b'#' {
                let hex = self.buf.get(self.pos..self.pos + 2).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                    self.pos += 2;
                    continue;
                }
            }
            out.push(b);
        }
        out
    }

    fn literal(&mut self) -> Vec<u8> {
        self.pos += 1; // '('
        let mut out = Vec::new();
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' if depth == 0 => return out,
                b')' => {
                    depth -= 1;
                    out.push(b);
                }
                b'\\' => {
                    let Some(e) = self.peek() else { break };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = (e - b'0') as u32;
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + (d - b'0') as u32;
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(v as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(b),
            }
        }
        out
    }

    fn hex(&mut self) -> Vec<u8> {
        self.pos += 1; // '<'
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        while let Some(b) = self.peek() {
            self.pos += 1;
            let v = match b {
                b'>' => break,
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => continue,
            };
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        out
    }

    /// The next content-stream token; `None` at the end. Text that is no
    /// object and no operator (a stray `>` or `}`) is skipped.
    pub fn token(&mut self) -> Option<Token<'a>> {
        loop {
            self.skip();
            let b = self.peek()?;
            if is_regular(b) {
                let start = self.pos;
                let w = self.word();
                if let Some(n) = number(w) {
                    return Some(Token::Operand(n));
                }
                return Some(Token::Operator(match w {
                    b"true" => return Some(Token::Operand(Object::Boolean(true))),
                    b"false" => return Some(Token::Operand(Object::Boolean(false))),
                    b"null" => return Some(Token::Operand(Object::Null)),
                    _ => &self.buf[start..self.pos],
                }));
            }
            match b {
                b'/' | b'(' | b'<' | b'[' => match self.object(false) {
                    Some(o) => return Some(Token::Operand(o)),
                    None => self.pos = (self.pos + 1).min(self.buf.len()),
                },
                _ => self.pos += 1,
            }
        }
    }

    /// Skips an inline image's data after `ID`, up to and past its `EI`.
    pub fn skip_inline_image(&mut self) {
        let data = &self.buf[self.pos..];
        let mut i = 0;
        while i + 2 <= data.len() {
            if &data[i..i + 2] == b"EI"
                && (i == 0 || is_white(data[i - 1]))
                && data.get(i + 2).is_none_or(|&b| is_white(b) || is_delim(b))
            {
                self.pos += i + 2;
                return;
            }
            i += 1;
        }
        self.pos = self.buf.len();
    }
}

/// An integer or a real, as PDF writes them (`12`, `-.5`, `+3.`, `4.0e`-free).
pub fn number(w: &[u8]) -> Option<Object> {
    let (neg, digits) = match w.first()? {
        b'-' => (true, &w[1..]),
        b'+' => (false, &w[1..]),
        _ => (false, w),
    };
    if digits.is_empty() {
        return None;
    }
    let mut int: i64 = 0;
    let mut frac = 0.0f64;
    let mut scale = 1.0f64;
    let mut dot = false;
    let mut any = false;
    for &d in digits {
        match d {
            b'0'..=b'9' if dot => {
                scale /= 10.0;
                frac += (d - b'0') as f64 * scale;
                any = true;
            }
            b'0'..=b'9' => {
                int = int.saturating_mul(10).saturating_add((d - b'0') as i64);
                any = true;
            }
            b'.' if !dot => dot = true,
            // `--5` and `1-2` are seen in the wild: read what came before.
            b'-' if any => break,
            _ => return None,
        }
    }
    if !any {
        return None;
    }
    Some(if dot {
        let v = int as f64 + frac;
        Object::Real((if neg { -v } else { v }) as f32)
    } else {
        Object::Integer(if neg { -int } else { int })
    })
}
