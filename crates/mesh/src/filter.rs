//! The list `filter` grammar (an AIP-160 subset) shared by every List method: one tokenizer
//! and parser, whose output is validated against the fields a method declares and is never
//! spliced into SQL.
//!
//! ```text
//! filter     = [ expression ]                 -- empty or whitespace-only: no conditions
//! expression = comparison { "AND" comparison }
//! comparison = field operator value
//! field      = [A-Za-z_][A-Za-z0-9_.]*
//! operator   = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
//! value      = bare | quoted
//! bare       = 1*( any character except whitespace, '"', '=', '!', '<', '>', ':', '(', ')' )
//! quoted     = '"' { any character except '"' and '\' | '\"' | '\\' } '"'
//! ```
//!
//! Invariants:
//! - Whitespace between tokens is optional (`a=1` and `a = 1` are the same filter).
//! - `AND` is a keyword only as its own, uppercase token outside quotes (AIP-160 keywords are
//!   case-sensitive): `"x AND y"` is one value, and `and` is an ordinary bare word. A bare
//!   `AND`, `OR` or `NOT` is never a value; quote it to use it as one.
//! - `OR`, `NOT`, `-` negation and parentheses are refused, not misread.
//! - The input is bounded: at most [`MAX_LENGTH`] characters and [`MAX_COMPARISONS`]
//!   comparisons; the work is linear in the input.
//! - Any input gives either a [`Filter`] or an INVALID_ARGUMENT [`ServiceError`] with reason
//!   [`REASON`] (`FILTER_INVALID`) and a field violation on `filter` that says what is wrong
//!   and at which position (0-based character offset). Parsing never panics.
//! - Every returned comparison names a field the method declared, with an operator that field
//!   allows. Values are not interpreted here: the service converts them (timestamps, enums,
//!   ids) and reports a bad one as `FILTER_INVALID` too (see [`invalid`]).

use std::fmt;

use crate::error::{ErrorCode, ServiceError};

/// `ErrorInfo.reason` of every filter error.
pub const REASON: &str = "FILTER_INVALID";
/// Longest accepted filter, in characters.
pub const MAX_LENGTH: usize = 2_048;
/// Most comparisons accepted in one filter.
pub const MAX_COMPARISONS: usize = 32;

