//! The behaviour every [`ProjectsStore`] must have, run against SQLite and PostgreSQL
//! (`tests/store.rs`; on PostgreSQL as a runtime role under row-level security).

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;

use super::*;
use crate::domain::filter::{Condition, TaskOrder};
use crate::domain::{StatusCategory, rank};

/// A project with one board of three columns (the last with WIP limit 2), owned by a user.
pub struct Seed {
    pub organization: OrganizationId,
    pub owner: UserId,
    pub project: ProjectRecord,
    pub board: BoardRecord,
    pub columns: Vec<ColumnRecord>,
}

fn project(
    organization: OrganizationId,
    owner: UserId,
    key: &str,
    board: BoardId,
) -> ProjectRecord {
    ProjectRecord {
        id: ProjectId::new(),
        organization_id: organization,
        key: key.into(),
        name: format!("Project {key}"),
        description: "About the web".into(),
        lead_user_id: Some(owner),
        state: "active".into(),
        default_board_id: board,
        creator_user_id: owner,
        create_request_id: Some(format!("req-{key}")),
        task_seq: 0,
        archived_at: None,
        deleted_at: None,
        created_at: 1_000,
        updated_at: 1_000,
        version: 1,
    }
}

/// Creates a seeded project in a fresh organization.
pub async fn seed(store: &dyn ProjectsStore, key: &str) -> Seed {
    let organization = OrganizationId::new();
    let owner = UserId::new();
    let board_id = BoardId::new();
    let project = project(organization, owner, key, board_id);
    let board = BoardRecord {
        id: board_id,
        organization_id: organization,
        project_id: project.id,
        name: "Board".into(),
        description: String::new(),
        workflow: "{}".into(),
        feed_seq: 0,
        creator_user_id: owner,
        request_id: None,
        created_at: 1_000,
        updated_at: 1_000,
        version: 1,
    };
    let columns: Vec<ColumnRecord> = [
        ("To Do", "todo", 0),
        ("Doing", "in_progress", 0),
        ("Done", "done", 2),
    ]
    .iter()
    .enumerate()
    .map(|(position, (name, category, wip))| ColumnRecord {
        id: ColumnId::new(),
        organization_id: organization,
        project_id: project.id,
        board_id,
        name: (*name).into(),
        name_key: name.to_lowercase(),
        position: position as i64,
        wip_limit: *wip,
        status_category: (*category).into(),
        creator_user_id: owner,
        request_id: None,
        created_at: 1_000 + position as i64,
        updated_at: 1_000,
        version: 1,
        task_count: 0,
    })
    .collect();
    let mut ops = vec![
        Op::InsertProject(project.clone()),
        Op::InsertMember(MemberRecord {
            organization_id: organization,
            project_id: project.id,
            user_id: owner,
            role: "owner".into(),
            created_at: 1_000,
            updated_at: 1_000,
            version: 1,
        }),
        Op::InsertBoard(board.clone()),
    ];
    ops.extend(columns.iter().cloned().map(Op::InsertColumn));
    store
        .apply(organization, ops, Effects::none())
        .await
        .unwrap();
    Seed {
        organization,
        owner,
        project,
        board,
        columns,
    }
}

/// A task record in `column` (not yet stored).
pub fn task(seed: &Seed, number: i64, column: &ColumnRecord, rank: &str, at: i64) -> TaskRecord {
    TaskRecord {
        id: TaskId::new(),
        organization_id: seed.organization,
        project_id: seed.project.id,
        number,
        key: format!("{}-{number}", seed.project.key),
        title: format!("Task number {number}"),
        description: String::new(),
        board_id: column.board_id,
        column_id: column.id,
        column_position: column.position,
        status_category: column.status_category.clone(),
        rank: rank.into(),
        priority: number % 5,
        reporter_user_id: seed.owner,
        parent_task_id: None,
        start_at: None,
        due_at: (number % 2 == 0).then_some(at + 86_400_000),
        estimate_ms: None,
        completed_at: None,
        create_request_id: None,
        deleted_at: None,
        deleted_action_id: None,
        created_at: at,
        updated_at: at,
        version: 1,
        subtask_count: 0,
        comment_count: 0,
        time_spent_ms: 0,
        assignee_user_ids: Vec::new(),
        label_ids: Vec::new(),
    }
}

