//! `pdf-text-native FILE [LAST]`: the text of pages 1..=LAST (all by default),
//! each followed by a form feed, as `pdftotext -l LAST FILE -` prints them.
#[path = "../../../plugins/pdf-text/src/extract/mod.rs"]
mod extract;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: pdf-text-native FILE [LAST]");
    let last: Option<u32> = args.next().map(|s| s.parse().expect("LAST is a page number"));
    let bytes = std::fs::read(&path).expect("read");
    let t0 = std::time::Instant::now();
    let doc = match lopdf::Document::load_mem(&bytes) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("broken PDF: {e}");
            std::process::exit(2);
        }
    };
    let loaded = t0.elapsed();
    let mut fonts = extract::Fonts::default();
    let mut out = String::new();
    for (n, id) in doc.get_pages() {
        if last.is_some_and(|l| n > l) {
            break;
        }
        match extract::page_text(&doc, id, &mut fonts) {
            Ok(t) => out.push_str(&t),
            Err(e) => eprintln!("page {n}: {e}"),
        }
        out.push('\x0c');
    }
    if std::env::var_os("PDF_TEXT_TIMES").is_some() {
        eprintln!("load {loaded:?}, pages {:?}", t0.elapsed() - loaded);
    }
    print!("{out}");
}
