//! The ListTasks filter: `term { " AND " term }`, a term being one comparison or a
//! parenthesized `OR` of comparisons of one field. Each comparison is parsed by the shared
//! grammar (`mesh::filter`) and turned into a [`Condition`] the store renders with bound
//! parameters; nothing from the filter is spliced into SQL. Also the simpler AND-only filters
//! of ListWorkLogs and ListProjectActivity, and the order_by of ListTasks.

use mesh::filter::{FilterField, Operator};

use super::{DOMAIN, Priority, ProjectsError, StatusCategory};

/// A time column a filter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeField {
    /// `start_at`.
    Start,
    /// `due_at`.
    Due,
    /// `created_at`.
    Create,
    /// `updated_at`.
    Update,
}

/// A comparison operator on numbers and times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `!=`
    Ne,
}

impl Compare {
    /// SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Self::Lt => " < ",
            Self::Le => " <= ",
            Self::Gt => " > ",
            Self::Ge => " >= ",
            Self::Eq => " = ",
            Self::Ne => " <> ",
        }
    }
}

/// One condition on tasks; `negate` turns "has" into "lacks".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Status category equals.
    Status(StatusCategory, bool),
    /// Priority compares.
    Priority(Compare, i64),
    /// Has (or lacks) the assignee; `None` = unassigned (negated: assigned).
    Assignee(Option<String>, bool),
    /// Reporter equals.
    Reporter(String, bool),
    /// Has (or lacks) a label of this name (lowercased).
    LabelName(String, bool),
    /// Has (or lacks) the label id.
    LabelId(String, bool),
    /// On the board.
    Board(String, bool),
    /// In the column.
    Column(String, bool),
    /// Direct subtask of; `None` = top-level.
    Parent(Option<String>, bool),
    /// A time compares.
    Time(TimeField, Compare, i64),
    /// Every word (lowercased) in the title.
    TitleWords(Vec<String>),
    /// Every word in the title or description.
    TextWords(Vec<String>),
}

/// Conditions ORed together; a filter is these ANDed.
pub type Clause = Vec<Condition>;

const EQ: &[Operator] = &[Operator::Eq, Operator::Ne];
const CMP: &[Operator] = &[
    Operator::Eq,
    Operator::Ne,
    Operator::Lt,
    Operator::Le,
    Operator::Gt,
    Operator::Ge,
];
const RANGE: &[Operator] = &[Operator::Lt, Operator::Le, Operator::Gt, Operator::Ge];
const HAS: &[Operator] = &[Operator::Has];

const TASK_FIELDS: &[FilterField] = &[
    FilterField {
        name: "status_category",
        operators: EQ,
    },
    FilterField {
        name: "priority",
        operators: CMP,
    },
    FilterField {
        name: "assignee_user_id",
        operators: EQ,
    },
    FilterField {
        name: "reporter_user_id",
        operators: EQ,
    },
    FilterField {
        name: "label",
        operators: EQ,
    },
    FilterField {
        name: "label_id",
        operators: EQ,
    },
    FilterField {
        name: "board_id",
        operators: EQ,
    },
    FilterField {
        name: "column_id",
        operators: EQ,
    },
    FilterField {
        name: "parent_task_id",
        operators: EQ,
    },
    FilterField {
        name: "start_time",
        operators: RANGE,
    },
    FilterField {
        name: "due_time",
        operators: RANGE,
    },
    FilterField {
        name: "create_time",
        operators: RANGE,
    },
    FilterField {
        name: "update_time",
        operators: RANGE,
    },
    FilterField {
        name: "title",
        operators: HAS,
    },
    FilterField {
        name: "text",
        operators: HAS,
    },
];

fn bad(description: impl Into<String>) -> ProjectsError {
    mesh::filter::invalid(DOMAIN, description).into()
}

/// Splits `text` on `separator` outside double quotes (and, when `depth` is tracked,
/// outside parentheses).
fn split_top(text: &str, separator: &str) -> Result<Vec<String>, ProjectsError> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if quoted {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => quoted = false,
                _ => {}
            }
        } else if byte == b'"' {
            quoted = true;
        } else if byte == b'(' {
            depth += 1;
        } else if byte == b')' {
            depth -= 1;
            if depth < 0 {
                return Err(bad("unbalanced parenthesis"));
            }
        } else if depth == 0 && text[index..].starts_with(separator) {
            parts.push(text[start..index].to_string());
            index += separator.len();
            start = index;
            continue;
        }
        index += 1;
    }
    if quoted || depth != 0 {
        return Err(bad("unbalanced quote or parenthesis"));
    }
    parts.push(text[start..].to_string());
    Ok(parts)
}

