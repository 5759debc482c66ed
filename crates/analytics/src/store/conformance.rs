//! The behaviour every [`AnalyticsStore`] must have, run on SQLite and PostgreSQL: a scripted
//! week of activity, applied through the real consumer and handler, gives the numbers a
//! plain simulation of the script gives; replaying every event changes nothing; another
//! organization sees none of it.

use std::collections::HashMap;
use std::sync::Arc;

use events::bus::{Delivery, EventMessage};
use mesh::ids::{OrganizationId, UserId};
use prost::{Message, Name};
use taskmesh::events::v1::*;

use super::{AnalyticsStore, ProjectScope};
use crate::domain::buckets::{Granularity, buckets, zone};
use crate::domain::metrics::points;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// An event of `payload` in `organization` at `at`.
fn message<P: Message + Name>(
    organization: OrganizationId,
    subject: &str,
    at: i64,
    payload: &P,
) -> EventMessage {
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: subject.into(),
        tenant_id: organization.to_string(),
        occurred_at: Some(mesh::time::timestamp(at)),
        resource: format!("organizations/{organization}"),
        payload_type: P::full_name(),
        payload: payload.encode_to_vec(),
        schema_version: 1,
        ..Event::default()
    };
    events::envelope::encode(&event).unwrap()
}

/// What the script does.
#[derive(Clone, Debug)]
enum Step {
    Create(&'static str, &'static str, &'static str),
    Move(&'static str, &'static str),
    Complete(&'static str),
    Delete(&'static str),
    Comment(&'static str),
    Work(&'static str, i64),
}

/// Plain simulation: per day, (created, completed, reopened, comments, work ms) and the
/// open counts (backlog, todo, in progress) at the day's end, for the tasks of `projects`.
fn simulate(script: &[(i64, Step)], projects: &[&str], days: usize) -> Vec<[i64; 8]> {
    let mut out = vec![[0_i64; 8]; days];
    let mut tasks: HashMap<&'static str, (&'static str, &'static str, bool)> = HashMap::new(); // task -> (project, category, deleted)
    for (at, step) in script {
        let d = usize::try_from(at / DAY).unwrap();

        match step {
            Step::Create(task, project, category) => {
                tasks.insert(task, (project, category, false));
                if projects.contains(project) {
                    out[d][0] += 1;
                }
            }
            Step::Move(task, to) => {
                let entry = tasks.get_mut(task).unwrap();
                if entry.1 == "done" && *to != "done" && projects.contains(&entry.0) {
                    out[d][2] += 1;
                }
                entry.1 = to;
            }
            Step::Complete(task) => {
                if projects.contains(&tasks[task].0) {
                    out[d][1] += 1;
                }
            }
            Step::Delete(task) => tasks.get_mut(task).unwrap().2 = true,
            Step::Comment(task) => {
                if projects.contains(&tasks[task].0) {
                    out[d][3] += 1;
                }
            }
            Step::Work(task, ms) => {
                if projects.contains(&tasks[task].0) {
                    out[d][4] += ms;
                }
            }
        }
        // Open counts at the end of this day and every later one, from the state now.
        for later in out.iter_mut().skip(d) {
            for (i, category) in ["backlog", "todo", "in_progress"].iter().enumerate() {
                later[5 + i] = tasks
                    .values()
                    .filter(|(p, c, deleted)| projects.contains(p) && c == category && !deleted)
                    .count() as i64;
            }
        }
    }
    out
}

/// Runs every check; `database` is the store's, for the consumer that applies events.
pub async fn run(store: &dyn AnalyticsStore, database: mesh::db::Database) {
    let bus = Arc::new(events::memory::InProcessBus::default());
    let consumer = events::Consumer::new(
        events::ConsumerConfig {
            name: "analytics-conformance".into(),
            filter_subjects: vec!["taskmesh.>".into()],
            ..Default::default()
        },
        bus,
        database,
        Arc::new(super::sql_apply::Rollups),
        10,
    );
    let org = OrganizationId::new();
    let (p1, p2) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    let (p1, p2): (&'static str, &'static str) = (
        Box::leak(p1.into_boxed_str()),
        Box::leak(p2.into_boxed_str()),
    );
    // Monday 2026-11-30 00:00 UTC.
    let week = mesh::time::rfc3339_millis("2026-11-30T00:00:00Z").unwrap();
    use Step::*;
    let script: Vec<(i64, Step)> = vec![
        (9 * HOUR, Create("t1", p1, "todo")),
        (9 * HOUR + 1, Create("t2", p1, "todo")),
        (10 * HOUR, Create("t3", p1, "backlog")),
        (11 * HOUR, Create("t4", p2, "todo")),
        (DAY + 9 * HOUR, Move("t1", "in_progress")),
        (DAY + 10 * HOUR, Comment("t1")),
        (DAY + 11 * HOUR, Work("t1", 2 * HOUR)),
        (2 * DAY + 9 * HOUR, Move("t1", "done")),
        (2 * DAY + 9 * HOUR + 1, Complete("t1")),
        (2 * DAY + 10 * HOUR, Move("t2", "in_progress")),
        (3 * DAY + 9 * HOUR, Move("t1", "todo")),
        (3 * DAY + 15 * HOUR, Move("t2", "done")),
        (3 * DAY + 15 * HOUR + 1, Complete("t2")),
        (3 * DAY + 16 * HOUR, Comment("t2")),
        (4 * DAY + 9 * HOUR, Move("t1", "in_progress")),
        (4 * DAY + 12 * HOUR, Move("t1", "done")),
        (4 * DAY + 12 * HOUR + 1, Complete("t1")),
        (5 * DAY + 9 * HOUR, Delete("t3")),
        (5 * DAY + 10 * HOUR, Move("t4", "in_progress")),
        (6 * DAY + 23 * HOUR, Work("t4", 30 * 60_000)),
    ];
    let mut projects_of: HashMap<&str, &str> = HashMap::new();
    let mut messages = vec![
        message(
            org,
            "taskmesh.projects.project.created",
            week,
            &ProjectCreated {
                project_id: p1.into(),
                ..Default::default()
            },
        ),
        message(
            org,
            "taskmesh.projects.project.created",
            week,
            &ProjectCreated {
                project_id: p2.into(),
                ..Default::default()
            },
        ),
    ];
    for (offset, step) in &script {
        let at = week + offset;
        let task_id = |task: &str| format!("{org}-{task}");
        messages.push(match step {
            Create(task, project, category) => {
                projects_of.insert(task, project);
                message(
                    org,
                    "taskmesh.projects.task.created",
                    at,
                    &TaskCreated {
                        task_id: task_id(task),
                        project_id: (*project).into(),
                        status_category: (*category).into(),
                        ..Default::default()
                    },
                )
            }
            Move(task, to) => message(
                org,
                "taskmesh.projects.task.moved",
                at,
                &TaskMoved {
                    task_id: task_id(task),
                    project_id: projects_of[task].into(),
                    to_status_category: (*to).into(),
                    ..Default::default()
                },
            ),
            Complete(task) => message(
                org,
                "taskmesh.projects.task.completed",
                at,
                &TaskCompleted {
                    task_id: task_id(task),
                    project_id: projects_of[task].into(),
                    ..Default::default()
                },
            ),
            Delete(task) => message(
                org,
                "taskmesh.projects.task.deleted",
                at,
                &TaskDeleted {
                    task_id: task_id(task),
                    project_id: projects_of[task].into(),
                    ..Default::default()
                },
            ),
            Comment(task) => message(
                org,
                "taskmesh.projects.comment.created",
                at,
                &CommentCreated {
                    task_id: task_id(task),
                    project_id: projects_of[task].into(),
                    ..Default::default()
                },
            ),
            Work(task, ms) => message(
                org,
                "taskmesh.projects.task.work_logged",
                at,
                &WorkLogged {
                    task_id: task_id(task),
                    project_id: projects_of[task].into(),
                    duration: Some(prost_types::Duration {
                        seconds: ms / 1_000,
                        nanos: 0,
                    }),
                    start_time: Some(mesh::time::timestamp(at)),
                    ..Default::default()
                },
            ),
        });
    }
    // Links: two visits by one visitor, one by another, one bot, on the last day.
    let last_day = week + 6 * DAY;
    messages.push(message(
        org,
        "taskmesh.links.link.created",
        last_day,
        &LinkCreated {
            link_id: "l1".into(),
            slug: "abc".into(),
            ..Default::default()
        },
    ));
    for (hash, browser, bot, referrer) in [
        ("v1", "Firefox", false, "https://mail.example.com/x"),
        ("v1", "Firefox", false, ""),
        ("v2", "Chrome", false, "https://www.example.org/"),
        ("v3", "", true, ""),
    ] {
        messages.push(message(
            org,
            "taskmesh.links.link.visited",
            last_day + HOUR,
            &LinkVisited {
                link_id: "l1".into(),
                visit_time: Some(mesh::time::timestamp(last_day + HOUR)),
                visitor_hash: hash.into(),
                browser: browser.into(),
                bot,
                referrer: referrer.into(),
                ..Default::default()
            },
        ));
    }
    let apply = |messages: Vec<EventMessage>| async {
        for message in messages {
            consumer
                .process(Delivery::detached(message, 1))
                .await
                .unwrap();
        }
    };
    apply(messages.clone()).await;

    let utc = zone("").unwrap();
    let days = buckets(week, week + 7 * DAY, Granularity::Day, &utc).unwrap();
    let check = |scope: ProjectScope, projects: Vec<&'static str>| {
        let script = &script;
        let days = &days;
        async move {
            let flow = store
                .task_flow(org, &scope, week, week + 7 * DAY)
                .await
                .unwrap();
            let (series, total) = points(days, &flow.base, &flow.slots, &flow.completions);
            let expected = simulate(script, &projects, 7);
            for (d, (point, want)) in series.iter().zip(&expected).enumerate() {
                let got = [
                    point.counts.created,
                    point.counts.completed,
                    point.counts.reopened,
                    point.counts.comments,
                    point.counts.work_logged_ms,
                    point.backlog,
                    point.todo,
                    point.in_progress,
                ];
                assert_eq!(&got, want, "day {d} of {projects:?}");
            }
            total
        }
    };
    let all = check(ProjectScope::All, vec![p1, p2]).await;
    let only_p1 = check(ProjectScope::Only(vec![p1.to_string()]), vec![p1]).await;
    check(ProjectScope::Only(vec![p2.to_string()]), vec![p2]).await;
    // Spot checks of the simulation itself, and of the percentiles.
    assert_eq!(
        (
            all.counts.created,
            all.counts.completed,
            all.counts.reopened
        ),
        (4, 3, 1)
    );
    assert_eq!(
        (only_p1.todo, only_p1.in_progress, only_p1.backlog),
        (0, 0, 0)
    );
    // Lead times: t1 2 d (first completion), t2 3 d 6 h, t1 4 d 3 h; cycle times (from the
    // first entry into progress): t1 1 d, t2 1 d 5 h, t1 3 d 3 h (completions are 1 ms after
    // their moves, t2 was created 1 ms after t1).
    assert_eq!(only_p1.median_lead_ms, Some(3 * DAY + 6 * HOUR));
    assert_eq!(only_p1.p85_lead_ms, Some(4 * DAY + 3 * HOUR + 1));
    assert_eq!(only_p1.median_cycle_ms, Some(DAY + 5 * HOUR + 1));
    assert_eq!(only_p1.p85_cycle_ms, Some(3 * DAY + 3 * HOUR + 1));

    let links = store
        .link_traffic(org, None, last_day, last_day + DAY, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            links.days.len(),
            links.days[0].visits,
            links.days[0].uniques,
            links.bot_visits
        ),
        (1, 3, 2, 1)
    );
    assert_eq!(links.top_links[0].1, "abc");
    let browsers: Vec<(String, i64, i64)> = links
        .browsers
        .iter()
        .map(|b| (b.value.clone(), b.visits, b.uniques))
        .collect();
    assert_eq!(
        browsers,
        vec![("Firefox".into(), 2, 1), ("Chrome".into(), 1, 1)]
    );
    let hosts: Vec<&str> = links
        .referrer_hosts
        .iter()
        .map(|r| r.value.as_str())
        .collect();
    assert_eq!(hosts, vec!["example.org", "mail.example.com", "unknown"]);
    assert!(store.link_exists(org, "l1").await.unwrap());

    let dashboard = store.dashboard(org, week + 7 * DAY).await.unwrap();
    assert_eq!(
        (
            dashboard.projects,
            dashboard.open_tasks,
            dashboard.completed_7_days,
            dashboard.links
        ),
        (2, 1, 3, 1)
    );

    // Replaying every event changes no number.
    apply(messages).await;
    assert_eq!(check(ProjectScope::All, vec![p1, p2]).await, all);
    assert_eq!(
        store.dashboard(org, week + 7 * DAY).await.unwrap(),
        dashboard
    );
    assert_eq!(
        store
            .link_traffic(org, None, last_day, last_day + DAY, 10)
            .await
            .unwrap(),
        links
    );

    // Another organization sees nothing of it.
    let other = OrganizationId::new();
    let flow = store
        .task_flow(other, &ProjectScope::All, week, week + 7 * DAY)
        .await
        .unwrap();
    assert!(flow.slots.is_empty() && flow.completions.is_empty());
    assert!(!store.link_exists(other, "l1").await.unwrap());
    assert!(store.project(other, p1).await.unwrap().is_none());
    assert_eq!(
        store.member_projects(org, UserId::new()).await.unwrap(),
        Vec::<String>::new()
    );
}
