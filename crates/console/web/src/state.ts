// Small shared hooks: the session, the fragment route, the organization's member names, and
// a status line for announcements (read by screen readers through an aria-live region).

import { useEffect, useState } from "preact/hooks";

import { onSession, session, tenancy, type Session } from "./api";
import type { Membership } from "./gen/taskmesh/tenancy/v1/membership_pb";

/** The current session, re-rendering on sign-in, refresh, switch and sign-out. */
export function useSession(): Session | null {
  const [value, setValue] = useState(session());
  useEffect(() => onSession(setValue), []);
  return value;
}

/** The route: the URL fragment split on `/` (`#/p/123` → ["p", "123"]). */
export function useRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const changed = () => setRoute(read());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}

/** Navigates to a fragment route. */
export function go(path: string) {
  window.location.hash = `#/${path}`;
}

/** Members of the session's organization, by user id (empty until loaded or without one). */
export function useMembers(organizationId: string): Map<string, Membership> {
  const [members, setMembers] = useState(new Map<string, Membership>());
  useEffect(() => {
    let live = true;
    setMembers(new Map());
    if (!organizationId) return;
    (async () => {
      const all = new Map<string, Membership>();
      let pageToken = "";
      do {
        const page = await tenancy.listMembers({ organizationId, pageSize: 100, pageToken });
        for (const member of page.members) all.set(member.userId, member);
        pageToken = page.nextPageToken;
      } while (pageToken && live);
      if (live) setMembers(all);
    })().catch(() => undefined);
    return () => {
      live = false;
    };
  }, [organizationId]);
  return members;
}

/** The display name of `userId` among `members`, or a short form of the id. */
export function nameOf(members: Map<string, Membership>, userId: string): string {
  if (!userId) return "system";
  return members.get(userId)?.displayName || `user ${userId.slice(-6)}`;
}

type Announce = (message: string) => void;
let announcer: Announce = () => undefined;

/** Puts `message` in the polite live region (and the visible status line). */
export function announce(message: string) {
  announcer(message);
}

/** The status line's text; the App renders it. */
export function useAnnouncements(): string {
  const [message, setMessage] = useState("");
  useEffect(() => {
    announcer = setMessage;
    return () => {
      announcer = () => undefined;
    };
  }, []);
  return message;
}
