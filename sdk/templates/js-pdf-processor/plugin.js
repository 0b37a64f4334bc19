// {{name}}: a Hostel PDF processor written in JavaScript (componentize-js),
// world hostel:plugin/pdf-processor@0.1.0. `info` gives the page count, the
// version and the /Title, /Author and /Producer of a PDF; `extractText` the
// text of a page range. A PDF without a title reports `[config] untitled` of
// hostel.toml as its title. A broken PDF is `invalid-input` (HTTP 422).
//
// Below the plugin: a minimal PDF reader (objects, also in object streams,
// the page tree, the information dictionary, FlateDecode streams with a small
// inflate, the text operators Tj TJ ' "). Fonts with custom encodings (CID
// fonts) give raw codes. Enough for simple PDFs; swap in a real parser for
// anything serious. PDF bytes are handled as Latin-1 strings (one char a byte).
import { get as configGet } from 'hostel:plugin/config@0.1.0';
import { log } from 'hostel:plugin/log@0.1.0';

// A plugin-error for the host: 'invalid-input' is HTTP 422.
const invalid = (message) => { throw { code: 'invalid-input', message }; };

// Runs `read`; anything the reader throws is a broken PDF (invalid-input),
// not a trap, which would discard the instance.
function guarded(read) {
  try {
    return read();
  } catch (e) {
    if (e?.code) throw e; // a plugin-error already
    return invalid(e instanceof PdfError ? e.message : `broken PDF: ${e}`);
  }
}

export const pdf = {
  info(document) {
    return guarded(() => {
      const doc = new PdfDocument(document);
      return {
        pageCount: doc.pages.length,
        title: doc.info('Title') ?? configGet('untitled'),
        author: doc.info('Author'),
        producer: doc.info('Producer'),
        version: doc.version,
      };
    });
  },
  extractText(document, first, last) {
    return guarded(() => {
      const doc = new PdfDocument(document);
      const count = doc.pages.length;
      const end = last ?? count;
      if (first === 0 || first > end || end > count) invalid(`page range ${first}..=${end} is outside the document's pages 1..=${count}`);
      log('debug', `extracting pages ${first}..=${end} of ${count}`);
      const pages = [];
      for (let page = first; page <= end; page++) {
        try {
          pages.push({ page, text: doc.pageText(page - 1) });
        } catch (e) {
          invalid(`page ${page}: ${e instanceof PdfError ? e.message : e}`);
        }
      }
      return pages;
    });
  },
};

// ---- the PDF reader ------------------------------------------------------

class PdfError extends Error {}
class Kw { constructor(k) { this.k = k; } }   // a bare word (obj, R, Tj, ...) or [ ] << >>
class Str { constructor(b) { this.b = b; } }  // a (string) or <hex string>: its bytes
class Ref { constructor(num, gen) { this.num = num; this.gen = gen; } }
class Stream { constructor(attrs, raw) { this.attrs = attrs; this.raw = raw; } }
// Names are strings with their slash ('/Page'); dictionaries are objects keyed without it.
const isKw = (t, k) => t instanceof Kw && t.k === k;
const isDict = (v) => v !== null && typeof v === 'object' && v.constructor === Object;
// Byte classes: 1 white space, 2 delimiter, 0 regular.
const CLASS = new Uint8Array(256);
for (const c of ' \t\r\n\f\0') CLASS[c.charCodeAt(0)] = 1;
for (const c of '()<>[]{}/%') CLASS[c.charCodeAt(0)] = 2;
const ESCAPES = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };

function latin1(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return s;
}

