// The chat module: a launcher, the conversation panel, and the visitor side of
// the chat protocol (docs/protocol.md) over a WebSocket. One conversation per
// site in a browser: its token is kept in localStorage, so a reload or another
// tab continues it. Messages are shown with text nodes only (never HTML).
// Sends survive reconnects: each has a client id, is resent until
// acknowledged, and shown once. Budget: 25 KB gzipped.
import type { ChatMeta, Message, VisitorChatView, VisitorCommand, VisitorFrame } from "./protocol.gen";
import type { Ctx } from "./types";
import { host, launcher, LAUNCHER_CSS } from "./ui";

// The protocol's types are generated from server/openapi.json (the server's
// tests check every frame against it). Payloads are free-form by kind.
type Msg = Message & { payload?: any };
interface Pending {
  client_id: string;
  text: string;
}

const CSS =
  LAUNCHER_CSS +
  `
*{box-sizing:border-box;font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}
.p{position:fixed;bottom:88px;width:360px;max-width:calc(100vw - 24px);height:520px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;color:#111;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483000}
.h{padding:12px 14px;color:#fff;display:flex;align-items:center;gap:8px}
.h b{flex:1;font-weight:600}
.h button{background:none;border:0;color:#fff;cursor:pointer;font-size:13px;opacity:.9}
.m{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px;background:#f6f7f9}
.b{max-width:80%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid #e3e5e8;align-self:flex-start}
.b.me{align-self:flex-end;color:#fff;border:0}
.b.wait{opacity:.6}
.n{font-size:11px;color:#666;margin-bottom:2px}.n img{width:20px;height:20px;border-radius:50%;object-fit:cover;vertical-align:middle;margin-right:6px}
.s{align-self:center;font-size:12px;color:#555;text-align:center;padding:2px 8px}
.r{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.r button,.f button{border:1px solid currentColor;background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer}
.cs{display:flex;gap:8px;overflow-x:auto;padding:4px 0}
.c{min-width:180px;max-width:180px;background:#fff;border:1px solid #e3e5e8;border-radius:10px;overflow:hidden}
.c img{width:100%;height:100px;object-fit:cover;display:block}
.c div{padding:6px 8px}
.c a{display:block;margin-top:4px}
.st{font-size:12px;color:#555;padding:4px 12px;min-height:22px}
.in{display:flex;border-top:1px solid #e3e5e8}
.in textarea{flex:1;border:0;padding:10px;resize:none;height:56px;outline:none}
.in button{border:0;background:none;padding:0 14px;cursor:pointer;font-weight:600}
.f{display:flex;flex-direction:column;gap:6px;padding:8px;background:#fff;border:1px solid #e3e5e8;border-radius:10px}
.f input,.f textarea{border:1px solid #ccd;border-radius:6px;padding:6px}
.rd{align-self:flex-end;font-size:11px;color:#777}
`;

