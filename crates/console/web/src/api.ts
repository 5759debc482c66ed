// The console's only door to taskmesh: typed clients generated from the public contracts,
// over grpc-web, with the session's access token attached to every call.
//
// Invariants: tokens live in memory only (never localStorage or cookies), so a reload signs
// out; a refresh rotates the refresh token and only one refresh is ever in flight; a unary call
// refused with UNAUTHENTICATED (TOKEN_EXPIRED) is retried once after a refresh; only a refused
// refresh token ends the session (an unreachable server is retried).

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

/** Refreshes after `delay`. Only a refused refresh token signs out: a server that cannot be
 * reached (a restart, a network blip) is asked again, 1 s doubling to 30 s. */
function scheduleRefresh(delay: number, failures: number) {
  refreshTimer = setTimeout(() => {
    refresh().catch((failure) => {
      const refused = failure instanceof ConnectError &&
        (failure.code === Code.Unauthenticated || failure.code === Code.PermissionDenied);
      if (refused) signedOut();
      else scheduleRefresh(Math.min(30_000, 1_000 * 2 ** failures), failures + 1);
    });
  }, delay);
}

/** Starts a session from tokens a sign-up, login or switch returned. */
export function signedIn(user: User, tokens: AuthTokens) {
  publish({ user, tokens: create(AuthTokensSchema, tokens) });
}

/** Replaces the tokens (same user), e.g. after SwitchOrganization. */
export function tokensChanged(tokens: AuthTokens) {
  if (current) publish({ user: current.user, tokens });
}

/** Forgets the session locally (after Logout, or when the refresh token is refused). */
export function signedOut() {
  publish(null);
}

/** Exchanges the refresh token for new tokens (rotation: the old refresh token is spent). */
export function refresh(): Promise<void> {
  if (!refreshing) {
    const from = current;
    refreshing = (async () => {
      if (!from) throw new ConnectError("signed out", Code.Unauthenticated);
      const response = await identity.refreshToken({
        refreshToken: from.tokens.refreshToken,
        organizationId: from.tokens.organizationId,
      });
      if (response.tokens && current === from) publish({ user: from.user, tokens: response.tokens });
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

const authorize: Interceptor = (next) => async (request) => {
  const token = current?.tokens.accessToken;
  if (token) request.header.set("authorization", `Bearer ${token}`);
  try {
    return await next(request);
  } catch (error) {
    const refreshable =
      !request.stream &&
      token !== undefined &&
      reason(error) === "TOKEN_EXPIRED" &&
      request.service.typeName !== IdentityService.typeName;
    if (!refreshable) throw error;
    await refresh();
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

/** A fresh idempotency key for a create call. */
export function requestId(): string {
  return crypto.randomUUID();
}

export type { MessageInitShape };
