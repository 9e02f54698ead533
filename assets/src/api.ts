// The console's one way to call the API: JSON in and out, the CSRF token on
// every change, the chosen tenant on every call, errors as ApiError.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
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
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  if (tenantId) headers["X-Nudge-Tenant"] = tenantId;
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  const data: unknown = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; field?: string } }).error ?? {};
    throw new ApiError(res.status, e.code ?? "error", e.message ?? res.statusText, e.field);
  }
  return data as T;
}

export interface User {
  id: string;
  email: string;
  name: string;
}

export interface Membership {
  tenant_id: string;
  tenant_name: string;
  role: Role;
}

export type Role = "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
export const roles: Role[] = ["owner", "admin", "marketer", "supervisor", "agent", "bot"];

export interface Me {
  user: User;
  memberships: Membership[];
  tenant_id: string;
  role: Role | "";
  csrf_token: string;
}

export interface Member extends User {
  role: Role;
  joined_at: string;
}

export interface Invitation {
  id: string;
  email: string;
  role: Role;
  status: "pending" | "accepted" | "revoked" | "expired";
  created_by: string;
  created_at: string;
  expires_at: string;
  accepted_at?: string;
}

export interface InvitationPreview {
  tenant_name: string;
  email: string;
  role: Role;
  expires_at: string;
}

export interface Site {
  id: string;
  key: string;
  name: string;
  allowed_origins: string[];
  time_zone: string;
  theme: { color: string; position: "right" | "left" };
  settings: { respect_dnt: boolean; consent_required: boolean; cookieless: boolean };
}

export interface Token {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export interface AuditEntry {
  id: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  created_at: string;
}

export interface PageOf<T> {
  items: T[];
  next_cursor: string;
}

export interface Snippet {
  snippet: string;
  csp: string;
  loader_url: string;
}

export interface ReportRow {
  value: string;
  visitors: number;
  visits?: number;
  pageviews?: number;
  count?: number;
}

export interface Summary {
  visitors: number;
  visits: number;
  pageviews: number;
  views_per_visit: number;
  bounce_rate: number;
  visit_duration: number;
}

// What each role may see, mirroring the server's policy (the server decides).
export const can = {
  chat: (r: string) => r === "owner" || r === "admin" || r === "supervisor" || r === "agent",
  chatSetup: (r: string) => r === "owner" || r === "admin" || r === "supervisor",
  members: (r: string) => r === "owner" || r === "admin",
  editMembers: (r: string) => r === "owner" || r === "admin",
  editSites: (r: string) => r === "owner" || r === "admin",
  tokens: (r: string) => r === "owner" || r === "admin",
  audit: (r: string) => r === "owner" || r === "admin",
  reports: (r: string) => r === "owner" || r === "admin" || r === "marketer" || r === "supervisor",
};
