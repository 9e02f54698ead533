// Generated from server/openapi.json by assets.APITypes: do not edit.
// TestAPITypes (console) or TestProtocolTypes (widget) writes it again with -update.

export interface Agent {
  user_id: string;
  email: string;
  name: string;
  role: string;
  profile: AgentProfile;
}

/** A frame an agent, supervisor or bot sends on /ws/agent (docs/protocol.md) */
export type AgentCommand = {
  type: "hello";
  id?: string;
  v?: number;
  status?: "available" | "away";
  /** The queues to work now, among those the agent's profile allows (empty: all of those) */
  queues?: string[];
} | {
  type: "presence";
  id?: string;
  /** Optional when queues change */
  status?: "available" | "away";
  /** The queues to work now, among those the agent's profile allows (empty: all of those) */
  queues?: string[];
} | {
  type: "accept" | "decline" | "context" | "leave" | "monitor" | "barge" | "hold" | "reopen";
  id?: string;
  /** A conversation id */
  conversation: string;
} | {
  type: "send";
  id?: string;
  /** A conversation id */
  conversation: string;
  client_id?: string;
  /** A send made again after its ack was lost (after a reconnect): it may be stored already, so the server shows it to the others only once committed. Without it a resend that was stored is shown, then retracted. */
  resend?: boolean;
  kind?: "text" | "rich" | "file";
  text?: string;
  /** A canned response's id or shortcut */
  canned?: string;
  payload?: Record<string, unknown>;
  internal?: boolean;
} | {
  type: "typing";
  id?: string;
  /** A conversation id */
  conversation: string;
  on?: boolean;
} | {
  type: "read";
  id?: string;
  /** A conversation id */
  conversation: string;
  seq: number;
} | {
  type: "history";
  id?: string;
  /** A conversation id */
  conversation: string;
  after?: number;
  limit?: number;
} | {
  type: "transfer";
  id?: string;
  /** A conversation id */
  conversation: string;
  agent?: string;
  queue?: string;
  note?: string;
} | {
  type: "assign";
  id?: string;
  /** A conversation id */
  conversation: string;
  /** The agent (a user id) who gets the chat; none: the supervisor who asks */
  agent?: string;
} | {
  type: "invite";
  id?: string;
  /** A conversation id */
  conversation: string;
  agent: string;
  mode?: "conference" | "consult";
  note?: string;
} | {
  type: "close";
  id?: string;
  /** A conversation id */
  conversation: string;
  disposition?: string;
  tags?: string[];
} | {
  type: "upload";
  id?: string;
  /** A conversation id */
  conversation: string;
  name: string;
  size: number;
} | {
  type: "live";
  id?: string;
  on?: boolean;
} | {
  type: "ping";
  id?: string;
};

/** A frame the server sends on /ws/agent: an answer, an error or an event (docs/protocol.md) */
export type AgentFrame = {
  type: "hello_ok";
  id?: string;
  data: {
    v: number;
    me: {
      id: string;
      name: string;
      tenant: string;
      supervise: boolean;
      bot: boolean;
    };
    state: {
      presence: "available" | "away";
      chats: ChatView[];
      offers: ChatView[];
      /** The same offers as the offer event gives them, with kind and expiry */
      pending_offers: {
        kind: "assign" | "transfer" | "conference" | "consult";
        expires_at: string;
        conversation: ChatView;
        from?: Ref;
        note?: string;
        /** A chat the agent put on hold, back because the visitor wrote */
        held?: boolean;
      }[];
      /** The queues the agent's profile lets them work */
      queues: Ref[];
      /** Those they chose to work now (empty: all) */
      working: string[];
    };
  };
} | {
  type: "ack";
  id?: string;
  data: Message;
} | {
  type: "history_ok";
  id?: string;
  data: {
    conversation: string;
    messages: Message[];
  };
} | {
  type: "context_ok";
  id?: string;
  data: ChatContext;
} | {
  type: "live_ok";
  id?: string;
  data: LiveState;
} | {
  type: "upload_ok";
  id?: string;
  data: {
    max_chunk: number;
  };
} | {
  type: "upload_done";
  id?: string;
  data: UploadedFile;
} | {
  type: "presence_ok" | "accept_ok" | "decline_ok" | "transfer_ok" | "invite_ok" | "leave_ok" | "monitor_ok" | "barge_ok" | "hold_ok" | "close_ok" | "ping_ok" | "reopen_ok" | "assign_ok";
  id?: string;
} | ProtocolError | {
  type: "offer";
  conversation: string;
  data: {
    kind: "assign" | "transfer" | "conference" | "consult";
    expires_at: string;
    conversation: ChatView;
    from?: Ref;
    note?: string;
    /** A chat the agent put on hold, back because the visitor wrote */
    held?: boolean;
  };
} | {
  type: "offer_revoked" | "removed";
  conversation: string;
} | {
  type: "invite_ended";
  conversation: string;
  data: {
    kind: string;
    to: string;
    reason: "declined" | "timeout" | "unavailable" | "hold" | "closed";
  };
} | {
  type: "state";
  conversation: string;
  data: ChatView;
} | {
  type: "message";
  conversation: string;
  data: Message;
} | {
  type: "retracted";
  conversation: string;
  data: {
    seq: number;
    id: string;
  };
} | {
  type: "typing";
  conversation: string;
  data: {
    from: "visitor";
    preview: string;
  } | {
    from: "agent";
    id: string;
    name: string;
    on: boolean;
  };
} | {
  type: "read";
  conversation: string;
  data: {
    by: "visitor";
    seq: number;
  };
} | {
  type: "presence";
  data: {
    status: "available" | "away";
    reason?: string;
  };
} | {
  type: "live";
  data: LiveState;
} | {
  type: "visitor";
  conversation: string;
  data: {
    online: boolean;
  };
};

