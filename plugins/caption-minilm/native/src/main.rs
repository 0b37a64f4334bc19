//! The native side of `cargo bench -p hostel --bench minilm`: caption-minilm's
//! encoder, the very source file the component is built from, compiled for
//! the host CPU and timed on one thread.
//!
//! Usage: `minilm-native MODEL_DIR ROUNDS < texts.json`, where texts.json is a
//! JSON array whose first text is the single sentence and whose whole is the
//! batch. Prints one JSON object: load time, per-round times of the single
//! sentence and of the batch (ms), and the single sentence's embedding.

#[allow(dead_code)]
#[path = "../../src/encoder.rs"]
mod encoder;
#[allow(dead_code)] // find() is the plugin's side
#[path = "../../src/vocabulary.rs"]
mod vocabulary;

use std::time::Instant;

fn main() {
    // One thread: candle's matmul and the tokenizer both read these.
    for (var, value) in [("RAYON_NUM_THREADS", "1"), ("TOKENIZERS_PARALLELISM", "false")] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, value);
        }
    }
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("vocabulary") {
        let (dir, out) = match (args.nth(1), args.next()) {
            (Some(dir), Some(out)) => (dir, out),
            _ => {
                eprintln!("usage: minilm-native vocabulary MODEL_DIR OUT");
                std::process::exit(2);
            }
        };
        return write_vocabulary(&dir, &out);
    }
    let (dir, rounds) = match (args.next(), args.next().and_then(|r| r.parse::<usize>().ok())) {
        (Some(dir), Some(rounds)) if rounds > 0 => (dir, rounds),
        _ => {
            eprintln!("usage: minilm-native MODEL_DIR ROUNDS < texts.json");
            std::process::exit(2);
        }
    };
    let texts: Vec<String> = serde_json::from_reader(std::io::stdin()).expect("stdin: a JSON array of texts");
    let batch: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert!(!batch.is_empty(), "no texts");

    let t = Instant::now();
    let encoder = encoder::Encoder::load(&dir).unwrap_or_else(|e| panic!("{e:?}"));
    let load_ms = ms(t);
    // Warm up once, like the component's pooled instance.
    let embedding = encoder.embed(&batch[..1]).expect("embed").remove(0);
    encoder.embed(&batch).expect("embed");
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        encoder.embed(&batch[..1]).expect("embed");
        one.push(ms(t));
        let t = Instant::now();
        encoder.embed(&batch).expect("embed");
        many.push(ms(t));
    }
    let out = serde_json::json!({ "load_ms": load_ms, "one_ms": one, "batch_ms": many, "embedding": embedding });
    println!("{out}");
}

/// Embeds every bundled vocabulary as the plugin would (one `embed` call
/// per vocabulary, so the same batches) and writes the bundle to `out`.
fn write_vocabulary(dir: &str, out: &str) {
    let encoder = encoder::Encoder::load(dir).unwrap_or_else(|e| panic!("{e:?}"));
    let mut records = Vec::new();
    for what in vocabulary::NAMES {
        let t = Instant::now();
        let texts: Vec<&str> = vocabulary::pairs(what).into_iter().map(|(_, embedded)| embedded).collect();
        assert!(!texts.is_empty(), "vocabulary {what} is empty");
        let vectors = encoder.embed(&texts).unwrap_or_else(|e| panic!("{e:?}"));
        eprintln!("{what}: {} texts in {:.0} ms", texts.len(), ms(t));
        records.push((vocabulary::key(vocabulary::DEFAULT_MODEL_DIR, what, &texts), vectors));
    }
    let bytes = vocabulary::encode(&records);
    std::fs::write(out, &bytes).unwrap_or_else(|e| panic!("{out}: {e}"));
    eprintln!("wrote {out} ({} bytes)", bytes.len());
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
