// A project's Kanban board: columns with WIP counts, cards moved by drag and drop or by
// keyboard (Alt+arrows), live from WatchBoard, with Undo/Redo that say what they will do.
//
// Moves call MoveTask and apply its answer at once; the watch stream confirms and carries
// everyone else's changes. Refusals show the ErrorInfo reason in words (e.g. the WIP limit).

import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import { allPages, boards, projects, requestId, tasks as taskApi, type Session } from "./api";
import { Alert, useAction } from "./ui";
import type { Column } from "./gen/taskmesh/projects/v1/board_pb";
import type { Label } from "./gen/taskmesh/projects/v1/label_pb";
import type { Project, ProjectMember } from "./gen/taskmesh/projects/v1/project_pb";
import { TaskPriority, type Task } from "./gen/taskmesh/projects/v1/task_pb";
import type { GetUndoStateResponse } from "./gen/taskmesh/projects/v1/task_service_pb";
import { announce, nameOf, useMembers } from "./state";
import { TaskPanel } from "./task";
import { useBoardWatch } from "./watch";

type Position = { case: "beforeTaskId" | "afterTaskId"; value: string } | { case: undefined; value?: undefined };

export function BoardPage(props: { session: Session; projectId: string }) {
  const { session, projectId } = props;
  const [project, setProject] = useState<Project | null>(null);
  const [labels, setLabels] = useState<Label[]>([]);
  const [projectMembers, setProjectMembers] = useState<ProjectMember[]>([]);
  const [undo, setUndo] = useState<GetUndoStateResponse | null>(null);
  const { error, attempt, fail } = useAction();
  const [open, setOpen] = useState<string | null>(null);
  const [focusTask, setFocusTask] = useState<string | null>(null);
  const members = useMembers(session.tokens.organizationId);
  const undoTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const loadUndo = () => {
    clearTimeout(undoTimer.current);
    undoTimer.current = setTimeout(() => {
      taskApi.getUndoState({ projectId }).then(setUndo).catch(() => undefined);
    }, 100);
  };
  const loadProjectMembers = () =>
    allPages(async (pageToken) => {
      const r = await projects.listProjectMembers({ projectId, pageSize: 100, pageToken });
      return { items: r.members, nextPageToken: r.nextPageToken };
    }).then(setProjectMembers);
  const loadLabels = () =>
    allPages(async (pageToken) => {
      const r = await projects.listLabels({ projectId, pageSize: 100, pageToken });
      return { items: r.labels, nextPageToken: r.nextPageToken };
    }).then(setLabels);

  useEffect(() => {
    projects.getProject({ id: projectId }).then((r) => setProject(r.project ?? null)).catch(fail);
    loadLabels().catch(() => undefined);
    loadProjectMembers().catch(() => undefined);
    loadUndo();
  }, [projectId]);

  const [state, upsert] = useBoardWatch(project?.defaultBoardId ?? "", () => loadUndo());
  const columns = useMemo(
    () => [...(state.board?.columns ?? [])].sort((a, b) => a.position - b.position),
    [state.board],
  );
  const byColumn = useMemo(() => {
    const grouped = new Map<string, Task[]>(columns.map((c) => [c.id, []]));
    for (const task of state.tasks.values()) grouped.get(task.columnId)?.push(task);
    for (const list of grouped.values()) list.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
    return grouped;
  }, [columns, state.tasks]);

  // Keep keyboard focus on a card after it moves (rendered anew in its new column), once, and
  // only if focus did not go somewhere else meanwhile; later renders leave focus alone.
  useEffect(() => {
    if (!focusTask) return;
    const card = document.querySelector<HTMLElement>(`[data-task-id="${CSS.escape(focusTask)}"] .card-open`);
    const lost = document.activeElement === null || document.activeElement === document.body;
    if (card && lost) card.focus();
    setFocusTask(null);
  }, [focusTask, byColumn]);

  /** Moves `task`; answers whether it moved. */
  async function move(task: Task, columnId: string, position: Position): Promise<boolean> {
    const failed = await attempt(async () => {
      const response = await taskApi.moveTask({ id: task.id, columnId, position });
      if (response.task) upsert(response.task);
      const column = columns.find((c) => c.id === columnId);
      announce(`Moved ${task.key} to ${column?.name ?? "column"}`);
      loadUndo();
    });
    if (failed) announce(failed);
    return !failed;
  }

  async function moveBy(task: Task, columnStep: number, rowStep: number) {
    const index = columns.findIndex((c) => c.id === task.columnId);
    if (columnStep !== 0) {
      const target = columns[index + columnStep];
      if (!target) return;
      const list = byColumn.get(target.id) ?? [];
      const last = list[list.length - 1];
      if (await move(task, target.id, last ? { case: "afterTaskId", value: last.id } : { case: undefined })) {
        setFocusTask(task.id);
      }
      return;
    }
    const list = byColumn.get(task.columnId) ?? [];
    const at = list.findIndex((t) => t.id === task.id);
    const neighbour = list[at + rowStep];
    if (!neighbour) return;
    const position: Position = rowStep < 0 ? { case: "beforeTaskId", value: neighbour.id } : { case: "afterTaskId", value: neighbour.id };
    if (await move(task, task.columnId, position)) setFocusTask(task.id);
  }

  function drop(event: DragEvent, column: Column) {
    event.preventDefault();
    (event.currentTarget as HTMLElement).classList.remove("drop-target");
    const id = event.dataTransfer?.getData("text/x-taskmesh-task");
    const task = id ? state.tasks.get(id) : undefined;
    if (!task) return;
    const onCard = (event.target as HTMLElement).closest<HTMLElement>("[data-task-id]");
    const list = (byColumn.get(column.id) ?? []).filter((t) => t.id !== task.id);
    const before = onCard?.dataset.taskId;
    if (before && before !== task.id) return move(task, column.id, { case: "beforeTaskId", value: before });
    const last = list[list.length - 1];
    return move(task, column.id, last ? { case: "afterTaskId", value: last.id } : { case: undefined });
  }

  async function history(kind: "undo" | "redo") {
    const action = kind === "undo" ? undo?.nextUndo : undo?.nextRedo;
    if (!action) return;
    await attempt(async () => {
      const request = { projectId, requestId: requestId(), expectedActivityId: action.activity?.id ?? "" };
      const response = kind === "undo" ? await taskApi.undoLastAction(request) : await taskApi.redoLastAction(request);
      if (response.task) upsert(response.task);
      announce(`${kind === "undo" ? "Undid" : "Redid"}: ${action.summary}`);
    });
    loadUndo();
  }

  if (!project) return <section class="page">{error ? <p role="alert" class="error">{error}</p> : <p>Loading…</p>}</section>;
  return (
    <section class="board-page" aria-labelledby="board-title">
      <div class="board-head">
        <h1 id="board-title"><span class="key">{project.key}</span> {project.name}</h1>
        <span class={state.live ? "live on" : "live"} title={state.problem}>{state.live ? "Live" : state.problem ? "Reconnecting…" : "Connecting…"}</span>
        <div class="history" role="group" aria-label="History">
          <HistoryButton kind="undo" action={undo?.nextUndo} onClick={() => history("undo")} />
          <HistoryButton kind="redo" action={undo?.nextRedo} onClick={() => history("redo")} />
        </div>
        <ProjectMembers projectId={projectId} projectMembers={projectMembers} members={members} reload={loadProjectMembers} />
      </div>
      <NewTask projectId={projectId} boardId={project.defaultBoardId} columns={columns} onCreated={(t) => { upsert(t); loadUndo(); }} />
      <Alert error={error || (state.problem && !state.problem.startsWith("Reconnecting") ? state.problem : "")} />
      <p id="move-help" class="visually-hidden">Alt+Left and Alt+Right move a card to the previous or next column; Alt+Up and Alt+Down move it within its column.</p>
      <div class="columns">
        {columns.map((column) => {
          const list = byColumn.get(column.id) ?? [];
          const full = column.wipLimit > 0 && list.length >= column.wipLimit;
          return (
            <section key={column.id} class={full ? "column full" : "column"} aria-label={column.name} data-column-id={column.id}
              onDragOver={(e) => { e.preventDefault(); (e.currentTarget as HTMLElement).classList.add("drop-target"); }}
              onDragLeave={(e) => (e.currentTarget as HTMLElement).classList.remove("drop-target")}
              onDrop={(e) => drop(e, column)}>
              <h2>
                {column.name}{" "}
                <span class="wip" aria-hidden="true">{list.length}{column.wipLimit > 0 ? ` / ${column.wipLimit}` : ""}</span>
                <span class="visually-hidden">
                  {column.wipLimit > 0 ? `${list.length} of at most ${column.wipLimit} tasks` : `${list.length} tasks`}
                </span>
              </h2>
              <ColumnLimit column={column} />
              <ol class="cards-list">
                {list.map((task) => (
                  <li key={task.id} class="card" data-task-id={task.id} draggable
                    onDragStart={(e) => e.dataTransfer?.setData("text/x-taskmesh-task", task.id)}>
                    <button type="button" class="card-open" aria-describedby="move-help" onClick={() => setOpen(task.id)}
                      onKeyDown={(e) => {
                        if (!e.altKey) return;
                        const steps: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
                        const step = steps[e.key];
                        if (!step) return;
                        e.preventDefault();
                        void moveBy(task, step[0], step[1]);
                      }}>
                      <span class="key">{task.key}</span> <span class="title">{task.title}</span>
                    </button>
                    <div class="meta">
                      {task.priority !== TaskPriority.NONE && task.priority !== TaskPriority.UNSPECIFIED && (
                        <span class={`priority p${task.priority}`}>{TaskPriority[task.priority].toLowerCase()}</span>
                      )}
                      {task.labelIds.map((id) => {
                        const label = labels.find((l) => l.id === id);
                        return label ? <span key={id} class="label">{label.name}</span> : null;
                      })}
                      {task.assigneeUserIds.map((id) => <span key={id} class="assignee" title={nameOf(members, id)}>{initials(nameOf(members, id))}</span>)}
                      {task.parentTaskId && <span class="muted">subtask of {state.tasks.get(task.parentTaskId)?.key ?? "another task"}</span>}
                      {task.subtaskCount > 0n && <span class="muted">{String(task.subtaskCount)} {task.subtaskCount === 1n ? "subtask" : "subtasks"}</span>}
                      {task.commentCount > 0n && <span class="muted">{String(task.commentCount)} {task.commentCount === 1n ? "comment" : "comments"}</span>}
                    </div>
                  </li>
                ))}
              </ol>
            </section>
          );
        })}
      </div>
      {open && (
        <TaskPanel key={open} taskId={open} members={members} projectMembers={projectMembers} labels={labels}
          columns={columns} reloadLabels={loadLabels}
          onChanged={(task) => { upsert(task); loadUndo(); }} onClose={() => { setFocusTask(open); setOpen(null); }} />
      )}
    </section>
  );
}