function bytesOf(s) {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

class Lexer {
  // `refs`: read `N G R` as a reference (objects; content streams have none).
  constructor(s, pos = 0, refs = true) { this.s = s; this.pos = pos; this.refs = refs; }

  skipSpace() {
    const s = this.s, n = s.length;
    let p = this.pos;
    while (p < n) {
      const c = s.charCodeAt(p);
      if (CLASS[c] === 1) p++;
      else if (c === 0x25) { // % comment to the end of the line
        while (p < n && s.charCodeAt(p) !== 0x0a && s.charCodeAt(p) !== 0x0d) p++;
      } else break;
    }
    this.pos = p;
  }

  wordEnd(p) {
    const s = this.s, n = s.length;
    while (p < n && CLASS[s.charCodeAt(p)] === 0) p++;
    return p;
  }

  // The next token: a number, name, Str or Kw; null at the end.
  token() {
    this.skipSpace();
    const s = this.s, p = this.pos;
    if (p >= s.length) return null;
    const c = s[p];
    if (s.startsWith('<<', p) || s.startsWith('>>', p)) { this.pos += 2; return new Kw(s.slice(p, p + 2)); }
    if ('[]{}'.includes(c)) { this.pos++; return new Kw(c); }
    if (c === '/') {
      const e = this.wordEnd(p + 1);
      this.pos = e;
      return '/' + s.slice(p + 1, e).replace(/#([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    }
    if (c === '(') return this.literal();
    if (c === '<') {
      const e = s.indexOf('>', p);
      if (e < 0) throw new PdfError('unterminated hex string');
      this.pos = e + 1;
      let hex = s.slice(p + 1, e).replace(/[^0-9A-Fa-f]/g, '');
      if (hex.length % 2) hex += '0';
      let b = '';
      for (let i = 0; i < hex.length; i += 2) b += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
      return new Str(b);
    }
    const e = this.wordEnd(p);
    if (e === p) { this.pos = p + 1; return this.token(); } // a stray delimiter
    this.pos = e;
    const word = s.slice(p, e);
    return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(word) ? Number(word) : new Kw(word);
  }

  // A (literal string) with balanced parentheses and backslash escapes.
  literal() {
    const s = this.s;
    let p = this.pos + 1, run = p, depth = 1, out = '';
    for (; p < s.length; p++) {
      const c = s.charCodeAt(p);
      if (c !== 0x5c && c !== 0x28 && c !== 0x29) continue;
      out += s.slice(run, p);
      run = p + 1;
      if (c === 0x5c) { // backslash
        const e = s[++p];
        if (e in ESCAPES) out += ESCAPES[e];
        else if (e >= '0' && e <= '7') {
          const digits = /^[0-7]{1,3}/.exec(s.slice(p, p + 3))[0];
          out += String.fromCharCode(parseInt(digits, 8) & 0xff);
          p += digits.length - 1;
        } else if (e === '\r') { if (s[p + 1] === '\n') p++; }
        else if (e !== '\n' && e !== undefined) out += e;
        run = p + 1;
      } else if (c === 0x28) { depth++; out += '('; }
      else if (--depth === 0) { this.pos = p + 1; return new Str(out); }
      else out += ')';
    }
    throw new PdfError('unterminated string');
  }

  // The next object; `N G R` becomes a Ref.
  value(tok = this.token()) {
    if (isKw(tok, '<<')) {
      const d = {};
      for (;;) {
        const key = this.token();
        if (key === null || isKw(key, '>>')) return d;
        if (typeof key === 'string') d[key.slice(1)] = this.value();
      }
    }
    if (isKw(tok, '[')) {
      const items = [];
      for (;;) {
        const t = this.token();
        if (t === null || isKw(t, ']')) return items;
        items.push(this.value(t));
      }
    }
    if (this.refs && Number.isInteger(tok)) {
      const mark = this.pos;
      const gen = this.token(), r = this.token();
      if (Number.isInteger(gen) && isKw(r, 'R')) return new Ref(tok, gen);
      this.pos = mark;
    }
    if (isKw(tok, 'true') || isKw(tok, 'false')) return tok.k === 'true';
    if (isKw(tok, 'null')) return null;
    return tok;
  }
}

// RFC 1951 inflate (after puff.c), of zlib data or raw deflate data.
const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

// A decoding table of canonical Huffman codes: entry (symbol << 4 | length) at
// every index whose low `length` bits are the code, bit-reversed; -1 for none.
function huffman(lengths) {
  let max = 0;
  const counts = new Uint16Array(16), next = new Uint16Array(16);
  for (const l of lengths) { counts[l]++; if (l > max) max = l; }
  counts[0] = 0;
  for (let l = 1, code = 0; l < 16; l++) next[l] = code = (code + counts[l - 1]) << 1;
  const table = new Int32Array(1 << max).fill(-1);
  lengths.forEach((l, symbol) => {
    if (!l) return;
    let code = next[l]++, reversed = 0;
    for (let i = 0; i < l; i++) { reversed = (reversed << 1) | (code & 1); code >>= 1; }
    for (let i = reversed; i < table.length; i += 1 << l) table[i] = (symbol << 4) | l;
  });
  return { table, mask: (1 << max) - 1, max };
}

function inflate(src) {
  let pos = (src[0] & 0x0f) === 8 && ((src[0] << 8) | src[1]) % 31 === 0 ? 2 : 0; // zlib header
  let bitbuf = 0, bitcnt = 0, out = new Uint8Array(Math.max(1024, src.length * 4)), len = 0;
  const fill = (n) => {
    while (bitcnt < n && pos < src.length) { bitbuf |= src[pos++] << bitcnt; bitcnt += 8; }
  };
  const bits = (n) => {
    fill(n);
    if (bitcnt < n) throw new PdfError('truncated FlateDecode stream');
    const v = bitbuf & ((1 << n) - 1);
    bitbuf >>>= n;
    bitcnt -= n;
    return v;
  };
  const decode = (h) => {
    fill(h.max);
    const entry = h.table[bitbuf & h.mask], l = entry & 15;
    if (entry < 0 || l > bitcnt) throw new PdfError('bad FlateDecode stream');
    bitbuf >>>= l;
    bitcnt -= l;
    return entry >> 4;
  };
  const grow = (n) => {
    if (len + n <= out.length) return;
    const bigger = new Uint8Array(Math.max(out.length * 2, len + n));
    bigger.set(out);
    out = bigger;
  };
  let last;
  do {
    last = bits(1);
    const type = bits(2);
    if (type === 0) { // stored
      bitbuf = 0; bitcnt = 0;
      const n = src[pos] | (src[pos + 1] << 8);
      pos += 4;
      if (pos + n > src.length) throw new PdfError('truncated FlateDecode stream');
      grow(n);
      out.set(src.subarray(pos, pos + n), len);
      len += n;
      pos += n;
      continue;
    }
    let lit, dist;
    if (type === 1) {
      lit = FIXED_LIT ??= huffman(new Array(288).fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288));
      dist = FIXED_DIST ??= huffman(new Array(30).fill(5));
    } else if (type === 2) {
      const nlen = bits(5) + 257, ndist = bits(5) + 1, ncode = bits(4) + 4;
      const cl = new Array(19).fill(0);
      for (let i = 0; i < ncode; i++) cl[ORDER[i]] = bits(3);
      const codes = huffman(cl), lengths = [];
      while (lengths.length < nlen + ndist) {
        const sym = decode(codes);
        if (sym < 16) lengths.push(sym);
        else {
          const [value, n] = sym === 16
            ? [lengths.length ? lengths[lengths.length - 1] : invalidStream(), 3 + bits(2)]
            : [0, sym === 17 ? 3 + bits(3) : 11 + bits(7)];
          for (let i = 0; i < n; i++) lengths.push(value);
        }
      }
      lit = huffman(lengths.slice(0, nlen));
      dist = huffman(lengths.slice(nlen, nlen + ndist));
    } else throw new PdfError('bad FlateDecode stream');
    for (;;) {
      let sym = decode(lit);
      if (sym < 256) {
        if (len === out.length) grow(1);
        out[len++] = sym;
      } else if (sym === 256) break;
      else {
        sym -= 257;
        if (sym >= 29) invalidStream();
        const n = LBASE[sym] + bits(LEXT[sym]);
        const ds = decode(dist);
        if (ds >= 30) invalidStream();
        const d = DBASE[ds] + bits(DEXT[ds]);
        if (d > len) invalidStream();
        grow(n);
        for (let i = 0; i < n; i++, len++) out[len] = out[len - d];
      }
    }
  } while (!last);
  return out.subarray(0, len);
}
let FIXED_LIT, FIXED_DIST;

function invalidStream() { throw new PdfError('bad FlateDecode stream'); }

function decodeStream(stream) {
  const f = stream.attrs.Filter;
  const filters = Array.isArray(f) ? f : f ? [f] : [];
  let data = stream.raw;
  for (const filter of filters) {
    if (filter === '/FlateDecode' || filter === '/Fl') data = latin1(inflate(bytesOf(data)));
    else throw new PdfError(`unsupported stream filter ${filter}`);
  }
  return data;
}

// A PDF text string (UTF-16BE with a BOM, else PDFDocEncoding ~ Latin-1).
function textString(v) {
  if (!(v instanceof Str)) return undefined;
  const b = v.b;
  if (!b.startsWith('\xfe\xff')) return b;
  let s = '';
  for (let i = 2; i + 1 < b.length; i += 2) s += String.fromCharCode((b.charCodeAt(i) << 8) | b.charCodeAt(i + 1));
  return s;
}

class PdfDocument {
  constructor(bytes) {
    this.s = latin1(bytes);
    const header = /^%PDF-(\d+\.\d+)/.exec(this.s);
    if (!header) throw new PdfError('not a PDF: the data does not start with %PDF-');
    this.version = header[1];
    this.objects = new Map();
    this.trailer = {};
    this.readObjects();
    if ('Encrypt' in this.trailer) throw new PdfError('encrypted PDFs are not supported');
    this.pages = this.pageList();
  }

  readObjects() {
    const s = this.s, re = /(\d+)\s+(\d+)\s+obj\b/g, packed = [];
    let m;
    while ((m = re.exec(s))) {
      const lexer = new Lexer(s, re.lastIndex);
      let value = lexer.value();
      let end = lexer.pos;
      if (isDict(value) && isKw(lexer.token(), 'stream')) {
        const start = lexer.pos + (s.startsWith('\r\n', lexer.pos) ? 2 : 1);
        let stop = Number.isInteger(value.Length) ? start + value.Length : -1;
        const at = stop < 0 ? -1 : s.indexOf('endstream', stop);
        if (at < 0 || at > stop + 32) {
          stop = s.indexOf('endstream', start);
          if (stop < 0) stop = s.length;
        }
        value = new Stream(value, s.slice(start, stop));
        if (value.attrs.Type === '/XRef') Object.assign(this.trailer, value.attrs);
        else if (value.attrs.Type === '/ObjStm') packed.push(value);
        end = stop;
      }
      re.lastIndex = Math.max(re.lastIndex, end); // not into the object's own bytes
      this.objects.set(Number(m[1]), value);
    }
    const trailers = /trailer/g;
    while ((m = trailers.exec(s))) {
      const attrs = new Lexer(s, trailers.lastIndex).value();
      if (isDict(attrs)) Object.assign(this.trailer, attrs);
    }
    for (const stream of packed) { // objects packed in object streams (PDF 1.5+)
      let body;
      try { body = decodeStream(stream); } catch { continue; }
      const lexer = new Lexer(body), pairs = [];
      for (let i = 0; i < (stream.attrs.N ?? 0); i++) pairs.push([lexer.token(), lexer.token()]);
      const first = stream.attrs.First ?? 0;
      for (const [num, offset] of pairs) {
        if (Number.isInteger(num) && Number.isInteger(offset) && !this.objects.has(num)) {
          this.objects.set(num, new Lexer(body, first + offset).value());
        }
      }
    }
  }

  resolve(v) {
    for (let depth = 0; v instanceof Ref && depth < 32; depth++) v = this.objects.get(v.num);
    return v;
  }

  attrs(v) {
    v = this.resolve(v);
    return v instanceof Stream ? v.attrs : isDict(v) ? v : {};
  }

  // Every page as [its dictionary, its resources (inherited from the tree when not its own)].
  pageList() {
    const pages = [], seen = new Set();
    const walk = (node, depth, resources) => {
      const attrs = this.attrs(node);
      if (seen.has(attrs) || depth > 64) return;
      seen.add(attrs);
      resources = attrs.Resources ?? resources;
      if (attrs.Type === '/Page' || (!('Kids' in attrs) && 'Contents' in attrs)) pages.push([attrs, resources]);
      const kids = this.resolve(attrs.Kids);
      if (Array.isArray(kids)) for (const kid of kids) walk(kid, depth + 1, resources);
    };
    walk(this.attrs(this.trailer.Root).Pages, 0, undefined);
    if (pages.length === 0) { // no usable page tree: every /Type /Page object in order
      const nums = [...this.objects.keys()].sort((a, b) => a - b);
      for (const n of nums) {
        const attrs = this.attrs(this.objects.get(n));
        if (attrs.Type === '/Page') pages.push([attrs, attrs.Resources]);
      }
    }
    return pages;
  }

  info(key) {
    const text = textString(this.resolve(this.attrs(this.trailer.Info)[key]));
    return text?.trim() || undefined;
  }

  // The text of page `index` (0-based), lines as the content moves down.
  pageText(index) {
    const [page, resources] = this.pages[index];
    const contents = this.resolve(page.Contents);
    const streams = (Array.isArray(contents) ? contents : [contents]).map((p) => this.resolve(p));
    const content = streams.filter((s) => s instanceof Stream).map(decodeStream).join('\n');
    return contentText(content, this.fontWidths(resources));
  }

  // Each font of a page's resources by name: [FirstChar, glyph widths in 1/1000 em].
  fontWidths(resources) {
    const fonts = new Map();
    for (const [name, ref] of Object.entries(this.attrs(this.attrs(resources).Font))) {
      const font = this.attrs(ref);
      const first = this.resolve(font.FirstChar), widths = this.resolve(font.Widths);
      if (Number.isInteger(first) && Array.isArray(widths)) {
        fonts.set('/' + name, [first, widths.map((w) => this.resolve(w)).map((w) => (typeof w === 'number' ? w : 0))]);
      }
    }
    return fonts;
  }
}

// The text a content stream shows. Words apart by a move within a line (Td)
// get a space when the move is wider than the text shown before it.
function contentText(content, fonts) {
  const lexer = new Lexer(content, 0, false), out = [];
  const state = { font: undefined, size: 1, Tc: 0, Tw: 0, advance: 0, y: undefined };
  const show = (text) => {
    const [first, widths] = state.font ?? [0, []];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i), w = widths[c - first] ?? 500;
      state.advance += (w / 1000) * state.size + state.Tc + (c === 32 ? state.Tw : 0);
    }
    out.push(text);
  };
  const newLine = () => { out.push('\n'); state.advance = 0; };
  let operands = [];
  for (let tok = lexer.token(); tok !== null; tok = lexer.token()) {
    if (!(tok instanceof Kw) || ['true', 'false', 'null', '[', '<<'].includes(tok.k)) {
      operands.push(lexer.value(tok));
      continue;
    }
    const op = tok.k, top = operands[operands.length - 1];
    const numbers = operands.filter((o) => typeof o === 'number');
    if (op === 'Tf' && operands.length >= 2) {
      state.font = fonts.get(operands[operands.length - 2]);
      state.size = typeof top === 'number' ? top : 1;
    } else if ((op === 'Tc' || op === 'Tw') && numbers.length) {
      state[op] = numbers[numbers.length - 1];
    } else if (op === 'Tj' && top instanceof Str) {
      show(top.b);
    } else if ((op === "'" || op === '"') && top instanceof Str) {
      if (op === '"' && numbers.length >= 2) [state.Tw, state.Tc] = numbers.slice(-2);
      newLine();
      show(top.b);
    } else if (op === 'TJ' && Array.isArray(top)) {
      for (const item of top) {
        if (item instanceof Str) show(item.b);
        else if (typeof item === 'number') {
          state.advance -= (item / 1000) * state.size;
          if (item < -200) out.push(' ');
        }
      }
    } else if ((op === 'Td' || op === 'TD') && numbers.length >= 2) {
      const [tx, ty] = numbers.slice(-2);
      if (ty !== 0) newLine();
      else {
        if (tx - state.advance > 0.2 * state.size) out.push(' ');
        state.advance = 0;
      }
    } else if (op === 'Tm' && numbers.length >= 6) {
      const y = numbers[numbers.length - 1];
      if (state.y !== undefined && y !== state.y) newLine();
      state.y = y;
      state.advance = 0;
    } else if (op === 'T*' || op === 'ET') {
      newLine();
    } else if (op === 'ID') { // inline image data: skip to EI
      const end = content.indexOf('EI', lexer.pos);
      lexer.pos = end < 0 ? content.length : end + 2;
    }
    operands = [];
  }
  return out.join('').split('\n').map((l) => l.split(/\s+/).filter(Boolean).join(' ')).filter(Boolean).join('\n');
}
