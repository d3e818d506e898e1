//! Label and field selectors with the Kubernetes grammar and Go's error messages.
//!
//! The label parser is a transcription of `k8s.io/apimachinery/pkg/labels/selector.go` (lexer,
//! parser and `NewRequirement` validation), and the field parser of `pkg/fields/selector.go`
//! plus `runtime.DefaultMetaV1FieldSelectorConversion`, so clients see the same 400 messages a Go
//! server (apimachinery 1.32) would send.
//!
//! - `lexer` and `label_parser` turn a label selector into `requirement`s, whose key and values
//!   `validation` checks with Go's wording;
//! - `label` holds the parsed [`LabelSelector`] and its matching, `field` the [`FieldSelector`];
//! - `go_text` renders messages the way Go's `%q`, `field.Error` and `NewAggregate` do.

mod field;
mod go_text;
mod label;
mod label_parser;
mod lexer;
mod requirement;
mod validation;

#[cfg(test)]
mod tests;

pub use field::FieldSelector;
pub use label::LabelSelector;

use go_text::go_quote;

/// Parse failure; the Display text is the message the API returns in a 400 Status, matching Go's wording.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector whose requirement list is malformed (stray or trailing comma, junk
    /// after a requirement); Go reports these without the "unable to parse requirement" prefix.
    #[error("{0}")]
    LabelSyntax(String),
    /// A label requirement that does not parse or whose key or values are invalid.
    #[error("unable to parse requirement: {0}")]
    LabelRequirement(String),
    /// A field selector term with none of `=`, `==`, `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm {
        /// The whole selector, as sent.
        selector: String,
        /// The term that has no operator.
        term: String,
    },
    /// A backslash in a field value not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    FieldEscape(String),
    /// A bare `=` or `,` in a field value; Go prints the code point as a number (`61`).
    #[error("invalid field selector: unescaped character in value: {0}")]
    FieldUnescaped(u32),
    /// A field other than the two every metrics object exposes.
    #[error(
        "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        go_quote(.0)
    )]
    UnknownField(String),
}
