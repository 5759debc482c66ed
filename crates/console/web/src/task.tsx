// The task panel: a dialog beside the board with the task's fields, assignees, labels,
// subtasks, comments (with @mentions), work logs and activity.
//
// Edits send UpdateTask with a field mask naming only what changed, and the task's etag, so a
// concurrent edit by someone else is refused (ETAG_MISMATCH) instead of silently overwritten;
// the panel then reloads the task.

import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { requestId, tasks as taskApi, projects } from "./api";
import { Alert, useAction } from "./ui";
import type { TaskActivity } from "./gen/taskmesh/projects/v1/activity_pb";
import { TaskActivityKind } from "./gen/taskmesh/projects/v1/activity_pb";
import type { Column } from "./gen/taskmesh/projects/v1/board_pb";
import type { Comment } from "./gen/taskmesh/projects/v1/comment_pb";
import type { Label } from "./gen/taskmesh/projects/v1/label_pb";
import type { ProjectMember } from "./gen/taskmesh/projects/v1/project_pb";
import { TaskPriority, TaskView, type Task } from "./gen/taskmesh/projects/v1/task_pb";
import type { WorkLog } from "./gen/taskmesh/projects/v1/worklog_pb";
import type { Membership } from "./gen/taskmesh/tenancy/v1/membership_pb";
import { announce, nameOf } from "./state";

/** The task fields the panel edits (UpdateTask's mask names which). */
interface TaskFields {
  title?: string;
  description?: string;
  priority?: TaskPriority;
  assigneeUserIds?: string[];
  labelIds?: string[];
  dueTime?: Timestamp;
}
type Update = (change: TaskFields | ((task: Task) => TaskFields), paths: string[]) => Promise<string>;

interface Props {
  taskId: string;
  members: Map<string, Membership>;
  projectMembers: ProjectMember[];
  labels: Label[];
  columns: Column[];
  reloadLabels: () => Promise<void>;
  onChanged: (task: Task) => void;
  onClose: () => void;
}

export function TaskPanel(props: Props) {
  const { taskId, members, projectMembers, labels, columns, onChanged, onClose } = props;
  const [task, setTask] = useState<Task | null>(null);
  const { error, attempt, fail } = useAction();
  const [version, setVersion] = useState(0);
  const dialog = useRef<HTMLDivElement>(null);

  // The etag of the latest version this panel knows, and its edits in flight: edits are sent
  // one after another, each with the etag the previous one returned, so two quick edits (a
  // title then a checkbox) are not mistaken for someone else's concurrent change.
  // Reads of the task go through the same queue, so an older read cannot bring back an older
  // etag after an edit; `shown` is the task as displayed, for edits computed from it.
  const etag = useRef("");
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  const pending = useRef(0);
  const shown = useRef<Task | null>(null);
  const show = (next: Task | null) => {
    shown.current = next;
    setTask(next);
  };

  const fetchTask = () =>
    taskApi.getTask({ taskRef: { case: "id", value: taskId }, view: TaskView.FULL })
      .then((r) => {
        etag.current = r.task?.etag ?? "";
        show(r.task ?? null);
      })
      .catch(fail);
  const enqueue = (work: () => Promise<unknown>) => {
    const done = queue.current.then(work, work);
    queue.current = done;
    return done;
  };
  const load = () => enqueue(fetchTask);
  useEffect(() => void load(), [taskId]);
  useEffect(() => dialog.current?.focus(), []);

  /** Sends an edit; `change` may be computed from the task as shown when the edit is made.
   * Answers its failure in words ("" when it was saved). */
  function update(change: TaskFields | ((task: Task) => TaskFields), paths: string[]): Promise<string> {
    const current = shown.current;
    if (!current) return Promise.resolve("");
    const fields = typeof change === "function" ? change(current) : change;
    // Shown at once (a checkbox follows the click); the answer replaces it, a refusal reloads.
    show({ ...current, ...fields });
    pending.current += 1;
    return enqueue(async () => {
      const failed = await attempt(async () => {
        const request = { task: { ...fields, id: taskId, etag: etag.current }, updateMask: { paths } };
        const response = await taskApi.updateTask(request);
        if (!response.task) return;
        etag.current = response.task.etag;
        if (pending.current === 1) show(response.task); // later edits are still shown
        onChanged(response.task);
        setVersion((v) => v + 1);
      });
      pending.current -= 1;
      if (failed) await fetchTask();
      return failed;
    }) as Promise<string>;
  }

  const close = (event: KeyboardEvent) => event.key === "Escape" && onClose();
  return (
    <div class="panel" role="dialog" aria-modal="false" aria-labelledby="task-title" tabIndex={-1} ref={dialog} onKeyDown={close}>
      <button type="button" class="close" onClick={onClose} aria-label="Close task">×</button>
      {!task ? <p>{error || "Loading…"}</p> : (
        <>
          <h2 id="task-title"><span class="key">{task.key}</span> {task.title}</h2>
          <p class="muted">
            {columns.find((c) => c.id === task.columnId)?.name ?? "Not on this board"} · reported by {nameOf(members, task.reporterUserId)}
            {task.timeSpent ? ` · ${minutes(Number(task.timeSpent.seconds))} logged` : ""}
          </p>
          <Alert error={error} />
          <Fields task={task} update={update} />
          <fieldset>
            <legend>Assignees</legend>
            {projectMembers.map((m) => (
              <label key={m.userId} class="check">
                <input type="checkbox" checked={task.assigneeUserIds.includes(m.userId)}
                  onChange={(e) => { const on = e.currentTarget.checked; void update((t) => ({ assigneeUserIds: toggle(t.assigneeUserIds, m.userId, on) }), ["assignee_user_ids"]); }} />
                {nameOf(members, m.userId)}
              </label>
            ))}
          </fieldset>
          <Labels task={task} labels={labels} update={update} reload={props.reloadLabels} />
          <Subtasks task={task} onChanged={onChanged} />
          <Comments task={task} members={members} projectMembers={projectMembers} onCommented={() => setVersion((v) => v + 1)} />
          <WorkLogs task={task} members={members} onLogged={() => void load()} />
          <Activity task={task} members={members} version={version} />
        </>
      )}
    </div>
  );
}

