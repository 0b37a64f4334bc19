//! The guest of the embedder example: world `example:tokenizer/tokenizer`
//! (`../wit`), which imports Hostel's `log` and exports `tokenize`.

wit_bindgen::generate!({ path: "../wit", world: "tokenizer", generate_all });

use exports::example::tokenizer::tokenize::{Guest, Token};
use hostel::plugin::log::{log, Level};

struct Tokenizer;

/// Letters and digits make words; `'` and `-` stay inside a word between two of them.
fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

/// Every token as (start, end) byte offsets, and whether it is a word.
fn tokens(text: &str) -> Vec<(usize, usize, bool)> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if !is_word(c) {
            out.push((start, start + c.len_utf8(), false));
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, c)) = chars.peek() {
            if is_word(c) {
                end = i + c.len_utf8();
                chars.next();
            } else if (c == '\'' || c == '-') && text[i + 1..].chars().next().is_some_and(is_word) {
                chars.next(); // the joiner; the next round takes the letter after it
            } else {
                break;
            }
        }
        out.push((start, end, true));
    }
    out
}

impl Guest for Tokenizer {
    fn split(text: String) -> Vec<Token> {
        let found = tokens(&text);
        log(Level::Debug, &format!("split {} bytes into {} tokens", text.len(), found.len()));
        found
            .into_iter()
            .map(|(start, end, _)| Token { text: text[start..end].to_string(), start: start as u32, end: end as u32 })
            .collect()
    }

    fn count_words(text: String) -> u32 {
        tokens(&text).iter().filter(|t| t.2).count() as u32
    }
}

export!(Tokenizer);
