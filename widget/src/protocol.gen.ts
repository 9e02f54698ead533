// Generated from server/openapi.json by assets.APITypes: do not edit.
// TestAPITypes (console) or TestProtocolTypes (widget) writes it again with -update.

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

/** A command's refusal: it changed nothing */
export interface ProtocolError {
  type: "error";
  id?: string;
  code: "malformed" | "unknown_type" | "rate_limited" | "invalid" | "not_found" | "forbidden" | "state" | "token" | "hello" | "unauthenticated" | "internal" | "busy" | "visitor_token";
  message: string;
}

export interface QueuePosition {
  position: number;
  /** Seconds; -1: no agent available to estimate from */
  estimated_wait: number;
}

/** A stored file, to send with kind file */
export interface UploadedFile {
  id: string;
  name: string;
  type: string;
  size: number;
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
