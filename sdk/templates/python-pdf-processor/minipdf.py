"""A minimal PDF reader in pure Python: objects (also in object streams),
the trailer, the page tree, the document information dictionary and the text
shown by a page's content streams (Tj, TJ, ', "). FlateDecode streams only;
fonts with custom encodings (CID fonts) give raw codes. Enough for simple PDFs;
swap in a real parser for anything serious."""

import re
import zlib

WHITESPACE = b" \t\r\n\f\x00"
DELIMITERS = b"()<>[]{}/%"
ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}


class PdfError(Exception):
    """The document is not a PDF this reader can read."""


class Name(str):
    """A PDF name (/Type); plain strings are bytes."""


class Keyword(str):
    """A bare word: true, false, null, R, obj, stream, or a content operator."""


class Ref:
    def __init__(self, num, gen):
        self.num, self.gen = num, gen


class Stream:
    def __init__(self, attrs, raw):
        self.attrs, self.raw = attrs, raw


class Lexer:
    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def skip_space(self):
        data, n = self.data, len(self.data)
        while self.pos < n:
            c = data[self.pos]
            if c in WHITESPACE:
                self.pos += 1
            elif c == 0x25:  # % comment to the end of the line
                while self.pos < n and data[self.pos] not in b"\r\n":
                    self.pos += 1
            else:
                break

    def token(self):
        """The next token: a number, Name, bytes, Keyword or one of [ ] << >>; None at the end."""
        self.skip_space()
        data, pos = self.data, self.pos
        if pos >= len(data):
            return None
        c = data[pos]
        if data.startswith(b"<<", pos) or data.startswith(b">>", pos):
            self.pos += 2
            return data[pos:pos + 2].decode()
        if c in b"[]{}":
            self.pos += 1
            return chr(c)
        if c == 0x2F:  # /Name with #xx escapes
            end = self.word_end(pos + 1)
            self.pos = end
            raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data[pos + 1:end])
            return Name(raw.decode("latin-1"))
        if c == 0x28:
            return self.literal()
        if c == 0x3C:  # <hex string>
            end = data.find(b">", pos)
            if end < 0:
                raise PdfError("unterminated hex string")
            self.pos = end + 1
            digits = re.sub(rb"[^0-9A-Fa-f]", b"", data[pos + 1:end])
            return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())
        end = self.word_end(pos)
        if end == pos:  # a stray delimiter: skip it
            self.pos = pos + 1
            return self.token()
        self.pos = end
        word = data[pos:end]
        try:
            return int(word)
        except ValueError:
            pass
        try:
            return float(word)
        except ValueError:
            return Keyword(word.decode("latin-1"))

    def word_end(self, pos):
        data, n = self.data, len(self.data)
        while pos < n and data[pos] not in WHITESPACE and data[pos] not in DELIMITERS:
            pos += 1
        return pos

    def literal(self):
        """A (literal string) with balanced parentheses and backslash escapes."""
        data, pos, depth, out = self.data, self.pos + 1, 1, bytearray()
        while pos < len(data):
            c = data[pos]
            if c == 0x5C:  # backslash
                pos += 1
                e = data[pos] if pos < len(data) else 0
                if e in ESCAPES:
                    out += ESCAPES[e]
                elif 0x30 <= e <= 0x37:
                    m = re.match(rb"[0-7]{1,3}", data[pos:pos + 3])
                    out.append(int(m.group(0), 8) & 0xFF)
                    pos += len(m.group(0)) - 1
                elif e == 0x0D:  # line continuation
                    if data[pos + 1:pos + 2] == b"\n":
                        pos += 1
                elif e != 0x0A:
                    out.append(e)
            elif c == 0x28:
                depth += 1
                out.append(c)
            elif c == 0x29:
                depth -= 1
                if depth == 0:
                    self.pos = pos + 1
                    return bytes(out)
                out.append(c)
            else:
                out.append(c)
            pos += 1
        raise PdfError("unterminated string")

    def value(self, tok=None):
        """The next object; `N G R` becomes a Ref."""
        tok = self.token() if tok is None else tok
        if tok == "<<":
            attrs = {}
            while True:
                key = self.token()
                if key == ">>" or key is None:
                    return attrs
                if isinstance(key, Name):
                    attrs[str(key)] = self.value()
        if tok == "[":
            items = []
            while True:
                t = self.token()
                if t == "]" or t is None:
                    return items
                items.append(self.value(t))
        if isinstance(tok, int) and not isinstance(tok, bool):
            mark = self.pos
            gen, r = self.token(), self.token()
            if isinstance(gen, int) and r == "R":
                return Ref(tok, gen)
            self.pos = mark
        if tok == "true" or tok == "false":
            return tok == "true"
        if tok == "null":
            return None
        return tok