function ColumnLimit(props: { column: Column }) {
  const { column } = props;
  const [limit, setLimit] = useState(String(column.wipLimit));
  const { error, attempt } = useAction();
  const details = useRef<HTMLDetailsElement>(null);
  async function save(event: Event) {
    event.preventDefault();
    const failed = await attempt(async () => {
      await boards.updateColumn({ column: { id: column.id, wipLimit: Number(limit) }, updateMask: { paths: ["wip_limit"] } });
      announce(`${column.name}: WIP limit ${Number(limit) || "removed"}`);
    });
    if (!failed && details.current) details.current.open = false;
  }
  return (
    <details class="column-limit" ref={details}>
      <summary>WIP limit</summary>
      <form class="inline" onSubmit={save}>
        <label>
          Limit for {column.name} (0 = none)
          <input type="number" min={0} max={1000} value={limit} onInput={(e) => setLimit(e.currentTarget.value)} />
        </label>
        <button type="submit">Save limit</button>
      </form>
      <Alert error={error} />
    </details>
  );
}

function HistoryButton(props: { kind: "undo" | "redo"; action?: GetUndoStateResponse["nextUndo"]; onClick: () => void }) {
  const { kind, action, onClick } = props;
  const verb = kind === "undo" ? "Undo" : "Redo";
  const refused = action?.refusal?.message;
  return (
    <button type="button" disabled={!action || !!refused} onClick={onClick} title={refused || action?.summary || `Nothing to ${kind}`}>
      {verb}{action ? `: ${action.summary}` : ""}
    </button>
  );
}

