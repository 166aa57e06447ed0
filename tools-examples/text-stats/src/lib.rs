//! `text-stats`: counts the lines, words, characters and bytes of a text and lists its five most
//! frequent words.
//!
//! Input `{"text": "..."}`. Words are whitespace-separated; for `top_words` each word is
//! lower-cased and stripped of leading and trailing punctuation (`"Hello,"` counts as `hello`).
//! Ties are ordered by word.

use std::collections::HashMap;

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// The text to measure.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Any UTF-8 text.
    text: String,
}

/// Counts for the text.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// Number of lines (a final line break does not start a new line).
    lines: usize,
    /// Number of whitespace-separated words.
    words: usize,
    /// Number of Unicode scalar values.
    chars: usize,
    /// Size in bytes (UTF-8).
    bytes: usize,
    /// The five most frequent words, most frequent first, ties by word.
    top_words: Vec<WordCount>,
}

/// One word and how often it occurs.
#[derive(Serialize, JsonSchema)]
struct WordCount {
    /// The word, lower-cased.
    word: String,
    /// How many times it occurs.
    count: usize,
}

const TOP: usize = 5;

fn text_stats(input: Input) -> Result<Output, ToolError> {
    let text = input.text;
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut words = 0;
    for word in text.split_whitespace() {
        words += 1;
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        if !word.is_empty() {
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
    }
    let mut top: Vec<WordCount> = counts
        .into_iter()
        .map(|(word, count)| WordCount { word, count })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
    top.truncate(TOP);
    Ok(Output {
        lines: text.lines().count(),
        words,
        chars: text.chars().count(),
        bytes: text.len(),
        top_words: top,
    })
}

wasmgov_sdk::export_tool!(text_stats);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_top_words() {
        let out = wasmgov_sdk::invoke(text_stats, r#"{"text":"The cat; the DOG.\nthe end — é\n"}"#)
            .unwrap();
        let v: wasmgov_sdk::serde_json::Value = wasmgov_sdk::serde_json::from_str(&out).unwrap();
        assert_eq!(v["lines"], 2);
        assert_eq!(v["words"], 8);
        assert_eq!(v["top_words"][0]["word"], "the");
        assert_eq!(v["top_words"][0]["count"], 3);
        assert_eq!(v["top_words"][1]["word"], "cat");
        assert_eq!(v["top_words"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn missing_text_is_invalid_input() {
        assert!(matches!(
            wasmgov_sdk::invoke(text_stats, r#"{"txt":"a"}"#),
            Err(ToolError::InvalidInput(_))
        ));
    }
}
