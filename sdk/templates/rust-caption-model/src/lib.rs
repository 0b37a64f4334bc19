//! `{{name}}`: a Hostel caption model. A small keyword model: the words of the
//! description that carry meaning, ranked, fill one template set per style;
//! the hashtags are the configured tag, the keywords, then the style's tags.
//! Replace `keywords`, `captions` and `hashtags` with a real model.

use hostel_sdk::caption::{validate, Caption, CaptionList, CaptionRequest, CaptionResult, CaptionStream, Guest, Style};
use hostel_sdk::{config, log, Metadata, PluginError};

struct Plugin;

const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have",
    "her", "his", "in", "into", "is", "it", "its", "my", "of", "on", "or", "our", "out", "over", "she", "so",
    "that", "the", "their", "them", "they", "this", "to", "up", "very", "was", "we", "with", "you", "your",
];

/// The description's content words, best first: frequent and early words weigh more.
fn keywords(description: &str) -> Vec<String> {
    let mut scored: Vec<(String, f32)> = Vec::new();
    let words = description
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() > 2 && !STOPWORDS.contains(&w.as_str()));
    for (i, word) in words.enumerate() {
        let weight = 1.0 / (1.0 + 0.1 * i as f32);
        match scored.iter_mut().find(|(w, _)| *w == word) {
            Some((_, s)) => *s += weight,
            None => scored.push((word, weight)),
        }
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored.into_iter().map(|(w, _)| w).collect()
}

fn templates(style: Style) -> &'static [&'static str] {
    match style {
        Style::Inspirational => &["Every {k1} is a new beginning.", "Chase the {k1}, find the {k2}.", "Let the {k1} remind you how far you have come."],
        Style::Funny => &["{K1} first, responsibilities later.", "I came for the {k1}, I stayed for the {k2}.", "Warning: dangerous levels of {k1} ahead."],
        Style::Professional => &["A closer look at our {k1}.", "Proud to share our latest {k1} and {k2}.", "Delivering excellence, one {k1} at a time."],
        Style::Casual => &["Just me, the {k1} and good vibes.", "{K1} kind of day.", "Can't get enough of this {k1} and {k2}."],
    }
}

fn style_tags(style: Style) -> &'static [&'static str] {
    match style {
        Style::Inspirational => &["inspiration", "motivation", "dreambig"],
        Style::Funny => &["funny", "lol", "humor"],
        Style::Professional => &["business", "quality", "growth"],
        Style::Casual => &["vibes", "weekend", "chill"],
    }
}

const GENERAL_TAGS: &[&str] = &["photooftheday", "instagood", "picoftheday", "love", "happy", "life", "moments", "explore"];

fn captions(style: Style, words: &[String], max: usize) -> Vec<Caption> {
    let word = |i: usize| words.get(i).or(words.first()).map_or("moment", String::as_str);
    let (k1, k2) = (word(0), word(1));
    let capitalized: String = k1.chars().take(1).flat_map(char::to_uppercase).chain(k1.chars().skip(1)).collect();
    let all = templates(style);
    all.iter()
        .enumerate()
        .map(|(rank, t)| Caption {
            text: t.replace("{K1}", &capitalized).replace("{k1}", k1).replace("{k2}", k2),
            score: 1.0 - rank as f32 / all.len() as f32,
        })
        .take(max)
        .collect()
}

fn hashtags(style: Style, words: &[String], count: usize) -> Vec<String> {
    // `[config] hashtag` of hostel.toml comes first, when set.
    let configured = config::get("hashtag").filter(|t| !t.is_empty());
    let candidates = configured.into_iter().chain(words.iter().take(5).cloned()).chain(
        style_tags(style).iter().chain(GENERAL_TAGS).map(|t| t.to_string()),
    );
    let mut tags: Vec<String> = Vec::new();
    for tag in candidates.map(|t| t.trim_start_matches('#').to_string()) {
        if tags.len() == count {
            break;
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    // Still short (a huge hashtag_count): number the general tags.
    let mut n = 2;
    while tags.len() < count {
        tags.push(format!("{}{n}", GENERAL_TAGS[tags.len() % GENERAL_TAGS.len()]));
        n += 1;
    }
    tags.into_iter().map(|t| format!("#{t}")).collect()
}

fn generate(request: &CaptionRequest) -> Result<CaptionResult, PluginError> {
    validate(request)?;
    let words = keywords(&request.description);
    if words.is_empty() {
        return Err(PluginError::invalid_input("the description has no usable words"));
    }
    log::debug(&format!("{} captions from {:?}", request.style.name(), &words[..words.len().min(3)]));
    Ok(CaptionResult {
        captions: captions(request.style, &words, request.max_captions as usize),
        hashtags: hashtags(request.style, &words, request.hashtag_count as usize),
    })
}

impl Guest for Plugin {
    type CaptionStream = CaptionList;

    fn describe() -> Metadata {
        Metadata {
            name: "{{name}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Keyword captions per style and ranked hashtags (a caption-model template)".into(),
        }
    }

    fn generate(request: CaptionRequest) -> Result<CaptionResult, PluginError> {
        generate(&request)
    }

    /// The same captions, handed out one per `next` (the /caption/stream route).
    fn generate_stream(request: CaptionRequest) -> Result<CaptionStream, PluginError> {
        Ok(CaptionStream::new(CaptionList::new(generate(&request)?.captions)))
    }
}

hostel_sdk::export_caption_model!(Plugin);