function NewTask(props: { projectId: string; boardId: string; columns: Column[]; onCreated: (task: Task) => void }) {
  const { projectId, boardId, columns, onCreated } = props;
  const [title, setTitle] = useState("");
  const [columnId, setColumnId] = useState("");
  const { error, attempt } = useAction();
  async function submit(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      const response = await taskApi.createTask({
        task: { projectId, title, boardId, columnId: columnId || columns[0]?.id || "" },
        requestId: requestId(),
      });
      if (response.task) onCreated(response.task);
      announce(`Created ${response.task?.key ?? "task"}`);
      setTitle("");
    });
  }
  return (
    <form class="inline new-task" onSubmit={submit}>
      <label>New task<input required maxLength={500} value={title} onInput={(e) => setTitle(e.currentTarget.value)} /></label>
      <label>
        in
        <select value={columnId || columns[0]?.id} onChange={(e) => setColumnId(e.currentTarget.value)}>
          {columns.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </select>
      </label>
      <button type="submit">Add task</button>
      <Alert error={error} inline />
    </form>
  );
}

function ProjectMembers(props: { projectId: string; projectMembers: ProjectMember[]; members: ReturnType<typeof useMembers>; reload: () => Promise<void> }) {
  const { projectId, projectMembers, members, reload } = props;
  const [userId, setUserId] = useState("");
  const { error, attempt } = useAction();
  const outside = [...members.values()].filter((m) => !projectMembers.some((p) => p.userId === m.userId));
  async function add(event: Event) {
    event.preventDefault();
    if (!userId) return;
    await attempt(async () => {
      await projects.addProjectMember({ projectId, userId });
      announce(`Added ${nameOf(members, userId)} to the project`);
      setUserId("");
      await reload();
    });
  }
  return (
    <details class="project-members">
      <summary>Members ({projectMembers.length})</summary>
      <div class="popover">
      <ul>{projectMembers.map((m) => <li key={m.userId}>{nameOf(members, m.userId)}</li>)}</ul>
      {outside.length > 0 && (
        <form class="inline" onSubmit={add}>
          <label>
            Add to project
            <select value={userId} onChange={(e) => setUserId(e.currentTarget.value)}>
              <option value="">Choose a member</option>
              {outside.map((m) => <option key={m.userId} value={m.userId}>{m.displayName}</option>)}
            </select>
          </label>
          <button type="submit">Add</button>
        </form>
      )}
      <Alert error={error} />
      </div>
    </details>
  );
}

function initials(name: string): string {
  return name.split(/\s+/).map((part) => part[0] ?? "").join("").slice(0, 2).toUpperCase();
}
