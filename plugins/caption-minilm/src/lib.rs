//! `caption-minilm`: a caption model backed by a real neural network. The
//! all-MiniLM-L6-v2 sentence encoder runs inside the component; the
//! description's embedding ranks the requested style's captions and a bundled
//! vocabulary of 300+ hashtags by cosine similarity. The model is loaded once
//! per instance (on its first call), so warm pooled instances answer in
//! milliseconds.

mod encoder;
mod pthread;
mod vocabulary;

use encoder::{cosine, Encoder};
use hostel_sdk::caption::{
    validate, Caption, CaptionList, CaptionRequest, CaptionResult, CaptionStream, EmbedderGuest, Guest, Style,
};
use hostel_sdk::{log, Metadata, PluginError};
use std::cell::OnceCell;
use std::time::Instant;

/// The vocabularies' embeddings computed ahead of time (see `vocabulary`).
static BUNDLE: &[u8] = include_bytes!("../data/vocabulary.bin");
/// Texts one `embed` call may ask for.
const MAX_EMBED_TEXTS: usize = 256;
/// Characters in one text (the encoder truncates at 256 tokens anyway).
const MAX_TEXT_CHARS: usize = 8192;

/// A text and its embedding.
struct Entry {
    text: String,
    vector: Vec<f32>,
}

/// What one instance builds on first use and keeps while it is warm. The
/// vocabularies are embedded when a call first needs them (an `embed` call
/// needs none), so loading the model is all a first `embed` waits for.
struct State {
    encoder: Encoder,
    /// `(hashtag, embedding of its descriptive phrase)`.
    hashtags: OnceCell<Vec<Entry>>,
    /// Caption embeddings per style.
    captions: [OnceCell<Vec<Entry>>; 4],
}

thread_local! {
    static STATE: OnceCell<State> = const { OnceCell::new() };
}

fn style_index(style: Style) -> usize {
    match style {
        Style::Inspirational => 0,
        Style::Funny => 1,
        Style::Professional => 2,
        Style::Casual => 3,
    }
}

impl From<encoder::Error> for PluginError {
    fn from(e: encoder::Error) -> PluginError {
        match e {
            encoder::Error::Unavailable(m) => PluginError::unavailable(m),
            encoder::Error::Model(m) => PluginError::internal(m),
        }
    }
}

fn model_dir() -> String {
    hostel_sdk::config::get_or("model_dir", vocabulary::DEFAULT_MODEL_DIR)
}

impl State {
    fn load() -> Result<State, PluginError> {
        let dir = model_dir();
        let start = Instant::now();
        let encoder = Encoder::load(&dir)?;
        log::info(&format!("all-MiniLM-L6-v2 loaded from {dir} in {} ms", start.elapsed().as_millis()));
        Ok(State { encoder, hashtags: OnceCell::new(), captions: Default::default() })
    }

    fn hashtags(&self) -> Result<&[Entry], PluginError> {
        vocabulary(&self.encoder, &self.hashtags, "hashtags")
    }

    fn captions(&self, style: Style) -> Result<&[Entry], PluginError> {
        vocabulary(&self.encoder, &self.captions[style_index(style)], style.name())
    }
}

/// The entries of vocabulary `what`, made on first use from the bundle, the
/// host's cache or the encoder.
fn vocabulary<'a>(encoder: &Encoder, cell: &'a OnceCell<Vec<Entry>>, what: &str) -> Result<&'a [Entry], PluginError> {
    if let Some(entries) = cell.get() {
        return Ok(entries);
    }
    let start = Instant::now();
    let (kept, embedded): (Vec<&str>, Vec<&str>) = vocabulary::pairs(what).into_iter().unzip();
    let (vectors, source) = shared_embeddings(encoder, &model_dir(), what, &embedded)?;
    let entries = kept.iter().zip(vectors).map(|(t, v)| Entry { text: t.to_string(), vector: v }).collect();
    log::info(&format!("{} {what} embeddings ready in {} ms ({source})", kept.len(), start.elapsed().as_millis()));
    Ok(cell.get_or_init(|| entries))
}

