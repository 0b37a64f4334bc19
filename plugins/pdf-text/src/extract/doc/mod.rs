//! The document, read on demand: the cross-reference data and trailer at
//! open, each object parsed the first time a page needs it (object streams
//! decompressed once), so the first page of a long document is out before
//! the rest is read, and pages not asked for are never parsed.
//!
//! lopdf 0.47 reads objects on demand only inside its metadata loader (its
//! `Reader` is not public), and `Document::load_mem` parses every object up
//! front. So lopdf stays for what it does well — stream filters, decryption
//! (its `EncryptionState` and `decrypt_object`, per object here) —
//! and for files this reader refuses: any whose cross-reference data does not
//! hold up, or that needs a password, are loaded by lopdf in full (which also
//! rebuilds a broken table and gives the errors users know).

pub mod lex;
mod xref;

use lex::Lexer;
use lopdf::{Dictionary, Object, ObjectId, Stream};
use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use xref::Entry;

/// Largest decompressed xref or object stream.
const MAX_XREF: usize = 64 * 1024 * 1024;
/// Page tree nodes followed at most (a loop-safe bound).
const MAX_NODES: usize = 1 << 20;

/// Where a slot's object comes from.
enum At {
    Entry(Entry),
    /// Loaded up front (lopdf's full load).
    Ready,
    Missing,
}

struct Slot {
    at: At,
    object: OnceCell<Option<Box<Object>>>,
}

/// An object stream, decompressed: its members' numbers and offsets.
struct ObjStm {
    data: Vec<u8>,
    members: Vec<(u32, usize)>,
}

/// A PDF document whose objects are parsed when first asked for.
pub struct Doc {
    data: Vec<u8>,
    /// Where `%PDF-` starts: offsets count from there (as lopdf does).
    base: usize,
    /// By object number.
    slots: Vec<Slot>,
    streams: RefCell<HashMap<u32, Option<Rc<ObjStm>>>>,
    /// Objects being parsed now: a reference back to one of them is a loop.
    loading: RefCell<HashSet<u32>>,
    pub trailer: Dictionary,
    pub version: String,
    /// The decryption state (empty user password) and the `/Encrypt` object, if encrypted.
    crypt: Option<(lopdf::EncryptionState, Option<ObjectId>)>,
    /// The page tree's `/Count` (or, without one, its leaves counted).
    count: u32,
    /// Pages found so far, and the walk that finds the next ones.
    pages: RefCell<Vec<ObjectId>>,
    walk: RefCell<Walk>,
}

/// A depth-first walk of the page tree that goes only as far as the pages
/// asked for: the first page needs the nodes on its path, not the whole tree.
#[derive(Default)]
struct Walk {
    stack: Vec<std::vec::IntoIter<ObjectId>>,
    seen: HashSet<ObjectId>,
}

impl Walk {
    fn next_page(&mut self, doc: &Doc) -> Option<ObjectId> {
        loop {
            let top = self.stack.last_mut()?;
            let Some(id) = top.next() else {
                self.stack.pop();
                continue;
            };
            if self.seen.len() >= MAX_NODES || !self.seen.insert(id) {
                continue;
            }
            let Some(node) = doc.dict(id) else { continue };
            let is_page = node.get(b"Type").ok().and_then(|o| o.as_name().ok()) == Some(b"Page");
            match node.get(b"Kids").ok().and_then(|o| doc.deref(o)).and_then(|o| o.as_array().ok()) {
                Some(kids) if !is_page => {
                    let kids: Vec<ObjectId> = kids.iter().filter_map(|k| k.as_reference().ok()).collect();
                    self.stack.push(kids.into_iter());
                }
                _ => return Some(id),
            }
        }
    }
}

/// Why a document cannot be read.
#[derive(Debug)]
pub enum OpenError {
    /// lopdf's full load failed too (its message).
    Broken(String),
    /// Encrypted with a password other than the empty one.
    Encrypted,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            OpenError::Broken(e) => write!(f, "broken PDF: {e}"),
            OpenError::Encrypted => write!(f, "encrypted PDFs are not supported"),
        }
    }
}

impl Doc {
    /// Opens a document, on demand when its cross-reference data holds up.
    pub fn open(data: Vec<u8>) -> Result<Doc, OpenError> {
        match Doc::lazy(data) {
            Ok(doc) => Ok(doc),
            Err(data) => Doc::full(&data),
        }
    }

