// The notifications bell: the unread count, live from StreamNotifications (which sends the
// count when the stream opens and whenever it changes), and the inbox on demand.
//
// The stream is resumed with its last resume_token after any interruption (at once after a
// server drain or an expired token, else backoff 0.5 s doubling to 15 s); 75 seconds of
// silence counts as an interruption (the server sends a heartbeat every 30). It stops when the
// caller is no longer a member of the organization (MEMBERSHIP_REVOKED).

import { timestampNow } from "@bufbuild/protobuf/wkt";
import { useEffect, useState } from "preact/hooks";

import { notifications, reason, refresh, session, type Session } from "./api";
import { Alert, useAction } from "./ui";
import type { Notification } from "./gen/taskmesh/notifications/v1/notification_pb";
import { announce, go } from "./state";
import { delay } from "./watch";

const SILENCE_MS = 75_000;

export function Bell(props: { session: Session }) {
  const [unread, setUnread] = useState<bigint>(0n);
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<Notification[]>([]);
  const { error, attempt } = useAction();
  const userId = props.session.user.id;

  useEffect(() => {
    const stop = new AbortController();
    (async () => {
      let resumeToken = "";
      let attempt = 0;
      let expiredSinceMessage = false;
      while (!stop.signal.aborted) {
        const silence = new AbortController();
        let timer = setTimeout(() => silence.abort(), SILENCE_MS);
        const openedWith = session()?.tokens.accessToken;
        try {
          const stream = notifications.streamNotifications(
            { resumeToken },
            { signal: AbortSignal.any([stop.signal, silence.signal]) },
          );
          for await (const message of stream) {
            clearTimeout(timer);
            timer = setTimeout(() => silence.abort(), SILENCE_MS);
            attempt = 0;
            expiredSinceMessage = false;
            if (message.resumeToken) resumeToken = message.resumeToken;
            if (message.event.case === "unreadCount") setUnread(message.event.value.unreadCount);
            if (message.event.case === "notification") {
              const notification = message.event.value;
              setItems((list) => [notification, ...list.filter((n) => n.id !== notification.id)]);
              announce(`Notification: ${notification.title}`);
            }
          }
        } catch (failure) {
          if (stop.signal.aborted) return;
          const why = reason(failure);
          // No longer a member here: nothing to show until the session changes organization.
          if (why === "MEMBERSHIP_REVOKED") return;
          if (why === "RESUME_TOKEN_INVALID" || why === "RESUME_TOKEN_EXPIRED") {
            // Too old to replay: start afresh; the inbox reloads when it is opened.
            resumeToken = "";
            setItems([]);
          }
          if (why === "TOKEN_EXPIRED") {
            // At once only the first time since a message: a server that keeps refusing fresh
            // tokens (clocks apart) falls back to the backoff below.
            if (!expiredSinceMessage) {
              expiredSinceMessage = true;
              if (session()?.tokens.accessToken === openedWith) await refresh().catch(() => undefined);
              if (session()?.tokens.accessToken !== openedWith) continue;
            }
          }
          if (why !== "SERVER_SHUTTING_DOWN" && !silence.signal.aborted) {
            await delay(Math.min(15_000, 500 * 2 ** attempt++), stop.signal);
          }
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return () => stop.abort();
  }, [userId, props.session.tokens.organizationId]);

  async function toggle() {
    const next = !open;
    setOpen(next);
    if (!next) return;
    await attempt(async () => {
      const response = await notifications.listNotifications({ pageSize: 20 });
      setItems(response.notifications);
    });
  }

  async function markAllRead() {
    await attempt(async () => {
      const response = await notifications.markNotificationsRead({ all: true });
      setUnread(response.unreadCount);
      const now = timestampNow();
      setItems((list) => list.map((n) => ({ ...n, readTime: n.readTime ?? now })));
    });
  }

  /** Follows a notification to its project, marking it read. */
  function follow(notification: Notification) {
    if (!notification.readTime) {
      void attempt(async () => {
        const response = await notifications.markNotificationsRead({ ids: [notification.id] });
        setUnread(response.unreadCount);
      });
      setItems((list) => list.map((n) => (n.id === notification.id ? { ...n, readTime: timestampNow() } : n)));
    }
    if (notification.projectId) go(`p/${notification.projectId}`);
    setOpen(false);
  }

  const count = Number(unread);
  return (
    <div class="bell">
      <button type="button" aria-expanded={open} aria-controls="inbox" onClick={toggle}
        aria-label={`Notifications, ${count} unread`}>
        <svg aria-hidden="true" width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
          <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
          <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
        </svg>
        {count > 0 && <span class="badge" data-testid="unread">{count}</span>}
      </button>
      {open && (
        <section id="inbox" class="inbox" aria-label="Notifications">
          <div class="inline">
            <strong>Notifications</strong>
            <button type="button" onClick={markAllRead} disabled={count === 0}>Mark all read</button>
          </div>
          <Alert error={error} />
          {items.length === 0 ? <p class="muted">Nothing yet.</p> : (
            <ul>
              {items.map((n) => (
                <li key={n.id} class={n.readTime ? "read" : "unread"}>
                  <button type="button" class="link" onClick={() => follow(n)}>
                    {n.title}
                  </button>
                  {n.body && <p class="muted">{n.body}</p>}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </div>
  );
}