export interface AgentProfile {
  capacity?: number;
  skills?: Record<string, number>;
  /** queue ids; empty: all */
  queues?: string[];
}

export interface AuditEntry {
  id: string;
  tenant_id: string;
  /** user:ID, token:ID or system:nudge */
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  detail: Record<string, unknown>;
  created_at: string;
}

/** pages, events, sources, referrers, campaigns, utm_*, devices, browsers, os, languages, screens, countries, entry_pages, exit_pages */
export interface BreakdownReport {
  site: string;
  from: string;
  to: string;
  /** events?name=X: the event whose properties are broken down (value is key=value) */
  name?: string;
  items: ReportRow[];
}

export interface Canned {
  id: string;
  shortcut: string;
  title: string;
  /** Placeholders: {{agent.name}}, {{visitor.name}}, {{visitor.id}}, {{page.url}}, {{page.title}}, {{offer.name}}, {{topic}}, {{vars.KEY}} */
  text: string;
  created_at: string;
  updated_at: string;
}

export interface CannedInput {
  shortcut?: string;
  title?: string;
  text?: string;
}

export interface ChatAggregate {
  key: string;
  name?: string;
  conversations: number;
  answered: number;
  unanswered: number;
  avg_wait: number | null;
  avg_first_response: number | null;
  avg_handle: number | null;
  messages: number;
  csat_count: number;
  avg_csat: number | null;
  /** Messages left on the offline form */
  left_messages: number;
  /** Of them, answered (by email from the desk, or marked answered) */
  left_answered: number;
}

/** The customer beside a chat: who they are, their visit's pages, their earlier conversations the agent may open */
export interface ChatContext {
  conversation: Conversation;
  meta: ChatMeta;
  /** The verified customer: of this chat, or (verified empty) of this browser's earlier verified visits */
  contact: null | ContactSummary;
  /** How this chat's identity was proved */
  verified: "token" | "hash" | "";
  visit: null | Visit;
  /** The customer's other conversations (on every device when verified), within the agent's queues (all for supervisors), newest first, at most 200 */
  earlier: ContactConversation[];
}

/** What the page tells about a visitor starting a chat (start's meta), and the visitor context agents see */
export interface ChatMeta {
  offer?: {
    id: string;
    name?: string;
    queue?: string;
    data?: Record<string, string>;
    source?: "rule" | "page" | "push" | "invitation";
    text?: string;
    version?: number;
    /** Who invited the visitor (source invitation): the chat is offered to them first. Set by the server; a page's is dropped */
    agent?: string;
  };
  identity?: {
    id: string;
    email?: string;
    name?: string;
    hash?: string;
    verified?: boolean;
    /** How it was verified (set by the server) */
    by?: "hash" | "token";
  };
  page?: {
    url: string;
    title?: string;
  };
  pages?: {
    url: string;
    title?: string;
  }[];
  vars?: Record<string, string>;
  /** Filled by the server from the request */
  device?: Record<string, string>;
  /** The pre-chat answer */
  topic?: string;
  form?: FormAnswers;
}

export interface ChatSettings {
  default_queue?: string;
  prechat?: null | {
    question?: string;
    options?: {
      label?: string;
      queue?: string;
    }[];
  };
  inactivity?: {
    warn_after?: number;
    close_after?: number;
  };
  csat?: boolean;
  mask_cards?: boolean;
  /** RE2 patterns masked in messages */
  patterns?: string[];
  dispositions?: string[];
  /** The team's IANA time zone: chat reports count days in it (default UTC) */
  time_zone?: string;
  /** Chats closed longer ago than this many days are deleted, from the store and the search index, within ten minutes (0 keeps them) */
  transcript_retention_days?: number;
  /** The chat panel's first screen, before the visitor writes */
  welcome?: {
    /** The team's name (empty: the site's) */
    title?: string;
    greeting?: string;
  };
  /** The pre-chat form: fields the visitor fills in with their first message (the pre-chat question's topics come with them); null: none */
  form?: null | {
    fields: FormField[];
  };
}