/// Embeddings of the bundled `texts` and where they came from: the bundle
/// (computed ahead of time for the default model), else the host's cache,
/// shared by all instances of the plugin, else the encoder (seconds; the
/// result goes to the cache so only the first instance pays).
fn shared_embeddings(encoder: &Encoder, dir: &str, what: &str, texts: &[&str]) -> Result<(Vec<Vec<f32>>, &'static str), PluginError> {
    use vocabulary::DIM;
    let key = vocabulary::key(dir, what, texts);
    if let Some(vectors) = vocabulary::find(BUNDLE, &key, texts.len()) {
        return Ok((vectors, "bundled"));
    }
    if let Some(bytes) = hostel_sdk::cache::get(&key).filter(|b| b.len() == texts.len() * DIM * 4) {
        return Ok((vocabulary::decode(&bytes), "host cache"));
    }
    let vectors = encoder.embed(texts)?;
    if vectors.iter().all(|v| v.len() == DIM) {
        let bytes: Vec<u8> = vectors.iter().flatten().flat_map(|f| f.to_le_bytes()).collect();
        hostel_sdk::cache::set(&key, &bytes, None);
    }
    let source = if dir == vocabulary::DEFAULT_MODEL_DIR {
        "embedded: data/vocabulary.bin does not hold these texts; scripts/caption-vocabulary.sh remakes it"
    } else {
        "embedded"
    };
    Ok((vectors, source))
}

/// Runs `f` with this instance's state, loading the model on first use. A
/// failed load is not kept: the next call tries again (e.g. once the weights
/// have been fetched).
fn with_state<T>(f: impl FnOnce(&State) -> Result<T, PluginError>) -> Result<T, PluginError> {
    STATE.with(|cell| {
        if cell.get().is_none() {
            let state = State::load()?;
            let _ = cell.set(state);
        }
        f(cell.get().expect("state was just set"))
    })
}

fn ranked<'a>(entries: &'a [Entry], query: &[f32]) -> Vec<(&'a str, f32)> {
    let mut scored: Vec<(&str, f32)> = entries.iter().map(|e| (e.text.as_str(), cosine(query, &e.vector))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    scored
}

fn generate(request: &CaptionRequest) -> Result<CaptionResult, PluginError> {
    validate(request)?;
    if request.description.chars().count() > MAX_TEXT_CHARS {
        return Err(PluginError::invalid_input(format!("description is longer than {MAX_TEXT_CHARS} characters")));
    }
    with_state(|state| {
        let query = state.encoder.embed(&[request.description.trim()])?.remove(0);
        let captions = ranked(state.captions(request.style)?, &query)
            .into_iter()
            .take(request.max_captions as usize)
            .map(|(text, score)| Caption { text: text.to_string(), score })
            .collect();
        let hashtags = ranked(state.hashtags()?, &query)
            .into_iter()
            .take(request.hashtag_count as usize)
            .map(|(tag, _)| format!("#{tag}"))
            .collect();
        Ok(CaptionResult { captions, hashtags })
    })
}

struct CaptionMinilm;

impl Guest for CaptionMinilm {
    type CaptionStream = CaptionList;

    fn describe() -> Metadata {
        Metadata {
            name: "caption-minilm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "all-MiniLM-L6-v2 sentence embeddings rank style captions and hashtags".into(),
        }
    }

    fn generate(request: CaptionRequest) -> Result<CaptionResult, PluginError> {
        generate(&request)
    }

    fn generate_stream(request: CaptionRequest) -> Result<CaptionStream, PluginError> {
        let result = generate(&request)?;
        Ok(CaptionStream::new(CaptionList::new(result.captions)))
    }
}

impl EmbedderGuest for CaptionMinilm {
    fn embed(texts: Vec<String>) -> Result<Vec<Vec<f32>>, PluginError> {
        if texts.len() > MAX_EMBED_TEXTS {
            return Err(PluginError::invalid_input(format!(
                "{} texts in one call; at most {MAX_EMBED_TEXTS}",
                texts.len()
            )));
        }
        if let Some(i) = texts.iter().position(|t| t.chars().count() > MAX_TEXT_CHARS) {
            return Err(PluginError::invalid_input(format!("texts[{i}] is longer than {MAX_TEXT_CHARS} characters")));
        }
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        with_state(|state| Ok(state.encoder.embed(&texts)?))
    }
}

hostel_sdk::export_caption_model!(CaptionMinilm);
