//! The bundled vocabularies (the hashtags and each style's captions), the key
//! that names one vocabulary's embeddings, and `data/vocabulary.bin`: those
//! embeddings computed ahead of time by `minilm-native vocabulary` (the same
//! encoder source, compiled natively), so a host's first caption call loads
//! the weights and embeds one sentence instead of ~600 (seconds in the
//! component). A stale file is never read: its keys name the exact texts.

/// Dimensions of one all-MiniLM-L6-v2 embedding.
pub const DIM: usize = 384;
/// The guest path of the weights the bundle was computed with (the
/// manifest's default `model_dir`); the key includes it.
pub const DEFAULT_MODEL_DIR: &str = "/models/all-minilm-l6-v2";
/// Vocabulary names: `hashtags`, then the styles.
pub const NAMES: [&str; 5] = ["hashtags", "inspirational", "funny", "professional", "casual"];

const HASHTAGS: &str = include_str!("../data/hashtags.tsv");
const CAPTIONS: &str = include_str!("../data/captions.tsv");
const MAGIC: &[u8] = b"HVOC1\n";

/// `(text kept, text embedded)` pairs of vocabulary `what`: a hashtag and its
/// descriptive phrase, or a caption twice.
pub fn pairs(what: &str) -> Vec<(&'static str, &'static str)> {
    let rows = |tsv: &'static str| tsv.lines().filter_map(|l| l.split_once('\t'));
    if what == "hashtags" {
        rows(HASHTAGS).collect()
    } else {
        rows(CAPTIONS).filter(|(style, _)| *style == what).map(|(_, c)| (c, c)).collect()
    }
}

/// Names the embeddings of `texts` by model directory and exact texts, so an
/// edit to a vocabulary or another model never reads stale vectors.
pub fn key(dir: &str, what: &str, texts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in dir.bytes().chain(texts.iter().flat_map(|t| t.bytes().chain([0]))) {
        hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("embeddings/{what}/{hash:016x}")
}

/// The bundle format: `MAGIC`, then per record a u32 LE key length, the key,
/// a u32 LE vector count and count × DIM f32 LE.
pub fn encode(records: &[(String, Vec<Vec<f32>>)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (key, vectors) in records {
        out.extend((key.len() as u32).to_le_bytes());
        out.extend(key.as_bytes());
        out.extend((vectors.len() as u32).to_le_bytes());
        for v in vectors {
            assert_eq!(v.len(), DIM, "an embedding of {} dimensions", v.len());
            out.extend(v.iter().flat_map(|f| f.to_le_bytes()));
        }
    }
    out
}

/// The `count` vectors stored under `key` in `bundle`; `None` when the key is
/// absent, the count differs or the bundle is malformed.
pub fn find(bundle: &[u8], key: &str, count: usize) -> Option<Vec<Vec<f32>>> {
    let mut rest = bundle.strip_prefix(MAGIC)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        rest = tail;
        Some(head)
    };
    loop {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let name = take(len)?;
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let data = take(n.checked_mul(DIM * 4)?)?;
        if name == key.as_bytes() {
            if n != count {
                return None;
            }
            return Some(decode(data));
        }
    }
}

/// Vectors of DIM f32 LE each, as the bundle and the host's cache hold them.
pub fn decode(data: &[u8]) -> Vec<Vec<f32>> {
    let floats: Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    floats.chunks(DIM).map(<[f32]>::to_vec).collect()
}
