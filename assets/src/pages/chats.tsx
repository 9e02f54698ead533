// The agent workspace: presence, offers to accept, the agent's chats, a
// conversation with the visitor's context, and the composer. It speaks the
// chat protocol (docs/protocol.md) over /ws/agent with the console session.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me } from "../api";
import type { AgentCommand, AgentFrame, ChatView, LiveState, Message, Queue } from "../api.gen";
import { Alert } from "../ui";

// The protocol's frames are typed from server/openapi.json (the server's tests
// check every frame against it). Message payloads are free-form by kind.
type Msg = Omit<Message, "payload"> & { payload?: any };
type Offer = Extract<AgentFrame, { type: "offer" }>["data"];
type Context = Extract<AgentFrame, { type: "context_ok" }>["data"];
type Send = (f: AgentCommand) => void;

// stored and store keep small choices in the browser (none when storage is off).
const stored = (k: string) => {
  try {
    return localStorage.getItem(k);
  } catch {
    return null;
  }
};
const store = (k: string, v: string) => {
  try {
    localStorage.setItem(k, v);
  } catch {}
};

const rid = () => Math.random().toString(36).slice(2) + Date.now().toString(36);

export function Chats({ me }: { me: Me }) {
  const [connected, setConnected] = useState(false);
  const [presence, setPresence] = useState("away");
  const [chats, setChats] = useState<Record<string, ChatView>>({});
  const [offers, setOffers] = useState<Record<string, Offer>>({});
  const [messages, setMessages] = useState<Record<string, Msg[]>>({});
  const [typing, setTyping] = useState<Record<string, string>>({});
  const [selected, setSelected] = useState<string>("");
  const [context, setContext] = useState<Context | null>(null);
  const [error, setError] = useState<unknown>();
  const [queues, setQueues] = useState<Queue[]>([]);
  const [board, setBoard] = useState<LiveState | null>(null);
  const [mode, setMode] = useState<"chats" | "board">("chats");
  const supervise = may(me, "chat:supervise");
  const ws = useRef<WebSocket | null>(null);
  const selectedRef = useRef("");
  const presenceKey = "nudge.presence." + me.tenant_id + "." + me.user.id;
  selectedRef.current = selected;

  const send: Send = (f) => {
    if (ws.current?.readyState === 1) ws.current.send(JSON.stringify(f));
  };
  const addMessages = (conv: string, ms: Msg[]) =>
    setMessages((all) => {
      const cur = all[conv] || [];
      const seen = new Set(cur.map((m) => m.seq));
      const next = cur.concat(ms.filter((m) => !seen.has(m.seq))).sort((a, b) => a.seq - b.seq);
      return { ...all, [conv]: next };
    });

  useEffect(() => {
    let closed = false;
    let retry = 0;
    const open = () => {
      const url = location.origin.replace(/^http/, "ws") + "/ws/agent?tenant=" + encodeURIComponent(me.tenant_id);
      const s = new WebSocket(url);
      ws.current = s;
      // The status the person last chose on this browser; none at first, and
      // the server starts them away until they choose.
      const chosen = stored(presenceKey);
      s.onopen = () => s.send(JSON.stringify({ type: "hello", id: "hello", v: 1, ...(chosen === "available" || chosen === "away" ? { status: chosen } : {}) }));
      s.onmessage = (e) => onFrame(JSON.parse(e.data) as AgentFrame);
      s.onclose = () => {
        setConnected(false);
        if (!closed) setTimeout(open, Math.min(30000, 1000 * 2 ** retry++));
      };
    };
    const onFrame = (f: AgentFrame) => {
      const c = "conversation" in f ? f.conversation : "";
      switch (f.type) {
        case "hello_ok": {
          const d = f.data;
          retry = 0;
          setConnected(true);
          setPresence(d.state.presence);
          setChats(Object.fromEntries(d.state.chats.map((v) => [v.id, v])));
          setOffers(Object.fromEntries(d.state.offers.map((v) => [v.id, { kind: "assign" as const, expires_at: "", conversation: v }])));
          if (selectedRef.current) send({ type: "history", id: "h:" + selectedRef.current, conversation: selectedRef.current });
          // Supervisors follow the live board (a live event at each change).
          if (supervise) send({ type: "live", id: "live", on: true });
          break;
        }
        case "live_ok":
        case "live":
          setBoard(f.data);
          break;
        case "monitor_ok":
          setMode("chats");
          break;
        case "presence":
          setPresence(f.data.status);
          store(presenceKey, f.data.status);
          break;
        case "offer":
          setOffers((o) => ({ ...o, [c]: f.data }));
          break;
        case "offer_revoked":
          setOffers(({ [c]: _, ...rest }) => rest);
          break;
        case "state":
          setChats((all) => (f.data.participants.some((p) => p.id === me.user.id) ? { ...all, [c]: f.data } : all));
          break;
        case "removed":
          setChats(({ [c]: _, ...rest }) => rest);
          break;
        case "message":
          addMessages(c, [f.data]);
          break;
        case "ack":
          addMessages(f.data.conversation_id, [f.data]);
          break;
        case "typing":
          if (f.data.from === "visitor") {
            const preview = f.data.preview;
            setTyping((t) => ({ ...t, [c]: preview }));
          }
          break;
        case "history_ok":
          addMessages(f.data.conversation, f.data.messages);
          break;
        case "context_ok":
          setContext(f.data);
          break;
        case "invite_ended":
          setError(new Error("The " + f.data.kind + " was " + f.data.reason + "."));
          break;
        case "error":
          setError(new Error(f.message || f.code));
          break;
        case "barge_ok":
        case "leave_ok":
        case "close_ok":
          setError(undefined);
          break;
      }
    };
    open();
    api<{ items: Queue[] }>("GET", "/api/queues").then((r) => setQueues(r.items), () => undefined);
    return () => {
      closed = true;
      ws.current?.close();
    };
  }, [me.tenant_id]);

  const select = (id: string) => {
    setSelected(id);
    setContext(null);
    send({ type: "history", id: "h:" + id, conversation: id });
    send({ type: "context", id: "c:" + id, conversation: id });
  };
  const accept = (id: string) => {
    send({ type: "accept", id: "a:" + id, conversation: id });
    setOffers(({ [id]: _, ...rest }) => rest);
    select(id);
  };

  const monitor = (id: string) => {
    send({ type: "monitor", id: "monitor_" + id, conversation: id });
    select(id);
  };

  const chatList = Object.values(chats).sort((a, b) => a.created_at.localeCompare(b.created_at));
  const offerList = Object.entries(offers);
  const current = chats[selected];

  return (
    <section class="chats" aria-label="Chats">
      <div class="chat-list">
        <div class="presence">
          <span class={"dot " + (connected ? presence : "offline")} />
          {connected ? presence : "connecting…"}
          {connected && (
            <button
              class="link"
              onClick={() => {
                const status = presence === "available" ? "away" : "available";
                store(presenceKey, status);
                send({ type: "presence", id: "p", status });
                setPresence(status);
              }}
            >
              {presence === "available" ? "Go away" : "Go available"}
            </button>
          )}
        </div>
        {supervise && (
          <div class="tabs" role="tablist" aria-label="Desk">
            <button role="tab" aria-selected={mode === "chats"} class={mode === "chats" ? "" : "secondary"} onClick={() => setMode("chats")}>
              My chats
            </button>
            <button role="tab" aria-selected={mode === "board"} class={mode === "board" ? "" : "secondary"} onClick={() => setMode("board")}>
              Live board
            </button>
          </div>
        )}
        {offerList.length > 0 && <h3>Waiting for you</h3>}
        {offerList.map(([id, o]) => (
          <div class="offer" key={id}>
            <strong>{o.kind === "assign" ? "New chat" : o.kind}</strong> · {o.conversation.queue?.name ?? ""}
            {o.from && <div>from {o.from.name}</div>}
            {o.note && <div class="note">{o.note}</div>}
            <div class="row">
              <button onClick={() => accept(id)}>Accept</button>
              <button class="secondary" onClick={() => send({ type: "decline", id: "d:" + id, conversation: id })}>
                Decline
              </button>
            </div>
          </div>
        ))}
        <h3>My chats</h3>
        {chatList.length === 0 && <p class="muted">No chats yet.</p>}
        {chatList.map((v) => (
          <button class={"chat-item" + (v.id === selected ? " current" : "")} key={v.id} onClick={() => (select(v.id), setMode("chats"))}>
            <span>{v.metadata.vars?.name || "Visitor " + v.visitor.slice(0, 8)}</span>
            <small>
              {v.status}
              {typing[v.id] !== undefined ? " · typing" : ""}
            </small>
          </button>
        ))}
      </div>
      <Alert error={error} />
      {mode === "board" && supervise ? (
        <Board board={board} me={me} onMonitor={monitor} onOpen={(id) => (select(id), setMode("chats"))} />
      ) : current ? (
        <Conversation
          key={current.id}
          view={current}
          me={me}
          messages={messages[current.id] || []}
          typing={typing[current.id]}
          queues={queues}
          send={send}
        />
      ) : (
        <div class="conversation empty">
          <p class="muted">Pick a chat, or accept one.</p>
        </div>
      )}
      {mode === "chats" && current && <ContextPanel context={context} view={current} />}
    </section>
  );
}