def decode_stream(stream):
    """A stream's decoded bytes (no filter or FlateDecode); PdfError otherwise."""
    filters = stream.attrs.get("Filter")
    filters = filters if isinstance(filters, list) else [filters] if filters else []
    data = stream.raw
    for f in filters:
        if f in ("FlateDecode", "Fl"):
            d = zlib.decompressobj()
            try:
                data = d.decompress(data) + d.flush()
            except zlib.error as e:
                raise PdfError(f"bad FlateDecode stream: {e}")
        else:
            raise PdfError(f"unsupported stream filter {f}")
    return data


def text_string(value):
    """A PDF text string (UTF-16BE with a BOM, else PDFDocEncoding ~ Latin-1) as str."""
    if not isinstance(value, bytes):
        return None
    if not value.startswith(b"\xfe\xff"):
        return value.decode("latin-1")
    # By hand: componentize-py's standard library has no utf-16 codec.
    units = [(value[i] << 8) | value[i + 1] for i in range(2, len(value) - 1, 2)]
    out, i = [], 0
    while i < len(units):
        u = units[i]
        if 0xD800 <= u < 0xDC00 and i + 1 < len(units) and 0xDC00 <= units[i + 1] < 0xE000:
            out.append(chr(0x10000 + ((u - 0xD800) << 10) + (units[i + 1] - 0xDC00)))
            i += 2
        else:
            out.append("\ufffd" if 0xD800 <= u < 0xE000 else chr(u))
            i += 1
    return "".join(out)


OBJ = re.compile(rb"(\d+)\s+(\d+)\s+obj\b")


class Document:
    def __init__(self, data: bytes):
        header = re.match(rb"%PDF-(\d+\.\d+)", data)
        if not header:
            raise PdfError("not a PDF: the data does not start with %PDF-")
        self.version = header.group(1).decode()
        self.data = data
        self.objects = {}
        self.trailer = {}
        self.read_objects()
        if "Encrypt" in self.trailer:
            raise PdfError("encrypted PDFs are not supported")
        self.pages = self.page_list()

    def read_objects(self):
        data, end, packed = self.data, 0, []
        for m in OBJ.finditer(data):
            if m.start() < end:
                continue  # inside the previous object (a stream's bytes)
            lexer = Lexer(data, m.end())
            value = lexer.value()
            mark = lexer.pos
            if isinstance(value, dict) and lexer.token() == "stream":
                start = lexer.pos + (2 if data.startswith(b"\r\n", lexer.pos) else 1)
                length = value.get("Length")
                stop = start + length if isinstance(length, int) else -1
                if stop < 0 or data.find(b"endstream", stop, stop + 32) < 0:
                    stop = data.find(b"endstream", start)
                    stop = len(data) if stop < 0 else stop
                value = Stream(value, data[start:stop])
                if value.attrs.get("Type") == "XRef":
                    self.trailer.update(value.attrs)
                elif value.attrs.get("Type") == "ObjStm":
                    packed.append(value)
                end = stop
            else:
                end = mark
            self.objects[int(m.group(1))] = value
        for t in re.finditer(rb"trailer", data):
            attrs = Lexer(data, t.end()).value()
            if isinstance(attrs, dict):
                self.trailer.update(attrs)
        for stream in packed:  # objects packed in object streams (PDF 1.5+)
            try:
                body = decode_stream(stream)
            except PdfError:
                continue
            lexer = Lexer(body)
            pairs = [(lexer.token(), lexer.token()) for _ in range(int(stream.attrs.get("N", 0)))]
            first = int(stream.attrs.get("First", 0))
            for num, offset in pairs:
                if isinstance(num, int) and isinstance(offset, int) and num not in self.objects:
                    self.objects[num] = Lexer(body, first + offset).value()

    def resolve(self, value, depth=0):
        while isinstance(value, Ref) and depth < 32:
            value, depth = self.objects.get(value.num), depth + 1
        return value

    def attrs(self, value):
        value = self.resolve(value)
        return value.attrs if isinstance(value, Stream) else value if isinstance(value, dict) else {}

    def page_list(self):
        """Every page as (its dictionary, its resources, inherited from the tree when not its own)."""
        pages, seen = [], set()

        def walk(node, depth, resources):
            attrs = self.attrs(node)
            if id(attrs) in seen or depth > 64:
                return
            seen.add(id(attrs))
            resources = attrs.get("Resources", resources)
            if attrs.get("Type") == "Page" or ("Kids" not in attrs and "Contents" in attrs):
                pages.append((attrs, resources))
            for kid in self.resolve(attrs.get("Kids")) or []:
                walk(kid, depth + 1, resources)

        walk(self.attrs(self.trailer.get("Root")).get("Pages"), 0, None)
        if not pages:  # no usable page tree: every /Type /Page object in order
            pages = [(self.attrs(o), self.attrs(o).get("Resources"))
                     for _, o in sorted(self.objects.items()) if self.attrs(o).get("Type") == "Page"]
        return pages

    def info(self, key):
        text = text_string(self.resolve(self.attrs(self.trailer.get("Info")).get(key)))
        return text.strip() or None if text is not None else None

    def page_text(self, index):
        """The text of page `index` (0-based), lines as the content moves down."""
        page, resources = self.pages[index]
        contents = self.resolve(page.get("Contents"))
        parts = contents if isinstance(contents, list) else [contents]
        streams = [self.resolve(p) for p in parts]
        content = b"\n".join(decode_stream(s) for s in streams if isinstance(s, Stream))
        return content_text(content, self.font_widths(resources))

    def font_widths(self, resources):
        """Each font of a page's resources by name: (FirstChar, glyph widths in 1/1000 em)."""
        fonts = {}
        for name, ref in self.attrs(self.attrs(resources).get("Font")).items():
            font = self.attrs(ref)
            first, widths = self.resolve(font.get("FirstChar")), self.resolve(font.get("Widths"))
            if isinstance(first, int) and isinstance(widths, list):
                fonts[name] = (first, [w if isinstance(w, (int, float)) else 0 for w in map(self.resolve, widths)])
        return fonts