function Fields(props: { task: Task; update: Update }) {
  const { task, update } = props;
  const [title, setTitle] = useState(task.title);
  const [description, setDescription] = useState(task.description);
  const due = task.dueTime ? timestampDate(task.dueTime).toISOString().slice(0, 10) : "";
  return (
    <div class="fields">
      <label>
        Title
        <input value={title} maxLength={500} onInput={(e) => setTitle(e.currentTarget.value)}
          onBlur={() => title !== task.title && title.trim() && update({ title }, ["title"])} />
      </label>
      <label>
        Description
        <textarea rows={4} value={description} onInput={(e) => setDescription(e.currentTarget.value)}
          onBlur={() => description !== task.description && update({ description }, ["description"])} />
      </label>
      <label>
        Priority
        <select value={task.priority} onChange={(e) => update({ priority: Number(e.currentTarget.value) }, ["priority"])}>
          {[TaskPriority.NONE, TaskPriority.LOW, TaskPriority.MEDIUM, TaskPriority.HIGH, TaskPriority.URGENT].map((p) => (
            <option key={p} value={p}>{TaskPriority[p].toLowerCase()}</option>
          ))}
        </select>
      </label>
      <label>
        Due
        <input type="date" value={due} onChange={(e) => {
          const value = e.currentTarget.value;
          void update({ dueTime: value ? timestampFromDate(new Date(`${value}T17:00:00Z`)) : undefined }, ["due_time"]);
        }} />
      </label>
    </div>
  );
}

function Labels(props: { task: Task; labels: Label[]; update: Update; reload: () => Promise<void> }) {
  const { task, labels, update, reload } = props;
  const [name, setName] = useState("");
  const { error, attempt } = useAction();
  async function create(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      const response = await projects.createLabel({ label: { projectId: task.projectId, name, color: "#5b6ee1" }, requestId: requestId() });
      await reload();
      const failed = await update((t) => ({ labelIds: [...t.labelIds, response.label!.id] }), ["label_ids"]);
      if (failed) throw new Error(failed);
      setName("");
    });
  }
  return (
    <fieldset>
      <legend>Labels</legend>
      {labels.map((label) => (
        <label key={label.id} class="check">
          <input type="checkbox" checked={task.labelIds.includes(label.id)}
            onChange={(e) => { const on = e.currentTarget.checked; void update((t) => ({ labelIds: toggle(t.labelIds, label.id, on) }), ["label_ids"]); }} />
          {label.name}
        </label>
      ))}
      <form class="inline" onSubmit={create}>
        <label>New label<input required maxLength={50} value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <button type="submit">Add label</button>
      </form>
      <Alert error={error} />
    </fieldset>
  );
}