/// Parses a ListTasks filter; `me` is the caller's user id.
pub fn parse_tasks(text: &str, me: &str) -> Result<Vec<Clause>, ProjectsError> {
    if text.chars().count() > 2_048 {
        return Err(bad("at most 2048 characters"));
    }
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    let mut comparisons = 0;
    for term in split_top(text, " AND ")? {
        let term = term.trim();
        let alternatives = match term.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            Some(inner) => split_top(inner, " OR ")?,
            None => vec![term.to_string()],
        };
        let mut clause = Vec::new();
        let mut field_of_clause: Option<String> = None;
        for alternative in alternatives {
            let parsed = mesh::filter::parse(DOMAIN, alternative.trim(), TASK_FIELDS)?;
            let [comparison] = parsed.comparisons.as_slice() else {
                return Err(bad(format!("expected one comparison in {alternative:?}")));
            };
            if field_of_clause
                .as_ref()
                .is_some_and(|field| *field != comparison.field)
            {
                return Err(bad("OR joins comparisons of one field only"));
            }
            field_of_clause = Some(comparison.field.clone());
            comparisons += 1;
            clause.push(task_condition(
                &comparison.field,
                comparison.op,
                &comparison.value,
                me,
            )?);
        }
        clauses.push(clause);
    }
    if comparisons > 20 {
        return Err(bad("at most 20 comparisons"));
    }
    Ok(clauses)
}

fn compare(op: Operator) -> Compare {
    match op {
        Operator::Lt => Compare::Lt,
        Operator::Le => Compare::Le,
        Operator::Gt => Compare::Gt,
        Operator::Ge => Compare::Ge,
        Operator::Ne => Compare::Ne,
        _ => Compare::Eq,
    }
}

/// An RFC 3339 time in a filter.
pub fn time_value(field: &str, value: &str) -> Result<i64, ProjectsError> {
    mesh::time::rfc3339_millis(value).ok_or_else(|| {
        bad(format!(
            "{field} needs an RFC 3339 UTC time like 2026-01-01T00:00:00Z"
        ))
    })
}

fn id_value(field: &str, value: &str, me: &str) -> Result<String, ProjectsError> {
    let value = if value == "me" { me } else { value };
    uuid::Uuid::parse_str(value)
        .map(|uuid| uuid.hyphenated().to_string())
        .map_err(|_| bad(format!("{field} needs an id")))
}

fn words(value: &str) -> Vec<String> {
    value
        .split_whitespace()
        .map(str::to_lowercase)
        .take(10)
        .collect()
}

fn task_condition(
    field: &str,
    op: Operator,
    value: &str,
    me: &str,
) -> Result<Condition, ProjectsError> {
    let negate = op == Operator::Ne;
    Ok(match field {
        "status_category" => {
            let category = StatusCategory::parse(&value.to_ascii_lowercase()).ok_or_else(|| {
                bad("status_category is BACKLOG, TODO, IN_PROGRESS, DONE or CANCELLED")
            })?;
            Condition::Status(category, negate)
        }
        "priority" => {
            let priority = Priority::ALL
                .into_iter()
                .find(|priority| priority.as_str().eq_ignore_ascii_case(value))
                .ok_or_else(|| bad("priority is NONE, LOW, MEDIUM, HIGH or URGENT"))?;
            Condition::Priority(compare(op), priority.level())
        }
        "assignee_user_id" if value.is_empty() => Condition::Assignee(None, negate),
        "assignee_user_id" => Condition::Assignee(Some(id_value(field, value, me)?), negate),
        "reporter_user_id" => Condition::Reporter(id_value(field, value, me)?, negate),
        "label" => Condition::LabelName(value.to_lowercase(), negate),
        "label_id" => Condition::LabelId(id_value(field, value, me)?, negate),
        "board_id" => Condition::Board(id_value(field, value, me)?, negate),
        "column_id" => Condition::Column(id_value(field, value, me)?, negate),
        "parent_task_id" if value.is_empty() => Condition::Parent(None, negate),
        "parent_task_id" => Condition::Parent(Some(id_value(field, value, me)?), negate),
        "start_time" => Condition::Time(TimeField::Start, compare(op), time_value(field, value)?),
        "due_time" => Condition::Time(TimeField::Due, compare(op), time_value(field, value)?),
        "create_time" => Condition::Time(TimeField::Create, compare(op), time_value(field, value)?),
        "update_time" => Condition::Time(TimeField::Update, compare(op), time_value(field, value)?),
        "title" => Condition::TitleWords(words(value)),
        "text" => Condition::TextWords(words(value)),
        other => return Err(bad(format!("unsupported field {other}"))),
    })
}

/// A ListTasks order: the sort field and whether descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOrder {
    /// Board order.
    Rank,
    /// Creation.
    Created,
    /// Last change.
    Updated,
    /// Start time (unset last).
    Start,
    /// Due time (unset last).
    Due,
    /// Priority.
    Priority,
}

