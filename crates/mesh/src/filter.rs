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
mod tests {
    use super::*;

    const DOMAIN: &str = "test.taskmesh";
    const FIELDS: &[FilterField] = &[
        FilterField {
            name: "action",
            operators: &[Operator::Eq],
        },
        FilterField {
            name: "create_time",
            operators: &[Operator::Lt, Operator::Le, Operator::Gt, Operator::Ge],
        },
        FilterField {
            name: "label",
            operators: &[Operator::Eq, Operator::Ne, Operator::Has],
        },
        FilterField {
            name: "author.id",
            operators: &[Operator::Eq],
        },
    ];

    fn ok(text: &str) -> Vec<(String, Operator, String)> {
        parse(DOMAIN, text, FIELDS)
            .unwrap_or_else(|error| panic!("{text:?}: {error}"))
            .comparisons
            .into_iter()
            .map(|c| (c.field, c.op, c.value))
            .collect()
    }

    fn triple(field: &str, op: Operator, value: &str) -> (String, Operator, String) {
        (field.to_string(), op, value.to_string())
    }

    /// The field-violation description of a refused filter, after checking the error shape.
    fn refused(text: &str) -> String {
        let error = match parse(DOMAIN, text, FIELDS) {
            Ok(filter) => panic!("{text:?} accepted as {filter:?}"),
            Err(error) => error,
        };
        assert_eq!(error.code(), ErrorCode::InvalidArgument, "{text:?}");
        assert_eq!(error.reason(), REASON, "{text:?}");
        let violations = error.field_violations();
        assert_eq!(violations.len(), 1, "{text:?}");
        assert_eq!(violations[0].field, "filter", "{text:?}");
        violations[0].description.clone()
    }

    fn assert_refused(text: &str, expected: &[&str]) {
        let description = refused(text);
        for part in expected {
            assert!(
                description.contains(part),
                "{text:?}: {description:?} lacks {part:?}"
            );
        }
    }

    #[test]
    fn empty_and_blank_filters_have_no_conditions() {
        for text in ["", " ", "\t\n  "] {
            assert_eq!(parse(DOMAIN, text, FIELDS).unwrap(), Filter::default());
        }
    }

    #[test]
    fn comparisons_are_joined_by_and() {
        let filter = parse(
            DOMAIN,
            r#"action = "member.*" AND create_time >= "2026-01-01T00:00:00Z""#,
            FIELDS,
        )
        .unwrap();
        assert_eq!(
            filter.comparisons,
            vec![
                Comparison {
                    field: "action".into(),
                    op: Operator::Eq,
                    value: "member.*".into(),
                    quoted: true,
                    position: 0,
                },
                Comparison {
                    field: "create_time".into(),
                    op: Operator::Ge,
                    value: "2026-01-01T00:00:00Z".into(),
                    quoted: true,
                    position: 24,
                },
            ]
        );
    }

