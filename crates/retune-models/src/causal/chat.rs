//! Chat templates: the Jinja template a model ships in `tokenizer_config.json` (or
//! `chat_template.jinja`), rendered as transformers' `apply_chat_template` renders it —
//! `messages`, `add_generation_prompt`, the special tokens by name, `raise_exception`, and
//! Python's string methods (minijinja with its Python compatibility layer).

use minijinja::{context, Environment, Error, ErrorKind};

use super::CausalLm;
use crate::error::{ModelError, Result};

/// One chat message.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// The model's chat template, if it has one (a named `default` among several).
pub fn template(lm: &CausalLm) -> Option<String> {
    match &lm.tokenizer_config["chat_template"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => list
            .iter()
            .find(|t| t["name"] == "default")
            .and_then(|t| t["template"].as_str())
            .map(str::to_string),
        _ => None,
    }
}

/// Renders `messages` with `template`, ending with the assistant's turn opened when
/// `add_generation_prompt`.
pub fn render(
    template: &str,
    messages: &[Message],
    add_generation_prompt: bool,
    bos_token: Option<&str>,
    eos_token: Option<&str>,
) -> std::result::Result<String, Error> {
    let mut env = Environment::new();
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |msg: String| -> std::result::Result<String, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, msg))
    });
    env.add_template("chat", template)?;
    env.get_template("chat")?.render(context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token.unwrap_or(""),
        eos_token => eos_token.unwrap_or(""),
    })
}

/// The prompt text of one user message in the model's chat format; an error naming the model
/// when it has no template.
pub fn user_prompt(lm: &CausalLm, user: &str) -> Result<String> {
    let Some(t) = template(lm) else {
        return Err(ModelError::Tokenizer {
            path: lm.source.clone(),
            message: "--chat: the model has no chat_template".into(),
        });
    };
    let msgs = [Message {
        role: "user".into(),
        content: user.into(),
    }];
    render(
        &t,
        &msgs,
        true,
        lm.special_token("bos_token").as_deref(),
        lm.special_token("eos_token").as_deref(),
    )
    .map_err(|e| ModelError::Tokenizer {
        path: lm.source.clone(),
        message: format!("chat_template: {e}"),
    })
}