function Subtasks(props: { task: Task; onChanged: (task: Task) => void }) {
  const { task, onChanged } = props;
  const [list, setList] = useState<Task[]>([]);
  const [title, setTitle] = useState("");
  const { error, attempt, fail } = useAction();
  const load = () =>
    taskApi.listTasks({ projectId: task.projectId, filter: `parent_task_id = "${task.id}"`, pageSize: 100 })
      .then((r) => setList(r.tasks)).catch(fail);
  useEffect(() => void load(), [task.id]);
  async function create(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      const response = await taskApi.createTask({ task: { projectId: task.projectId, title, parentTaskId: task.id }, requestId: requestId() });
      if (response.task) onChanged(response.task);
      setTitle("");
      await load();
    });
  }
  return (
    <section aria-labelledby="subtasks-title">
      <h3 id="subtasks-title">Subtasks</h3>
      <ul>{list.map((t) => <li key={t.id}><span class="key">{t.key}</span> {t.title}</li>)}</ul>
      <form class="inline" onSubmit={create}>
        <label>New subtask<input required maxLength={500} value={title} onInput={(e) => setTitle(e.currentTarget.value)} /></label>
        <button type="submit">Add subtask</button>
      </form>
      <Alert error={error} />
    </section>
  );
}

// Not remounted when the task changes, so a comment being typed survives others' edits.
function Comments(props: { task: Task; members: Map<string, Membership>; projectMembers: ProjectMember[]; onCommented: () => void }) {
  const { task, members, projectMembers, onCommented } = props;
  const [list, setList] = useState<Comment[]>([]);
  const [older, setOlder] = useState(""); // page token of the comments before the oldest shown
  const [body, setBody] = useState("");
  const { error, attempt, fail } = useAction();
  // Newest first from the server (20 a page), shown oldest first; "Show older" prepends.
  const load = () => taskApi.listComments({ taskId: task.id, pageSize: 20, orderBy: "create_time desc" })
    .then((r) => {
      setList(r.comments.reverse());
      setOlder(r.nextPageToken);
    }).catch(fail);
  const loadOlder = () => taskApi.listComments({ taskId: task.id, pageSize: 20, orderBy: "create_time desc", pageToken: older })
    .then((r) => {
      setList((shown) => [...r.comments.reverse(), ...shown.filter((c) => !r.comments.some((o) => o.id === c.id))]);
      setOlder(r.nextPageToken);
    }).catch(fail);
  useEffect(() => void load(), [task.id]);
  async function create(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      await taskApi.createComment({ comment: { taskId: task.id, body }, requestId: requestId() });
      setBody("");
      announce("Comment added");
      await load();
      onCommented();
    });
  }
  return (
    <section aria-labelledby="comments-title">
      <h3 id="comments-title">Comments</h3>
      {older && <button type="button" class="link" onClick={() => void loadOlder()}>Show older comments</button>}
      <ol class="comments">
        {list.map((c) => (
          <li key={c.id}><strong>{nameOf(members, c.authorUserId)}</strong> <time>{when(c.createTime)}</time><p>{withMentions(c.body, members)}</p></li>
        ))}
      </ol>
      <form onSubmit={create}>
        <label>Comment<textarea rows={2} required maxLength={65536} value={body} onInput={(e) => setBody(e.currentTarget.value)} /></label>
        <div class="inline">
          <label>
            Mention
            <select aria-label="Mention" value="" onChange={(e) => {
              const id = e.currentTarget.value;
              if (id) setBody(`${body}${body && !body.endsWith(" ") ? " " : ""}${mention(members, id)} `);
            }}>
              <option value="">someone…</option>
              {projectMembers.map((m) => <option key={m.userId} value={m.userId}>{nameOf(members, m.userId)}</option>)}
            </select>
          </label>
          <button type="submit">Add comment</button>
        </div>
      </form>
      <Alert error={error} />
    </section>
  );
}