    #[test]
    fn quoted_values_may_contain_and_quotes_and_backslashes() {
        assert_eq!(
            ok(r#"action = "organizations/x AND y""#),
            vec![triple("action", Operator::Eq, "organizations/x AND y")]
        );
        assert_eq!(
            ok(r#"action = "a AND b" AND label : "OR (NOT) c""#),
            vec![
                triple("action", Operator::Eq, "a AND b"),
                triple("label", Operator::Has, "OR (NOT) c"),
            ]
        );
        assert_eq!(
            ok(r#"action = "say \"hi\" \\ bye""#),
            vec![triple("action", Operator::Eq, r#"say "hi" \ bye"#)]
        );
        assert_eq!(
            ok(r#"action = """#),
            vec![triple("action", Operator::Eq, "")]
        );
        assert_eq!(
            ok("action = \"ünï ✓\""),
            vec![triple("action", Operator::Eq, "ünï ✓")]
        );
    }

    #[test]
    fn whitespace_around_tokens_is_optional() {
        let expected = vec![
            triple("action", Operator::Eq, "x"),
            triple("create_time", Operator::Le, "5"),
            triple("label", Operator::Ne, "y z"),
            triple("author.id", Operator::Eq, "u1"),
        ];
        for text in [
            r#"action="x" AND create_time<=5 AND label!="y z" AND author.id=u1"#,
            r#"  action = "x"   AND create_time <= 5 AND label != "y z" AND author.id = u1  "#,
            "action\t=\"x\"\nAND\tcreate_time<= 5 AND label !=\"y z\" AND author.id =u1",
            r#"action="x"AND create_time<=5 AND label!="y z"AND author.id=u1"#,
        ] {
            assert_eq!(ok(text), expected, "{text:?}");
        }
        assert_eq!(
            ok("label:x AND create_time<1 AND create_time>2"),
            vec![
                triple("label", Operator::Has, "x"),
                triple("create_time", Operator::Lt, "1"),
                triple("create_time", Operator::Gt, "2"),
            ]
        );
    }

    #[test]
    fn bare_values_and_lowercase_and_are_words() {
        let filter = parse(DOMAIN, "action = member.added", FIELDS).unwrap();
        assert!(!filter.comparisons[0].quoted);
        assert_eq!(filter.comparisons[0].value, "member.added");
        // `and` is not the keyword; `1AND` is one word.
        assert_eq!(
            ok("action = and"),
            vec![triple("action", Operator::Eq, "and")]
        );
        assert_refused(
            "action = x and label = y",
            &["position 11", "AND must be uppercase"],
        );
        assert_refused("action = 1AND label = y", &["position 14", "\"label\""]);
    }

    #[test]
    fn unknown_fields_list_the_allowed_ones() {
        assert_refused(
            r#"drop = "x""#,
            &[
                "unknown field \"drop\" at position 0",
                "allowed fields: action, create_time, label, author.id",
            ],
        );
        assert_refused(
            r#"action = "x" AND author = "y""#,
            &["unknown field \"author\" at position 17"],
        );
        assert!(parse(DOMAIN, "a = 1", &[]).is_err());
        assert!(refused_with(&[], "a = 1").contains("no filterable fields"));
    }

    fn refused_with(fields: &[FilterField], text: &str) -> String {
        parse(DOMAIN, text, fields).unwrap_err().field_violations()[0]
            .description
            .clone()
    }

    #[test]
    fn operators_are_checked_per_field() {
        assert_refused(
            r#"action > "x""#,
            &[
                "operator \">\" at position 7 is not allowed for field action",
                "allowed: =",
            ],
        );
        assert_refused(
            r#"create_time = "2026-01-01T00:00:00Z""#,
            &["\"=\"", "allowed: < <= > >="],
        );
        assert_refused("label < 1", &["allowed: = != :"]);
    }

    #[test]
    fn malformed_filters_say_what_and_where() {
        assert_refused(
            r#"action = "x"#,
            &["unterminated quoted value", "position 9"],
        );
        assert_refused(r#"action = "x\"#, &["unterminated", "position 9"]);
        assert_refused(r#"action = "x\n""#, &["invalid escape", "position 11"]);
        assert_refused("action =", &["missing value after action =", "position 8"]);
        assert_refused("action = ", &["missing value", "position 9"]);
        assert_refused("action = = x", &["missing value", "position 9", "\"=\""]);
        assert_refused("action = AND", &["missing value", "quote a keyword"]);
        assert_refused(
            "action",
            &["missing operator after field action", "position 6"],
        );
        assert_refused("action x", &["expected an operator", "position 7"]);
        assert_refused(r#"action "x""#, &["expected an operator", "quoted value"]);
        assert_refused(
            r#"action = "x" y"#,
            &["expected AND or the end", "position 13"],
        );
        assert_refused(r#"action = "x" "y""#, &["expected AND", "position 13"]);
        assert_refused(
            r#"action = "x" AND"#,
            &["missing comparison after AND", "16"],
        );
        assert_refused(r#"action = "x" AND AND"#, &["expected a field name", "17"]);
        assert_refused("AND action = x", &["expected a field name at position 0"]);
        assert_refused("= x", &["expected a field name at position 0", "\"=\""]);
        assert_refused(r#""action" = x"#, &["expected a field name", "quoted"]);
        assert_refused("9action = x", &["expected a field name", "\"9action\""]);
        assert_refused("action = x!", &["unexpected \"!\" at position 10"]);
    }

    #[test]
    fn or_not_negation_and_parentheses_are_refused() {
        assert_refused(
            "action = x OR action = y",
            &["OR (at position 11) is not supported"],
        );
        assert_refused("NOT action = x", &["NOT (at position 0) is not supported"]);
        assert_refused("action NOT = x", &["NOT", "not supported"]);
        assert_refused("-action = x", &["negation", "position 0"]);
        assert_refused(
            "(action = x)",
            &["parentheses are not supported", "position 0"],
        );
        assert_refused("action = (x)", &["parentheses", "position 9"]);
        assert_refused("action = x AND (label = y OR label = z)", &["position 15"]);
        assert_refused("action = f(x)", &["parentheses", "position 10"]);
        assert_refused("!action = x", &["unexpected \"!\""]);
    }

    #[test]
    fn input_is_bounded() {
        let longest = format!("action = \"{}\"", "x".repeat(MAX_LENGTH - 11));
        assert_eq!(longest.chars().count(), MAX_LENGTH);
        assert_eq!(ok(&longest).len(), 1);
        assert_refused(&format!("{longest} "), &["longer than 2048 characters"]);
        // Characters, not bytes: 2,048 two-byte characters are fine.
        let wide = format!("action = \"{}\"", "é".repeat(MAX_LENGTH - 11));
        assert_eq!(ok(&wide).len(), 1);

        let many = |n: usize| vec!["label = x"; n].join(" AND ");
        assert_eq!(ok(&many(MAX_COMPARISONS)).len(), MAX_COMPARISONS);
        assert_refused(&many(MAX_COMPARISONS + 1), &["more than 32 comparisons"]);
        // Long user input is cut in messages.
        let description = refused(&format!("{} = x", "f".repeat(500)));
        assert!(description.len() < 200, "{description}");
    }

    #[test]
    fn errors_are_invalid_argument_in_the_callers_domain() {
        let error = parse("tenancy.taskmesh", "drop = x", FIELDS).unwrap_err();
        let status = error.into_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            crate::error::reason_of(&status).as_deref(),
            Some("FILTER_INVALID")
        );
        assert!(
            status
                .message()
                .starts_with("invalid filter: unknown field")
        );
        let error = invalid(DOMAIN, "create_time needs RFC 3339");
        assert_eq!(error.reason(), REASON);
        assert_eq!(error.field_violations()[0].field, "filter");
    }

    /// A fixed xorshift64* generator: reproducible, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Renders a comparison back into filter text, quoting and escaping the value.
    fn render(comparison: &Comparison) -> String {
        let escaped = comparison.value.replace('\\', r"\\").replace('"', "\\\"");
        format!("{} {} \"{escaped}\"", comparison.field, comparison.op)
    }

    #[test]
    fn any_input_parses_or_is_refused_without_panicking() {
        const PIECES: &[&str] = &[
            "action",
            "create_time",
            "label",
            "author.id",
            "author",
            "x",
            "_",
            ".",
            "1",
            "é",
            "✓",
            "=",
            "!=",
            "!",
            "<",
            "<=",
            ">",
            ">=",
            ":",
            "\"",
            "\\",
            "\\\"",
            "\\\\",
            " ",
            "\t",
            "\n",
            "(",
            ")",
            "-",
            "*",
            "AND",
            "and",
            "OR",
            "NOT",
            " AND ",
            "\0",
            "\u{7f}",
            "\u{200b}",
            "\u{3000}",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0;
        for round in 0..20_000 {
            let mut text = String::new();
            for _ in 0..rng.below(24) {
                if round % 3 == 0 {
                    // Arbitrary code points, including invalid ones mapped to U+FFFD.
                    let code = (rng.next_u64() % 0x11_0000) as u32;
                    text.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                } else {
                    text.push_str(PIECES[rng.below(PIECES.len())]);
                }
            }
            match parse(DOMAIN, &text, FIELDS) {
                Ok(filter) => {
                    accepted += 1;
                    assert!(filter.comparisons.len() <= MAX_COMPARISONS);
                    for comparison in &filter.comparisons {
                        let declared = FIELDS
                            .iter()
                            .find(|field| field.name == comparison.field)
                            .unwrap_or_else(|| panic!("{text:?}: undeclared field"));
                        assert!(declared.operators.contains(&comparison.op), "{text:?}");
                    }
                    // Rendering the result back, with every value quoted, gives it again.
                    let again = filter
                        .comparisons
                        .iter()
                        .map(render)
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    let reparsed = parse(DOMAIN, &again, FIELDS)
                        .unwrap_or_else(|error| panic!("{text:?} → {again:?}: {error}"));
                    let key = |filter: &Filter| {
                        filter
                            .comparisons
                            .iter()
                            .map(|c| (c.field.clone(), c.op, c.value.clone()))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(key(&reparsed), key(&filter), "{text:?}");
                }
                Err(error) => {
                    assert_eq!(error.reason(), REASON, "{text:?}");
                    assert_eq!(error.field_violations().len(), 1, "{text:?}");
                }
            }
        }
        // The generator does reach valid filters, not only garbage.
        assert!(accepted > 100, "only {accepted} accepted");
    }
}
