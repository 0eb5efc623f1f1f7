//! The one list of files a Hugging Face checkpoint folder may hold: what the hub download
//! fetches, and what a saved checkpoint copies from its source model besides its own config and
//! weights.

/// Weight files, in the order they are looked for.
pub const WEIGHT_FILES: &[&str] = &["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"];

/// Tokenizer and generation files of every supported family (WordPiece `vocab.txt`, byte-level
/// BPE `vocab.json` + `merges.txt`, SentencePiece models, Marian's separate target vocabulary).
pub const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "source.spm",
    "target.spm",
    "target_vocab.json",
    "generation_config.json",
];

/// Every optional file of a checkpoint (weights, then tokenizer files); `config.json` is required.
pub fn optional_files() -> impl Iterator<Item = &'static str> {
    WEIGHT_FILES.iter().chain(TOKENIZER_FILES).copied()
}

/// Whether the model folder `dir` holds weights (a folder with only `config.json` and a
/// tokenizer describes a model to build from scratch).
pub fn has_weights(dir: &std::path::Path) -> bool {
    WEIGHT_FILES.iter().any(|f| dir.join(f).exists())
}