    fn lazy(data: Vec<u8>) -> Result<Doc, Vec<u8>> {
        let Some(base) = data.windows(5).position(|w| w == b"%PDF-") else { return Err(data) };
        let Some(x) = xref::read(&data[base..]) else { return Err(data) };
        let crypt = match x.trailer.get(b"Encrypt") {
            Ok(e) => match security(&data[base..], &x.entries, &x.trailer, e) {
                Some(c) => Some(c),
                // Not the empty password, or a handler lopdf does not know: its full load says which.
                None => return Err(data),
            },
            Err(_) => None,
        };
        let version = version(&data[base..]);
        let slots = x.entries.into_iter().map(|e| Slot { at: e.map_or(At::Missing, At::Entry), object: OnceCell::new() }).collect();
        let mut doc = Doc {
            data,
            base,
            slots,
            streams: RefCell::default(),
            loading: RefCell::default(),
            trailer: x.trailer,
            version,
            crypt,
            count: 0,
            pages: RefCell::default(),
            walk: RefCell::default(),
        };
        // A page tree whose first page cannot be found is left to lopdf's repairs.
        if doc.start_walk().is_none() || doc.page(0).is_none() {
            return Err(doc.data);
        }
        Ok(doc)
    }

    /// lopdf's full load (it decrypts with the empty password and rebuilds broken tables).
    fn full(data: &[u8]) -> Result<Doc, OpenError> {
        let mut d = lopdf::Document::load_mem(data).map_err(|e| OpenError::Broken(e.to_string()))?;
        if d.is_encrypted() {
            return Err(OpenError::Encrypted);
        }
        let objects = std::mem::take(&mut d.objects);
        let mut slots: Vec<Slot> = Vec::new();
        for ((n, _), o) in objects {
            let n = n as usize;
            if n >= xref::MAX_OBJECTS {
                continue;
            }
            while slots.len() <= n {
                slots.push(Slot { at: At::Missing, object: OnceCell::new() });
            }
            slots[n] = Slot { at: At::Ready, object: OnceCell::from(Some(Box::new(o))) };
        }
        let mut doc = Doc {
            data: Vec::new(),
            base: 0,
            slots,
            streams: RefCell::default(),
            loading: RefCell::default(),
            trailer: std::mem::take(&mut d.trailer),
            version: std::mem::take(&mut d.version),
            crypt: None,
            count: 0,
            pages: RefCell::default(),
            walk: RefCell::default(),
        };
        if doc.start_walk().is_some() {
            doc.count_all();
        }
        Ok(doc)
    }

    /// Starts the page walk at the tree's root and takes its `/Count`.
    fn start_walk(&mut self) -> Option<()> {
        let root = self.trailer.get(b"Root").ok().and_then(|o| self.deref(o)).and_then(|o| o.as_dict().ok())?;
        let Ok(Object::Reference(top)) = root.get(b"Pages") else { return None };
        let top = *top;
        let count = self.dict(top).and_then(|d| d.get(b"Count").ok()).and_then(|o| self.deref(o)).and_then(|o| o.as_i64().ok());
        self.walk.get_mut().stack.push(vec![top].into_iter());
        match count.and_then(|c| u32::try_from(c).ok()).filter(|&c| c > 0) {
            Some(c) => self.count = c,
            None => self.count_all(),
        }
        Some(())
    }

    /// Counts the pages by walking the whole tree.
    fn count_all(&mut self) {
        let mut n = 0;
        while self.page(n).is_some() {
            n += 1;
        }
        self.count = self.pages.get_mut().len() as u32;
    }

    /// The number of pages (the page tree's `/Count`).
    pub fn page_count(&self) -> u32 {
        self.count
    }

    /// Page `index` (0-based), walking the page tree as far as it.
    pub fn page(&self, index: usize) -> Option<ObjectId> {
        loop {
            if let Some(&id) = self.pages.borrow().get(index) {
                return Some(id);
            }
            let next = self.walk.borrow_mut().next_page(self)?;
            self.pages.borrow_mut().push(next);
        }
    }

    /// Whether objects are read on demand (false: lopdf loaded them all).
    pub fn on_demand(&self) -> bool {
        !self.data.is_empty()
    }