/// Parses ListTasks' order_by: one sort field, optionally ` desc`. Default `create_time desc`.
pub fn task_order(text: &str) -> Result<(TaskOrder, bool), ProjectsError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok((TaskOrder::Created, true));
    }
    let order_invalid = |description: &str| ProjectsError::OrderByInvalid(description.into());
    if text.contains(',') {
        return Err(order_invalid(
            "one sort field is supported (ties are broken by id)",
        ));
    }
    let mut parts = text.split_whitespace();
    let field = parts.next().unwrap_or_default();
    let descending = match parts.next() {
        None => false,
        Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(order_invalid("a sort field may be followed by desc or asc")),
    };
    if parts.next().is_some() {
        return Err(order_invalid("a sort field may be followed by desc or asc"));
    }
    let order = match field {
        "rank" => TaskOrder::Rank,
        "create_time" => TaskOrder::Created,
        "update_time" => TaskOrder::Updated,
        "start_time" => TaskOrder::Start,
        "due_time" => TaskOrder::Due,
        "priority" => TaskOrder::Priority,
        _ => {
            return Err(order_invalid(
                "sort by rank, create_time, update_time, start_time, due_time or priority",
            ));
        }
    };
    Ok((order, descending))
}

/// `create_time` / `create_time desc` style order_by of the simpler lists; `default_desc`
/// is the direction of an empty order_by. Returns whether descending.
pub fn time_order(text: &str, field: &str, default_desc: bool) -> Result<bool, ProjectsError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(default_desc);
    }
    if text == field {
        return Ok(false);
    }
    if text == format!("{field} desc") {
        return Ok(true);
    }
    Err(ProjectsError::OrderByInvalid(format!(
        "must be {field:?} or \"{field} desc\""
    )))
}

/// A field of an AND-only filter (ListWorkLogs, ListProjectActivity).
pub fn parse_and(
    text: &str,
    fields: &[FilterField],
) -> Result<Vec<mesh::filter::Comparison>, ProjectsError> {
    if text.chars().count() > 1_024 {
        return Err(bad("at most 1024 characters"));
    }
    Ok(mesh::filter::parse(DOMAIN, text, fields)?.comparisons)
}

/// Operators of id fields in AND-only filters.
pub const ID_OPERATORS: &[Operator] = EQ;
/// Operators of time fields in AND-only filters.
pub const TIME_OPERATORS: &[Operator] = RANGE;

/// The comparison operator of a parsed time comparison.
pub fn compare_of(op: Operator) -> Compare {
    compare(op)
}

/// An id (or `me`) in a filter.
pub fn filter_id(field: &str, value: &str, me: &str) -> Result<String, ProjectsError> {
    id_value(field, value, me)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "0190a5b4-8c1e-7b3a-9f00-1c2d3e4f5a6b";

    #[test]
    fn task_filters_parse_with_or_groups_of_one_field() {
        let clauses = parse_tasks(
            r#"status_category = "IN_PROGRESS" AND assignee_user_id = "me" AND (label = "bug" OR label = "Regression") AND due_time >= "2026-01-01T00:00:00Z" AND title : "login page""#,
            ME,
        )
        .unwrap();
        assert_eq!(clauses.len(), 5);
        assert_eq!(
            clauses[0],
            vec![Condition::Status(StatusCategory::InProgress, false)]
        );
        assert_eq!(
            clauses[1],
            vec![Condition::Assignee(Some(ME.into()), false)]
        );
        assert_eq!(
            clauses[2],
            vec![
                Condition::LabelName("bug".into(), false),
                Condition::LabelName("regression".into(), false)
            ]
        );
        assert_eq!(
            clauses[4],
            vec![Condition::TitleWords(vec!["login".into(), "page".into()])]
        );
        assert_eq!(
            parse_tasks(r#"parent_task_id = """#, ME).unwrap(),
            vec![vec![Condition::Parent(None, false)]]
        );
    }

    #[test]
    fn bad_task_filters_are_refused_with_the_filter_reason() {
        for bad in [
            r#"(label = "a" OR priority = "LOW")"#,
            r#"status_category = "DOING""#,
            r#"due_time >= "tomorrow""#,
            r#"assignee_user_id = "bob""#,
            r#"title = "x""#,
            r#"label = "a" OR label = "b""#,
            r#"(label = "a""#,
            r#"secret = "x""#,
        ] {
            let error = parse_tasks(bad, ME).unwrap_err();
            assert_eq!(error.reason(), "FILTER_INVALID", "{bad}");
        }
    }

    #[test]
    fn orders_take_one_field() {
        assert_eq!(task_order("").unwrap(), (TaskOrder::Created, true));
        assert_eq!(
            task_order("priority desc").unwrap(),
            (TaskOrder::Priority, true)
        );
        assert_eq!(task_order("due_time").unwrap(), (TaskOrder::Due, false));
        assert!(task_order("priority desc, due_time").is_err());
        assert!(task_order("title").is_err());
    }
}
