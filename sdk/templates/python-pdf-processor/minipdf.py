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
    if value.startswith(b"\xfe\xff"):
        return value[2:].decode("utf-16-be", "replace")
    return value.decode("latin-1")


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
        pages, seen = [], set()

        def walk(node, depth):
            attrs = self.attrs(node)
            if id(attrs) in seen or depth > 64:
                return
            seen.add(id(attrs))
            if attrs.get("Type") == "Page" or ("Kids" not in attrs and "Contents" in attrs):
                pages.append(attrs)
            for kid in self.resolve(attrs.get("Kids")) or []:
                walk(kid, depth + 1)

        walk(self.attrs(self.trailer.get("Root")).get("Pages"), 0)
        if not pages:  # no usable page tree: every /Type /Page object in order
            pages = [self.attrs(o) for _, o in sorted(self.objects.items()) if self.attrs(o).get("Type") == "Page"]
        return pages

    def info(self, key):
        text = text_string(self.resolve(self.attrs(self.trailer.get("Info")).get(key)))
        return text.strip() or None if text is not None else None

    def page_text(self, index):
        """The text of page `index` (0-based), lines as the content moves down."""
        contents = self.resolve(self.pages[index].get("Contents"))
        parts = contents if isinstance(contents, list) else [contents]
        streams = [self.resolve(p) for p in parts]
        content = b"\n".join(decode_stream(s) for s in streams if isinstance(s, Stream))
        return content_text(content)


def content_text(content):
    lexer, operands, out, last_y = Lexer(content), [], [], None
    while True:
        tok = lexer.token()
        if tok is None:
            break
        if not isinstance(tok, Keyword) or tok in ("true", "false", "null"):
            operands.append(lexer.value(tok))
            continue
        if tok in ("Tj", "'", '"') and operands and isinstance(operands[-1], bytes):
            if tok != "Tj":
                out.append("\n")
            out.append(operands[-1].decode("latin-1"))
        elif tok == "TJ" and operands and isinstance(operands[-1], list):
            for item in operands[-1]:
                if isinstance(item, bytes):
                    out.append(item.decode("latin-1"))
                elif isinstance(item, (int, float)) and item < -200:
                    out.append(" ")
        elif tok in ("Td", "TD") and len(operands) >= 2:
            out.append("\n" if operands[-1] != 0 else " ")
        elif tok == "Tm" and len(operands) >= 6:
            if last_y is not None and operands[-1] != last_y:
                out.append("\n")
            last_y = operands[-1]
        elif tok in ("T*", "ET"):
            out.append("\n")
        elif tok == "ID":  # inline image data: skip to EI
            end = content.find(b"EI", lexer.pos)
            lexer.pos = len(content) if end < 0 else end + 2
        operands = []
    lines = [" ".join(line.split()) for line in "".join(out).split("\n")]
    return "\n".join(line for line in lines if line)
