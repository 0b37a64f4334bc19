//! `caption-keywords`: a light caption model. TF-IDF keyword extraction over a
//! bundled labelled corpus ranks hashtags (nearest tag centroids plus the
//! description's own keywords) and fills style templates with the keywords;
//! captions are ranked by similarity to the description.

mod model;

use hostel_sdk::caption::{validate, Caption, CaptionList, CaptionRequest, CaptionResult, CaptionStream, Guest, Style};
use hostel_sdk::{Metadata, PluginError};
use model::{cosine, Model};
use std::sync::OnceLock;

/// Built once per instance on first use; warm instances reuse it.
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::from_corpus(include_str!("../data/corpus.txt")))
}

fn templates(style: Style) -> &'static [&'static str] {
    match style {
        Style::Inspirational => &[
            "Let the {k1} remind you how far you have come.",
            "Chase the {k1}, find the {k2}, and never stop dreaming.",
            "Every {k1} is a new beginning.",
            "Find your light in the {k1} and your strength in the {k2}.",
            "Big dreams start with small moments like this {k1}.",
        ],
        Style::Funny => &[
            "Me: I'll just have a quick look at the {k1}. Also me: three hours later.",
            "{K1} first, responsibilities later.",
            "Not sure what's better, the {k1} or the {k2}. Let's call it a tie.",
            "My therapist said to focus on what makes me happy, so here is a {k1}.",
            "Warning: excessive amounts of {k1} ahead.",
        ],
        Style::Professional => &[
            "Highlights from our {k1}: quality you can see in every detail.",
            "Proud to share our latest {k1} and {k2}.",
            "Delivering excellence, one {k1} at a time.",
            "A closer look at the {k1} behind our work.",
            "Committed to {k1} and {k2} that make a difference.",
        ],
        Style::Casual => &[
            "Just me, the {k1} and good vibes.",
            "{K1} kind of day.",
            "Can't get enough of this {k1} and {k2}.",
            "Weekend plans: {k1}. That's it, that's the plan.",
            "Good times, {k1} and {k2}.",
        ],
    }
}

/// Style-flavoured tags used when the description yields too few relevant ones.
fn style_tags(style: Style) -> &'static [&'static str] {
    match style {
        Style::Inspirational => &["inspiration", "motivation", "mindset", "goals", "positivevibes", "dreambig"],
        Style::Funny => &["funny", "lol", "humor", "memes", "justforfun", "goodtimes"],
        Style::Professional => &["business", "quality", "professional", "teamwork", "growth", "excellence"],
        Style::Casual => &["vibes", "weekend", "goodvibes", "everyday", "chill", "lifestyle"],
    }
}

const GENERAL_TAGS: &[&str] = &[
    "photooftheday", "instagood", "picoftheday", "love", "beautiful", "happy", "life", "instadaily",
    "today", "moments", "share", "explore", "follow", "daily", "style", "nofilter", "mood", "memories",
    "goodday", "smile", "world", "community", "inspo", "weekendvibes", "story", "details", "everydaymoments",
    "capture", "amazing", "simplethings",
];

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

fn rank_hashtags(model: &Model, request: &CaptionRequest, keywords: &[(String, f32)]) -> Vec<String> {
    let desc = model.vector(&request.description);
    let mut scored: Vec<(String, f32)> = model
        .tags
        .iter()
        .map(|(tag, centroid)| (tag.clone(), cosine(&desc, centroid)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    // The description's strongest words are tags in their own right.
    for (kw, w) in keywords.iter().take(5) {
        if kw.chars().all(|c| c.is_ascii_alphanumeric()) {
            scored.push((kw.clone(), w * 0.9));
        }
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut tags: Vec<String> = Vec::new();
    let fallback = style_tags(request.style).iter().chain(GENERAL_TAGS.iter()).map(|t| t.to_string());
    for tag in scored.into_iter().map(|(t, _)| t).chain(fallback) {
        if tags.len() == request.hashtag_count as usize {
            break;
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags.into_iter().map(|t| format!("#{t}")).collect()
}

fn rank_captions(model: &Model, request: &CaptionRequest, keywords: &[(String, f32)]) -> Vec<Caption> {
    let desc = model.vector(&request.description);
    let words: Vec<&str> = keywords.iter().map(|(k, _)| k.as_str()).collect();
    let fallback = ["moment", "view"];
    let pick = |i: usize| words.get(i).copied().unwrap_or(fallback[i.min(1)]);
    let pairs = [(0, 1), (1, 0), (0, 2), (2, 1)];
    // (template, caption) for every template filled with a few keyword pairs.
    let mut candidates: Vec<(usize, Caption)> = Vec::new();
    for (rank, template) in templates(request.style).iter().enumerate() {
        for &(a, b) in &pairs {
            let (k1, k2) = (pick(a), pick(b));
            let text = template.replace("{K1}", &capitalize(k1)).replace("{k1}", k1).replace("{k2}", k2);
            if candidates.iter().any(|(_, c)| c.text == text) {
                continue;
            }
            // Similarity to the description, with a small prior for the template order.
            let score = 0.85 * cosine(&desc, &model.vector(&text)) + 0.15 * (1.0 - rank as f32 / 5.0);
            candidates.push((rank, Caption { text, score }));
        }
    }
    candidates.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then_with(|| a.1.text.cmp(&b.1.text)));
    // Variety first: the best caption of each template, then the runners-up.
    let mut seen = Vec::new();
    let (mut firsts, mut rest) = (Vec::new(), Vec::new());
    for (rank, caption) in candidates {
        if seen.contains(&rank) {
            rest.push(caption);
        } else {
            seen.push(rank);
            firsts.push(caption);
        }
    }
    firsts.extend(rest);
    firsts.truncate(request.max_captions as usize);
    firsts.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.text.cmp(&b.text)));
    firsts
}

fn generate(request: &CaptionRequest) -> Result<CaptionResult, PluginError> {
    validate(request)?;
    let model = model();
    let keywords = model.keywords(&request.description);
    if keywords.is_empty() {
        return Err(PluginError::invalid_input(
            "the description has no usable words (only stopwords or punctuation)",
        ));
    }
    Ok(CaptionResult {
        captions: rank_captions(model, request, &keywords),
        hashtags: rank_hashtags(model, request, &keywords),
    })
}

struct CaptionKeywords;

impl Guest for CaptionKeywords {
    type CaptionStream = CaptionList;

    fn describe() -> Metadata {
        Metadata {
            name: "caption-keywords".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "TF-IDF keywords over a bundled corpus, style templates and ranked hashtags".into(),
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

hostel_sdk::export_caption_model!(CaptionKeywords);