    /// Object `id`, parsed on first use and kept.
    pub fn get(&self, id: ObjectId) -> Option<&Object> {
        let slot = self.slots.get(id.0 as usize)?;
        if let Some(o) = slot.object.get() {
            return o.as_deref();
        }
        if !self.loading.borrow_mut().insert(id.0) {
            return None; // a loop: it is being parsed further up
        }
        let parsed = self.parse(id.0, &slot.at);
        self.loading.borrow_mut().remove(&id.0);
        slot.object.get_or_init(|| parsed.map(Box::new)).as_deref()
    }

    /// Object `id` parsed afresh and not kept (page contents: read once).
    pub fn take(&self, id: ObjectId) -> Option<Object> {
        let slot = self.slots.get(id.0 as usize)?;
        if let Some(o) = slot.object.get() {
            return o.as_deref().cloned();
        }
        if !self.loading.borrow_mut().insert(id.0) {
            return None;
        }
        let parsed = self.parse(id.0, &slot.at);
        self.loading.borrow_mut().remove(&id.0);
        parsed
    }

    /// `o`, with references followed.
    pub fn deref<'a>(&'a self, mut o: &'a Object) -> Option<&'a Object> {
        for _ in 0..32 {
            match o {
                Object::Reference(id) => o = self.get(*id)?,
                other => return Some(other),
            }
        }
        None
    }

    pub fn dict(&self, id: ObjectId) -> Option<&Dictionary> {
        self.get(id)?.as_dict().ok()
    }

    fn parse(&self, num: u32, at: &At) -> Option<Object> {
        match at {
            At::Ready | At::Missing => None,
            At::Entry(Entry::Offset(offset)) => {
                let buf = &self.data[self.base..];
                let length = |id: ObjectId| self.get(id).and_then(|o| o.as_i64().ok());
                let (id, mut object) = parse_indirect(buf, *offset, &length)?;
                if id.0 != num {
                    return None;
                }
                // Objects inside object streams were decrypted with their container.
                if let Some((state, encrypt)) = &self.crypt {
                    if *encrypt != Some(id) {
                        // As lopdf's full load: a part that does not decrypt is kept as it is.
                        let _ = lopdf::encryption::decrypt_object(state, id, &mut object);
                    }
                }
                Some(object)
            }
            At::Entry(Entry::InStream { container, index }) => {
                let stm = self.object_stream(*container)?;
                let at = match stm.members.get(*index as usize) {
                    Some(&(n, at)) if n == num => at,
                    _ => stm.members.iter().find(|m| m.0 == num)?.1,
                };
                Lexer::new(&stm.data, at).object(true)
            }
        }
    }

    fn object_stream(&self, container: u32) -> Option<Rc<ObjStm>> {
        if let Some(s) = self.streams.borrow().get(&container) {
            return s.clone();
        }
        let decoded = self.take((container, 0)).and_then(|o| match o {
            Object::Stream(s) => decode_object_stream(&s),
            _ => None,
        });
        let decoded = decoded.map(Rc::new);
        self.streams.borrow_mut().insert(container, decoded.clone());
        decoded
    }

    /// A page's content streams, decoded and joined (a stream that does not
    /// decode counts as its raw bytes, as in lopdf). Nothing of it is kept.
    pub fn page_content(&self, page: ObjectId, limit: usize) -> Result<Vec<u8>, String> {
        let contents = self.dict(page).ok_or("page object missing")?.get(b"Contents").ok();
        let ids: Vec<ObjectId> = match contents {
            Some(Object::Reference(id)) => match self.get_shallow(*id) {
                Some(Object::Array(a)) => a.iter().filter_map(|o| o.as_reference().ok()).collect(),
                _ => vec![*id],
            },
            Some(Object::Array(a)) => a.iter().filter_map(|o| o.as_reference().ok()).collect(),
            _ => Vec::new(),
        };
        let mut content = Vec::new();
        for id in ids {
            let Some(Object::Stream(stream)) = self.take(id) else { continue };
            let remaining = limit.saturating_sub(content.len());
            match stream.decompressed_content_with_limit(remaining) {
                Ok(data) => content.extend_from_slice(&data),
                Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => return Err("page content over its size limit".into()),
                Err(_) if stream.content.len() <= remaining => content.extend_from_slice(&stream.content),
                Err(_) => return Err("page content over its size limit".into()),
            }
            content.push(b'\n');
        }
        Ok(content)
    }