/** Chat aggregates over a date range in the team's time zone, by queue, agent or day */
export interface ChatSummary {
  by: "queue" | "agent" | "day";
  from: string;
  to: string;
  /** The zone the days are counted in (the chat settings' time_zone) */
  time_zone: string;
  rows: ChatAggregate[];
}

/** A live conversation as agents see it (the state event of the protocol) */
export interface ChatView {
  id: string;
  status: "bot" | "queued" | "assigned" | "hold" | "offline" | "closed";
  site_id: string;
  visitor: string;
  queue: null | Ref;
  agent: null | Ref;
  participants: {
    id: string;
    name: string;
    role: "owner" | "conference" | "consult" | "monitor";
  }[];
  metadata: ChatMeta;
  last_seq: number;
  read_by_visitor: number;
  created_at: string;
  queued_at: string | null;
}

/** A known customer: the person behind an external id one of the tenant's sites verified. */
export interface Contact {
  id: string;
  /** The id the site gave (nudge('identify')) */
  external_id: string;
  email?: string;
  name?: string;
  attributes?: Record<string, string>;
  /** How the latest sighting was proved: the site's signature of the id, or a visitor token */
  verified_by: "hash" | "token";
  first_seen: string;
  last_seen: string;
}

export interface ContactConversation {
  id: string;
  site_id: string;
  queue_id: string;
  status: string;
  close_reason: string;
  disposition: string;
  created_at: string;
  closed_at?: string;
}

/** A contact with how much nudge knows of them */
export interface ContactSummary {
  id: string;
  /** The id the site gave (nudge('identify')) */
  external_id: string;
  email?: string;
  name?: string;
  attributes?: Record<string, string>;
  /** How the latest sighting was proved: the site's signature of the id, or a visitor token */
  verified_by: "hash" | "token";
  first_seen: string;
  last_seen: string;
  visits: number;
  conversations: number;
}

export interface ContactView {
  contact: Contact;
  /** The visitor ids of each site the contact was verified on, the last seen first */
  visitors: {
    site_id: string;
    visitor: string;
  }[];
  /** Its conversations on every site, the newest first (at most 200) */
  conversations: ContactConversation[];
  /** Its visits on every site (of each visitor id it was verified on), the latest first (at most 200) */
  visits: Visit[];
  /** All its visits */
  visit_count: number;
  /** The proactive offers its visits met, by site and rule */
  offers: {
    site_id: string;
    rule: string;
    visits: number;
    shown: number;
    accepted: number;
    declined: number;
    chats: number;
    last: string;
    /** The rule's name (or what made the offer: page code, the site's backend, an agent's invitation) */
    name: string;
  }[];
}