function Conversation(props: { view: ChatView; me: Me; messages: Msg[]; typing?: string; queues: Queue[]; send: Send }) {
  const { view, messages, send } = props;
  const role = view.participants.find((p) => p.id === props.me.user.id)?.role ?? "";
  const owner = role === "owner";
  const [text, setText] = useState("");
  const [internal, setInternal] = useState(false);
  const [disposition, setDisposition] = useState("");
  const [queue, setQueue] = useState("");
  const list = useRef<HTMLDivElement>(null);
  useEffect(() => {
    list.current?.scrollTo(0, list.current.scrollHeight);
    const last = messages[messages.length - 1];
    if (last) send({ type: "read", conversation: view.id, seq: last.seq });
  }, [messages.length]);
  const submit = (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    const client_id = rid();
    // "/shortcut" sends that canned response, its placeholders filled by the server.
    const canned = /^\/([a-z0-9][a-z0-9_-]{0,39})$/.exec(text.trim());
    if (canned) send({ type: "send", id: client_id, client_id, conversation: view.id, canned: canned[1], internal });
    else send({ type: "send", id: client_id, client_id, conversation: view.id, text, internal });
    setText("");
    send({ type: "typing", conversation: view.id, on: false });
  };
  let lastTyping = 0;
  const onInput = (v: string) => {
    setText(v);
    const now = Date.now();
    if (now - lastTyping > 2000) {
      lastTyping = now;
      send({ type: "typing", conversation: view.id, on: true });
    }
  };
  return (
    <div class="conversation">
      <div class="messages" ref={list} aria-label="Messages">
        {messages.map((m) => (
          <div key={m.seq} class={"msg " + m.sender.kind + (m.audience === "agents" ? " internal" : "")}>
            {m.kind === "system" ? (
              <em>{m.text}</em>
            ) : (
              <>
                <small>
                  {m.sender.kind === "visitor" ? "Visitor" : m.sender.name || m.sender.kind}
                  {m.audience === "agents" ? " · agents only" : ""}
                </small>
                {m.kind === "file" ? (
                  <a class="text" href={`/api/conversations/${view.id}/files/${m.payload?.id}?tenant=${props.me.tenant_id}`}>
                    📎 {m.payload?.name} ({Math.max(1, Math.round((m.payload?.size ?? 0) / 1024))} KB)
                  </a>
                ) : (
                  <div class="text">{m.text || summary(m)}</div>
                )}
              </>
            )}
          </div>
        ))}
        {props.typing !== undefined && <div class="muted typing">Visitor is typing: {props.typing}</div>}
      </div>
      {role === "monitor" && view.status !== "closed" && (
        <div class="banner" role="status">
          Monitoring silently: the visitor does not see you, and what you write goes to the agents only.
          <button type="button" onClick={() => send({ type: "barge", id: "barge", conversation: view.id })}>
            Barge in
          </button>
          <button type="button" class="secondary" onClick={() => send({ type: "leave", id: "leave", conversation: view.id })}>
            Stop monitoring
          </button>
        </div>
      )}
      {view.status !== "closed" && (
        <form class="composer" onSubmit={submit}>
          <textarea
            aria-label={role === "monitor" ? "Whisper to the agent" : "Reply"}
            placeholder={role === "monitor" ? "Whisper to the agent (the visitor never sees it)" : "Reply (/shortcut sends a canned response)"}
            value={text}
            onInput={(e) => onInput(e.currentTarget.value)}
            onKeyDown={(e) => e.key === "Enter" && !e.shiftKey && submit(e)}
          />
          <div class="row">
            {role !== "monitor" && (
              <label>
                <input type="checkbox" checked={internal} onChange={(e) => setInternal(e.currentTarget.checked)} /> Internal note
              </label>
            )}
            <button type="submit">{role === "monitor" ? "Whisper" : "Send"}</button>
          </div>
          {owner || role === "" ? (
          <div class="row actions">
            <input aria-label="Disposition" placeholder="Disposition" value={disposition} onInput={(e) => setDisposition(e.currentTarget.value)} />
            <button type="button" onClick={() => send({ type: "close", id: "x", conversation: view.id, disposition })}>
              Close chat
            </button>
            <button type="button" class="secondary" onClick={() => send({ type: "hold", id: "hold", conversation: view.id })}>
              Hold
            </button>
            <select aria-label="Transfer to queue" value={queue} onChange={(e) => setQueue(e.currentTarget.value)}>
              <option value="">Transfer to…</option>
              {props.queues.map((q) => (
                <option value={q.id}>{q.name}</option>
              ))}
            </select>
            <button type="button" class="secondary" disabled={!queue} onClick={() => send({ type: "transfer", id: "t", conversation: view.id, queue })}>
              Transfer
            </button>
          </div>
          ) : role !== "monitor" ? (
            <div class="row actions">
              <button type="button" class="secondary" onClick={() => send({ type: "leave", id: "leave", conversation: view.id })}>
                Leave the chat
              </button>
            </div>
          ) : null}
        </form>
      )}
    </div>
  );
}

