// The console's one way to call the API: JSON in and out, the CSRF token on
// every change, the chosen tenant on every call, errors as ApiError.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    // details are every problem, each at its field's JSON path (a rule's nodes).
    readonly details?: { path: string; message: string }[],
  ) {
    super(message);
  }
}

let csrfToken = "";
let tenantId = "";

export function setSession(csrf: string, tenant: string): void {
  csrfToken = csrf;
  tenantId = tenant;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  return send<T>(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : "application/json");
}

// apiBlob sends a file as the body (a picture).
export function apiBlob<T>(method: string, path: string, body: Blob): Promise<T> {
  return send<T>(method, path, body, body.type);
}

async function send<T>(method: string, path: string, body?: BodyInit, type?: string): Promise<T> {
  const headers: Record<string, string> = {};
  if (type) headers["Content-Type"] = type;
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  if (tenantId) headers["X-Nudge-Tenant"] = tenantId;
  const res = await fetch(path, { method, headers, credentials: "same-origin", body });
  if (res.status === 204) return undefined as T;
  const data: unknown = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; field?: string; details?: unknown } }).error ?? {};
    const details = Array.isArray(e.details) ? (e.details as { path: string; message: string }[]) : undefined;
    throw new ApiError(res.status, e.code ?? "error", e.message ?? res.statusText, e.field, details);
  }
  return data as T;
}

export type {
  AuditEntry,
  Invitation,
  InvitationPreview,
  Member,
  Membership,
  ReportRow,
  Site,
  Snippet,
  Token,
  User,
} from "./api.gen";
import type { Me as MeAnswer, Member, User, Membership } from "./api.gen";

export type Role = Member["role"];
export const roles: Role[] = ["owner", "admin", "marketer", "supervisor", "agent", "bot"];

// Me is /api/me for a console session (a token has no user).
export type Me = MeAnswer & { user: User; memberships: Membership[]; csrf_token: string };

export interface PageOf<T> {
  items: T[];
  next_cursor: string;
}


// may tells whether the user's role may do act on obj in the current tenant,
// from the permissions the server sent (the server decides every request).
export function may(me: { permissions: string[] }, perm: string): boolean {
  return me.permissions.includes(perm);
}