/// Characters that end a bare word (besides whitespace).
const DELIMITERS: &[char] = &['"', '=', '!', '<', '>', ':', '(', ')'];
/// Longest piece of user input quoted back in an error message, in characters.
const SNIPPET: usize = 32;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=`: equals.
    Eq,
    /// `!=`: does not equal.
    Ne,
    /// `<`: less than.
    Lt,
    /// `<=`: less than or equal.
    Le,
    /// `>`: greater than.
    Gt,
    /// `>=`: greater than or equal.
    Ge,
    /// `:`: has (contains, for repeated fields and text).
    Has,
}

impl Operator {
    /// The operator as written in a filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Has => ":",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field a List method accepts in its filter, and the operators it allows on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterField {
    /// The field name as written in filters (`create_time`, `author.id`).
    pub name: &'static str,
    /// The operators allowed on the field.
    pub operators: &'static [Operator],
}

/// A parsed filter: comparisons that must all hold (joined by `AND`); empty means no
/// conditions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The comparisons, in the order written.
    pub comparisons: Vec<Comparison>,
}

/// One `field operator value` comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// A field the method declared.
    pub field: String,
    /// An operator that field allows.
    pub op: Operator,
    /// The value, unescaped when it was quoted; not interpreted.
    pub value: String,
    /// Whether the value was a double-quoted string (services may require quotes for string
    /// fields, or refuse them for literals).
    pub quoted: bool,
    /// 0-based character offset of the field in the filter, for error messages.
    pub position: usize,
}

/// Parses `text` and checks it against `fields`. Errors are INVALID_ARGUMENT with reason
/// [`REASON`] in `domain` and a field violation on `filter`.
pub fn parse(domain: &str, text: &str, fields: &[FilterField]) -> Result<Filter, ServiceError> {
    parse_filter(text, fields).map_err(|description| invalid(domain, description))
}

/// A `FILTER_INVALID` error in `domain`: for services that find a parsed value unacceptable
/// (say, a timestamp that is not RFC 3339), so that it has the same shape as a parse error.
pub fn invalid(domain: &str, description: impl Into<String>) -> ServiceError {
    let description = description.into();
    ServiceError::new(
        ErrorCode::InvalidArgument,
        domain,
        REASON,
        format!("invalid filter: {description}"),
    )
    .with_field_violation("filter", description)
}

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// A bare word (a field, a keyword or an unquoted value).
    Word(String),
    /// A double-quoted string, unescaped.
    Quoted(String),
    /// An operator.
    Op(Operator),
}

/// A token and the 0-based character offset where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    kind: Kind,
    position: usize,
}

/// Splits the filter into tokens on demand, so that the leftmost problem is the one reported.
struct Lexer {
    chars: Vec<char>,
    position: usize,
}

impl Lexer {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            position: 0,
        }
    }

    /// 0-based character offset of the end of the input.
    fn end(&self) -> usize {
        self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    /// The next token, `None` at the end of the input.
    fn next_token(&mut self) -> Result<Option<Token>, String> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.position += 1;
        }
        let start = self.position;
        let Some(first) = self.peek() else {
            return Ok(None);
        };
        self.position += 1;
        let kind = match first {
            '"' => Kind::Quoted(self.quoted(start)?),
            '(' | ')' => {
                return Err(format!(
                    "parentheses are not supported (found {first:?} at position {start}); \
                     join comparisons with AND"
                ));
            }
            '=' => Kind::Op(Operator::Eq),
            ':' => Kind::Op(Operator::Has),
            '<' => Kind::Op(self.or_equal(Operator::Lt, Operator::Le)),
            '>' => Kind::Op(self.or_equal(Operator::Gt, Operator::Ge)),
            '!' if self.peek() == Some('=') => {
                self.position += 1;
                Kind::Op(Operator::Ne)
            }
            '!' => {
                return Err(format!(
                    "unexpected \"!\" at position {start} (negation is not supported; \
                     the operator is !=)"
                ));
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !DELIMITERS.contains(&c))
                {
                    self.position += 1;
                }
                Kind::Word(self.chars[start..self.position].iter().collect())
            }
        };
        Ok(Some(Token {
            kind,
            position: start,
        }))
    }

    /// `or_equal` when the next character is `=` (consumed), else `plain`.
    fn or_equal(&mut self, plain: Operator, or_equal: Operator) -> Operator {
        if self.peek() == Some('=') {
            self.position += 1;
            or_equal
        } else {
            plain
        }
    }

    /// The rest of a quoted string whose opening quote was at `start`, unescaped.
    fn quoted(&mut self, start: usize) -> Result<String, String> {
        let mut value = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!(
                    "unterminated quoted value starting at position {start}"
                ));
            };
            self.position += 1;
            match c {
                '"' => return Ok(value),
                '\\' => match self.peek() {
                    Some(escaped @ ('"' | '\\')) => {
                        self.position += 1;
                        value.push(escaped);
                    }
                    Some(other) => {
                        return Err(format!(
                            "invalid escape \"\\{other}\" at position {} (only \\\" and \\\\ \
                             are allowed in quoted values)",
                            self.position - 1
                        ));
                    }
                    None => {
                        return Err(format!(
                            "unterminated quoted value starting at position {start}"
                        ));
                    }
                },
                other => value.push(other),
            }
        }
    }
}

/// `OR` and `NOT`: AIP-160 keywords this subset refuses.
fn unsupported_keyword(word: &str) -> bool {
    word == "OR" || word == "NOT"
}

/// Any keyword, which is never a field or a bare value.
fn keyword(word: &str) -> bool {
    word == "AND" || unsupported_keyword(word)
}

fn unsupported(word: &str, position: usize) -> String {
    format!("{word} (at position {position}) is not supported; only AND joins comparisons")
}

/// `[A-Za-z_][A-Za-z0-9_.]*`.
fn identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// User input for an error message: quoted, escaped, and cut to [`SNIPPET`] characters.
fn snippet(text: &str) -> String {
    let mut cut: String = text.chars().take(SNIPPET).collect();
    if text.chars().nth(SNIPPET).is_some() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// What a token is, for error messages.
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Word(word) => snippet(word),
        Kind::Quoted(value) => format!("the quoted value {}", snippet(value)),
        Kind::Op(op) => format!("\"{op}\""),
    }
}

/// The parser proper; errors are field-violation descriptions.
fn parse_filter(text: &str, fields: &[FilterField]) -> Result<Filter, String> {
    if text.chars().nth(MAX_LENGTH).is_some() {
        return Err(format!("is longer than {MAX_LENGTH} characters"));
    }
    let mut lexer = Lexer::new(text);
    let mut comparisons = Vec::new();
    loop {
        // comparison := field op value
        let Some(token) = lexer.next_token()? else {
            if comparisons.is_empty() {
                return Ok(Filter::default());
            }
            return Err(format!(
                "missing comparison after AND at position {}",
                lexer.end()
            ));
        };
        if comparisons.len() == MAX_COMPARISONS {
            return Err(format!(
                "has more than {MAX_COMPARISONS} comparisons (the next one starts at position {})",
                token.position
            ));
        }
        let position = token.position;
        let field = match token.kind {
            Kind::Word(word) if unsupported_keyword(&word) => {
                return Err(unsupported(&word, position));
            }
            Kind::Word(word) if word.starts_with('-') => {
                return Err(format!(
                    "negation (\"-\" at position {position}) is not supported"
                ));
            }
            Kind::Word(word) if identifier(&word) && !keyword(&word) => word,
            other => {
                return Err(format!(
                    "expected a field name at position {position}, found {}",
                    describe(&other)
                ));
            }
        };
        let Some(declared) = fields.iter().find(|declared| declared.name == field) else {
            let allowed: Vec<&str> = fields.iter().map(|declared| declared.name).collect();
            return Err(if allowed.is_empty() {
                format!(
                    "unknown field {} at position {position}; this list has no filterable fields",
                    snippet(&field)
                )
            } else {
                format!(
                    "unknown field {} at position {position}; allowed fields: {}",
                    snippet(&field),
                    allowed.join(", ")
                )
            });
        };
        let op = match lexer.next_token()? {
            Some(Token {
                kind: Kind::Op(op),
                position: op_position,
            }) => {
                if !declared.operators.contains(&op) {
                    let allowed: Vec<&str> =
                        declared.operators.iter().map(|op| op.as_str()).collect();
                    return Err(format!(
                        "operator \"{op}\" at position {op_position} is not allowed for field \
                         {field}; allowed: {}",
                        allowed.join(" ")
                    ));
                }
                op
            }
            Some(Token {
                kind: Kind::Word(word),
                position: word_position,
            }) if unsupported_keyword(&word) => {
                return Err(unsupported(&word, word_position));
            }
            Some(other) => {
                return Err(format!(
                    "expected an operator after field {field} at position {}, found {}",
                    other.position,
                    describe(&other.kind)
                ));
            }
            None => {
                return Err(format!(
                    "missing operator after field {field} at position {}",
                    lexer.end()
                ));
            }
        };
        let (value, quoted) = match lexer.next_token()? {
            Some(Token {
                kind: Kind::Quoted(value),
                ..
            }) => (value, true),
            Some(Token {
                kind: Kind::Word(word),
                ..
            }) if !keyword(&word) => (word, false),
            Some(other) => {
                return Err(format!(
                    "missing value after {field} {op} at position {}, found {}{}",
                    other.position,
                    describe(&other.kind),
                    if matches!(&other.kind, Kind::Word(_)) {
                        " (quote a keyword to use it as a value)"
                    } else {
                        ""
                    }
                ));
            }
            None => {
                return Err(format!(
                    "missing value after {field} {op} at position {}",
                    lexer.end()
                ));
            }
        };
        comparisons.push(Comparison {
            field,
            op,
            value,
            quoted,
            position,
        });
        // { "AND" comparison }
        match lexer.next_token()? {
            None => return Ok(Filter { comparisons }),
            Some(Token {
                kind: Kind::Word(word),
                ..
            }) if word == "AND" => {}
            Some(Token {
                kind: Kind::Word(word),
                position: keyword_position,
            }) if unsupported_keyword(&word) => return Err(unsupported(&word, keyword_position)),
            Some(other) => {
                let hint = match &other.kind {
                    Kind::Word(word) if word.eq_ignore_ascii_case("and") => {
                        " (AND must be uppercase)"
                    }
                    _ => "",
                };
                return Err(format!(
                    "expected AND or the end of the filter at position {}, found {}{hint}",
                    other.position,
                    describe(&other.kind)
                ));
            }
        }
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