/** Times are RFC 3339; nulls when not reached. */
export interface Conversation {
  id: string;
  tenant_id: string;
  site_id: string;
  visitor: string;
  status: "bot" | "queued" | "assigned" | "hold" | "offline" | "closed";
  last_seq: number;
  queue_id: string;
  agent_id: string;
  last_agent_id: string;
  metadata: ChatMeta;
  queued_at: string | null;
  assigned_at: string | null;
  first_response_at: string | null;
  close_reason: string;
  disposition: string;
  tags: string[];
  csat: number | null;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

/** Times in seconds; null when not reached. */
export interface ConversationMetrics {
  id: string;
  site_id: string;
  queue_id: string;
  agent_id: string;
  status: string;
  created_at: string;
  closed_at: string | null;
  wait: number | null;
  first_response: number | null;
  handle: number | null;
  visitor_messages: number;
  agent_messages: number;
  internal_messages: number;
  outcome: string;
  disposition: string;
  csat: number | null;
  answered: boolean;
  /** A message left on the offline form that someone answered */
  left_answered: boolean;
}

export interface CreateTokenRequest {
  name: string;
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
  expires_at?: string;
}

export interface CreatedInvitation {
  invitation: Invitation;
  /** The link to give the invited person, shown once: `PUBLIC_URL/invite#TOKEN`. The token is in the fragment, which browsers send to no server. */
  url: string;
}

export interface CreatedToken {
  token: Token;
  secret: string;
}

export interface Delivery {
  id: string;
  webhook_id: string;
  event: string;
  /** The event as sent */
  payload: unknown;
  status: "pending" | "succeeded" | "failed";
  attempts: number;
  next_attempt_at: string | null;
  last_status: number;
  last_error: string;
  created_at: string;
  updated_at: string;
}

/** A tenant's SMTP settings as shown: never the password */
export interface EmailSettings {
  /** nudge sends the tenant's mail; off keeps the settings and queues nothing new */
  enabled: boolean;
  host: string;
  /** 0: the security's port (587 STARTTLS, 465 TLS, 25 none) */
  port: number;
  /** starttls (required upgrade), tls (from the first byte) or none (a relay on a trusted network; no credentials) */
  security: "starttls" | "tls" | "none" | "";
  username: string;
  /** The sender's address */
  from: string;
  from_name: string;
  /** Receives left messages and missed-chat notices instead of the queue's agents and supervisors, when set */
  notify_address: string;
  /** Visitors may ask for their chat's transcript after it closes */
  transcripts: boolean;
  /** Messages left on the offline form are emailed */
  offline_messages: boolean;
  /** Chats that ended before an agent answered are notified */
  missed_chats: boolean;
  password_set: boolean;
}

/** The tenant's SMTP settings, replaced whole; the password left out keeps the stored one (for the same host and user name) */
export interface EmailSettingsInput {
  /** nudge sends the tenant's mail; off keeps the settings and queues nothing new */
  enabled?: boolean;
  host: string;
  /** 0: the security's port (587 STARTTLS, 465 TLS, 25 none) */
  port?: number;
  /** starttls (required upgrade), tls (from the first byte) or none (a relay on a trusted network; no credentials) */
  security?: "starttls" | "tls" | "none" | "";
  username?: string;
  /** The sender's address */
  from: string;
  from_name?: string;
  /** Receives left messages and missed-chat notices instead of the queue's agents and supervisors, when set */
  notify_address?: string;
  /** Visitors may ask for their chat's transcript after it closes */
  transcripts?: boolean;
  /** Messages left on the offline form are emailed */
  offline_messages?: boolean;
  /** Chats that ended before an agent answered are notified */
  missed_chats?: boolean;
  /** Sealed at rest with the tenant's key; never shown again */
  password?: string;
}

export interface Error {
  error: {
    /** Stable machine-readable code: invalid_json, unknown_field, invalid_utf8, invalid, unauthenticated, bad_credentials, forbidden, csrf, cross_origin, not_found, conflict, too_large, unsupported_media_type, rate_limited, internal… */
    code: string;
    message: string;
    /** The offending field, when there is one */
    field?: string;
    /** Every problem, when there are several (a rule's or template's fields) */
    details?: {
      path: string;
      message: string;
    }[];
  };
}

/** A visitor's answers to the pre-chat form */
export interface FormAnswers {
  /** One of the pre-chat question's options: picks the queue */
  topic?: string;
  name?: string;
  email?: string;
  /** Text fields by key */
  fields?: Record<string, string>;
}

export interface FormField {
  kind: "name" | "email" | "text";
  /** A text field's name, as the agent sees it (1 to 32 of a-z, 0-9, _); name and email fields take their kind */
  key?: string;
  label: string;
  required: boolean;
}

/** goals */
export interface GoalsReport {
  site: string;
  from: string;
  to: string;
  items: {
    event?: string;
    page?: string;
    visitors: number;
    /** Percent of the range's visitors */
    conversion_rate: number;
  }[];
}

export interface Hours {
  time_zone?: string;
  /** mon…sun → list of ["HH:MM","HH:MM"] spans */
  week?: Record<string, string[][]>;
  closed?: string[];
}

export interface Invitation {
  id: string;
  tenant_id: string;
  email: string;
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
  status: "pending" | "accepted" | "revoked" | "expired";
  /** The inviter, as `user:ID` or `token:ID`. */
  created_by: string;
  created_at: string;
  expires_at: string;
  accepted_at?: string;
  /** The id of the user who accepted. */
  accepted_by?: string;
  revoked_at?: string;
}

export interface InvitationPreview {
  tenant_name: string;
  email: string;
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
  expires_at: string;
}

export interface InvitationToken {
  token: string;
}

export interface InviteRequest {
  email: string;
  /** Only an owner invites an owner. */
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
  expires_in_days?: number;
}

export interface JoinRequest {
  token: string;
  /** For a new account. */
  name?: string;
  /** The password of the account that has the invited address, or the new account's (8 to 256 characters). */
  password: string;
}

/** A message a visitor left on the offline form: work for the queue's agents */
export interface LeftMessage {
  conversation_id: string;
  site_id: string;
  queue_id: string;
  name: string;
  /** The address to answer; empty when the visitor left none */
  email: string;
  text: string;
  /** The page the visitor was on */
  page: string;
  created_at: string;
  state: "new" | "answered";
  answered_at: string | null;
  /** Who answered, by name */
  answered_by: string;
}

/** The lift of the goal conversion rate of offer over control, with 95 % intervals */
export interface Lift {
  /** p(offer) / p(control) − 1, percent (Katz log interval) */
  relative: number;
  relative_low: number;
  relative_high: number;
  /** p(offer) − p(control), percentage points (Wald interval) */
  difference: number;
  difference_low: number;
  difference_high: number;
}

export interface LiveAgent {
  id: string;
  name: string;
  presence: "available" | "away" | "offline";
  chats: number;
  offers: number;
  capacity: number;
  /** When the presence last changed */
  since: string;
}

export interface LiveQueue {
  id: string;
  name: string;
  /** Inside business hours */
  open: boolean;
  /** Available, connected agents of the queue with a free slot */
  agents_available: number;
  /** Their free slots */
  free: number;
  /** The chats the queue's available agents carry at once */
  slots: number;
  waiting: number;
  /** Seconds a new chat would wait; -1 when nobody can answer */
  estimated_wait: number;
  /** Seconds the oldest waiting chat has waited */
  longest_wait: number;
  /** Waiting chats offered to an agent now */
  offered: number;
}

/** Queues, agents and open chats now; the protocol's live event carries the same */
export interface LiveState {
  queues: LiveQueue[];
  agents: LiveAgent[];
  chats: ChatView[];
}

/** A visitor on the site now (active in the last five minutes): their latest visit */
export interface LiveVisitor {
  visitor: string;
  /** The path they are on */
  page: string;
  title: string;
  /** The visit's start */
  since: string;
  last_seen: string;
  /** Pageviews this visit */
  pages: number;
  referrer: string;
  returning: boolean;
  device: string;
  browser: string;
  /** A proactive offer was shown in this visit */
  offer_shown: boolean;
  /** The verified customer this visitor id is linked to */
  contact: null | {
    id: string;
    name: string;
    email: string;
  };
  /** Their page asked for pushed offers in the last seconds: an invitation reaches it */
  invitable: boolean;
}

export interface LoginRequest {
  email: string;
  password: string;
}

/** An email of the outbox, which is the delivery log */
export interface MailDelivery {
  id: string;
  kind: "transcript" | "offline" | "missed" | "test";
  conversation_id?: string;
  /** Recipients (known once composed; a transcript's from the request) */
  to: string[];
  subject: string;
  status: "pending" | "sending" | "sent" | "failed";
  attempts: number;
  next_attempt_at: string | null;
  /** The last failure, as a sentence */
  last_error: string;
  created_at: string;
  updated_at: string;
}

export interface Me {
  user?: User;
  token?: Token;
  memberships?: Membership[];
  tenant_id: string;
  /** The role in tenant_id; empty for a user in no tenant */
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot" | "";
  csrf_token?: string;
  /** What the role may do in the tenant, as object:action (sites:write, chat:supervise…): what the console offers */
  permissions: string[];
  /** Always true here; false (alone) from /api/auth/session without a session */
  authenticated?: boolean;
  /** The user's picture (absolute URL), empty when none */
  avatar?: string;
}

export interface Member {
  id: string;
  email: string;
  name: string;
  created_at: string;
  updated_at: string;
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
  joined_at: string;
}

export interface Membership {
  tenant_id: string;
  tenant_name: string;
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
  created_at: string;
}

/** See docs/protocol.md */
export interface Message {
  conversation_id: string;
  seq: number;
  id: string;
  client_id?: string;
  sender: {
    kind: "visitor" | "agent" | "bot" | "system";
    id: string;
    name?: string;
    /** An agent's picture (absolute URL), when they chose one */
    avatar?: string;
  };
  kind: string;
  audience: "all" | "agents";
  text: string;
  /** By kind: a file's {id, name, type, size}, a rich message's content, a system event's details (docs/protocol.md) */
  payload?: Record<string, unknown> | null;
  created_at: string;
}

/** A rule's funnel (or the offers made by page code, or pushed) */
export interface OfferFunnel {
  /** A rule's id, or page / push / invite (agents' invitations) */
  rule: string;
  name: string;
  /** As the rules API says; page, push, invite, or deleted */
  status: string;
  variants: Record<string, OfferVariant>;
  /** Null without a control group or before both groups have converted */
  lift: null | Lift;
}

export interface OfferVariant {
  rule: string;
  variant: "offer" | "control";
  /** Visits in which the offer was decided (qualified for a rule, in both variants; shown, for offers by page code or pushed) */
  visits: number;
  qualified: number;
  shown: number;
  accepted: number;
  declined: number;
  dismissed: number;
  chats: number;
  /** Decided visits in which one of the site's goals followed */
  conversions: number;
  conversion_rate: number;
}

/** offers */
export interface OffersReport {
  site: string;
  from: string;
  to: string;
  items: OfferFunnel[];
}

export interface PasswordRequest {
  current_password: string;
  new_password: string;
}

export interface Preview {
  /** the id of the offer the page would make; empty when none */
  winner: string;
  items: {
    id?: string;
    name: string;
    priority: number;
    qualifies: boolean;
    condition: boolean;
    in_schedule: boolean;
    allowed: boolean;
    variant?: "offer" | "control";
    steps: {
      path: string;
      fact?: string;
      op?: string;
      value?: unknown;
      actual?: unknown;
      result: "passed" | "failed" | "missing" | "type_mismatch";
    }[];
  }[];
}

export interface PreviewRequest {
  /** Facts by name (docs/rules.md); queue facts left out come from the chat engine now */
  facts?: Record<string, unknown>;
  rule?: Rule;
  /** the live versions instead of the drafts */
  published?: boolean;
  now?: string;
  /** decides the control-group variant */
  visitor?: string;
  /** per rule id: {shown_visit, declined_visit, last_shown, last_declined} */
  history?: Record<string, unknown>;
}

/** A command's refusal: it changed nothing */
export interface ProtocolError {
  type: "error";
  id?: string;
  code: "malformed" | "unknown_type" | "rate_limited" | "invalid" | "not_found" | "forbidden" | "state" | "token" | "hello" | "unauthenticated" | "internal" | "busy" | "visitor_token";
  message: string;
}

export interface PushOffer {
  /** a chat queue's name */
  queue: string;
  title?: string;
  text: string;
  accept_label?: string;
  decline_label?: string;
  /** shown to the agent who answers */
  metadata?: Record<string, string>;
  /** false: the page shows its own UI (nudge('on', 'offer', …)) */
  ui?: boolean;
  ttl_seconds?: number;
  /** In the page's poll: how the offer funnel counts it (push: the site's backend; invite: an agent) */
  rule?: "push" | "invite";
  id?: string;
}

export interface Queue {
  id: string;
  name: string;
  config: QueueConfig;
  created_at: string;
  updated_at: string;
}

export interface QueueConfig {
  routing?: "longest_idle" | "least_busy" | "skills" | "last_agent";
  skills?: string[];
  /** seconds, default 30 */
  offer_timeout?: number;
  overflow_queue?: string;
  /** seconds; with overflow_queue */
  overflow_after?: number;
  /** seconds before the offline form; 0 no limit */
  max_wait?: number;
  hours?: Hours | null;
}

export interface QueueInput {
  name?: string;
  config?: QueueConfig;
}

export interface QueuePosition {
  position: number;
  /** Seconds; -1: no agent available to estimate from */
  estimated_wait: number;
}

/** realtime: the last five minutes */
export interface RealtimeReport {
  visitors: number;
  pages: ReportRow[];
}

export interface RecentVisit {
  visit: string;
  visitor: string;
  start: string;
  end: string;
  /** Facts of offer rules as at the visit's last page (page.path, page.title, visit.*, visitor.*, utm.*, events.*); facts only the page knows are absent */
  facts: Record<string, unknown>;
}

export interface Ref {
  id: string;
  name: string;
}

/** One of the report shapes, by the report asked for */
export type Report = SummaryReport | TimeseriesReport | BreakdownReport | GoalsReport | OffersReport | RealtimeReport;

/** A line of a breakdown */
export interface ReportRow {
  value: string;
  visitors: number;
  visits?: number;
  pageviews?: number;
  /** events: how many times */
  count?: number;
}

/** A marketer's rule, as in docs/rules.md: when a visitor qualifies and what they are offered. */
export interface Rule {
  name: string;
  priority?: number;
  /** {all:[…]} | {any:[…]} | {not:{…}} | {fact, op, value} */
  when: Record<string, unknown>;
  action: {
    type?: "chat_offer" | "content_offer" | "entry_point";
    queue?: string;
    title?: string;
    text?: string;
    accept_label?: string;
    decline_label?: string;
    metadata?: Record<string, string>;
    max_wait_seconds?: number;
    template?: string;
    label?: string;
    position?: string;
  };
  limits?: {
    per_visit?: number;
    per_visitor_days?: number;
    cooldown_days_after_decline?: number;
  };
  schedule?: {
    days?: string[];
    from?: string;
    to?: string;
    start_date?: string;
    end_date?: string;
  };
  split?: {
    control_percent?: number;
  };
}

export interface RuleCatalogue {
  facts: {
    /** NAME in vars.NAME, events.NAME and queue.NAME.* stands for a name the rule gives */
    name: string;
    type: "string" | "number" | "boolean" | "any";
    source: string;
  }[];
  /** Each operator and the fact types it takes */
  operators: Record<string, ("string" | "number" | "boolean")[]>;
}

export interface RuleVersion {
  version: number;
  body: Rule;
  created_at: string;
  created_by: string;
}

export interface RuleView {
  id: string;
  site_id: string;
  draft: Rule;
  live?: Rule;
  /** 0 when not live */
  published_version: number;
  version: number;
  changed: boolean;
  status: "draft" | "live" | "changed" | "paused";
  created_at: string;
  updated_at: string;
}

export type SearchHit = Message & {
  conversation: Conversation;
  /** The message around the first word found, cut at about 160 characters (… marks a cut); match marks each word the query found */
  snippet: {
    text: string;
    match?: boolean;
  }[];
};

export interface Secret {
  identity_secret: string;
}

export interface Site {
  id: string;
  tenant_id: string;
  /** Public key used in the snippet */
  key: string;
  name: string;
  allowed_origins: string[];
  /** IANA time zone */
  time_zone: string;
  theme: SiteTheme;
  settings: SiteSettings;
  created_at: string;
  updated_at: string;
}

export interface SiteInput {
  /** Only on create; random when absent */
  key?: string;
  name?: string;
  /** scheme://host[:port]; https://*.example.com matches subdomains */
  allowed_origins?: string[];
  time_zone?: string;
  theme?: SiteTheme;
  settings?: SiteSettings;
}

export interface SiteSettings {
  respect_dnt?: boolean;
  consent_required?: boolean;
  cookieless?: boolean;
  /** Raw events older than this are deleted; 0 keeps them */
  retention_days?: number;
  goals?: {
    event?: string;
    page?: string;
  }[];
  /** the site's backend may push offers to open pages */
  push_offers?: boolean;
  /** Paths reports group: /products/:slug reports every product page as that one path, /docs/* everything under /docs/. Segments are words, :name (any one segment) or a final * */
  page_patterns?: string[];
  /** Store paths as they are; by default numeric and UUID-like segments become :id (/orders/83412 is stored and reported as /orders/:id) */
  keep_path_ids?: boolean;
  /** The chat launcher shows on the site's pages */
  chat?: boolean;
  /** Analytics events stored a day (the site's day); past it they are counted as dropped. 0: the default, 200,000 (else 1,000 or more) */
  events_per_day?: number;
  /** An event whose stored text (path, title, name, properties, referrer) is longer is dropped. 0: the default, 4,096 (else 512 or more) */
  max_event_bytes?: number;
  /** Chat only for visitors a visitor token proves (a short-lived JWT the site's server signs for each page, given with nudge('token', jwt)): the launcher shows only then, the socket refuses others (error visitor_token, close 4401), identify hashes link nothing, the browser keeps no chat token, and the visitor continues their open chat on any device */
  secured_chat?: boolean;
}

export interface SiteTheme {
  color?: string;
  position?: "right" | "left";
  /** Pixels between the launcher and its corner's side (off the page's own controls) */
  offset_x?: number;
  /** Pixels between the launcher and the bottom */
  offset_y?: number;
  /** A short chime when a reply arrives while the chat is closed */
  sound?: boolean;
}

export interface Snippet {
  /** HTML to paste into every page, before </head> */
  snippet: string;
  /** The Content-Security-Policy directives a site with a policy adds */
  csp: string;
  loader_url: string;
}

/** summary */
export interface SummaryReport {
  site: string;
  from: string;
  to: string;
  visitors: number;
  visits: number;
  pageviews: number;
  views_per_visit: number;
  /** Percent of visits with one pageview and no event */
  bounce_rate: number;
  /** Mean seconds from a visit's first to its last event */
  visit_duration: number;
  /** Events dropped in these days because bots sent them (nothing else of them is kept) */
  bots: number;
  /** Events not stored in these days: past the site's daily budget, or larger than its event limit */
  dropped: number;
  /** The site's daily event budget */
  events_per_day: number;
  /** The site's limit for one event's stored text, in bytes */
  max_event_bytes: number;
}

export interface Template {
  name: string;
  title: string;
  body?: string;
  image_url?: string;
  image_alt?: string;
  buttons?: {
    label?: string;
    action?: "chat" | "link" | "dismiss";
    url?: string;
    queue?: string;
  }[];
}

export interface TemplateView {
  id: string;
  site_id: string;
  body: Template;
  created_at: string;
  updated_at: string;
}

/** timeseries */
export interface TimeseriesReport {
  site: string;
  from: string;
  to: string;
  interval: "day" | "hour";
  items: {
    /** YYYY-MM-DD, or YYYY-MM-DDTHH, in the site's time zone */
    bucket: string;
    visitors: number;
    visits: number;
    pageviews: number;
  }[];
}

export interface Token {
  id: string;
  tenant_id: string;
  name: string;
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
  created_by: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export interface UpdateMemberRequest {
  role: "owner" | "admin" | "marketer" | "supervisor" | "agent" | "bot";
}

/** A stored file, to send with kind file */
export interface UploadedFile {
  id: string;
  name: string;
  type: string;
  size: number;
}

export interface User {
  id: string;
  email: string;
  name: string;
  created_at: string;
  updated_at: string;
}

export interface Visit {
  site_id: string;
  visitor: string;
  start: string;
  end: string;
  pageviews: number;
  entry: string;
  exit: string;
  referrer: string;
  device: string;
  browser: string;
  /** The visit's pages in the order first viewed, with views and seconds engaged (the current visit only) */
  pages?: {
    path: string;
    views: number;
    seconds: number;
  }[];
}

/** A conversation as its visitor sees it (the visitor's state event) */
export interface VisitorChatView {
  id: string;
  status: "bot" | "queued" | "assigned" | "hold" | "offline" | "closed";
  last_seq: number;
  /** The names of the agents the visitor talks to */
  agents: string[];
  /** The agents have read up to this seq */
  read: number;
  csat?: number;
}

/** A frame a visitor's page sends on /ws/visitor (docs/protocol.md) */
export type VisitorCommand = {
  type: "start";
  id?: string;
  v?: number;
  /** The page's visitor id */
  visitor: string;
  meta?: ChatMeta;
  /** A visitor token the site's backend signed (HS256 JWT under the site's identity secret: sub the visitor's id, aud the site's key, exp at most an hour after iat). Required of a client without a browser Origin; the identity it proves replaces the page's. Refused: an error frame and close 4401 (docs/protocol.md). */
  visitor_token?: string;
} | {
  type: "resume";
  id?: string;
  v?: number;
  /** The chat token from start. Without it (or on a secured site) a visitor_token resumes the proved visitor's open chat on this site; none open: error not_found */
  token?: string;
  after?: number;
  /** The id of the message at `after`. When the server has another message there, or none (a message shown while committed and lost by a crash, or retracted while the page was away), the answer holds the whole conversation with `reset`. */
  after_id?: string;
  /** A visitor token the site's backend signed (HS256 JWT under the site's identity secret: sub the visitor's id, aud the site's key, exp at most an hour after iat). Required of a client without a browser Origin; the identity it proves replaces the page's. Refused: an error frame and close 4401 (docs/protocol.md). */
  visitor_token?: string;
} | {
  type: "send";
  id?: string;
  client_id?: string;
  /** A send made again after its ack was lost (after a reconnect): it may be stored already, so the server shows it to the others only once committed. Without it a resend that was stored is shown, then retracted. */
  resend?: boolean;
  kind?: "text" | "file";
  text?: string;
  payload?: {
    id: string;
  };
} | {
  type: "typing";
  id?: string;
  /** A preview of what is typed */
  text?: string;
} | {
  type: "page";
  id?: string;
  page: {
    url: string;
    title?: string;
  };
} | {
  type: "set";
  id?: string;
  vars: Record<string, string>;
} | {
  type: "identify";
  id?: string;
  identity: {
    id: string;
    email?: string;
    name?: string;
    /** HMAC-SHA256 of id under the site's identity secret, in hex */
    hash: string;
  };
} | {
  type: "read";
  id?: string;
  seq: number;
} | {
  type: "history";
  id?: string;
  after?: number;
  limit?: number;
} | {
  type: "rate";
  id?: string;
  score: number;
} | {
  type: "leave_message";
  id?: string;
  name?: string;
  email: string;
  text: string;
} | {
  type: "upload";
  id?: string;
  name: string;
  size: number;
} | {
  type: "close" | "ping";
  id?: string;
} | {
  type: "transcript";
  id?: string;
  email?: string;
};

/** A frame the server sends on /ws/visitor: an answer, an error or an event (docs/protocol.md) */
export type VisitorFrame = {
  type: "start_ok" | "resume_ok";
  id?: string;
  data: {
    v: number;
    /** The chat token (start only; shown once) */
    token?: string;
    conversation: VisitorChatView;
    messages: Message[];
    /** The page's copy from `after` on was not the server's: replace everything shown with `messages` (the whole conversation) */
    reset?: boolean;
    /** The visitor may ask for the transcript by email once the chat closes (command transcript) */
    transcripts?: boolean;
  };
} | {
  type: "ack";
  id?: string;
  data: Message;
} | {
  type: "history_ok";
  id?: string;
  data: {
    messages: Message[];
  };
} | {
  type: "upload_ok";
  id?: string;
  data: {
    max_chunk: number;
  };
} | {
  type: "upload_done";
  id?: string;
  data: UploadedFile;
} | {
  type: "close_ok" | "rate_ok" | "leave_message_ok" | "ping_ok" | "page_ok" | "set_ok" | "identify_ok" | "transcript_ok";
  id?: string;
} | ProtocolError | {
  type: "message";
  conversation: string;
  data: Message;
} | {
  type: "retracted";
  conversation: string;
  data: {
    seq: number;
    id: string;
  };
} | {
  type: "state";
  conversation: string;
  data: VisitorChatView;
} | {
  type: "queue";
  conversation: string;
  data: QueuePosition;
} | {
  type: "typing";
  conversation: string;
  data: {
    from: "agent";
    name: string;
    on: boolean;
  };
} | {
  type: "read";
  conversation: string;
  data: {
    by: "agent";
    seq: number;
  };
};

export interface Webhook {
  id: string;
  url: string;
  events: ("conversation.created" | "conversation.assigned" | "conversation.transferred" | "conversation.closed" | "message.created" | "offer.accepted")[];
  active: boolean;
  created_at: string;
  updated_at: string;
}

export interface WebhookInput {
  /** http(s); private, loopback and link-local addresses are refused at delivery unless --webhooks-private */
  url?: string;
  events?: ("conversation.created" | "conversation.assigned" | "conversation.transferred" | "conversation.closed" | "message.created" | "offer.accepted")[];
  active?: boolean;
}

/** What the chat panel shows before the visitor writes (the chat starts with the first message) */
export interface WelcomeState {
  /** The team's name (the site's when the settings name none) */
  title: string;
  greeting: string;
  /** Available agents with a display name */
  team: {
    name: string;
    avatar?: string;
  }[];
  /** A queue the visitor can reach is open with an available agent; if not, offer the offline form at once */
  available: boolean;
  /** Seconds until an agent answers, the shortest among those queues; -1: none can */
  estimated_wait: number;
  /** The pre-chat question, asked with the first message */
  question?: string;
  /** Its options (send one as form.topic) */
  topics?: string[];
  /** The topics whose queue cannot answer now (closed, or nobody available) */
  closed?: string[];
  form: null | {
    fields: FormField[];
  };
}
