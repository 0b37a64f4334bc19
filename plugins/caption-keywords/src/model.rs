//! A small TF-IDF model: IDF from the bundled labelled corpus, one centroid per
//! hashtag (the mean TF-IDF vector of the documents labelled with it).

use std::collections::HashMap;

/// A sparse, L2-normalised TF-IDF vector.
pub type Vector = HashMap<String, f32>;

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "our", "this", "that", "from", "are", "was", "were", "you", "your",
    "his", "her", "its", "into", "onto", "over", "under", "about", "at", "in", "on", "of", "to",
    "a", "an", "is", "it", "by", "as", "be", "we", "my", "me", "all", "out", "up", "so", "new",
    "just", "very", "has", "have", "had", "not", "but", "they", "them", "their", "there", "then",
    "than", "what", "when", "where", "who", "will", "would", "can", "could", "some", "more", "most",
    "every", "each", "day", "today", "one", "two", "get", "got", "off", "too", "also", "how",
];

/// Lower-cases, splits on non-letters, drops stopwords and short words, and folds
/// simple plurals so "waves" and "wave" count as one term.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

fn stem(word: &str) -> String {
    if let Some(base) = word.strip_suffix("ies") {
        if base.len() >= 3 {
            return format!("{base}y");
        }
    }
    if word.len() > 4 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_string();
    }
    word.to_string()
}

pub struct Model {
    idf: HashMap<String, f32>,
    /// IDF of a term the corpus never saw (rare, so most telling).
    unseen_idf: f32,
    /// (hashtag without '#', centroid)
    pub tags: Vec<(String, Vector)>,
}

impl Model {
    pub fn from_corpus(corpus: &str) -> Model {
        let docs: Vec<(Vec<String>, Vec<String>)> = corpus
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('|'))
            .map(|(tags, text)| {
                let tags = tags.split(',').map(|t| t.trim().replace(' ', "")).filter(|t| !t.is_empty()).collect();
                (tags, tokenize(text))
            })
            .collect();
        let n = docs.len() as f32;
        let mut df: HashMap<String, f32> = HashMap::new();
        for (_, terms) in &docs {
            let mut seen: Vec<&String> = terms.iter().collect();
            seen.sort();
            seen.dedup();
            for t in seen {
                *df.entry(t.clone()).or_default() += 1.0;
            }
        }
        let idf = df.iter().map(|(t, d)| (t.clone(), ((n + 1.0) / (d + 1.0)).ln() + 1.0)).collect();
        let mut model = Model { idf, unseen_idf: (n + 1.0).ln() + 1.0, tags: Vec::new() };

        let mut centroids: HashMap<String, Vector> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (tags, terms) in &docs {
            let v = model.vector_of_terms(terms);
            for tag in tags {
                if !centroids.contains_key(tag) {
                    order.push(tag.clone());
                }
                let c = centroids.entry(tag.clone()).or_default();
                for (t, w) in &v {
                    *c.entry(t.clone()).or_default() += w;
                }
            }
        }
        model.tags = order
            .into_iter()
            .map(|tag| {
                let mut c = centroids.remove(&tag).unwrap_or_default();
                normalize(&mut c);
                (tag, c)
            })
            .collect();
        model
    }

    pub fn idf(&self, term: &str) -> f32 {
        self.idf.get(term).copied().unwrap_or(self.unseen_idf)
    }

    pub fn vector(&self, text: &str) -> Vector {
        self.vector_of_terms(&tokenize(text))
    }

    fn vector_of_terms(&self, terms: &[String]) -> Vector {
        let mut v = Vector::new();
        for t in terms {
            *v.entry(t.clone()).or_default() += 1.0;
        }
        let total = terms.len().max(1) as f32;
        for (t, w) in v.iter_mut() {
            *w = (*w / total) * self.idf(t);
        }
        normalize(&mut v);
        v
    }

    /// The description's terms ranked by TF-IDF weight, best first.
    pub fn keywords(&self, text: &str) -> Vec<(String, f32)> {
        let mut kws: Vec<(String, f32)> = self.vector(text).into_iter().collect();
        kws.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kws
    }
}

pub fn normalize(v: &mut Vector) {
    let norm = v.values().map(|w| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        for w in v.values_mut() {
            *w /= norm;
        }
    }
}

pub fn cosine(a: &Vector, b: &Vector) -> f32 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small.iter().map(|(t, w)| w * large.get(t).copied().unwrap_or(0.0)).sum()
}
