// Live board state from BoardService.WatchBoard, kept across interruptions.
//
// Invariants (from the contract): local state is replaced only when a snapshot completes
// (chunks are collected first); every other message is applied in order; the last
// resume_token is passed back on reconnect, so nothing is missed and nothing is applied twice;
// 45 seconds of silence (heartbeats come every 15) means a dead stream: cancel and resume.
// BOARD_NOT_FOUND ends the watch for good; RESUME_TOKEN_INVALID starts over with a snapshot;
// TOKEN_EXPIRED resumes at once with the session's current token (refreshing it only if the
// timer has not); anything else backs off (0.5 s doubling to 15 s).

import { useEffect, useRef, useState } from "preact/hooks";

import { boards, reason, refresh, session } from "./api";
import { describe } from "./errors";
import type { WatchBoardResponse } from "./gen/taskmesh/projects/v1/board_service_pb";
import type { Board as BoardMessage } from "./gen/taskmesh/projects/v1/board_pb";
import type { Task } from "./gen/taskmesh/projects/v1/task_pb";

export interface BoardState {
  board?: BoardMessage;
  tasks: Map<string, Task>;
  /** True while a stream is open and its snapshot (if any) is complete. */
  live: boolean;
  /** Why the board cannot be shown (e.g. it was deleted), or why the stream is retrying. */
  problem: string;
}

const SILENCE_MS = 45_000;

/** Watches `boardId`; `onChange` is called after each applied change (not snapshots). */
export function useBoardWatch(
  boardId: string,
  onChange: (message: WatchBoardResponse) => void,
): [BoardState, (task: Task) => void] {
  const [state, setState] = useState<BoardState>({ tasks: new Map(), live: false, problem: "" });
  const changed = useRef(onChange);
  changed.current = onChange;
  const local = useRef<{ board?: BoardMessage; tasks: Map<string, Task> }>({ tasks: new Map() });

  useEffect(() => {
    local.current = { tasks: new Map() };
    if (!boardId) return;
    const stop = new AbortController();
    let resumeToken = "";
    let snapshot: { board?: BoardMessage; tasks: Map<string, Task> } | null = null;
    let isLive = false;
    const publish = (live: boolean, problem = "") => {
      isLive = live;
      setState({ board: local.current.board, tasks: new Map(local.current.tasks), live, problem });
    };

    function apply(message: WatchBoardResponse): boolean {
      const event = message.event;
      const tasks = local.current.tasks;
      switch (event.case) {
        case "snapshot": {
          if (event.value.board) snapshot = { board: event.value.board, tasks: new Map() };
          if (!snapshot) return false;
          for (const task of event.value.tasks) snapshot.tasks.set(task.id, task);
          if (event.value.complete) {
            local.current = { board: snapshot.board, tasks: snapshot.tasks };
            snapshot = null;
            publish(true);
          }
          return false;
        }
        case "taskCreated":
        case "taskUpdated":
          tasks.set(event.value.id, event.value);
          break;
        case "taskMoved": {
          const task = event.value.task;
          if (!task) return false;
          if (task.boardId === boardId) tasks.set(task.id, task);
          else tasks.delete(task.id);
          break;
        }
        case "taskDeleted":
          tasks.delete(event.value.taskId);
          break;
        case "columnChanged":
          if (event.value.board) local.current.board = event.value.board;
          break;
        case "boardUpdated":
          local.current.board = event.value;
          break;
        default:
          // A heartbeat: the stream is open and caught up (a resumed one may send nothing else).
          if (snapshot === null && !isLive) publish(true);
          return false;
      }
      publish(true);
      return true;
    }

    (async () => {
      let attempt = 0;
      let expiredSinceMessage = false;
      while (!stop.signal.aborted) {
        const silence = new AbortController();
        let timer = setTimeout(() => silence.abort(), SILENCE_MS);
        const openedWith = session()?.tokens.accessToken;
        try {
          const resuming = resumeToken !== "";
          const stream = boards.watchBoard(
            { boardId, resumeToken },
            {
              signal: AbortSignal.any([stop.signal, silence.signal]),
              // A resumed stream sends nothing until something changes: its headers say it is
              // open. A fresh one is live once its snapshot completes.
              onHeader: () => {
                if (resuming && snapshot === null) publish(true);
              },
            },
          );
          for await (const message of stream) {
            clearTimeout(timer);
            timer = setTimeout(() => silence.abort(), SILENCE_MS);
            attempt = 0;
            expiredSinceMessage = false;
            if (apply(message)) changed.current(message);
            if (message.resumeToken) resumeToken = message.resumeToken;
          }
        } catch (failure) {
          if (stop.signal.aborted) return;
          const why = reason(failure);
          if (why === "BOARD_NOT_FOUND") {
            publish(false, describe(failure));
            return;
          }
          if (why === "RESUME_TOKEN_INVALID") resumeToken = "";
          if (why === "TOKEN_EXPIRED") {
            // The stream outlived the token it was opened with: resume at once with the
            // session's current token (refreshed first unless the timer already did).
            // At once only the first time since a message: a server that keeps refusing fresh
            // tokens (clocks apart) falls back to the backoff below.
            if (!expiredSinceMessage) {
              expiredSinceMessage = true;
              if (session()?.tokens.accessToken === openedWith) await refresh().catch(() => undefined);
              if (session()?.tokens.accessToken !== openedWith) continue;
            }
          }
          if (!silence.signal.aborted && why !== "WATCH_OVERRUN") {
            publish(false, `Reconnecting: ${describe(failure)}`);
            await delay(Math.min(15_000, 500 * 2 ** attempt++), stop.signal);
          }
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return () => stop.abort();
  }, [boardId]);

  // A task the caller changed, applied at once (the stream confirms it shortly after) unless
  // the stream already brought a later version.
  const upsert = (task: Task) => {
    const known = local.current.tasks.get(task.id);
    if (known && newer(known, task)) return;
    if (task.boardId === boardId) local.current.tasks.set(task.id, task);
    else local.current.tasks.delete(task.id);
    setState((previous) => ({ ...previous, tasks: new Map(local.current.tasks) }));
  };
  return [state, upsert];
}

/** `a` was updated after `b`. */
function newer(a: Task, b: Task): boolean {
  const x = a.updateTime;
  const y = b.updateTime;
  if (!x || !y) return false;
  return x.seconds > y.seconds || (x.seconds === y.seconds && x.nanos > y.nanos);
}

/** Waits `ms`, or less if `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
