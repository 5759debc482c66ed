// The console's only door to taskmesh: typed clients generated from the public contracts,
// over grpc-web, with the session's access token attached to every call.
//
// Invariants: tokens live in memory only (never localStorage or cookies), so a reload signs
// out; a refresh rotates the refresh token and only one refresh is ever in flight; a unary call
// refused with UNAUTHENTICATED (TOKEN_EXPIRED) is retried once after a refresh; only a refused
// refresh token ends the session (an unreachable server is retried); calls that spend the
// refresh token never overlap; Sign out ends the session on the server or reports why not.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createClient,
  type Client,
  type Interceptor,
} from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";
import { IdentityService } from "./gen/taskmesh/identity/v1/identity_service_pb";
import { AuthTokensSchema, type AuthTokens } from "./gen/taskmesh/identity/v1/token_pb";
import type { User } from "./gen/taskmesh/identity/v1/user_pb";
import { NotificationService } from "./gen/taskmesh/notifications/v1/notifications_service_pb";
import { BoardService } from "./gen/taskmesh/projects/v1/board_service_pb";
import { ProjectService } from "./gen/taskmesh/projects/v1/project_service_pb";
import { TaskService } from "./gen/taskmesh/projects/v1/task_service_pb";
import { TenancyService } from "./gen/taskmesh/tenancy/v1/tenancy_service_pb";

/** Where the API is: the page's own origin unless `<meta name="taskmesh-api">` names another
 * (a console served from a second origin, which the edge must allow-list for CORS). */
export function apiBaseUrl(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="taskmesh-api"]');
  const configured = meta?.content.trim();
  return configured ? configured.replace(/\/+$/, "") : window.location.origin;
}

/** The signed-in user and their current tokens. */
export interface Session {
  user: User;
  tokens: AuthTokens;
}

type Listener = (session: Session | null) => void;

let current: Session | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<void> | null = null;
const listeners = new Set<Listener>();

/** The session, or null when signed out. */
export function session(): Session | null {
  return current;
}

