// A conversation in the desk: its messages, the visitor's typing as it
// comes, the composer with the canned-response picker (type /), files,
// quick replies and cards, and what the agent can do with the chat: close with a
// disposition, hold, transfer with a note, invite or consult a colleague.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api";
import type { Me } from "../api";
import type { Canned, ChatView, Queue } from "../api.gen";
import { Alert } from "../ui";
import { rid } from "./desk";
import type { Msg, Send } from "./desk";

interface Colleague {
  id: string;
  name: string;
  presence: string;
}

export function Conversation(props: {
  view: ChatView;
  me: Me;
  messages: Msg[];
  typing?: string;
  queues: Queue[];
  canned: Canned[];
  notice?: string;
  error?: unknown;
  send: Send;
  sendBinary: (b: Uint8Array) => unknown;
  /** The socket's answers about uploads, as "frame" events. */
  frames: EventTarget;
  /** Tells the desk what this agent did to the chat (hold, transfer, close). */
  onAction: (what: string) => void;
}) {
  const { view, messages, send } = props;
  const role = view.participants.find((p) => p.id === props.me.user.id)?.role ?? "";
  const owner = role === "owner";
  const [text, setText] = useState("");
  const [internal, setInternal] = useState(false);
  const [local, setLocal] = useState("");
  const [pick, setPick] = useState(0);
  const [choices, setChoices] = useState<string[] | null>(null);
  const [card, setCard] = useState<{ title: string; subtitle: string; image_url: string; label: string; url: string } | null>(null);
  const [panel, setPanel] = useState<"" | "close" | "transfer" | "invite">("");
  const list = useRef<HTMLDivElement>(null);
  const file = useRef<HTMLInputElement>(null);
  const upload = useRef<{ id: string; data: Uint8Array } | null>(null);
  useEffect(() => {
    list.current?.scrollTo(0, list.current.scrollHeight);
    const last = messages[messages.length - 1];
    if (last) send({ type: "read", conversation: view.id, seq: last.seq });
  }, [messages.length, props.typing]);

  // The picker: "/" and what follows filter the canned responses by
  // shortcut and title; arrows move, Enter or a click sends the chosen one
  // (the server fills its placeholders from the conversation as it is now).
  const query = /^\/(\S*)$/.exec(text)?.[1];
  const matches = query === undefined ? [] : props.canned.filter((c) => (c.shortcut + " " + c.title).toLowerCase().includes(query.toLowerCase())).slice(0, 8);
  const sendCanned = (c: Canned) => {
    const client_id = rid();
    send({ type: "send", id: client_id, client_id, conversation: view.id, canned: c.id, internal });
    done();
  };
  const done = () => {
    setText("");
    setInternal(false);
    setLocal("");
    setPick(0);
    send({ type: "typing", conversation: view.id, on: false });
  };
  const submit = (e: Event) => {
    e.preventDefault();
    if (query !== undefined) {
      const c = matches[pick] ?? props.canned.find((x) => x.shortcut === query);
      return c ? sendCanned(c) : setLocal("No canned response /" + query + ". Type / to see them.");
    }
    const client_id = rid();
    if (card) {
      if (!card.title.trim() || !card.label.trim() || !card.url.trim()) return setLocal("A card has a title and a button with its link.");
      const c = { title: card.title, ...(card.subtitle ? { subtitle: card.subtitle } : {}), ...(card.image_url ? { image_url: card.image_url } : {}), buttons: [{ label: card.label, url: card.url }] };
      send({ type: "send", id: client_id, client_id, conversation: view.id, kind: "rich", text, payload: { type: "carousel", cards: [c] } });
      setCard(null);
      return done();
    }
    if (!text.trim()) return;
    if (choices) {
      const options = choices.map((c) => c.trim()).filter(Boolean);
      if (!options.length) return setLocal("Give at least one choice.");
      send({ type: "send", id: client_id, client_id, conversation: view.id, kind: "rich", text, payload: { type: "quick_replies", options: options.map((o) => ({ label: o, value: o })) } });
      setChoices(null);
    } else send({ type: "send", id: client_id, client_id, conversation: view.id, text, internal });
    done();
  };
  let lastTyping = 0;
  const onInput = (v: string) => {
    setText(v);
    setPick(0);
    setLocal("");
    const now = Date.now();
    if (now - lastTyping > 2000) {
      lastTyping = now;
      send({ type: "typing", conversation: view.id, on: true });
    }
  };
  const onKey = (e: KeyboardEvent) => {
    if (matches.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      setPick((p) => (p + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length);
    } else if (e.key === "Escape" && query !== undefined) setText("");
    else if (e.key === "Enter" && !e.shiftKey) submit(e);
  };
  // A file goes over the socket: announced, then in binary frames, then sent.
  const sendFile = async () => {
    const f = file.current?.files?.[0];
    if (!f) return;
    file.current!.value = "";
    if (f.size > 10 << 20) return setLocal("Files can be up to 10 MB.");
    const id = "up-" + rid();
    upload.current = { id, data: new Uint8Array(await f.arrayBuffer()) };
    send({ type: "upload", id, conversation: view.id, name: f.name, size: f.size });
  };
  useEffect(() => {
    const ws = props.frames;
    const onFrame = (e: Event) => {
      const f = (e as CustomEvent).detail;
      const u = upload.current;
      if (!u || f.id !== u.id) return;
      if (f.type === "upload_ok") for (let i = 0; i < u.data.length; i += f.data.max_chunk) props.sendBinary(u.data.subarray(i, i + f.data.max_chunk));
      if (f.type === "upload_done") {
        upload.current = null;
        const client_id = "f-" + f.data.id;
        send({ type: "send", id: client_id, client_id, conversation: view.id, kind: "file", payload: { id: f.data.id } });
      }
      if (f.type === "error") (upload.current = null), setLocal(f.message);
    };
    ws.addEventListener("frame", onFrame);
    return () => ws.removeEventListener("frame", onFrame);
  }, [view.id]);

  return (
    <div class="conversation">
      {props.notice && (
        <p class="banner" role="status">
          {props.notice}
        </p>
      )}
      <Alert error={props.error} />
      <div class="messages" ref={list} aria-label="Messages">
        {messages.map((m) => (
          <div key={m.seq} class={"msg " + m.sender.kind + (m.audience === "agents" ? " internal" : "")}>
            {m.kind === "system" ? (
              <em>{m.text}</em>
            ) : (
              <>
                <small>
                  {m.sender.kind === "visitor" ? "Visitor" : m.sender.name || (m.sender.id === props.me.user.id ? "You" : m.sender.kind)}
                  {m.audience === "agents" ? " · agents only" : ""} · <time dateTime={m.created_at}>{new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}</time>
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
        {props.typing !== undefined && (
          <div class="muted typing" aria-live="polite">
            Visitor is typing: {props.typing}
          </div>
        )}
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
          {matches.length > 0 && (
            <ul class="picker" role="listbox" id="canned-picker" aria-label="Canned responses">
              {matches.map((c, i) => (
                <li role="option" id={"canned-" + c.id} aria-selected={i === pick} class={i === pick ? "current" : ""} onMouseDown={(e) => (e.preventDefault(), sendCanned(c))}>
                  <strong>/{c.shortcut}</strong> {c.title} <small class="muted">{c.text.slice(0, 80)}</small>
                </li>
              ))}
            </ul>
          )}
          <textarea
            aria-label={role === "monitor" ? "Whisper to the agent" : "Reply"}
            placeholder={role === "monitor" ? "Whisper to the agent (the visitor never sees it)" : "Reply (type / for canned responses)"}
            value={text}
            role="combobox"
            aria-expanded={matches.length > 0}
            aria-controls="canned-picker"
            aria-activedescendant={matches[pick] ? "canned-" + matches[pick]!.id : undefined}
            onInput={(e) => onInput(e.currentTarget.value)}
            onKeyDown={onKey}
          />
          {choices && (
            <div class="row" role="group" aria-label="Quick replies">
              {choices.map((c, i) => (
                <input class="short" aria-label={"Choice " + (i + 1)} value={c} onInput={(e) => setChoices(choices.map((x, j) => (j === i ? e.currentTarget.value : x)))} />
              ))}
              {choices.length < 10 && (
                <button type="button" class="link" onClick={() => setChoices([...choices, ""])}>
                  + Choice
                </button>
              )}
            </div>
          )}
          {card && (
            <div class="row" role="group" aria-label="Card">
              {(
                [
                  ["title", "Card title"],
                  ["subtitle", "Card text"],
                  ["image_url", "Picture (https://…)"],
                  ["label", "Button label"],
                  ["url", "Button link (https://…)"],
                ] as const
              ).map(([k, label]) => (
                <input aria-label={label} placeholder={label} value={card[k]} onInput={(e) => setCard({ ...card, [k]: e.currentTarget.value })} />
              ))}
            </div>
          )}
          {local && (
            <p class="alert" role="alert">
              {local}
            </p>
          )}
          <div class="row">
            {role !== "monitor" && (
              <>
                <label>
                  <input type="checkbox" checked={internal} onChange={(e) => setInternal(e.currentTarget.checked)} /> Internal note
                </label>
                <button type="button" class="link" onClick={() => setChoices(choices ? null : ["", ""])} aria-pressed={!!choices}>
                  Quick replies
                </button>
                <button type="button" class="link" onClick={() => setCard(card ? null : { title: "", subtitle: "", image_url: "", label: "", url: "" })} aria-pressed={!!card}>
                  Card
                </button>
                <button type="button" class="link" onClick={() => file.current?.click()}>
                  Send a file
                </button>
                <input type="file" ref={file} hidden onChange={sendFile} aria-label="File to send" />
              </>
            )}
            <button type="submit">{role === "monitor" ? "Whisper" : "Send"}</button>
          </div>
          {owner || role === "" ? (
            <div class="row actions">
              <button type="button" class="secondary" onClick={() => setPanel(panel === "close" ? "" : "close")} aria-expanded={panel === "close"}>
                Close chat
              </button>
              <button type="button" class="secondary" onClick={() => (props.onAction("hold"), send({ type: "hold", id: "hold", conversation: view.id }))}>
                Hold
              </button>
              <button type="button" class="secondary" onClick={() => setPanel(panel === "transfer" ? "" : "transfer")} aria-expanded={panel === "transfer"}>
                Transfer
              </button>
              <button type="button" class="secondary" onClick={() => setPanel(panel === "invite" ? "" : "invite")} aria-expanded={panel === "invite"}>
                Invite
              </button>
            </div>
          ) : role !== "monitor" ? (
            <div class="row actions">
              <button type="button" class="secondary" onClick={() => send({ type: "leave", id: "leave", conversation: view.id })}>
                Leave the chat
              </button>
            </div>
          ) : null}
          {panel === "close" && <CloseChat view={view} send={send} onDone={() => (props.onAction("close"), setPanel(""))} />}
          {(panel === "transfer" || panel === "invite") && (
            <Handover mode={panel} view={view} me={props.me} queues={props.queues} send={send} onDone={() => (panel === "transfer" && props.onAction("transfer"), setPanel(""))} />
          )}
        </form>
      )}
    </div>
  );
}

// CloseChat closes with a disposition from the tenant's list (free text
// when it has none) and tags.
function CloseChat({ view, send, onDone }: { view: ChatView; send: Send; onDone: () => void }) {
  const [list, setList] = useState<string[] | null>(null);
  const [disposition, setDisposition] = useState("");
  useEffect(() => {
    api<{ dispositions: string[] }>("GET", "/api/chat/dispositions").then((r) => setList(r.dispositions), () => setList([]));
  }, []);
  return (
    <div class="row actions" role="group" aria-label="Close the chat">
      {list && list.length > 0 ? (
        <select aria-label="Disposition" value={disposition} onChange={(e) => setDisposition(e.currentTarget.value)}>
          <option value="">Disposition…</option>
          {list.map((d) => (
            <option value={d}>{d}</option>
          ))}
        </select>
      ) : (
        <input aria-label="Disposition" placeholder="Disposition" value={disposition} onInput={(e) => setDisposition(e.currentTarget.value)} />
      )}
      <button type="button" onClick={() => (send({ type: "close", id: "x", conversation: view.id, disposition }), onDone())}>
        Close the chat
      </button>
    </div>
  );
}

// Handover transfers the chat to a queue or a colleague, or invites a
// colleague into it (visible) or to consult (invisible to the visitor),
// with a note for them.
function Handover(props: { mode: "transfer" | "invite"; view: ChatView; me: Me; queues: Queue[]; send: Send; onDone: () => void }) {
  const [colleagues, setColleagues] = useState<Colleague[]>([]);
  const [to, setTo] = useState("");
  const [note, setNote] = useState("");
  const [consult, setConsult] = useState(false);
  useEffect(() => {
    api<{ items: Colleague[] }>("GET", "/api/chat/agents").then((r) => setColleagues(r.items.filter((c) => c.id !== props.me.user.id)), () => undefined);
  }, []);
  const go = () => {
    const [kind, id] = to.split(":");
    if (!id) return;
    if (props.mode === "invite") props.send({ type: "invite", id: "i", conversation: props.view.id, agent: id, mode: consult ? "consult" : "conference", note });
    else if (kind === "q") props.send({ type: "transfer", id: "t", conversation: props.view.id, queue: id, note });
    else props.send({ type: "transfer", id: "t", conversation: props.view.id, agent: id, note });
    props.onDone();
  };
  return (
    <div class="handover" role="group" aria-label={props.mode === "invite" ? "Invite a colleague" : "Transfer the chat"}>
      <div class="row">
        <select aria-label={props.mode === "invite" ? "Colleague" : "Transfer to"} value={to} onChange={(e) => setTo(e.currentTarget.value)}>
          <option value="">{props.mode === "invite" ? "Invite…" : "Transfer to…"}</option>
          {props.mode === "transfer" && (
            <optgroup label="Queues">
              {props.queues.map((q) => (
                <option value={"q:" + q.id}>{q.name}</option>
              ))}
            </optgroup>
          )}
          <optgroup label="Colleagues">
            {colleagues.map((c) => (
              <option value={"a:" + c.id}>
                {c.name} ({c.presence})
              </option>
            ))}
          </optgroup>
        </select>
        {props.mode === "invite" && (
          <label>
            <input type="checkbox" checked={consult} onChange={(e) => setConsult(e.currentTarget.checked)} /> Consult (the visitor does not see them)
          </label>
        )}
      </div>
      <input aria-label="Note for them" placeholder="A note for them (the visitor never sees it)" value={note} maxLength={500} onInput={(e) => setNote(e.currentTarget.value)} />
      <button type="button" disabled={!to} onClick={go}>
        {props.mode === "invite" ? (consult ? "Consult" : "Invite") : "Transfer"}
      </button>
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