async fn all_pages(
    store: &dyn ProjectsStore,
    seed: &Seed,
    order: TaskOrder,
    descending: bool,
    clauses: &[Vec<Condition>],
) -> Vec<TaskRecord> {
    let mut page = PageRequest::first(3, task_keyset(order, descending, false));
    let mut all = Vec::new();
    loop {
        let found = store
            .tasks(
                seed.organization,
                &TaskScope::Project(seed.project.id),
                clauses,
                &page,
            )
            .await
            .unwrap();
        all.extend(found.items);
        match page.next(&found.next_page_token) {
            Some(next) => page = next,
            None => return all,
        }
    }
}

/// Runs every check.
pub async fn run(store: &dyn ProjectsStore) {
    projects_keys_and_members(store).await;
    tasks_numbers_lists_and_filters(store).await;
    wip_limits_guards_and_tombstones(store).await;
    history_undo_and_feed(store).await;
}

async fn projects_keys_and_members(store: &dyn ProjectsStore) {
    let seed = seed(store, "WEB").await;
    let org = seed.organization;
    let found = store.project(org, seed.project.id).await.unwrap().unwrap();
    assert_eq!(found, seed.project);
    assert_eq!(
        store.project_by_key(org, "WEB").await.unwrap().unwrap().id,
        seed.project.id
    );
    assert_eq!(
        store
            .project_by_request(org, seed.owner, "req-WEB")
            .await
            .unwrap()
            .unwrap()
            .id,
        seed.project.id
    );
    // Another organization sees nothing of it, and may use the same key.
    let other = OrganizationId::new();
    assert!(
        store
            .project(other, seed.project.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.board(other, seed.board.id).await.unwrap().is_none());
    let twin = seed_in(store, other, "WEB").await;
    assert!(twin.is_ok(), "keys are unique per organization only");
    // The same key twice in one organization is refused.
    let clash = project(org, seed.owner, "WEB", BoardId::new());
    let error = store
        .apply(org, vec![Op::InsertProject(clash)], Effects::none())
        .await
        .unwrap_err();
    assert!(matches!(error, ProjectsError::ProjectKeyTaken), "{error:?}");
    // Version guards: a stale update writes nothing.
    let mut renamed = seed.project.clone();
    renamed.name = "Renamed".into();
    renamed.version = 2;
    let stale = store
        .apply(
            org,
            vec![Op::UpdateProject(renamed.clone(), 5)],
            Effects::none(),
        )
        .await;
    assert!(matches!(stale, Err(ProjectsError::Conflict)));
    store
        .apply(org, vec![Op::UpdateProject(renamed, 1)], Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store
            .project(org, seed.project.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Renamed"
    );
    // Members: one owner; listing and readable projects.
    let viewer = UserId::new();
    let member = MemberRecord {
        organization_id: org,
        project_id: seed.project.id,
        user_id: viewer,
        role: "viewer".into(),
        created_at: 2_000,
        updated_at: 2_000,
        version: 1,
    };
    store
        .apply(org, vec![Op::InsertMember(member.clone())], Effects::none())
        .await
        .unwrap();
    let again = store
        .apply(org, vec![Op::InsertMember(member)], Effects::none())
        .await;
    assert!(matches!(again, Err(ProjectsError::ProjectMemberExists)));
    assert_eq!(store.owner_count(org, seed.project.id).await.unwrap(), 1);
    // The access read: the project with the user's explicit role, none for a stranger, and
    // nothing in another organization.
    let (project, role) = store
        .project_access(org, seed.project.id, viewer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (project.id, role.as_deref()),
        (seed.project.id, Some("viewer"))
    );
    let (_, role) = store
        .project_access(org, seed.project.id, UserId::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(role, None);
    assert!(
        store
            .project_access(other, seed.project.id, viewer)
            .await
            .unwrap()
            .is_none()
    );
    let members = store
        .members(org, seed.project.id, &PageRequest::first(10, MEMBERS_ORDER))
        .await
        .unwrap();
    assert_eq!(members.items.len(), 2);
    assert_eq!(
        store
            .readable_projects(org, Some(viewer), false)
            .await
            .unwrap(),
        vec![seed.project.id]
    );
    assert!(
        store
            .readable_projects(org, Some(UserId::new()), false)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = store
        .projects(
            org,
            &ProjectQuery {
                words: vec!["web".into()],
                ..ProjectQuery::default()
            },
            &PageRequest::first(10, PROJECTS_ORDER),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    // Labels: unique names per project, case-insensitively.
    let label = LabelRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org,
        project_id: seed.project.id,
        name: "Bug".into(),
        name_key: "bug".into(),
        description: String::new(),
        color: "#ff0000".into(),
        creator_user_id: seed.owner,
        request_id: None,
        created_at: 1,
        updated_at: 1,
        version: 1,
    };
    store
        .apply(org, vec![Op::InsertLabel(label.clone())], Effects::none())
        .await
        .unwrap();
    let duplicate = LabelRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name: "BUG".into(),
        ..label
    };
    let taken = store
        .apply(org, vec![Op::InsertLabel(duplicate)], Effects::none())
        .await;
    assert!(matches!(taken, Err(ProjectsError::LabelNameTaken)));
}

async fn seed_in(
    store: &dyn ProjectsStore,
    organization: OrganizationId,
    key: &str,
) -> StoreResult<()> {
    let owner = UserId::new();
    store
        .apply(
            organization,
            vec![Op::InsertProject(project(
                organization,
                owner,
                key,
                BoardId::new(),
            ))],
            Effects::none(),
        )
        .await
}

async fn tasks_numbers_lists_and_filters(store: &dyn ProjectsStore) {
    let seed = seed(store, "LIST").await;
    let org = seed.organization;
    let todo = &seed.columns[0];
    let ada = UserId::new();
    let label = uuid::Uuid::now_v7().to_string();
    store
        .apply(
            org,
            vec![Op::InsertLabel(LabelRecord {
                id: label.clone(),
                organization_id: org,
                project_id: seed.project.id,
                name: "Frontend".into(),
                name_key: "frontend".into(),
                description: String::new(),
                color: "#00ff00".into(),
                creator_user_id: seed.owner,
                request_id: None,
                created_at: 1,
                updated_at: 1,
                version: 1,
            })],
            Effects::none(),
        )
        .await
        .unwrap();
    let mut last_rank: Option<String> = None;
    let mut created = Vec::new();
    for number in 1..=10 {
        let next = rank::between(last_rank.as_deref(), None);
        last_rank = Some(next.clone());
        let mut record = task(&seed, number, todo, &next, 10_000 + number * 10);
        if number == 3 {
            record.title = "Fix the LOGIN page".into();
        }
        let mut ops = vec![
            Op::TakeTaskNumber(seed.project.id, number),
            Op::InsertTask(record.clone()),
        ];
        if number % 3 == 0 {
            ops.push(Op::SetAssignees(record.id, vec![ada, seed.owner]));
            ops.push(Op::SetLabels(record.id, vec![label.clone()]));
        }
        store.apply(org, ops, Effects::none()).await.unwrap();
        created.push(record);
    }
    // A number already taken is a conflict; nothing of the unit is written.
    let late = task(&seed, 3, todo, "zz", 99_999);
    let error = store
        .apply(
            org,
            vec![
                Op::TakeTaskNumber(seed.project.id, 3),
                Op::InsertTask(late.clone()),
            ],
            Effects::none(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ProjectsError::Conflict));
    assert!(store.task(org, late.id, true).await.unwrap().is_none());
    // Reads carry assignees in order and labels.
    let third = store
        .task(org, created[2].id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.assignee_user_ids, vec![ada, seed.owner]);
    assert_eq!(third.label_ids, vec![label.clone()]);
    assert_eq!(
        store
            .task_by_number(org, seed.project.id, 3)
            .await
            .unwrap()
            .unwrap()
            .id,
        third.id
    );
    // Every order pages through every task exactly once, in order.
    for order in [
        TaskOrder::Rank,
        TaskOrder::Created,
        TaskOrder::Updated,
        TaskOrder::Priority,
        TaskOrder::Due,
        TaskOrder::Start,
    ] {
        for descending in [false, true] {
            let all = all_pages(store, &seed, order, descending, &[]).await;
            assert_eq!(all.len(), 10, "{order:?} {descending}");
            let mut ids: Vec<_> = all.iter().map(|task| task.id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(
                ids.len(),
                10,
                "{order:?} {descending}: duplicates across pages"
            );
            if order == TaskOrder::Due {
                // Tasks without a due time come last in both directions.
                assert!(
                    all[..5].iter().all(|task| task.due_at.is_some()),
                    "{descending}"
                );
                assert!(
                    all[5..].iter().all(|task| task.due_at.is_none()),
                    "{descending}"
                );
            }
            if order == TaskOrder::Rank && !descending {
                let ranks: Vec<_> = all.iter().map(|task| task.rank.clone()).collect();
                let mut sorted = ranks.clone();
                sorted.sort();
                assert_eq!(ranks, sorted);
            }
        }
    }
    // Filters.
    let me = ada.to_string();
    let count = |clauses: Vec<Vec<Condition>>| {
        let seed = &seed;
        async move {
            all_pages(store, seed, TaskOrder::Created, false, &clauses)
                .await
                .len()
        }
    };
    assert_eq!(
        count(vec![vec![Condition::Assignee(Some(me.clone()), false)]]).await,
        3
    );
    assert_eq!(count(vec![vec![Condition::Assignee(None, false)]]).await, 7);
    assert_eq!(
        count(vec![vec![Condition::LabelName("frontend".into(), false)]]).await,
        3
    );
    assert_eq!(
        count(vec![vec![Condition::LabelName("frontend".into(), true)]]).await,
        7
    );
    assert_eq!(
        count(vec![vec![Condition::TitleWords(vec!["login".into()])]]).await,
        1
    );
    assert_eq!(
        count(vec![vec![Condition::TitleWords(vec!["100%".into()])]]).await,
        0
    );
    assert_eq!(
        count(vec![vec![Condition::Status(StatusCategory::Todo, false)]]).await,
        10
    );
    assert_eq!(
        count(vec![vec![
            Condition::Priority(crate::domain::filter::Compare::Eq, 0),
            Condition::Priority(crate::domain::filter::Compare::Eq, 4)
        ]])
        .await,
        4
    );
    assert_eq!(count(vec![vec![Condition::Parent(None, false)]]).await, 10);
    // Subtasks to any depth.
    let child = TaskRecord {
        parent_task_id: Some(created[0].id),
        ..task(&seed, 11, todo, "zz1", 50_000)
    };
    let grandchild = TaskRecord {
        parent_task_id: Some(child.id),
        ..task(&seed, 12, todo, "zz2", 50_001)
    };
    store
        .apply(
            org,
            vec![
                Op::TakeTaskNumber(seed.project.id, 11),
                Op::InsertTask(child.clone()),
                Op::TakeTaskNumber(seed.project.id, 12),
                Op::InsertTask(grandchild.clone()),
            ],
            Effects::none(),
        )
        .await
        .unwrap();
    let descendants = store.descendants(org, created[0].id).await.unwrap();
    assert_eq!(
        descendants.iter().map(|task| task.id).collect::<Vec<_>>(),
        vec![child.id, grandchild.id]
    );
    assert_eq!(
        store
            .task(org, created[0].id, false)
            .await
            .unwrap()
            .unwrap()
            .subtask_count,
        1
    );
    // Neighbour ranks: the bottom, and around an anchor.
    let (bottom, none) = store
        .neighbour_ranks(org, todo.id, None, None)
        .await
        .unwrap();
    assert_eq!((bottom.as_deref(), none), (Some("zz2"), None));
    let (above, below) = store
        .neighbour_ranks(org, todo.id, Some((&created[1].id.to_string(), true)), None)
        .await
        .unwrap();
    assert_eq!(above, Some(created[0].rank.clone()));
    assert_eq!(below, Some(created[1].rank.clone()));
    let missing = store
        .neighbour_ranks(org, todo.id, Some((&TaskId::new().to_string(), true)), None)
        .await;
    assert!(matches!(missing, Err(ProjectsError::AnchorTaskNotInColumn)));
    // Across projects: only the listed ones.
    let elsewhere = store
        .tasks(
            org,
            &TaskScope::Projects(vec![ProjectId::new()]),
            &[],
            &PageRequest::first(10, task_keyset(TaskOrder::Created, true, false)),
        )
        .await
        .unwrap();
    assert!(elsewhere.items.is_empty());
}

async fn wip_limits_guards_and_tombstones(store: &dyn ProjectsStore) {
    let seed = seed(store, "WIP").await;
    let org = seed.organization;
    let done = &seed.columns[2];
    let mut tasks = Vec::new();
    for number in 1..=3 {
        let record = task(
            &seed,
            number,
            &seed.columns[0],
            &format!("a{number}"),
            number,
        );
        store
            .apply(
                org,
                vec![
                    Op::TakeTaskNumber(seed.project.id, number),
                    Op::InsertTask(record.clone()),
                ],
                Effects::none(),
            )
            .await
            .unwrap();
        tasks.push(record);
    }
    let into_done = |task: &TaskRecord| TaskRecord {
        column_id: done.id,
        status_category: "done".into(),
        column_position: 2,
        version: task.version + 1,
        ..task.clone()
    };
    for task in &tasks[..2] {
        store
            .apply(
                org,
                vec![
                    Op::UpdateTask(into_done(task), 1),
                    Op::CheckWip(done.clone()),
                ],
                Effects::none(),
            )
            .await
            .unwrap();
    }
    let full = store
        .apply(
            org,
            vec![
                Op::UpdateTask(into_done(&tasks[2]), 1),
                Op::CheckWip(done.clone()),
            ],
            Effects::none(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(full, ProjectsError::WipLimitExceeded { wip_limit: 2, .. }),
        "{full:?}"
    );
    assert_eq!(
        store
            .task(org, tasks[2].id, false)
            .await
            .unwrap()
            .unwrap()
            .column_id,
        seed.columns[0].id
    );
    assert_eq!(
        store
            .column(org, done.id)
            .await
            .unwrap()
            .unwrap()
            .task_count,
        2
    );
    // Tombstones: hidden from reads and lists, found by their deletion, restorable, purged.
    let gone = TaskRecord {
        deleted_at: Some(500),
        deleted_action_id: Some("action-1".into()),
        version: 2,
        ..tasks[2].clone()
    };
    store
        .apply(org, vec![Op::UpdateTask(gone, 1)], Effects::none())
        .await
        .unwrap();
    assert!(store.task(org, tasks[2].id, false).await.unwrap().is_none());
    assert!(store.task(org, tasks[2].id, true).await.unwrap().is_some());
    assert_eq!(store.deleted_by(org, "action-1").await.unwrap().len(), 1);
    assert_eq!(
        all_pages(store, &seed, TaskOrder::Created, false, &[])
            .await
            .len(),
        2
    );
    store
        .apply(
            org,
            vec![Op::PurgeTasks(seed.project.id, 600)],
            Effects::none(),
        )
        .await
        .unwrap();
    assert!(store.task(org, tasks[2].id, true).await.unwrap().is_none());
    // A column with tasks cannot be deleted; an empty one can.
    let refused = store
        .apply(org, vec![Op::DeleteColumn(done.id, 1)], Effects::none())
        .await;
    assert!(matches!(refused, Err(ProjectsError::ColumnNotEmpty)));
    store
        .apply(
            org,
            vec![Op::DeleteColumn(seed.columns[1].id, 1)],
            Effects::none(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .board(org, seed.board.id)
            .await
            .unwrap()
            .unwrap()
            .1
            .len(),
        2
    );
}

async fn history_undo_and_feed(store: &dyn ProjectsStore) {
    let seed = seed(store, "HIST").await;
    let org = seed.organization;
    let record = task(&seed, 1, &seed.columns[0], "m", 1);
    store
        .apply(
            org,
            vec![
                Op::TakeTaskNumber(seed.project.id, 1),
                Op::InsertTask(record.clone()),
            ],
            Effects::none(),
        )
        .await
        .unwrap();
    let comment = CommentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org,
        project_id: seed.project.id,
        task_id: record.id,
        author_user_id: seed.owner,
        body: "hello".into(),
        mentioned_user_ids: "[]".into(),
        request_id: Some("c1".into()),
        created_at: 5,
        updated_at: 5,
        version: 1,
        deleted_at: None,
    };
    let log = WorkLogRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org,
        project_id: seed.project.id,
        task_id: record.id,
        task_key: record.key.clone(),
        user_id: seed.owner,
        duration_ms: 3_600_000,
        started_at: 10,
        description: String::new(),
        request_id: None,
        created_at: 11,
    };
    let entry = ActivityRecord {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org,
        project_id: seed.project.id,
        task_id: record.id,
        task_key: record.key.clone(),
        actor_user_id: seed.owner,
        kind: "commented".into(),
        field_changes: "[]".into(),
        comment_id: Some(comment.id.clone()),
        work_log_id: None,
        undo_of_activity_id: None,
        redo_of_activity_id: None,
        request_id: Some("undo-1".into()),
        created_at: 5,
    };
    store
        .apply(
            org,
            vec![
                Op::InsertComment(comment.clone()),
                Op::InsertWorkLog(log.clone()),
                Op::InsertActivity(entry.clone()),
            ],
            Effects::none(),
        )
        .await
        .unwrap();
    let read = store.task(org, record.id, false).await.unwrap().unwrap();
    assert_eq!((read.comment_count, read.time_spent_ms), (1, 3_600_000));
    assert_eq!(
        store
            .comment_by_request(org, record.id, seed.owner, "c1")
            .await
            .unwrap()
            .unwrap()
            .id,
        comment.id
    );
    let logs = store
        .work_logs(
            org,
            &WorkLogScope::User(seed.owner, vec![seed.project.id]),
            &[],
            &PageRequest::first(10, work_log_keyset(true, true)),
        )
        .await
        .unwrap();
    assert_eq!(logs.items, vec![log.clone()]);
    // Comment tombstones: hidden from reads, lists and counts, restorable, then purged.
    let tombstone = CommentRecord {
        deleted_at: Some(500),
        version: 2,
        ..comment.clone()
    };
    let stale = store
        .apply(
            org,
            vec![Op::UpdateComment(tombstone.clone(), 7)],
            Effects::none(),
        )
        .await;
    assert!(matches!(stale, Err(ProjectsError::Conflict)), "{stale:?}");
    store
        .apply(
            org,
            vec![Op::UpdateComment(tombstone.clone(), 1)],
            Effects::none(),
        )
        .await
        .unwrap();
    assert!(
        store
            .comment(org, &comment.id, false)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.comment(org, &comment.id, true).await.unwrap(),
        Some(tombstone.clone())
    );
    let page = PageRequest::first(10, comments_keyset(false));
    assert!(
        store
            .comments(org, record.id, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let read = store.task(org, record.id, false).await.unwrap().unwrap();
    assert_eq!(read.comment_count, 0);
    let restored = CommentRecord {
        deleted_at: None,
        version: 3,
        ..comment.clone()
    };
    store
        .apply(
            org,
            vec![
                Op::UpdateComment(restored.clone(), 2),
                Op::PurgeComments(seed.project.id, 1_000),
            ],
            Effects::none(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.comments(org, record.id, &page).await.unwrap().items,
        vec![restored.clone()]
    );
    store
        .apply(
            org,
            vec![
                Op::UpdateComment(tombstone.clone(), 3),
                Op::PurgeComments(seed.project.id, 400),
            ],
            Effects::none(),
        )
        .await
        .unwrap();
    assert!(
        store
            .comment(org, &comment.id, true)
            .await
            .unwrap()
            .is_some()
    );
    store
        .apply(
            org,
            vec![Op::PurgeComments(seed.project.id, 501)],
            Effects::none(),
        )
        .await
        .unwrap();
    assert!(
        store
            .comment(org, &comment.id, true)
            .await
            .unwrap()
            .is_none()
    );
    let feed = store
        .activity(
            org,
            seed.project.id,
            None,
            &[SimpleCondition::Equals("kind", "commented".into(), false)],
            &PageRequest::first(10, activity_keyset(true)),
        )
        .await
        .unwrap();
    assert_eq!(feed.items, vec![entry.clone()]);
    assert_eq!(
        store
            .activity_by_request(org, seed.project.id, seed.owner, "undo-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        entry.id
    );
    // Undo stacks: a push clears the redo stack and keeps the newest 50.
    let push = |seq: i64| UndoRecord {
        activity_id: format!("a-{seq}-{}", uuid::Uuid::now_v7().simple()),
        organization_id: org,
        project_id: seed.project.id,
        user_id: seed.owner,
        stack: "undo".into(),
        kind: "move".into(),
        task_id: record.id,
        payload: "{}".into(),
        seq,
        created_at: 100,
        expires_at: 1_000_000,
    };
    for seq in 1..=55 {
        store
            .apply(org, vec![Op::PushUndo(push(seq))], Effects::none())
            .await
            .unwrap();
    }
    let (top, depth) = store
        .undo_top(org, seed.project.id, seed.owner, UndoStack::Undo, 200)
        .await
        .unwrap();
    let top = top.unwrap();
    assert_eq!((top.seq, depth), (55, 50));
    store
        .apply(
            org,
            vec![Op::MoveUndo(top.activity_id.clone(), UndoStack::Redo, 56)],
            Effects::none(),
        )
        .await
        .unwrap();
    let (redo, redo_depth) = store
        .undo_top(org, seed.project.id, seed.owner, UndoStack::Redo, 200)
        .await
        .unwrap();
    assert_eq!(
        (redo.unwrap().activity_id, redo_depth),
        (top.activity_id.clone(), 1)
    );
    assert_eq!(
        store
            .undo_height(org, seed.project.id, seed.owner)
            .await
            .unwrap(),
        56
    );
    store
        .apply(org, vec![Op::PushUndo(push(57))], Effects::none())
        .await
        .unwrap();
    let (_, redo_depth) = store
        .undo_top(org, seed.project.id, seed.owner, UndoStack::Redo, 200)
        .await
        .unwrap();
    assert_eq!(redo_depth, 0, "a new action clears the redo stack");
    // Expired actions are not offered.
    let (_, live) = store
        .undo_top(org, seed.project.id, seed.owner, UndoStack::Undo, 2_000_000)
        .await
        .unwrap();
    assert_eq!(live, 0);
    // The board feed: gapless positions in commit order, old entries dropped.
    for index in 0..5i64 {
        let entry = FeedEntry {
            board_id: seed.board.id,
            actor_user_id: seed.owner.to_string(),
            payload: vec![index as u8],
            created_at: 1_000 * index,
            retain_after: 1_000 * index - 2_500,
        };
        store
            .apply(org, vec![Op::Feed(entry)], Effects::none())
            .await
            .unwrap();
    }
    let (head, oldest) = store.feed_head(org, seed.board.id).await.unwrap();
    assert_eq!((head, oldest), (5, Some(3)));
    let since: Vec<i64> = store
        .feed_since(org, seed.board.id, 3, 10)
        .await
        .unwrap()
        .iter()
        .map(|entry| entry.seq)
        .collect();
    assert_eq!(since, vec![4, 5]);
    assert!(matches!(
        store.feed_head(OrganizationId::new(), seed.board.id).await,
        Err(ProjectsError::BoardNotFound)
    ));
}