/** Calls `listener` on every change of the session (sign-in, refresh, switch, sign-out). */
export function onSession(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function publish(next: Session | null) {
  current = next;
  clearTimeout(refreshTimer);
  if (next) {
    // Refresh a minute before the access token expires (at least 5 s from now).
    const expiresAt = next.tokens.accessTokenExpireTime
      ? timestampMs(next.tokens.accessTokenExpireTime)
      : Date.now() + 15 * 60_000;
    scheduleRefresh(Math.max(5_000, expiresAt - Date.now() - 60_000), 0);
  }
  for (const listener of listeners) listener(next);
}

/** Refreshes after `delay`. A refused refresh token signs out (in `refresh`); a server that
 * cannot be reached (a restart, a network blip) is asked again, 1 s doubling to 30 s. */
function scheduleRefresh(delay: number, failures: number) {
  clearTimeout(refreshTimer);
  const scheduledFor = current;
  refreshTimer = setTimeout(() => {
    refresh().catch((failure) => {
      if (!refused(failure) && current === scheduledFor) {
        scheduleRefresh(Math.min(30_000, 1_000 * 2 ** failures), failures + 1);
      }
    });
  }, delay);
}

function refused(failure: unknown): boolean {
  return failure instanceof ConnectError &&
    (failure.code === Code.Unauthenticated || failure.code === Code.PermissionDenied);
}

/** Starts a session from tokens a sign-up, login or switch returned. */
export function signedIn(user: User, tokens: AuthTokens) {
  publish({ user, tokens: create(AuthTokensSchema, tokens) });
}

/** Forgets the session locally (after Logout, or when the refresh token is refused). */
export function signedOut() {
  publish(null);
}

// Calls that spend the refresh token (RefreshToken, SwitchOrganization, Logout) run one at a
// time: two of them with the same token would look like a stolen token being replayed, and
// identity would end the whole session.
let rotation: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(call: () => Promise<T>): Promise<T> {
  const result = rotation.then(call, call);
  rotation = result.catch(() => undefined);
  return result;
}

/** Exchanges the refresh token for new tokens (rotation: the old refresh token is spent).
 * Concurrent callers share one exchange; a refused token ends the session. */
export function refresh(): Promise<void> {
  if (!refreshing) {
    const from = current;
    refreshing = oneAtATime(async () => {
      if (!from || current !== from) return; // signed out, or already replaced meanwhile
      try {
        // Empty organization: keep the session's scope (unscoped if membership ended).
        const response = await identity.refreshToken({ refreshToken: from.tokens.refreshToken });
        if (response.tokens && current === from) publish({ user: from.user, tokens: response.tokens });
      } catch (failure) {
        if (refused(failure) && current === from) signedOut();
        throw failure;
      }
    }).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** Scopes the session to `organizationId` (a rotation like a refresh). */
export async function switchOrganization(organizationId: string): Promise<void> {
  await freshToken();
  return oneAtATime(async () => {
    const from = current;
    const response = await identity.switchOrganization({ organizationId });
    if (response.tokens && from && current === from) publish({ user: from.user, tokens: response.tokens });
  });
}

/** Ends the session on the server, then here. Throws (and keeps the session) when the server
 * could not be told, so that the user can try again rather than leave a live session behind. */
export async function signOut(): Promise<void> {
  await freshToken().catch(() => undefined);
  const logout = () =>
    oneAtATime(async () => {
      if (!current) return;
      await identity.logout({});
      signedOut();
    });
  try {
    await logout();
  } catch (failure) {
    if (reason(failure) === "TOKEN_EXPIRED") {
      // Only the access token expired (a clock behind the server's, a refresh that failed):
      // the refresh token still ends the session. A refused refresh signs out in `refresh`.
      await refresh();
      return logout();
    }
    if (!refused(failure)) throw failure;
    signedOut(); // revoked or unknown: the session has already ended on the server
  }
}

/** Refreshes first when the access token expires within 30 s (after the computer slept, the
 * timer may not have run): the calls that spend the refresh token are not retried, since a
 * refresh inside them would wait for them. */
async function freshToken(): Promise<void> {
  const expiry = current?.tokens.accessTokenExpireTime;
  if (expiry && timestampMs(expiry) - Date.now() < 30_000) await refresh();
}

// Not retried after a refresh: sign-in calls carry no session, RefreshToken must not trigger
// itself, and the rotation calls refresh beforehand (see `freshToken`).
const NOT_RETRIED = new Set([
  "RefreshToken", "Login", "SignUp", "RequestPasswordReset", "ResetPassword", "Logout", "SwitchOrganization",
]);

const authorize: Interceptor = (next) => async (request) => {
  const token = current?.tokens.accessToken;
  if (token) request.header.set("authorization", `Bearer ${token}`);
  try {
    return await next(request);
  } catch (error) {
    const retry =
      !request.stream &&
      token !== undefined &&
      reason(error) === "TOKEN_EXPIRED" &&
      !NOT_RETRIED.has(request.method.name);
    if (!retry) throw error;
    if (current?.tokens.accessToken === token) await refresh();
    request.header.set("authorization", `Bearer ${current?.tokens.accessToken ?? ""}`);
    return await next(request);
  }
};

const transport = createGrpcWebTransport({
  baseUrl: apiBaseUrl(),
  useBinaryFormat: true,
  interceptors: [authorize],
});

export const identity: Client<typeof IdentityService> = createClient(IdentityService, transport);
export const tenancy: Client<typeof TenancyService> = createClient(TenancyService, transport);
export const projects: Client<typeof ProjectService> = createClient(ProjectService, transport);
export const boards: Client<typeof BoardService> = createClient(BoardService, transport);
export const tasks: Client<typeof TaskService> = createClient(TaskService, transport);
export const notifications: Client<typeof NotificationService> = createClient(
  NotificationService,
  transport,
);

/** The `google.rpc.ErrorInfo` reason of a failed call, if it carried one. */
export function reason(error: unknown): string | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  return error.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** A fresh idempotency key for a create call (a v4 UUID; `crypto.randomUUID` exists only in
 * secure contexts, and the console may be opened over plain HTTP on a LAN address). */
export function requestId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export type { MessageInitShape };

/** Every item of a paged list (at most `limit`, so a huge list cannot stall the page). */
export async function allPages<T>(
  page: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>,
  limit = 1_000,
): Promise<T[]> {
  const items: T[] = [];
  let pageToken = "";
  do {
    const response = await page(pageToken);
    items.push(...response.items);
    pageToken = response.nextPageToken;
  } while (pageToken && items.length < limit);
  return items;
}