function WorkLogs(props: { task: Task; members: Map<string, Membership>; onLogged: () => void }) {
  const { task, members, onLogged } = props;
  const [list, setList] = useState<WorkLog[]>([]);
  const [amount, setAmount] = useState("30");
  const [note, setNote] = useState("");
  const { error, attempt, fail } = useAction();
  const load = () => taskApi.listWorkLogs({ scope: { case: "taskId", value: task.id }, pageSize: 50 })
    .then((r) => setList(r.workLogs)).catch(fail);
  useEffect(() => void load(), [task.id]);
  async function log(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      const seconds = BigInt(Math.round(Number(amount) * 60));
      await taskApi.createWorkLog({ workLog: { taskId: task.id, duration: { seconds }, description: note }, requestId: requestId() });
      setNote("");
      await load();
      onLogged();
    });
  }
  return (
    <section aria-labelledby="worklogs-title">
      <h3 id="worklogs-title">Work log</h3>
      <ul>{list.map((w) => <li key={w.id}>{nameOf(members, w.userId)}: {minutes(Number(w.duration?.seconds ?? 0n))} {w.description && `— ${w.description}`}</li>)}</ul>
      <form class="inline" onSubmit={log}>
        <label>Minutes<input type="number" min={1} max={1440} required value={amount} onInput={(e) => setAmount(e.currentTarget.value)} /></label>
        <label>Note<input maxLength={1000} value={note} onInput={(e) => setNote(e.currentTarget.value)} /></label>
        <button type="submit">Log work</button>
      </form>
      <Alert error={error} />
    </section>
  );
}

function Activity(props: { task: Task; members: Map<string, Membership>; version: number }) {
  const { task, members, version } = props;
  const [list, setList] = useState<TaskActivity[]>([]);
  useEffect(() => {
    taskApi.listTaskActivity({ taskId: task.id, pageSize: 50, orderBy: "create_time desc" })
      .then((r) => setList(r.activities)).catch(() => undefined);
  }, [task.id, task.etag, version]);
  return (
    <section aria-labelledby="activity-title">
      <h3 id="activity-title">Activity</h3>
      <ol class="activity">
        {list.map((a) => (
          <li key={a.id}>
            <strong>{nameOf(members, a.actorUserId)}</strong> {TaskActivityKind[a.kind].toLowerCase().replace(/_/g, " ")}
            {a.fieldChanges.length > 0 && ` (${a.fieldChanges.map((f) => f.field).join(", ")})`} <time>{when(a.createTime)}</time>
          </li>
        ))}
      </ol>
    </section>
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Renders `@[Name](user:<id>)` mentions as "@<the user's current name>" (the name in the
 * token is free text anyone can write, so it is not shown); an id that is not a UUID leaves
 * the token as plain text, as the contract says. */
function withMentions(body: string, members: Map<string, Membership>): (string | JSX.Element)[] {
  const parts: (string | JSX.Element)[] = [];
  const pattern = /@\[([^\]\r\n]{1,100})\]\(user:([^)\s]{1,64})\)/g;
  let last = 0;
  for (const match of body.matchAll(pattern)) {
    const id = match[2]!;
    if (!UUID.test(id)) continue;
    parts.push(body.slice(last, match.index));
    parts.push(<span class="mention" key={match.index}>@{nameOf(members, id)}</span>);
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(body.slice(last));
  return parts;
}

/** The mention token for `userId`, its name cleaned of what would end the token early. */
function mention(members: Map<string, Membership>, userId: string): string {
  const name = nameOf(members, userId).replace(/[\]\r\n]/g, " ").slice(0, 100);
  return `@[${name}](user:${userId})`;
}

function toggle(list: string[], id: string, on: boolean): string[] {
  return on ? [...new Set([...list, id])] : list.filter((x) => x !== id);
}

function minutes(seconds: number): string {
  const m = Math.round(seconds / 60);
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}

function when(time: Parameters<typeof timestampDate>[0] | undefined): string {
  return time ? timestampDate(time).toLocaleString() : "";
}