def content_text(content, fonts):
    """The text a content stream shows. Words apart by a move within a line
    (`Td`) get a space when the move is wider than the text shown before it."""
    lexer, operands, out = Lexer(content), [], []
    state = {"font": None, "size": 1.0, "Tc": 0.0, "Tw": 0.0, "advance": 0.0, "y": None}

    def show(text):
        first, widths = state["font"] or (0, [])
        for c in text:
            w = widths[c - first] if 0 <= c - first < len(widths) else 500
            state["advance"] += w / 1000 * state["size"] + state["Tc"] + (state["Tw"] if c == 32 else 0)
        out.append(text.decode("latin-1"))

    def new_line():
        out.append("\n")
        state["advance"] = 0.0

    while True:
        tok = lexer.token()
        if tok is None:
            break
        if not isinstance(tok, Keyword) or tok in ("true", "false", "null"):
            operands.append(lexer.value(tok))
            continue
        top = operands[-1] if operands else None
        numbers = [o for o in operands if isinstance(o, (int, float))]
        if tok == "Tf" and len(operands) >= 2:
            state["font"], state["size"] = fonts.get(str(operands[-2])), float(top or 1)
        elif tok in ("Tc", "Tw") and numbers:
            state[str(tok)] = float(numbers[-1])
        elif tok == "Tj" and isinstance(top, bytes):
            show(top)
        elif tok in ("'", '"') and isinstance(top, bytes):
            if tok == '"' and len(numbers) >= 2:
                state["Tw"], state["Tc"] = float(numbers[-2]), float(numbers[-1])
            new_line()
            show(top)
        elif tok == "TJ" and isinstance(top, list):
            for item in top:
                if isinstance(item, bytes):
                    show(item)
                elif isinstance(item, (int, float)):
                    state["advance"] -= item / 1000 * state["size"]
                    if item < -200:
                        out.append(" ")
        elif tok in ("Td", "TD") and len(numbers) >= 2:
            tx, ty = numbers[-2], numbers[-1]
            if ty != 0:
                new_line()
            else:
                if tx - state["advance"] > 0.2 * state["size"]:
                    out.append(" ")
                state["advance"] = 0.0
        elif tok == "Tm" and len(numbers) >= 6:
            if state["y"] is not None and numbers[-1] != state["y"]:
                new_line()
            state["y"], state["advance"] = numbers[-1], 0.0
        elif tok in ("T*", "ET"):
            new_line()
        elif tok == "ID":  # inline image data: skip to EI
            end = content.find(b"EI", lexer.pos)
            lexer.pos = len(content) if end < 0 else end + 2
        operands = []
    lines = [" ".join(line.split()) for line in "".join(out).split("\n")]
    return "\n".join(line for line in lines if line)
