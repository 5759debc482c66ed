// Turns a failed call into a sentence for people: the ErrorInfo reason decides the words (the
// server's English message is the fallback), field violations name the field.

import { Code, ConnectError } from "@connectrpc/connect";

import { BadRequestSchema } from "./gen/google/rpc/error_details_pb";
import { reason } from "./api";

const MESSAGES: Record<string, string> = {
  WIP_LIMIT_EXCEEDED: "That column is at its WIP limit.",
  TRANSITION_NOT_ALLOWED: "The board's workflow does not allow that move.",
  ETAG_MISMATCH: "Someone changed this meanwhile; the latest version is shown.",
  TASK_CHANGED_SINCE: "The task changed since; undo no longer applies to it.",
  UNDO_STACK_CHANGED: "Your undo history changed meanwhile; try again.",
  NOTHING_TO_UNDO: "There is nothing to undo.",
  NOTHING_TO_REDO: "There is nothing to redo.",
  INVALID_CREDENTIALS: "Wrong email or password.",
  EMAIL_TAKEN: "An account with that email already exists.",
  PASSWORD_TOO_WEAK: "Choose a longer, less common password.",
  SLUG_TAKEN: "That organization address is taken.",
  SLUG_INVALID: "Use lowercase letters, digits and dashes for the address.",
  SLUG_RESERVED: "That organization address is reserved.",
  PROJECT_KEY_TAKEN: "Another project already uses that key.",
  ROLE_INSUFFICIENT: "Your role does not allow this.",
  SCOPE_INSUFFICIENT: "Your token does not allow this.",
  ASSIGNEE_NOT_PROJECT_MEMBER: "Only members of the project can be assigned.",
  MENTIONED_USER_CANNOT_SEE_PROJECT: "Someone you mentioned cannot see this project.",
  INVITATION_NOT_FOUND: "That invitation does not exist.",
  INVITATION_EXPIRED: "That invitation has expired.",
  INVITATION_REVOKED: "That invitation was revoked.",
  INVITATION_ALREADY_ACCEPTED: "That invitation was already accepted.",
  INVITATION_EMAIL_MISMATCH: "That invitation is for another email address.",
  INVITATION_ALREADY_PENDING: "That person already has a pending invitation.",
  ALREADY_MEMBER: "That person is already a member.",
  PROJECT_MEMBER_EXISTS: "That person is already in the project.",
  RATE_LIMITED: "Too many requests; wait a moment and try again.",
  TOKEN_EXPIRED: "Your session expired; sign in again.",
  REFRESH_TOKEN_REUSED: "Your session was ended for safety; sign in again.",
  TASK_NOT_FOUND: "That task no longer exists.",
  PROJECT_NOT_FOUND: "That project does not exist or you cannot see it.",
  BOARD_NOT_FOUND: "That board does not exist or you cannot see it.",
  PROJECT_ARCHIVED: "The project is archived.",
  STREAM_LIMIT_REACHED: "Too many live views are open; close a tab.",
  DEPENDENCY_UNAVAILABLE: "A service is unavailable; retrying may help.",
  TASK_PARENT_CYCLE: "A task cannot be a subtask of itself.",
};

/** The sentence to show for `error`. */
export function describe(error: unknown): string {
  const code = reason(error);
  if (code && MESSAGES[code]) return MESSAGES[code];
  if (error instanceof ConnectError) {
    const violations = error.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
    if (violations.length > 0) {
      return violations.map((v) => `${v.field}: ${v.description}`).join("; ");
    }
    if (error.code === Code.Unavailable) return "The server cannot be reached; retrying may help.";
    if (error.code === Code.Unknown && /fetch|network/i.test(error.rawMessage)) {
      return "The server cannot be reached (network or CORS).";
    }
    return error.rawMessage || Code[error.code];
  }
  return error instanceof Error ? error.message : String(error);
}