    /// Object `id` if it is no stream (an array of contents), without keeping a stream.
    fn get_shallow(&self, id: ObjectId) -> Option<Object> {
        match self.take(id)? {
            Object::Stream(_) => None,
            other => Some(other),
        }
    }
}

/// The security handler's state for the empty user password, read with
/// lopdf's own code from a document holding just the trailer and `/Encrypt`.
fn security(buf: &[u8], entries: &[Option<Entry>], trailer: &Dictionary, encrypt: &Object) -> Option<(lopdf::EncryptionState, Option<ObjectId>)> {
    let mut d = lopdf::Document::new();
    d.trailer = trailer.clone();
    let id = encrypt.as_reference().ok();
    if let Some(id) = id {
        let Some(Some(Entry::Offset(offset))) = entries.get(id.0 as usize) else { return None };
        let (_, dict) = parse_indirect(buf, *offset, &|_| None)?;
        d.objects.insert(id, dict);
    }
    let state = lopdf::EncryptionState::decode(&d, "").ok()?;
    Some((state, id))
}

/// The `%PDF-x.y` version.
fn version(buf: &[u8]) -> String {
    let v: Vec<u8> = buf[5..].iter().take(8).copied().take_while(|b| b.is_ascii_digit() || *b == b'.').collect();
    String::from_utf8_lossy(&v).into_owned()
}

fn decode_object_stream(s: &Stream) -> Option<ObjStm> {
    let n = s.dict.get(b"N").ok()?.as_i64().ok()?;
    let first = usize::try_from(s.dict.get(b"First").ok()?.as_i64().ok()?).ok()?;
    let data = s.get_plain_content_with_limit(MAX_XREF).ok()?;
    let mut lx = Lexer::new(&data, 0);
    let mut members = Vec::new();
    for _ in 0..n.clamp(0, 1 << 20) {
        let (Some(num), Some(off)) = (lx.uint(), lx.uint()) else { break };
        members.push((num as u32, first + off as usize));
    }
    Some(ObjStm { data, members })
}

/// `N G obj … endobj` at `offset`; a stream's `/Length` may be a reference,
/// resolved by `length`. A wrong length is mended by looking for `endstream`.
pub(crate) fn parse_indirect(buf: &[u8], offset: usize, length: &dyn Fn(ObjectId) -> Option<i64>) -> Option<(ObjectId, Object)> {
    if offset >= buf.len() {
        return None;
    }
    let mut lx = Lexer::new(buf, offset);
    let num = u32::try_from(lx.uint()?).ok()?;
    let gen = u16::try_from(lx.uint()?).ok()?;
    if !lx.keyword(b"obj") {
        return None;
    }
    let object = lx.object(true)?;
    let Object::Dictionary(dict) = object else { return Some(((num, gen), object)) };
    if !lx.keyword(b"stream") {
        return Some(((num, gen), Object::Dictionary(dict)));
    }
    let mut start = lx.pos;
    if buf.get(start) == Some(&b'\r') {
        start += 1;
    }
    if buf.get(start) == Some(&b'\n') {
        start += 1;
    }
    let declared = match dict.get(b"Length").ok() {
        Some(Object::Integer(n)) => Some(*n),
        Some(Object::Reference(id)) => length(*id),
        _ => None,
    };
    let fits = |len: usize| {
        let end = start.checked_add(len)?;
        let mut after = Lexer::new(buf, end.min(buf.len()));
        (end <= buf.len() && after.keyword(b"endstream")).then_some(end)
    };
    let end = declared.and_then(|n| usize::try_from(n).ok()).and_then(fits).or_else(|| {
        let at = start + buf[start..].windows(9).position(|w| w == b"endstream")?;
        let mut end = at;
        if end > start && buf[end - 1] == b'\n' {
            end -= 1;
        }
        if end > start && buf[end - 1] == b'\r' {
            end -= 1;
        }
        Some(end)
    })?;
    let mut dict = dict;
    // Image data is never text: only its dictionary is kept.
    let image = dict.get(b"Subtype").ok().and_then(|o| o.as_name().ok()) == Some(b"Image");
    let content = if image { Vec::new() } else { buf[start..end].to_vec() };
    let mut stream = Stream::new(Dictionary::new(), content);
    dict.set("Length", (end - start) as i64);
    stream.dict = dict;
    Some(((num, gen), Object::Stream(stream)))
}
