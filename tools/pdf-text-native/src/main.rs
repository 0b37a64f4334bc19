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
    let doc = match extract::Doc::open(bytes) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let loaded = t0.elapsed();
    let mut fonts = extract::Fonts::default();
    let mut out = String::new();
    let mut first = None;
    for (i, id) in (0..).map_while(|i| Some((i, doc.page(i)?))) {
        let n = i as u32 + 1;
        if last.is_some_and(|l| n > l) {
            break;
        }
        match extract::page_text(&doc, id, &mut fonts) {
            Ok(t) => out.push_str(&t),
            Err(e) => eprintln!("page {n}: {e}"),
        }
        first.get_or_insert_with(|| t0.elapsed());
        out.push('\x0c');
    }
    if std::env::var_os("PDF_TEXT_TIMES").is_some() {
        eprintln!("on demand {}, load {loaded:?}, first page at {:?}, pages {:?}", doc.on_demand(), first.unwrap_or_default(), t0.elapsed() - loaded);
    }
    print!("{out}");
}