function summary(m: Msg): string {
  const p = m.payload || {};
  if (p.type === "quick_replies") return "[quick replies: " + p.options.map((o: any) => o.label).join(" / ") + "]";
  if (p.type === "list") return "[list: " + p.items.map((o: any) => o.title).join(" / ") + "]";
  if (p.type === "carousel") return "[cards: " + p.cards.map((o: any) => o.title).join(" / ") + "]";
  return "";
}

function ContextPanel({ context, view }: { context: Context | null; view: ChatView }) {
  const meta = useMemo(() => (context?.meta || view.metadata || {}) as Record<string, any>, [context, view]);
  return (
    <aside class="context" aria-label="Visitor">
      <h3>Visitor</h3>
      <dl>
        {meta.page && (
          <>
            <dt>Page</dt>
            <dd>
              {meta.page.title || ""} <small>{meta.page.url}</small>
            </dd>
          </>
        )}
        {meta.topic && (
          <>
            <dt>Topic</dt>
            <dd>{meta.topic}</dd>
          </>
        )}
        {meta.form?.name && (
          <>
            <dt>Name (as given)</dt>
            <dd>{meta.form.name}</dd>
          </>
        )}
        {meta.form?.email && (
          <>
            <dt>Email (as given)</dt>
            <dd>{meta.form.email}</dd>
          </>
        )}
        {Object.entries((meta.form?.fields ?? {}) as Record<string, string>).map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </>
        ))}
        {meta.identity && (
          <>
            <dt>Identified</dt>
            <dd>
              {meta.identity.name || meta.identity.id} {meta.identity.email && <small>{meta.identity.email}</small>}
              <div>
                <small>verified by the site · id {meta.identity.id}</small>
              </div>
            </dd>
          </>
        )}
        {meta.offer && (
          <>
            <dt>Invited by</dt>
            <dd>
              {meta.offer.source === "rule"
                ? "Rule “" + (meta.offer.name || meta.offer.id) + "”" + (meta.offer.version ? " (v" + meta.offer.version + ")" : "")
                : meta.offer.source === "push"
                  ? "An offer pushed by the site"
                  : "An offer from the page's code"}
              {meta.offer.text && (
                <div>
                  <q>{meta.offer.text}</q>
                </div>
              )}
              {Object.entries(meta.offer.data || {}).map(([k, v]) => (
                <div>
                  <small>
                    {k}: {String(v)}
                  </small>
                </div>
              ))}
            </dd>
          </>
        )}
        {meta.device && (
          <>
            <dt>Device</dt>
            <dd>{[meta.device.browser, meta.device.os, meta.device.device].filter(Boolean).join(" · ")}</dd>
          </>
        )}
        {Object.entries(meta.vars || {}).map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>{String(v)}</dd>
          </>
        ))}
      </dl>
      {context && context.previous.length > 0 && (
        <>
          <h3>Earlier chats</h3>
          <ul>
            {context.previous.map((c) => (
              <li>
                {c.created_at.slice(0, 10)} · {c.status} {c.disposition ? "· " + c.disposition : ""}
              </li>
            ))}
          </ul>
        </>
      )}
    </aside>
  );
}