window.nudge?.d?.("chat", (c: Ctx) => {
  const theme = c.cfg.theme || { color: "#2563eb", position: "right" };
  const KEY = "nudge_chat_" + c.key;
  const url = c.base.replace(/^http/, "ws") + "/ws/visitor?site=" + encodeURIComponent(c.key);
  const rid = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b % 36).toString(36)).join("");
  const get = (k: string) => {
    try {
      return localStorage.getItem(k);
    } catch {
      return null;
    }
  };
  const put = (k: string, v: string | null) => {
    try {
      v === null ? localStorage.removeItem(k) : localStorage.setItem(k, v);
    } catch {}
  };

  // Elements. Everything lives in a shadow root so the page's styles do not
  // reach it and its styles do not leak. It takes the launcher module's place.
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string, parent?: Node) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    parent?.appendChild(e);
    return e;
  };
  document.querySelector("[data-nudge=launcher]")?.remove();
  const root = host("chat", CSS).root;
  const side = theme.position == "left" ? "left:20px" : "right:20px";
  const launcherBtn = launcher(root, theme);
  const panel = el("div", "p", "", root);
  panel.style.cssText = side + ";display:none";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Chat");
  const head = el("div", "h", "", panel);
  head.style.background = theme.color;
  const title = el("b", "", "Chat with us", head);
  const endBtn = el("button", "", "End chat", head);
  const minBtn = el("button", "", "✕", head);
  minBtn.setAttribute("aria-label", "Minimise");
  const list = el("div", "m", "", panel);
  list.setAttribute("aria-live", "polite");
  const status = el("div", "st", "", panel);
  const bar = el("div", "in", "", panel);
  const input = el("textarea", "", "", bar);
  input.placeholder = "Write a message…";
  input.maxLength = 4000;
  const fileBtn = el("button", "", "+", bar);
  fileBtn.setAttribute("aria-label", "Send a file");
  fileBtn.title = "Send a file (at most 10 MB)";
  const picker = el("input", "", "", root);
  picker.type = "file";
  picker.style.display = "none";
  const sendBtn = el("button", "send", "Send", bar);
  sendBtn.style.color = theme.color;

  // State.
  let ws: WebSocket | null = null;
  let token = get(KEY);
  let view: VisitorChatView | null = null;
  let seq = 0; // highest message seq shown
  let open = false;
  let retry = 0;
  let meta: Record<string, any> = {};
  const vars: Record<string, unknown> = {};
  let ident: ChatMeta["identity"];
  // The protocol takes strings: numbers and booleans from the page are written out.
  const strings = (o: Record<string, unknown> = {}) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
  const start = () => ({
    ...meta,
    offer: meta.offer && { ...meta.offer, data: strings(meta.offer.data) },
    vars: strings({ ...vars, ...meta.vars }),
    identity: ident,
    page: { url: location.href, title: document.title },
  });
  let typingAt = 0;
  let readSent = 0;
  let lastMine = 0; // seq of the visitor's last message, for the read mark
  const shown = new Set<number>();
  const pending: Pending[] = []; // sent, not yet acknowledged
  const bubbles: Record<string, HTMLElement> = {}; // client id -> bubble waiting for its ack
  let readMark: HTMLElement | null = null;
  let agentTyping = 0;

  const bottom = () => (list.scrollTop = list.scrollHeight);
  const frame = (f: VisitorCommand) => ws?.readyState == 1 && ws.send(JSON.stringify(f));

  const bubble = (text: string, mine: boolean, name?: string, avatar?: string) => {
    const b = el("div", "b" + (mine ? " me" : ""), "", list);
    if (mine) b.style.background = theme.color;
    if (name && !mine && text) {
      const n = el("div", "n", "", b);
      const src = avatar && safeURL(avatar);
      if (src) {
        const img = el("img", "", "", n);
        img.src = src;
        img.alt = "";
      }
      n.append(name);
    }
    if (text) el("span", "", text, b);
    bottom();
    return b;
  };
  const choices = (parent: HTMLElement, opts: { label: string; value: string }[], pick: (v: string) => void) => {
    const r = el("div", "r", "", parent);
    for (const o of opts) {
      const btn = el("button", "", o.label, r);
      btn.style.color = theme.color;
      btn.onclick = () => {
        r.remove();
        // A bubble that only held the choices goes with them.
        if (!parent.textContent && parent.className == "b") parent.remove();
        pick(o.value);
      };
    }
  };
  const safeURL = (u: string, httpsOnly?: boolean) => {
    try {
      const p = new URL(u);
      return p.protocol == "https:" || (!httpsOnly && p.protocol == "http:") ? p.href : "";
    } catch {
      return "";
    }
  };

  // render shows one message from the server, once.
  const render = (m: Msg) => {
    if (shown.has(m.seq)) return;
    shown.add(m.seq);
    seq = Math.max(seq, m.seq);
    const mine = m.sender.kind == "visitor";
    if (mine) lastMine = Math.max(lastMine, m.seq);
    const waiting = m.client_id && bubbles[m.client_id];
    if (mine && waiting) {
      waiting.classList.remove("wait");
      delete bubbles[m.client_id!];
      return;
    }
    const p = m.payload || {};
    if (m.kind == "system") {
      const s = el("div", "s", m.text, list);
      if (p.event == "prechat") choices(s, p.options, (v) => send(v));
      if (p.event == "offline") offlineForm();
      if (p.event == "csat") choices(s, [1, 2, 3, 4, 5].map((n) => ({ label: "★".repeat(n), value: "" + n })), (v) => rate(+v));
      bottom();
      return;
    }
    if (m.kind == "form") return void bubble(m.text, true);
    if (m.kind == "file") {
      const b = bubble("", mine, m.sender.name);
      const link = el("button", "", "📎 " + p.name + " (" + Math.max(1, Math.round(p.size / 1024)) + " KB)", b);
      link.onclick = () => download(p.id, p.name);
      return;
    }
    const b = bubble(m.text, mine, m.sender.name, m.sender.avatar);
    if (m.kind == "rich") {
      if (p.type == "quick_replies") choices(b, p.options, send);
      if (p.type == "list") choices(b, p.items.map((i: any) => ({ label: i.title + (i.subtitle ? " — " + i.subtitle : ""), value: i.value })), send);
      if (p.type == "carousel") {
        const cs = el("div", "cs", "", b);
        for (const card of p.cards) {
          const cd = el("div", "c", "", cs);
          const src = card.image_url && safeURL(card.image_url, true);
          if (src) {
            const img = el("img", "", "", cd);
            img.src = src;
            img.alt = "";
          }
          const body = el("div", "", "", cd);
          el("b", "", card.title, body);
          if (card.subtitle) el("div", "", card.subtitle, body);
          for (const btn of card.buttons || []) {
            const href = btn.url && safeURL(btn.url);
            if (href) {
              const a = el("a", "", btn.label, body);
              a.href = href;
              a.target = "_blank";
              a.rel = "noopener noreferrer";
            } else if (btn.value) choices(body, [{ label: btn.label, value: btn.value }], send);
          }
        }
      }
    }
    markRead();
  };

  const setStatus = (t: string) => (status.textContent = t);
  const state = (v: VisitorChatView) => {
    view = v;
    title.textContent = v.agents.length ? v.agents.join(", ") : "Chat with us";
    endBtn.style.display = v.status == "closed" ? "none" : "";
    const words: Record<string, string> = {
      queued: "Waiting for an agent…",
      hold: "We will answer here; you may leave and come back.",
      offline: "Nobody is available right now.",
      closed: "This chat has ended.",
    };
    setStatus(words[v.status] || "");
    input.disabled = sendBtn.disabled = v.status == "offline";
    if (v.status == "closed") put(KEY, (token = null));
    showRead(v.read);
  };
  const showRead = (upTo: number) => {
    if (!lastMine || upTo < lastMine) return;
    readMark ||= el("div", "rd", "Read");
    list.appendChild(readMark);
    bottom();
  };
  const markRead = () => {
    if (open && document.visibilityState == "visible" && seq > readSent) {
      readSent = seq;
      frame({ type: "read", seq });
    }
  };

  const offlineForm = () => {
    const f = el("div", "f", "", list);
    const name = el("input", "", "", f);
    name.placeholder = "Your name";
    const email = el("input", "", "", f);
    email.type = "email";
    email.placeholder = "Your email";
    const text = el("textarea", "", "", f);
    text.placeholder = "Your message";
    const btn = el("button", "", "Leave a message", f);
    btn.style.color = theme.color;
    btn.onclick = () => {
      if (!text.value.trim()) return;
      frame({ type: "leave_message", id: "lm", name: name.value, email: email.value, text: text.value });
    };
    bottom();
  };
  const rate = (score: number) => frame({ type: "rate", id: "rate", score });

  // Files go over the socket: announced with their size, then in binary
  // frames; the server sniffs and seals them, and the message names the id.
  let uploading: { id: string; data: Uint8Array; note: HTMLElement } | null = null;
  picker.onchange = async () => {
    const file = picker.files?.[0];
    picker.value = "";
    if (!file || uploading) return;
    const note = el("div", "s", "Sending " + file.name + "…", list);
    if (file.size > 10 << 20) return void (note.textContent = file.name + " is larger than 10 MB.");
    uploading = { id: "up-" + rid(), data: new Uint8Array(await file.arrayBuffer()), note };
    if (!ws) connect();
    frame({ type: "upload", id: uploading.id, name: file.name, size: file.size });
  };
  fileBtn.onclick = () => picker.click();
  const download = (id: string, name: string) =>
    fetch(c.base + "/chat/files/" + encodeURIComponent(id) + "?site=" + encodeURIComponent(c.key), {
      headers: { "X-Nudge-Chat-Token": token || "" },
      credentials: "omit",
    })
      .then((r) => (r.ok ? r.blob() : Promise.reject()))
      .then((blob) => {
        const a = el("a");
        a.href = URL.createObjectURL(blob);
        a.download = name;
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      })
      .catch(() => setStatus("The file could not be downloaded."));

  // send shows the message at once (faded until acknowledged) and keeps it
  // pending, so that a reconnect resends it with the same client id.
  const send = (text: string) => {
    text = text.trim();
    if (!text) return;
    const p = { client_id: rid(), text };
    pending.push(p);
    if (view?.status == "closed") restart();
    const b = bubble(text, true);
    b.classList.add("wait");
    bubbles[p.client_id] = b;
    if (!ws) connect();
    else frame({ type: "send", id: p.client_id, ...p });
  };
  // restart leaves a closed conversation for a new one (the visitor wrote again).
  const restart = () => {
    const s = ws;
    ws = view = null;
    if (s) {
      s.onclose = null;
      s.close();
    }
    seq = readSent = lastMine = 0;
    shown.clear();
    readMark = null;
    el("div", "s", "New conversation", list);
  };

  const onFrame = (f: VisitorFrame) => {
    switch (f.type) {
      case "start_ok":
      case "resume_ok": {
        const d = f.data;
        retry = 0;
        if (d.token) {
          put(KEY, (token = d.token));
          c.emit("chat:started", { offer: meta.offer?.id });
        }
        d.messages.forEach(render);
        state(d.conversation);
        for (const p of pending) frame({ type: "send", id: p.client_id, ...p });
        break;
      }
      case "ack": {
        const i = pending.findIndex((p) => p.client_id == f.id);
        if (i >= 0) pending.splice(i, 1);
        render(f.data);
        break;
      }
      case "message":
        render(f.data);
        break;
      case "state":
        state(f.data);
        break;
      case "queue": {
        const d = f.data;
        if (view?.status == "queued")
          setStatus(
            "You are number " + d.position + " in line" +
              (d.estimated_wait > 0 ? ", about " + Math.max(1, Math.round(d.estimated_wait / 60)) + " min." : d.estimated_wait < 0 ? ". No one is free right now; we will answer as soon as we can." : "."),
          );
        break;
      }
      case "typing":
        clearTimeout(agentTyping);
        if (f.data.on) {
          setStatus((f.data.name || "Agent") + " is typing…");
          agentTyping = window.setTimeout(() => view && state(view), 6000);
        } else if (view) state(view);
        break;
      case "read":
        showRead(f.data.seq);
        break;
      case "upload_ok": {
        const chunk = f.data.max_chunk;
        if (uploading && f.id == uploading.id) {
          for (let i = 0; i < uploading.data.length; i += chunk) ws?.send(uploading.data.subarray(i, i + chunk));
        }
        break;
      }
      case "upload_done": {
        const d = f.data;
        if (uploading && f.id == uploading.id) {
          uploading.note.remove();
          uploading = null;
          frame({ type: "send", id: "f-" + d.id, client_id: "f-" + d.id, kind: "file", payload: { id: d.id } });
        }
        break;
      }
      case "rate_ok":
        setStatus("Thank you for your rating.");
        break;
      case "error":
        if (uploading && f.id == uploading.id) {
          uploading.note.textContent = f.message || "The file was refused.";
          uploading = null;
        }
        if (f.code == "token") {
          put(KEY, (token = null));
          ws?.close();
        }
        break;
    }
  };

  const connect = () => {
    if (ws) return;
    const s = (ws = new WebSocket(url));
    s.onopen = () => {
      const hello: VisitorCommand = token
        ? { type: "resume", id: "hello", v: 1, token, after: seq }
        : { type: "start", id: "hello", v: 1, visitor: visitorId(), meta: start() };
      s.send(JSON.stringify(hello));
    };
    s.onmessage = (e) => {
      try {
        onFrame(JSON.parse(e.data));
      } catch {}
    };
    s.onclose = () => {
      ws = null;
      // Reconnect while there is a conversation to follow, with backoff.
      if (token || pending.length) {
        const wait = Math.min(30000, 1000 * 2 ** retry++) * (0.5 + Math.random() / 2);
        setStatus("Reconnecting…");
        setTimeout(connect, wait);
      }
    };
  };
  const visitorId = () => get("nudge_v") || rid();

  const toggle = (show: boolean) => {
    open = show;
    panel.style.display = show ? "flex" : "none";
    launcherBtn.setAttribute("aria-expanded", "" + show);
    c.emit("chat:open", show);
    if (show) {
      if (!ws) connect();
      input.focus();
      markRead();
    }
  };
  launcherBtn.onclick = () => toggle(!open);
  minBtn.onclick = () => toggle(false);
  endBtn.onclick = () => frame({ type: "close", id: "close" });
  sendBtn.onclick = () => {
    send(input.value);
    input.value = "";
  };
  input.onkeydown = (e) => {
    if (e.key == "Enter" && !e.shiftKey) {
      e.preventDefault();
      sendBtn.click();
    }
  };
  input.oninput = () => {
    const t = Date.now();
    if (t - typingAt > 1500) {
      typingAt = t;
      frame({ type: "typing", text: input.value.slice(-200) });
    }
  };
  addEventListener("visibilitychange", markRead);

  // A conversation in progress continues on every page of the site.
  if (token) connect();

  return (cmd, args) => {
    const a = args[0] as any;
    // What the page says of the visitor reaches the agent with the chat.
    if (cmd == "set" && a && typeof a == "object") Object.assign(vars, a);
    if (cmd == "identify" && a?.id) ident = { id: String(a.id), email: String(a.email || ""), name: String(a.name || ""), hash: String(args[1] || "") };
    if (cmd != "chat") return;
    if (a == "open") toggle(true);
    else if (a == "close") toggle(false);
    else if (a && typeof a == "object") {
      // nudge('chat', {offer: {...}, vars: {...}}): an accepted offer opens the chat.
      meta = a as Record<string, unknown>;
      toggle(true);
    }
  };
});
