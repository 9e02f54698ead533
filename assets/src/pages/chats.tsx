// The agent's desk: presence, offers to accept (with how long they have
// waited, the first message and the page), the agent's chats with unread
// counts and the last message, a conversation with the visitor's context,
// and the composer. Each conversation has its URL (/chats/ID). New offers and
// messages show in the tab's title and, when allowed, as notifications. It
// speaks the chat protocol (docs/protocol.md) over /ws/agent.
//
// The desk lives as long as the console session, whatever page is open: the
// shell keeps it mounted and hidden on other pages, where a strip shows the
// agent's presence, the offers waiting (with the time left) and unread
// messages, so that opening Reports never takes an agent offline.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me } from "../api";
import type { AgentCommand, AgentFrame, Canned, ChatView, Conversation as Stored, LiveState, Queue } from "../api.gen";
import { Alert } from "../ui";
import { Board } from "./board";
import { ContextPanel } from "./context";
import { Conversation } from "./conversation";
import { store, stored } from "./desk";
import type { Context, Msg, Offer, Send } from "./desk";

export function Chats({ me, shown, onShow }: { me: Me; shown: boolean; onShow: () => void }) {
  const [connected, setConnected] = useState(false);
  const [presence, setPresence] = useState("away");
  // Why the server set the agent away (it says so with the presence event).
  const [awayWhy, setAwayWhy] = useState("");
  const [chats, setChats] = useState<Record<string, ChatView>>({});
  const [offers, setOffers] = useState<Record<string, Offer>>({});
  const [messages, setMessages] = useState<Record<string, Msg[]>>({});
  const [typing, setTyping] = useState<Record<string, string>>({});
  const [read, setRead] = useState<Record<string, number>>({});
  const [notices, setNotices] = useState<Record<string, string>>({});
  const [held, setHeld] = useState<{ id: string; name: string }[]>([]);
  // Chats given to this person while the desk was elsewhere, to point at.
  const [fresh, setFresh] = useState<string[]>([]);
  const accepting = useRef(new Set<string>());
  const [mine, setMine] = useState<{ id: string; name: string }[]>([]);
  const [working, setWorking] = useState<string[]>([]);
  const [selected, setSelected] = useState<string>(location.pathname.split("/")[2] ?? "");
  const [context, setContext] = useState<Context | null>(null);
  const [error, setError] = useState<unknown>();
  const [queues, setQueues] = useState<Queue[]>([]);
  const [canned, setCanned] = useState<Canned[]>([]);
  const [board, setBoard] = useState<LiveState | null>(null);
  const [mode, setMode] = useState<"chats" | "board">("chats");
  const [notify, setNotify] = useState(typeof Notification !== "undefined" ? Notification.permission : "denied");
  const [now, setNow] = useState(Date.now());
  const supervise = may(me, "chat:supervise");
  const ws = useRef<WebSocket | null>(null);
  const selectedRef = useRef("");
  selectedRef.current = selected;
  const shownRef = useRef(shown);
  shownRef.current = shown;
  const onShowRef = useRef(onShow);
  onShowRef.current = onShow;
  const chatsRef = useRef(chats);
  chatsRef.current = chats;
  const presenceKey = "nudge.presence." + me.tenant_id + "." + me.user.id;
  const queuesKey = "nudge.queues." + me.tenant_id + "." + me.user.id;
  const typingTimers = useRef<Record<string, number>>({});
  const frames = useRef(new EventTarget());
  const awayTimers = useRef<Record<string, number>>({});
  // What this desk just did to a chat, so that its leaving is told as such.
  const did = useRef<Record<string, string>>({});

  // The desk's messages until acknowledged, by client id: a reply typed
  // while the socket reconnects (the server restarting, the chat moving to
  // another node) or refused "busy" (the database away) goes again, marked
  // as a resend, instead of being lost with the cleared box.
  const unacked = useRef<Record<string, AgentCommand & { type: "send" }>>({});
  const busyTries = useRef<Record<string, number>>({});
  const send: Send = (f) => {
    if (f.type === "send" && f.client_id) unacked.current[f.client_id] = f;
    if (ws.current?.readyState === 1) ws.current.send(JSON.stringify(f));
  };
  const resend = (id: string) => {
    const f = unacked.current[id];
    if (f) send({ ...f, resend: true });
  };
  // The workbin: the chats this agent put on hold, to reopen before the
  // visitor writes again (who then comes back as the held chat it is).
  // Read once at sign-in; then the desk's own holds and reopenings keep it
  // (the engine commits a moment after it answers).
  const loadHeld = () =>
    api<{ items: Stored[] }>("GET", "/api/conversations?status=hold&limit=100").then(
      (r) =>
        setHeld(
          r.items
            .filter((c) => c.last_agent_id === me.user.id)
            .map((c) => ({ id: c.id, name: c.metadata.form?.name || c.metadata.vars?.name || "Visitor " + c.visitor.slice(0, 8) })),
        ),
      () => undefined,
    );
  const unhold = (id: string) => setHeld((h) => h.filter((x) => x.id !== id));
  const sendBinary = (b: Uint8Array) => ws.current?.readyState === 1 && ws.current.send(b);
  // A seq already shown with another id was a message retracted while this
  // console was away (or lost by a crash before its commit): the new one wins.
  const addMessages = (conv: string, ms: Msg[]) =>
    setMessages((all) => {
      const fresh = new Map(ms.map((m) => [m.seq, m]));
      const kept = (all[conv] || []).filter((m) => {
        const f = fresh.get(m.seq);
        if (f?.id === m.id) fresh.delete(m.seq);
        return !f || f.id === m.id;
      });
      return { ...all, [conv]: kept.concat([...fresh.values()]).sort((a, b) => a.seq - b.seq) };
    });
  const retract = (conv: string, seq: number, id: string) =>
    setMessages((all) => ({ ...all, [conv]: (all[conv] || []).filter((m) => m.seq !== seq || m.id !== id) }));
  // The visitor's typing preview shows as it comes and goes after a few
  // seconds of silence, or when their message arrives.
  const typed = (conv: string, preview: string | null) => {
    clearTimeout(typingTimers.current[conv]);
    setTyping(({ [conv]: _, ...rest }) => (preview ? { ...rest, [conv]: preview } : rest));
    if (preview) typingTimers.current[conv] = window.setTimeout(() => typed(conv, null), 5000);
  };
  // alert tells the agent of something new: a notification when they may be
  // elsewhere and allowed them (the tab's title always counts).
  const alert = (title: string, body: string, conv: string) => {
    if (shownRef.current && document.visibilityState === "visible" && selectedRef.current === conv) return;
    if (typeof Notification !== "undefined" && Notification.permission === "granted") {
      const n = new Notification(title, { body, tag: conv });
      n.onclick = () => (window.focus(), select(conv));
    }
  };

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
      // And the queues they chose to work (the server leaves out any they may no longer work).
      const queues = (stored(queuesKey) ?? "").split(",").filter(Boolean);
      s.onopen = () =>
        s.send(JSON.stringify({ type: "hello", id: "hello", v: 1, queues, ...(chosen === "available" || chosen === "away" ? { status: chosen } : {}) }));
      s.onmessage = (e) => onFrame(JSON.parse(e.data) as AgentFrame);
      s.onclose = () => {
        setConnected(false);
        if (!closed) setTimeout(open, Math.min(30000, 1000 * 2 ** retry++));
      };
    };
    const onFrame = (f: AgentFrame) => {
      const c = "conversation" in f ? f.conversation : "";
      // Uploads are the conversation's business.
      if (f.type === "upload_ok" || f.type === "upload_done" || (f.type === "error" && f.id?.startsWith("up-"))) {
        frames.current.dispatchEvent(new CustomEvent("frame", { detail: f }));
        return;
      }
      switch (f.type) {
        case "hello_ok": {
          const d = f.data;
          retry = 0;
          setConnected(true);
          setPresence(d.state.presence);
          setMine(d.state.queues);
          setWorking(d.state.working);
          setChats(Object.fromEntries(d.state.chats.map((v) => [v.id, v])));
          setOffers(Object.fromEntries(d.state.pending_offers.map((o) => [o.conversation.id, o])));
          if (d.state.presence === "available") setAwayWhy("");
          // What was shown before a reconnect gives way to what is stored: a
          // message shown while committed may have been lost with the server.
          setMessages({});
          for (const v of [...d.state.chats, ...d.state.offers]) send({ type: "history", id: "h:" + v.id, conversation: v.id });
          for (const id in unacked.current) resend(id);
          if (selectedRef.current) send({ type: "context", id: "c:" + selectedRef.current, conversation: selectedRef.current });
          loadHeld();
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
          setAwayWhy(f.data.status === "away" && f.data.reason ? awayWords[f.data.reason] ?? "" : "");
          break;
        case "offer": {
          const o = f.data;
          setOffers((all) => ({ ...all, [c]: o }));
          // The offered agent may read the chat: its first message shows in the offer.
          send({ type: "history", id: "h:" + c, conversation: c });
          alert(o.kind === "assign" ? "New chat" : "A " + o.kind + " for you", (o.conversation.queue?.name ?? "") + (o.note ? ": " + o.note : ""), c);
          break;
        }
        case "offer_revoked":
          setOffers(({ [c]: _, ...rest }) => rest);
          break;
        case "state": {
          const v = f.data;
          const mine = v.participants.some((p) => p.id === me.user.id);
          setChats((all) => (mine ? { ...all, [c]: v } : all));
          // A chat that becomes theirs without their accepting it here (a
          // supervisor assigned it, another tab took it) is announced on any page.
          if (mine && v.status === "assigned" && !chatsRef.current[c] && !accepting.current.has(c)) {
            setFresh((f) => [...f.filter((x) => x !== c), c]);
            alert("A chat is yours", who(v), c);
          }
          if (mine && v.status === "assigned") unhold(c);
          if (mine && v.status === "closed" && chatsRef.current[c]?.status !== "closed") setNotices((n) => ({ ...n, [c]: "This chat has ended." }));
          break;
        }
        case "removed": {
          const v = chatsRef.current[c];
          setChats(({ [c]: _, ...rest }) => rest);
          if (did.current[c] === "hold" && v) setHeld((h) => [...h.filter((x) => x.id !== c), { id: c, name: who(v) }]);
          if (selectedRef.current === c) setNotices((n) => ({ ...n, [c]: leftWords[did.current[c] ?? ""] ?? leftWords[""]! }));
          delete did.current[c];
          break;
        }
        case "message": {
          const m = f.data;
          addMessages(c, [m]);
          if (m.sender.kind === "visitor") {
            typed(c, null);
            alert("New message", m.kind === "file" ? "A file" : m.text.slice(0, 120), c);
          }
          break;
        }
        case "retracted":
          retract(c, f.data.seq, f.data.id);
          break;
        case "ack":
          if (f.id) {
            delete unacked.current[f.id];
            if (busyTries.current[f.id]) setError(undefined); // the "not sent yet" below
            delete busyTries.current[f.id];
          }
          addMessages(f.data.conversation_id, [f.data]);
          break;
        case "typing":
          if (f.data.from === "visitor") typed(c, f.data.preview);
          break;
        case "visitor":
          // Between two pages the visitor is gone for a moment: say so only
          // when they stay away.
          clearTimeout(awayTimers.current[c]);
          if (f.data.online) setNotices(({ [c]: n, ...rest }) => (n === visitorLeft ? rest : { ...rest, ...(n ? { [c]: n } : {}) }));
          else awayTimers.current[c] = window.setTimeout(() => setNotices((n) => (n[c] ? n : { ...n, [c]: visitorLeft })), 10000);
          break;
        case "history_ok":
          addMessages(f.data.conversation, f.data.messages);
          break;
        case "context_ok":
          if (f.data.conversation.id === selectedRef.current) setContext(f.data);
          break;
        case "invite_ended":
          setError(new Error("The " + f.data.kind + " was " + f.data.reason + "."));
          break;
        case "error":
          if (f.id && unacked.current[f.id]) {
            if (f.code === "busy") {
              // Not now: the message goes again after a pause.
              const id = f.id;
              const n = (busyTries.current[id] = (busyTries.current[id] ?? 0) + 1);
              window.setTimeout(() => resend(id), Math.min(30000, 1000 * 2 ** n));
              setError(new Error("Your message is not sent yet: the server is busy for a moment. It will go again by itself."));
              break;
            }
            delete unacked.current[f.id];
          }
          setError(new Error(f.message || f.code));
          break;
        case "barge_ok":
        case "leave_ok":
        case "close_ok":
          setError(undefined);
          break;
        case "reopen_ok":
          setError(undefined);
          if (f.id) unhold(f.id.slice(2));
          break;
      }
    };
    open();
    api<{ items: Queue[] }>("GET", "/api/queues").then((r) => setQueues(r.items), () => undefined);
    const tick = setInterval(() => setNow(Date.now()), 15000);
    const onPop = () => location.pathname.startsWith("/chats") && setSelected(location.pathname.split("/")[2] ?? "");
    addEventListener("popstate", onPop);
    return () => {
      closed = true;
      clearInterval(tick);
      removeEventListener("popstate", onPop);
      ws.current?.close();
    };
  }, [me.tenant_id]);

  // Canned responses are read whenever the desk comes on screen or the
  // window gets the focus back: one added on Chat setup, or by a colleague,
  // is there without a reload.
  useEffect(() => {
    if (!shown) return;
    const load = () => api<{ items: Canned[] }>("GET", "/api/canned").then((r) => setCanned(r.items), () => undefined);
    load();
    addEventListener("focus", load);
    return () => removeEventListener("focus", load);
  }, [shown, me.tenant_id]);

  // The chat on screen is read up to its last message.
  // (only while the desk is on screen: a chat is not read from another page).
  const onScreen = shown && selected ? messages[selected] : undefined;
  useEffect(() => {
    const last = onScreen?.[onScreen.length - 1];
    if (last && mode === "chats" && (read[selected] ?? 0) < last.seq) setRead((r) => ({ ...r, [selected]: last.seq }));
  }, [onScreen?.length, selected, mode]);
  const unread = (id: string) => (messages[id] ?? []).filter((m) => m.sender.kind === "visitor" && m.seq > (read[id] ?? 0)).length;
  const offerList = Object.entries(offers);
  const chatList = Object.values(chats).sort((a, b) => a.created_at.localeCompare(b.created_at));
  const waiting = offerList.length + chatList.reduce((n, v) => n + (shown && v.id === selected ? 0 : unread(v.id)), 0);
  useEffect(() => {
    document.title = (waiting ? "(" + waiting + ") " : "") + (shown ? "Chats · nudge" : "nudge");
    return () => void (document.title = "nudge");
  }, [waiting, shown]);
  // Offers count down by the second while any is waiting.
  useEffect(() => {
    if (offerList.length === 0) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [offerList.length > 0]);

  const select = (id: string) => {
    onShowRef.current();
    setFresh((f) => f.filter((x) => x !== id));
    setSelected(id);
    setContext(null);
    setMode("chats");
    if (location.pathname !== "/chats/" + id) history.pushState(null, "", "/chats/" + id);
    send({ type: "history", id: "h:" + id, conversation: id });
    send({ type: "context", id: "c:" + id, conversation: id });
  };
  const accept = (id: string) => {
    accepting.current.add(id);
    send({ type: "accept", id: "a:" + id, conversation: id });
    setOffers(({ [id]: _, ...rest }) => rest);
    select(id);
  };
  const toggle = () => {
    const status = presence === "available" ? "away" : "available";
    store(presenceKey, status);
    send({ type: "presence", id: "p", status });
    setPresence(status);
    setAwayWhy("");
  };
  // assign gives a waiting chat to an agent from the board; taken by the
  // supervisor themselves, it opens.
  const assign = (id: string, agent: string) => {
    send({ type: "assign", id: "as:" + id, conversation: id, ...(agent === me.user.id ? {} : { agent }) });
    if (agent === me.user.id) select(id);
  };
  const monitor = (id: string) => {
    send({ type: "monitor", id: "monitor_" + id, conversation: id });
    select(id);
  };

  const current = chats[selected];
  const who = (v: ChatView) => v.metadata.vars?.name || v.metadata.form?.name || v.metadata.identity?.name || "Visitor " + v.visitor.slice(0, 8);
  const lastText = (id: string) => {
    const m = (messages[id] ?? []).filter((x) => x.kind !== "system" && x.audience !== "agents").pop();
    return m ? (m.sender.kind === "visitor" ? "" : "You: ") + (m.kind === "file" ? "📎 " + (m.payload?.name ?? "a file") : m.text) : "";
  };
  const firstText = (id: string) => (messages[id] ?? []).find((m) => m.sender.kind === "visitor" && m.kind === "text")?.text;

  const unreadAll = chatList.reduce((n, v) => n + unread(v.id), 0);
  const strip = !shown && (
    <div class="desk-strip" role="region" aria-label="Your desk">
      <span class={"dot " + (connected ? presence : "offline")} />
      <span>{connected ? (presence === "available" ? "Available for chats" : "Away") : "Connecting to the chat service…"}</span>
      {connected && (
        <button class="link" onClick={toggle}>
          {presence === "available" ? "Go away" : "Go available"}
        </button>
      )}
      {connected && awayWhy && presence === "away" && <span role="status">{awayWhy}</span>}
      {offerList.map(([id, o]) => (
        <span class="strip-offer" key={id} role="alert">
          {o.held ? "Back from hold" : o.kind === "assign" ? "New chat" : "A " + o.kind + " for you"} · {o.conversation.queue?.name ?? ""} <Countdown expires={o.expires_at} now={now} />
          <button onClick={() => accept(id)}>Accept</button>
        </span>
      ))}
      {fresh
        .filter((id) => chats[id])
        .map((id) => (
          <span class="strip-offer" key={"f" + id} role="alert">
            A chat is yours now: {who(chats[id]!)}
            <button onClick={() => select(id)}>Open</button>
          </span>
        ))}
      {(chatList.length > 0 || unreadAll > 0) && (
        <button class="link" onClick={() => (onShowRef.current(), history.pushState(null, "", "/chats" + (selected ? "/" + selected : "")))}>
          {chatList.length === 1 ? "1 chat" : chatList.length + " chats"}
          {unreadAll > 0 ? ", " + unreadAll + " unread" : ""}
        </button>
      )}
    </div>
  );
  return (
    <>
    {strip}
    <section class="chats" aria-label="Chats" hidden={!shown}>
      <div class="chat-list">
        <div class="presence">
          <span class={"dot " + (connected ? presence : "offline")} />
          {connected ? presence : "connecting…"}
          {connected && (
            <button class="link" onClick={toggle}>
              {presence === "available" ? "Go away" : "Go available"}
            </button>
          )}
        </div>
        {connected && awayWhy && presence === "away" && (
          <p class="away-why" role="status">
            {awayWhy}
          </p>
        )}
        {connected && mine.length > 1 && (
          <details class="working">
            <summary>{working.length ? "Working " + working.length + " of " + mine.length + " queues" : "Working all my queues"}</summary>
            {mine.map((q) => (
              <label class="inline">
                <input
                  type="checkbox"
                  checked={working.length === 0 || working.includes(q.id)}
                  onChange={(e) => {
                    const all = working.length ? working : mine.map((x) => x.id);
                    let next = e.currentTarget.checked ? [...all, q.id] : all.filter((x) => x !== q.id);
                    if (next.length === mine.length) next = [];
                    if (!next.length && !e.currentTarget.checked) return void (e.currentTarget.checked = true); // at least one
                    setWorking(next);
                    store(queuesKey, next.join(","));
                    send({ type: "presence", id: "q", queues: next });
                  }}
                />{" "}
                {q.name}
              </label>
            ))}
          </details>
        )}
        {notify === "default" && (
          <button class="link" onClick={() => Notification.requestPermission().then(setNotify)}>
            Notify me of new chats
          </button>
        )}
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
        {offerList.map(([id, o]) => {
          const v = o.conversation;
          const first = firstText(id);
          return (
            <div class="offer" key={id}>
              <strong>{o.held ? "Back from hold" : o.kind === "assign" ? "New chat" : o.kind}</strong> · {v.queue?.name ?? ""} <small class="muted">waiting {ago(v.queued_at ?? v.created_at, now)}</small>
              <Countdown expires={o.expires_at} now={now} />
              {o.from && <div>from {o.from.name}</div>}
              {o.note && <div class="note">{o.note}</div>}
              {first && <q class="first">{first}</q>}
              {v.metadata.page && <div class="note">on {v.metadata.page.title || v.metadata.page.url}</div>}
              <div class="row">
                <button onClick={() => accept(id)}>Accept</button>
                <button class="secondary" onClick={() => send({ type: "decline", id: "d:" + id, conversation: id })}>
                  Decline
                </button>
              </div>
            </div>
          );
        })}
        <h3>My chats</h3>
        {chatList.length === 0 && <p class="muted">No chats yet.</p>}
        {chatList.map((v) => {
          const n = v.id === selected ? 0 : unread(v.id);
          return (
            <button class={"chat-item" + (v.id === selected ? " current" : "")} key={v.id} onClick={() => select(v.id)} aria-label={who(v) + (n ? ", " + n + " unread" : "")}>
              <span class="row spread">
                <span>{who(v)}</span>
                {n > 0 && <span class="count">{n}</span>}
              </span>
              <small class="last">{typing[v.id] !== undefined ? "typing…" : lastText(v.id) || v.status}</small>
            </button>
          );
        })}
        {held.length > 0 && <h3>On hold</h3>}
        {held.map((c) => (
          <div class="held" key={c.id}>
            <span>{c.name}</span>
            <button class="link" onClick={() => send({ type: "reopen", id: "r:" + c.id, conversation: c.id })} aria-label={"Reopen the chat with " + c.name}>
              Reopen
            </button>
          </div>
        ))}
      </div>
      {mode === "board" && supervise ? (
        <Board board={board} me={me} onMonitor={monitor} onOpen={(id) => select(id)} onAssign={assign} />
      ) : current ? (
        <Conversation
          key={current.id}
          view={current}
          me={me}
          messages={messages[current.id] || []}
          typing={typing[current.id]}
          queues={queues}
          canned={canned}
          notice={notices[current.id]}
          error={error}
          send={send}
          sendBinary={sendBinary}
          frames={frames.current}
          onAction={(what) => (did.current[current.id] = what)}
        />
      ) : (
        <div class="conversation empty">
          <Alert error={error} />
          <p class="muted">{selected && notices[selected] ? notices[selected] : "Pick a chat, or accept one."}</p>
        </div>
      )}
      {mode === "chats" && current && <ContextPanel context={context} view={current} />}
    </section>
    </>
  );
}

// Countdown is the time an agent has left to accept an offer.
function Countdown({ expires, now }: { expires: string; now: number }) {
  if (!expires) return null;
  const s = Math.max(0, Math.ceil((Date.parse(expires) - now) / 1000));
  return <small class={"countdown" + (s <= 10 ? " urgent" : "")}>{s > 0 ? s + " s left to accept" : "time is up"}</small>;
}

const awayWords: Record<string, string> = {
  missed_offer: "You missed a chat, so we set you away: nobody is offered chats while away. Go available when you are back.",
};

const leftWords: Record<string, string> = {
  hold: "On hold: the chat waits in On hold until you reopen it or the visitor writes again.",
  transfer: "Transferred: the chat is no longer yours.",
  close: "This chat has ended.",
  "": "This chat left your desk: it was closed, transferred or put on hold elsewhere.",
};

const visitorLeft = "The visitor has left: no page of the site has the chat open.";

// ago is how long ago an ISO time was, in words.
function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 60 ? "under a minute" : s < 3600 ? Math.floor(s / 60) + " min" : Math.floor(s / 3600) + " h";
}