// since is how long ago an ISO time was, in words a wall board can show.
function since(iso: string | null | undefined, now: number): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h " + (Math.floor(s / 60) % 60) + " min";
}

function seconds(n: number): string {
  return n < 60 ? n + " s" : Math.floor(n / 60) + ":" + String(n % 60).padStart(2, "0");
}

// Board is the supervisor's live view: queues, agents and every open chat,
// as the server pushes them; any chat can be monitored.
function Board(props: { board: LiveState | null; me: Me; onMonitor: (id: string) => void; onOpen: (id: string) => void }) {
  const { board } = props;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  if (!board) return <p class="loading">Loading the live board…</p>;
  return (
    <div class="board" aria-label="Live board">
      <h3>Queues</h3>
      <table aria-label="Queues">
        <thead>
          <tr>
            <th>Queue</th>
            <th>Waiting</th>
            <th>Longest wait</th>
            <th>Agents free</th>
            <th>Offered now</th>
            <th>Estimated wait</th>
          </tr>
        </thead>
        <tbody>
          {board.queues.map((q) => (
            <tr key={q.id}>
              <td>
                {q.name}
                {!q.open && <small class="muted"> · closed</small>}
              </td>
              <td>{q.waiting}</td>
              <td>{q.waiting > 0 ? seconds(q.longest_wait) : "—"}</td>
              <td>
                {q.agents_available} <small class="muted">({q.free} free of {q.slots} slots)</small>
              </td>
              <td>{q.offered}</td>
              <td>{q.estimated_wait < 0 ? "nobody can answer" : seconds(q.estimated_wait)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Agents</h3>
      {board.agents.length === 0 ? (
        <p class="muted">No agent has connected since the server started.</p>
      ) : (
        <table aria-label="Agents">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Status</th>
              <th>For</th>
              <th>Chats</th>
              <th>Offers</th>
            </tr>
          </thead>
          <tbody>
            {board.agents.map((a) => (
              <tr key={a.id}>
                <td>{a.name || a.id}</td>
                <td>
                  <span class={"dot " + a.presence} /> {a.presence}
                </td>
                <td>{since(a.since, now)}</td>
                <td>
                  {a.chats} / {a.capacity}
                </td>
                <td>{a.offers}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Open chats</h3>
      {board.chats.length === 0 ? (
        <p class="muted">No open chat right now.</p>
      ) : (
        <table aria-label="Open chats">
          <thead>
            <tr>
              <th>Visitor</th>
              <th>Status</th>
              <th>Queue</th>
              <th>Agent</th>
              <th>Started</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {board.chats.map((c) => {
              const mine = c.participants.find((p) => p.id === props.me.user.id);
              return (
                <tr key={c.id}>
                  <td>{"Visitor " + c.visitor.slice(0, 8)}</td>
                  <td>{c.status}</td>
                  <td>{c.queue?.name ?? ""}</td>
                  <td>{c.agent?.name ?? ""}</td>
                  <td>{since(c.created_at, now)} ago</td>
                  <td>
                    {mine ? (
                      <button class="link" onClick={() => props.onOpen(c.id)}>
                        Open
                      </button>
                    ) : c.status !== "closed" ? (
                      <button class="link" onClick={() => props.onMonitor(c.id)} aria-label={"Monitor the chat of visitor " + c.visitor.slice(0, 8)}>
                        Monitor
                      </button>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
