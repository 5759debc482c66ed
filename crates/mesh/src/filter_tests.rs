//! Tests of the filter grammar: every error kind, quoting, and no panic on any input.

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
