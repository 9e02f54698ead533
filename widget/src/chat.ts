// The chat module: a launcher, the conversation panel, and the visitor side of
// the chat protocol (docs/protocol.md) over a WebSocket. The panel opens on a
// welcome (the team, a greeting, whether and when someone answers, the
// pre-chat question and form); the conversation starts with the visitor's
// first message. One conversation per site in a browser: its token is kept
// in localStorage, so a reload or another tab continues it, and its messages
// are kept there too (when the page may store) so that they show at once.
// Messages are shown with text nodes only (never HTML). Sends survive
// reconnects: each has a client id, is resent until acknowledged, and shown
// once. Budget: 25 KB gzipped.
import type { ChatMeta, Message, VisitorChatView, VisitorCommand, VisitorFrame, WelcomeState } from "./protocol.gen";
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
.u{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#dc2626;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center}
.pv{position:fixed;width:260px;max-width:calc(100vw - 100px);background:#fff;color:#111;border-radius:12px;box-shadow:0 6px 24px rgba(0,0,0,.2);padding:10px 30px 10px 12px;cursor:pointer;z-index:2147483000}
.pv b{display:block;font-size:12px;color:#555}.pv span{display:block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.pv button{position:absolute;top:2px;right:2px;border:0;background:none;cursor:pointer;width:28px;height:28px;color:#555}
.p{position:fixed;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;color:#111;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483000}
.h{padding:10px 8px 10px 14px;color:#fff;display:flex;align-items:center;gap:8px}
.h .tt{flex:1;min-width:0}.h b{display:block;font-weight:600;font-size:15px}.h small{display:block;font-size:12px;opacity:.9}
.h button{background:none;border:0;color:#fff;cursor:pointer;font-size:13px;min-height:44px}
.h .x{min-width:44px;font-size:18px}
.av{display:flex}.av img,.av i{width:30px;height:30px;border-radius:50%;border:2px solid #fff;margin-left:-8px;object-fit:cover;background:#fff3;font-style:normal;display:flex;align-items:center;justify-content:center;font-weight:600}
.av :first-child{margin-left:0}
.cf{display:flex;gap:8px;align-items:center;padding:8px 12px;background:#fef3c7;font-size:13px}.cf span{flex:1}
.cf button{border:1px solid #b45309;background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer;min-height:32px}
.m{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px;background:#f6f7f9}
.b{max-width:80%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid #e3e5e8;align-self:flex-start}
.b.me{align-self:flex-end;color:#fff;border:0}
.b.wait{opacity:.6}
.n{font-size:11px;color:#666;margin:4px 0 0;display:flex;align-items:center;gap:6px}.n img{width:20px;height:20px;border-radius:50%;object-fit:cover}
.t{align-self:center;font-size:11px;color:#777;padding:4px 0}
.s{align-self:center;font-size:12px;color:#555;text-align:center;padding:2px 8px}
.r{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.r button,.f button,.w button,.nc{border:1px solid currentColor;background:#fff;border-radius:14px;padding:6px 12px;cursor:pointer;min-height:32px}
.cs{display:flex;gap:8px;overflow-x:auto;padding:4px 0}
.c{min-width:180px;max-width:180px;background:#fff;border:1px solid #e3e5e8;border-radius:10px;overflow:hidden}
.c img{width:100%;height:100px;object-fit:cover;display:block}
.c div{padding:6px 8px}
.c a{display:block;margin-top:4px}
.fl{display:flex;gap:8px;align-items:center;border:0;background:none;cursor:pointer;color:inherit;text-align:left;padding:0}
.fl small{opacity:.75}
.th{display:block;max-width:200px;max-height:200px;border-radius:6px;cursor:zoom-in}
.lb{position:absolute;inset:0;background:rgba(0,0,0,.85);display:flex;align-items:center;justify-content:center;z-index:2}
.lb img{max-width:100%;max-height:100%}.lb button{position:absolute;top:6px;right:6px;width:44px;height:44px;border:0;background:none;color:#fff;font-size:22px;cursor:pointer}
.st{font-size:12px;color:#555;padding:4px 12px;min-height:22px}
.er{font-size:13px;color:#b91c1c;padding:0 12px}
.in{display:flex;border-top:1px solid #e3e5e8}
.in textarea{flex:1;border:0;padding:10px;resize:none;height:56px;outline:none}
.in button{border:0;background:none;padding:0 14px;cursor:pointer;font-weight:600;min-width:44px}
.in textarea:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:2px solid #2563eb;outline-offset:-2px}
.w,.f{display:flex;flex-direction:column;gap:6px;padding:10px;background:#fff;border:1px solid #e3e5e8;border-radius:10px}
.w p{margin:0}.w .ex{font-size:12px;color:#555}.w form{display:flex;flex-direction:column;gap:6px}
.w label,.f label{font-size:12px;color:#444;display:flex;flex-direction:column;gap:2px}
.w input,.w select,.f input,.f textarea{border:1px solid #ccd;border-radius:6px;padding:6px;font-size:14px}
.nc{margin:8px auto}
.rd{align-self:flex-end;font-size:11px;color:#777}
@media (max-width:480px){.p{inset:0!important;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}
.in textarea,.w input,.w select,.f input,.f textarea{font-size:16px}}
`;

const IMAGES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

window.nudge?.d?.("chat", (c: Ctx) => {
  const theme = c.cfg.theme || { color: "#2563eb", position: "right" };
  const KEY = "nudge_chat_" + c.key;
  const LOG = "nudge_chat_log_" + c.key;
  // The welcome form's answers while the visitor fills it in: a reload or
  // another tab finds them (until the chat starts with them).
  const FORM = "nudge_chat_form_" + c.key;
  // A secured site (chat only for visitors a visitor token proves) keeps
  // nothing in the browser but this flag, which says a chat is open and
  // proves nothing: the page hands a fresh token with nudge('token', jwt) on
  // each page, and the chat resumes by who the token proves.
  const secured = !!c.cfg.secured;
  const OPEN = "nudge_chat_open_" + c.key;
  let vtoken = "";
  let probing = false; // asking whether the proved visitor has a chat open
  const url = c.base.replace(/^http/, "ws") + "/ws/visitor?site=" + encodeURIComponent(c.key);
  const rid = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b % 36).toString(36)).join("");
  const get = (k: string) => {
    if (secured && k != OPEN) return null;
    try {
      return localStorage.getItem(k);
    } catch {
      return null;
    }
  };
  const put = (k: string, v: string | null) => {
    if (secured && k != OPEN) return;
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
  const attr = (e: Element, k: string, v: string) => e.setAttribute(k, v);
  document.querySelector("[data-nudge=launcher]")?.remove();
  const root = host("chat", CSS).root;
  // The launcher keeps clear of the page's own controls in its corner.
  const x = (theme.offset_x || 0) + 20;
  const y = (theme.offset_y || 0) + 20;
  const side = theme.position == "left" ? "left:" : "right:";
  const launcherBtn = launcher(root, theme);
  const badge = el("span", "u", "", launcherBtn);
  badge.style.display = "none";
  attr(badge, "aria-hidden", "true");
  const preview = el("div", "pv", "", root);
  preview.style.cssText = "display:none;" + side + x + "px;bottom:" + (y + 66) + "px";
  const previewWho = el("b", "", "", preview);
  const previewText = el("span", "", "", preview);
  const previewClose = el("button", "", "✕", preview);
  attr(previewClose, "aria-label", "Dismiss");
  const panel = el("div", "p", "", root);
  panel.style.cssText = side + Math.max(12, x - 8) + "px;bottom:" + (y + 68) + "px;display:none";
  attr(panel, "role", "dialog");
  attr(panel, "aria-labelledby", "nudge-title");
  const head = el("div", "h", "", panel);
  head.style.background = theme.color;
  const faces = el("div", "av", "", head);
  const titles = el("div", "tt", "", head);
  const title = el("b", "", "Chat with us", titles);
  title.id = "nudge-title";
  const sub = el("small", "", "", titles);
  const endBtn = el("button", "", "End chat", head);
  endBtn.style.display = "none"; // until there is a conversation to end
  const closeBtn = el("button", "x", "✕", head);
  attr(closeBtn, "aria-label", "Close the chat");
  const confirmBar = el("div", "cf", "", panel);
  el("span", "", "End this chat?", confirmBar);
  const endYes = el("button", "", "End chat", confirmBar);
  const endNo = el("button", "", "Keep chatting", confirmBar);
  confirmBar.style.display = "none";
  const list = el("div", "m", "", panel);
  attr(list, "role", "log");
  attr(list, "aria-live", "polite");
  attr(list, "aria-label", "Messages");
  const status = el("div", "st", "", panel);
  attr(status, "role", "status");
  const err = el("div", "er", "", panel);
  attr(err, "role", "alert");
  const newChat = el("button", "nc", "Start a new chat", panel);
  newChat.style.display = "none";
  newChat.style.color = theme.color;
  const bar = el("div", "in", "", panel);
  const input = el("textarea", "", "", bar);
  input.placeholder = "Write a message…";
  attr(input, "aria-label", "Message");
  input.maxLength = 4000;
  const fileBtn = el("button", "", "+", bar);
  attr(fileBtn, "aria-label", "Send a file");
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
  let welcome: WelcomeState | null = null;
  let welcomeAt = 0;
  let welcomeBox: HTMLElement | null = null;
  let answers: () => NonNullable<ChatMeta["form"]> | undefined | false = () => undefined;
  let seq = 0; // highest message seq shown
  let open = false;
  let retry = 0;
  let meta: Record<string, any> = {};
  const vars: Record<string, unknown> = {};
  let ident: ChatMeta["identity"];
  let form: ChatMeta["form"];
  let transcripts = false; // the site emails a chat's transcript on request
  let trForm: HTMLFormElement | null = null;
  // The protocol takes strings: numbers and booleans from the page are written out.
  const strings = (o: Record<string, unknown> = {}) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
  // What the page said so far goes with the start; what it says later, by tell.
  const start = (): ChatMeta => ((told.vars = told.ident = 1), {
    ...meta,
    offer: meta.offer && { ...meta.offer, data: strings(meta.offer.data) },
    vars: strings({ ...vars, ...meta.vars }),
    identity: ident,
    page: { url: location.href, title: document.title },
    form,
  });
  let typingAt = 0;
  let typingTimer = 0;
  let readSent = 0;
  let lastMine = 0; // seq of the visitor's last message, for the read mark
  let lastAt = 0; // time of the last message shown, for time marks
  let lastSender = "";
  let unread = 0;
  let leaving: { name: string; email: string; text: string } | null = null; // the offline form, sent once the chat exists
  const pageTitle = document.title;
  const shown = new Set<number>();
  const cache: Msg[] = [];
  const pending: Pending[] = []; // sent, not yet acknowledged
  const busyTries: Record<string, number> = {}; // sends refused "busy", by client id
  const bubbles: Record<string, HTMLElement> = {}; // client id -> bubble waiting for its ack
  let readMark: HTMLElement | null = null;
  let agentTyping = 0;

  const bottom = () => (list.scrollTop = list.scrollHeight);
  const frame = (f: VisitorCommand) => ws?.readyState == 1 && ws.send(JSON.stringify(f));
  // tell sends the agent what the page said of the visitor after the chat
  // started (nudge('set'), nudge('identify')), once connected; a chat starts
  // with what was said before.
  const told = { vars: 1, ident: 1 };
  const tell = () => {
    if (!token || ws?.readyState != 1) return; // sent once connected (resume_ok)
    if (!told.vars) frame({ type: "set", id: "set", vars: strings(vars) }), (told.vars = 1);
    // A visitor token says who the visitor is: the page's identify is not sent.
    if (!told.ident && ident && !vtoken) frame({ type: "identify", id: "identify", identity: { ...ident, hash: ident.hash || "" } }), (told.ident = 1);
  };
  const say = (t: string) => (err.textContent = t);

  // Times: a mark when a message comes five minutes or more after the one
  // before, in words relative to now, kept current while the panel is open.
  const ago = (at: number) => {
    const s = (Date.now() - at) / 1000;
    const d = new Date(at);
    const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (s < 60) return "Just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    return new Date().toDateString() == d.toDateString() ? hm : d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + hm;
  };
  const marks = () => list.querySelectorAll<HTMLElement>(".t").forEach((m) => (m.textContent = ago(+m.dataset.at!)));
  setInterval(() => open && marks(), 30000);
  const timeMark = (at: number) => {
    if (at - lastAt >= 300000) {
      const m = el("div", "t", ago(at), list);
      m.dataset.at = "" + at;
      lastSender = "";
    }
    lastAt = Math.max(lastAt, at);
  };

  const safeURL = (u: string, httpsOnly?: boolean) => {
    try {
      const p = new URL(u);
      return p.protocol == "https:" || (!httpsOnly && p.protocol == "http:") ? p.href : "";
    } catch {
      return "";
    }
  };
  const face = (parent: HTMLElement, name: string, avatar?: string) => {
    const src = avatar && safeURL(avatar);
    if (src) {
      const img = el("img", "", "", parent);
      img.src = src;
      img.alt = "";
    } else el("i", "", (name || "?").slice(0, 1).toUpperCase(), parent);
  };
  // bubble shows a message: the sender's name and face above a run of their messages.
  const bubble = (text: string, mine: boolean, who = "", name?: string, avatar?: string) => {
    if (!mine && who && who != lastSender) {
      const n = el("div", "n", "", list);
      const src = avatar && safeURL(avatar);
      if (src) {
        const img = el("img", "", "", n);
        img.src = src;
        img.alt = "";
      }
      n.append(name || "Agent");
    }
    lastSender = mine ? "me" : who;
    const b = el("div", "b" + (mine ? " me" : ""), "", list);
    if (mine) b.style.background = theme.color;
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
  const fileURL = (id: string) => c.base + "/chat/files/" + encodeURIComponent(id) + "?site=" + encodeURIComponent(c.key);
  const fetchFile = (id: string) =>
    fetch(fileURL(id), { headers: { "X-Nudge-Chat-Token": token || "" }, credentials: "omit" }).then((r) => (r.ok ? r.blob() : Promise.reject()));
  const download = (id: string, name: string) =>
    fetchFile(id)
      .then((blob) => {
        const a = el("a");
        a.href = URL.createObjectURL(blob);
        a.download = name;
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      })
      .catch(() => say("The file could not be downloaded."));
  let lightbox: HTMLElement | null = null;
  const zoom = (src: string, alt: string) => {
    lightbox = el("div", "lb", "", panel);
    const img = el("img", "", "", lightbox);
    img.src = src;
    img.alt = alt;
    const x = el("button", "", "✕", lightbox);
    attr(x, "aria-label", "Close the picture");
    x.onclick = () => unzoom();
    x.focus();
  };
  const unzoom = () => (lightbox?.remove(), (lightbox = null));
  const size = (n: number) => (n < 1048576 ? Math.max(1, Math.round(n / 1024)) + " KB" : (n / 1048576).toFixed(1) + " MB");

  // render shows one message from the server, once.
  const render = (m: Msg, cached?: boolean) => {
    if (shown.has(m.seq)) return;
    shown.add(m.seq);
    seq = Math.max(seq, m.seq);
    if (!cached) remember(m);
    const mine = m.sender.kind == "visitor";
    if (mine) lastMine = Math.max(lastMine, m.seq);
    const waiting = m.client_id && bubbles[m.client_id];
    if (mine && waiting) {
      waiting.classList.remove("wait");
      delete bubbles[m.client_id!];
      return;
    }
    timeMark(Date.parse(m.created_at) || Date.now());
    const p = m.payload || {};
    if (m.kind == "system") {
      const s = el("div", "s", m.text, list);
      lastSender = "";
      if (!cached) {
        if (p.event == "prechat") choices(s, p.options, (v) => send(v));
        if (p.event == "offline") offlineForm();
        if (p.event == "csat") choices(s, [1, 2, 3, 4, 5].map((n) => ({ label: "★".repeat(n), value: "" + n })), (v) => rate(+v));
      }
      bottom();
      return;
    }
    if (!mine && !cached) notify(m);
    if (m.kind == "form") return void bubble(m.text, true);
    const who = m.sender.kind + m.sender.id;
    if (m.kind == "file") {
      const b = bubble("", mine, who, m.sender.name, m.sender.avatar);
      if (IMAGES.includes(p.type)) {
        const img = el("img", "th", "", b);
        img.alt = p.name;
        fetchFile(p.id).then(
          (blob) => {
            img.src = URL.createObjectURL(blob);
            img.onclick = () => zoom(img.src, p.name);
            bottom();
          },
          () => (img.alt = p.name + " (could not be loaded)"),
        );
      }
      const row = el("button", "fl", "", b);
      el("span", "", "📎 " + p.name, row);
      el("small", "", size(p.size), row);
      attr(row, "aria-label", "Download " + p.name + ", " + size(p.size));
      row.onclick = () => download(p.id, p.name);
      return;
    }
    const b = bubble(m.text, mine, who, m.sender.name, m.sender.avatar);
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

  // The conversation is kept in the browser, when the page may store, so a
  // reload or the next page shows it at once before the server catches up.
  let saving = 0;
  const save = () => {
    if (c.may() && !saving) saving = window.setTimeout(() => ((saving = 0), token && put(LOG, JSON.stringify({ view, m: cache }))), 200);
  };
  const remember = (m: Msg) => {
    cache.push(m);
    if (cache.length > 200) cache.shift();
    save();
  };
  const forget = () => {
    cache.length = 0;
    put(LOG, null);
  };

  // Unread replies while the panel is closed or the tab hidden: a count on
  // the launcher, a preview, the tab's title, and a chime when the site wants one.
  const notify = (m: Msg) => {
    if (open && document.visibilityState == "visible") return;
    unread++;
    badge.textContent = "" + unread;
    badge.style.display = "";
    attr(launcherBtn, "aria-label", "Chat with us, " + unread + " unread");
    document.title = "(" + unread + ") " + pageTitle;
    if (!open) {
      previewWho.textContent = m.sender.name || welcome?.title || "New message";
      previewText.textContent = m.kind == "file" ? "📎 " + (m.payload?.name || "a file") : m.text;
      preview.style.display = "";
    }
    if (theme.sound) chime();
  };
  const seen = () => {
    unread = 0;
    badge.style.display = preview.style.display = "none";
    attr(launcherBtn, "aria-label", "Chat with us");
    document.title = pageTitle;
  };
  let audio: AudioContext | undefined;
  const chime = () => {
    try {
      audio ||= new AudioContext();
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = 880;
      g.gain.setValueAtTime(0.08, audio.currentTime);
      g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.3);
      o.connect(g).connect(audio.destination);
      o.start();
      o.stop(audio.currentTime + 0.3);
    } catch {}
  };
  preview.onclick = () => toggle(true);
  previewClose.onclick = (e) => (e.stopPropagation(), (preview.style.display = "none"));

  const setStatus = (t: string) => (status.textContent = t);
  const expectation = (w: WelcomeState) =>
    !w.available
      ? "We are away right now"
      : w.estimated_wait <= 0
        ? "Someone can answer now"
        : "Typically replies in about " + Math.max(1, Math.round(w.estimated_wait / 60)) + " min";
  const state = (v: VisitorChatView) => {
    view = v;
    const closed = v.status == "closed";
    sub.textContent = v.agents.length ? v.agents.join(", ") : v.status == "offline" ? "Nobody can answer right now" : welcome ? expectation(welcome) : "";
    endBtn.style.display = closed ? "none" : "";
    if (closed) confirmBar.style.display = "none";
    const words: Record<string, string> = {
      queued: "Waiting for an agent…",
      hold: "We will answer here; you may leave and come back.",
      offline: "Nobody is available right now.",
      closed: "",
    };
    setStatus(words[v.status] || "");
    bar.style.display = closed ? "none" : "";
    newChat.style.display = closed ? "" : "none";
    input.disabled = sendBtn.disabled = fileBtn.disabled = v.status == "offline";
    if (closed) {
      put(KEY, (token = null));
      put(OPEN, null);
      forget();
      if (transcripts) transcriptForm();
    }
    showRead(v.read);
    if (v.status == "offline" && leaving) {
      frame({ type: "leave_message", id: "lm", ...leaving });
      leaving = null;
    }
  };
  const showRead = (upTo: number) => {
    if (!lastMine || upTo < lastMine) return;
    readMark ||= el("div", "rd", "Read");
    list.appendChild(readMark);
    bottom();
  };
  const markRead = () => {
    if (open && document.visibilityState == "visible") {
      seen();
      if (seq > readSent && ws) {
        readSent = seq;
        frame({ type: "read", seq });
      }
    }
  };

  // The welcome: who answers and when, the pre-chat question and form; the
  // chat starts with the first message. Nobody available: the offline form.
  const showWelcome = async () => {
    if (!welcome || Date.now() - welcomeAt > 30000) {
      try {
        const r = await fetch(c.base + "/chat/welcome/" + encodeURIComponent(c.key), { credentials: "omit" });
        if (!r.ok) throw 0;
        welcome = await r.json();
        welcomeAt = Date.now();
      } catch {
        welcome = null;
      }
    }
    if (token || view || ws) return;
    welcomeBox?.remove();
    const w = welcome;
    faces.textContent = "";
    if (!w) {
      sub.textContent = "";
      answers = () => undefined;
      return;
    }
    title.textContent = w.title;
    sub.textContent = expectation(w);
    for (const m of w.team.slice(0, 3)) face(faces, m.name, m.avatar);
    const box = (welcomeBox = el("div", "w", "", list));
    el("p", "", w.greeting || "Hi! How can we help?", box);
    if (!w.available) {
      // The team reads the message (emailed to them where the tenant sends
      // email) and answers.
      el("p", "ex", "Leave a message with your email: the team reads it and gets back to you.", box);
      bar.style.display = "none";
      offlineForm(box);
      answers = () => undefined;
      if (open) box.querySelector("input")?.focus();
      return;
    }
    bar.style.display = "";
    const fm = el("form", "", "", box);
    fm.onsubmit = (e) => (e.preventDefault(), sendBtn.click());
    const fields: [string, HTMLInputElement | HTMLSelectElement][] = [];
    if (w.topics?.length) {
      const l = el("label", "", w.question || "Topic", fm);
      const s = el("select", "", "", l);
      s.required = true;
      el("option", "", "Choose…", s).value = "";
      // A topic nobody can answer now says so: choosing it leads to the offline form.
      for (const t of w.topics) el("option", "", w.closed?.includes(t) ? t + " (nobody can answer now: leave a message)" : t, s).value = t;
      fields.push(["topic", s]);
    }
    for (const f of w.form?.fields || []) {
      const l = el("label", "", f.label + (f.required ? "" : " (optional)"), fm);
      const i = el("input", "", "", l);
      i.required = f.required;
      i.maxLength = f.kind == "text" ? 1000 : 200;
      if (f.kind == "email") (i.type = "email"), (i.autocomplete = "email");
      if (f.kind == "name") i.autocomplete = "name";
      fields.push([f.kind == "text" ? "f:" + f.key : f.kind, i]);
    }
    try {
      const kept = JSON.parse(get(FORM) || "{}");
      for (const [k, i] of fields) if (typeof kept[k] == "string") i.value = kept[k];
    } catch {}
    fm.oninput = fm.onchange = () => put(FORM, JSON.stringify(Object.fromEntries(fields.map(([k, i]) => [k, i.value]))));
    answers = () => {
      if (!fields.length) return undefined;
      if (!fm.reportValidity()) return false;
      const a: NonNullable<ChatMeta["form"]> = {};
      for (const [k, i] of fields) {
        const v = i.value.trim();
        if (!v) continue;
        if (k.startsWith("f:")) (a.fields ||= {})[k.slice(2)] = v;
        else a[k as "topic" | "name" | "email"] = v;
      }
      return a;
    };
    if (open) (fm.querySelector<HTMLElement>("select,input") || input).focus();
    bottom();
  };

  // One offline form at a time: the chat going offline and the refused first
  // message both ask for it, and the second only hands it the message's text.
  let offForm: HTMLFormElement | null = null;
  const offlineForm = (parent: HTMLElement = list, text = "") => {
    if (offForm?.isConnected) {
      const m = offForm.querySelector("textarea");
      if (m && !m.value) m.value = text;
      return;
    }
    const f = (offForm = el("form", "f", "", parent));
    const field = <K extends "input" | "textarea">(tag: K, label: string, value = "") => {
      const l = el("label", "", label, f);
      const i = el(tag, "", "", l);
      i.value = value;
      return i;
    };
    const name = field("input", "Your name", form?.name);
    name.autocomplete = "name";
    const email = field("input", "Your email", form?.email);
    email.type = "email";
    email.required = true;
    email.autocomplete = "email";
    const msg = field("textarea", "Your message", text || input.value);
    msg.required = true;
    const btn = el("button", "", "Leave a message", f);
    btn.style.color = theme.color;
    f.onsubmit = (e) => {
      e.preventDefault();
      leaving = { name: name.value, email: email.value, text: msg.value };
      btn.disabled = true;
      if (view?.status == "offline") state(view);
      else if (!ws) connect();
    };
    bottom();
  };
  const rate = (score: number) => frame({ type: "rate", id: "rate", score });

  // Once a chat ends, the visitor may have it by email: to the address they
  // type, or (left empty) the one the site verified for them.
  const transcriptForm = () => {
    if (trForm) return;
    const f = (trForm = el("form", "f", "", list));
    f.setAttribute("aria-label", "Email me this chat");
    const l = el("label", "", "Email me this chat", f);
    const address = el("input", "", "", l);
    address.type = "email";
    address.autocomplete = "email";
    address.value = form?.email || "";
    address.placeholder = ident?.email ? "Your account's address" : "you@example.com";
    address.required = !ident?.email;
    const btn = el("button", "", "Send", f);
    btn.style.color = theme.color;
    f.onsubmit = (e) => {
      e.preventDefault();
      btn.disabled = true;
      say("");
      frame({ type: "transcript", id: "tr", email: address.value.trim() });
    };
    bottom();
  };

  // Files go over the socket: announced with their size, then in binary
  // frames; the server sniffs and seals them, and the message names the id.
  let uploading: { id: string; name: string; data: Uint8Array; note: HTMLElement } | null = null;
  const announce = () => uploading && frame({ type: "upload", id: uploading.id, name: uploading.name, size: uploading.data.length });
  picker.onchange = async () => {
    const file = picker.files?.[0];
    picker.value = "";
    if (!file || uploading) return;
    say("");
    if (file.size > 10 << 20) return void say("Files can be up to 10 MB.");
    if (!begin()) return;
    const note = el("div", "s", "Sending " + file.name + "…", list);
    uploading = { id: "up-" + rid(), name: file.name, data: new Uint8Array(await file.arrayBuffer()), note };
    if (!ws) connect(); // announced once the conversation is open
    else announce();
  };
  fileBtn.onclick = () => picker.click();

  // begin takes the welcome's answers before the conversation starts; false
  // when the form is not filled in as it must be (the browser says where).
  const begin = () => {
    if (token || ws) return true;
    const a = answers();
    if (a === false) return false;
    form = a;
    welcomeBox?.remove();
    welcomeBox = null;
    return true;
  };

  // send shows the message at once (faded until acknowledged) and keeps it
  // pending, so that a reconnect resends it with the same client id. The
  // first message starts the conversation, with the form's answers.
  const send = (text: string) => {
    text = text.trim();
    if (!text || !begin()) return false;
    say("");
    const p = { client_id: rid(), text };
    pending.push(p);
    timeMark(Date.now());
    const b = bubble(text, true);
    b.classList.add("wait");
    bubbles[p.client_id] = b;
    if (!ws) connect();
    else frame({ type: "send", id: p.client_id, ...p });
    clearTimeout(typingTimer);
    return true;
  };
  // restart leaves an ended conversation for the welcome of a new one.
  const restart = () => {
    const s = ws;
    ws = view = null;
    if (s) {
      s.onclose = null;
      s.close();
    }
    put(KEY, (token = null));
    forget();
    seq = readSent = lastMine = lastAt = 0;
    lastSender = "";
    form = undefined;
    trForm = null;
    shown.clear();
    readMark = null;
    list.textContent = "";
    newChat.style.display = endBtn.style.display = "none";
    bar.style.display = "";
    input.disabled = sendBtn.disabled = fileBtn.disabled = false;
    setStatus("");
    say("");
    title.textContent = welcome?.title || "Chat with us";
    showWelcome();
  };

  // Errors in the visitor's words, where they are looking.
  const words = (code?: string, message = "") =>
    code == "rate_limited"
      ? "You are sending messages too fast. Wait a moment."
      : /not accepted/.test(message)
        ? "This file type can't be sent."
        : /bytes|size/.test(message) && uploading
          ? "Files can be up to 10 MB."
          : /characters/.test(message)
            ? "This message is too long."
            : code == "state"
              ? ""
              : code == "invalid" && /form/.test(message)
                ? "Please check the form: " + message.replace(/^.*form: /, "")
                : "Something went wrong. Please try again.";

  const onFrame = (f: VisitorFrame) => {
    switch (f.type) {
      case "start_ok":
      case "resume_ok": {
        const d = f.data;
        retry = 0;
        probing = false;
        transcripts = !!d.transcripts;
        if (d.token) {
          put(KEY, (token = d.token));
          put(FORM, null);
        }
        if (secured) {
          token ||= "-"; // a chat, resumed by who the visitor token proves
          put(OPEN, "1");
          welcomeBox?.remove();
          welcomeBox = null;
        }
        tell(); // what the page said since the start was sent, or while away
        if (d.token) {
          c.emit("chat:started", { offer: meta.offer?.id });
        }
        if (d.reset) {
          // What this page showed was not the server's (a message lost in a
          // crash before its commit): start over from the whole conversation.
          list.replaceChildren();
          shown.clear();
          cache.length = 0;
          seq = lastAt = 0;
          lastSender = "";
          for (const k in bubbles) delete bubbles[k];
        }
        d.messages.forEach((m) => render(m));
        state(d.conversation);
        // They may be stored already (their acks lost): marked, the server
        // shows them to the agent only once committed.
        for (const p of pending) frame({ type: "send", id: p.client_id, resend: true, ...p });
        announce();
        // The agent's view of the visitor follows them from page to page.
        if (f.type == "resume_ok") frame({ type: "page", id: "page", page: { url: location.href, title: document.title } });
        break;
      }
      case "ack": {
        const i = pending.findIndex((p) => p.client_id == f.id);
        if (i >= 0) pending.splice(i, 1);
        if (f.id) delete busyTries[f.id];
        render(f.data);
        break;
      }
      case "message": {
        // A message comes while its commit runs: mark what it drew, in case
        // the commit refuses it and it is retracted.
        const n = list.children.length;
        render(f.data);
        for (let i = n; i < list.children.length; i++) (list.children[i] as HTMLElement).dataset.s = "" + f.data.seq;
        break;
      }
      case "retracted": {
        const r = f.data;
        if (shown.delete(r.seq)) {
          list.querySelectorAll('[data-s="' + r.seq + '"]').forEach((e) => e.remove());
          const i = cache.findIndex((m) => m.id == r.id);
          if (i >= 0) cache.splice(i, 1), save();
          seq = Math.max(0, ...shown);
          lastSender = "";
        }
        break;
      }
      case "state":
        state(f.data);
        break;
      case "queue": {
        const d = f.data;
        if (view?.status == "queued")
          setStatus(
            d.estimated_wait < 0
              ? "Nobody can answer right now; we will answer here as soon as someone can."
              : "You are number " + d.position + " in line" + (d.estimated_wait > 0 ? ", about " + Math.max(1, Math.round(d.estimated_wait / 60)) + " min." : "."),
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
      case "transcript_ok":
        trForm?.replaceWith(el("div", "s", "The transcript is on its way to your inbox."));
        bottom();
        break;
      case "leave_message_ok":
        list.querySelectorAll(".f").forEach((e) => e.remove());
        el("div", "s", "Thank you: the team has your message and will get back to you.", list);
        bottom();
        break;
      case "error": {
        // Dropped by the rate limit: said again a moment later.
        if (f.code == "rate_limited" && (f.id == "set" || f.id == "identify")) {
          told[f.id == "set" ? "vars" : "ident"] = 0;
          setTimeout(tell, 1000);
        }
        if (f.id == "hello" && probing) {
          // No chat open for this visitor: the welcome, for a new one.
          probing = false;
          put(OPEN, null);
          const s = ws;
          if (s) {
            s.onclose = null;
            s.close();
          }
          ws = null;
          if (open) showWelcome();
          break;
        }
        if (f.code == "visitor_token" && f.id == "hello") {
          // The page's token expired or is not the site's: nothing to resend.
          pending.length = 0;
          token = null;
          say("Your session has ended: reload the page to chat.");
          break;
        }
        if (f.id == "tr") {
          // The server's words: not an address, sent three times already…
          trForm?.querySelector("button")?.removeAttribute("disabled");
          say(f.message);
          break;
        }
        const i = pending.findIndex((p) => p.client_id == f.id);
        if (uploading && f.id == uploading.id) {
          uploading.note.remove();
          uploading = null;
        }
        if (i >= 0 && f.code == "busy") {
          // Not now (the database away for a moment, the chat moving to
          // another server, which also closes the socket): the message stays,
          // faded, and goes again after a pause, or with the reconnect.
          const p = pending[i]!;
          const n = (busyTries[p.client_id] = (busyTries[p.client_id] || 0) + 1);
          setTimeout(
            () => pending.includes(p) && frame({ type: "send", id: p.client_id, resend: true, ...p }),
            Math.min(30000, 1000 * 2 ** n) * (0.5 + Math.random() / 2),
          );
          break;
        }
        if (i >= 0) {
          // Refused: not stored, so not kept for a resend. A chat nobody can
          // answer turns it into a message left for the team.
          const [p] = pending.splice(i, 1);
          bubbles[p!.client_id]?.remove();
          if (f.code == "state" && view?.status == "offline") offlineForm(list, p!.text);
        }
        if (f.code == "token") {
          put(KEY, (token = null));
          forget();
          ws?.close();
        } else say(words(f.code, f.message));
        break;
      }
    }
  };

  const probe = () => {
    probing = true;
    connect();
  };
  const connect = () => {
    if (ws) return;
    const s = (ws = new WebSocket(url));
    s.onopen = () => {
      const after = { after: seq, after_id: cache.find((m) => m.seq == seq)?.id };
      const visitor_token = vtoken || undefined;
      const hello: VisitorCommand =
        secured && (token || probing)
          ? { type: "resume", id: "hello", v: 1, visitor_token, ...after }
          : token && !secured
            ? { type: "resume", id: "hello", v: 1, token, ...after }
            : { type: "start", id: "hello", v: 1, visitor: visitorId(), meta: start(), visitor_token };
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
      if (token || pending.length || leaving) {
        const wait = Math.min(30000, 1000 * 2 ** retry++) * (0.5 + Math.random() / 2);
        setStatus("Reconnecting…");
        setTimeout(connect, wait);
      }
    };
  };
  const visitorId = () => get("nudge_v_" + c.key) || rid();

  const toggle = (show: boolean) => {
    if (open == show) return;
    open = show;
    panel.style.display = show ? "flex" : "none";
    attr(launcherBtn, "aria-expanded", "" + show);
    c.emit("chat:open", show);
    if (show) {
      if (token) connect();
      else if (!view) {
        showWelcome();
        // On another device, or after the flag was cleared: a chat may be open.
        if (secured && vtoken && !ws) probe();
      }
      input.focus();
      markRead();
      marks();
    } else {
      confirmBar.style.display = "none";
      unzoom();
      launcherBtn.focus();
    }
  };
  launcherBtn.onclick = () => toggle(!open);
  closeBtn.onclick = () => toggle(false);
  endBtn.onclick = () => {
    confirmBar.style.display = "";
    endNo.focus();
  };
  endNo.onclick = () => ((confirmBar.style.display = "none"), input.focus());
  endYes.onclick = () => {
    confirmBar.style.display = "none";
    frame({ type: "close", id: "close" });
  };
  newChat.onclick = () => (restart(), input.focus());
  panel.onkeydown = (e) => {
    if (e.key != "Escape") return;
    if (lightbox) unzoom();
    else if (confirmBar.style.display == "") confirmBar.style.display = "none";
    else toggle(false);
  };
  sendBtn.onclick = () => {
    if (send(input.value)) input.value = "";
  };
  input.onkeydown = (e) => {
    if (e.key == "Enter" && !e.shiftKey) {
      e.preventDefault();
      sendBtn.click();
    }
  };
  // The agent sees what is typed as it is typed: at most every 1.5 s, and
  // the last state once the visitor pauses.
  const typing = () => {
    typingAt = Date.now();
    frame({ type: "typing", text: input.value.slice(-200) });
  };
  input.oninput = () => {
    if (!ws) return;
    clearTimeout(typingTimer);
    if (Date.now() - typingAt > 1500) typing();
    else typingTimer = window.setTimeout(typing, 1500);
  };
  addEventListener("visibilitychange", markRead);
  // Leaving the page closes the socket at once (the agent learns the visitor
  // has gone); a page restored from the back-forward cache reconnects.
  addEventListener("pagehide", () => {
    const s = ws;
    if (s) {
      s.onclose = null;
      ws = null;
      s.close(1000);
    }
  });
  addEventListener("pageshow", (e) => e.persisted && token && connect());

  // A conversation in progress continues on every page of the site: what
  // this browser kept shows at once, then the server sends what came since.
  if (token) {
    try {
      const kept = JSON.parse(get(LOG) || "null");
      if (kept?.m) {
        kept.m.forEach((m: Msg) => render(m, true));
        cache.push(...kept.m);
      }
      if (kept?.view) state(kept.view);
    } catch {}
    connect();
  }

  return (cmd, args) => {
    const a = args[0] as any;
    // What the page says of the visitor reaches the agent with the chat.
    if (cmd == "set" && a && typeof a == "object") {
      Object.assign(vars, a);
      told.vars = 0;
    }
    if (cmd == "token" && typeof a == "string") {
      vtoken = a;
      if (secured && !token && !ws && get(OPEN)) probe();
    }
    if (cmd == "identify" && a?.id) {
      ident = { id: String(a.id), email: String(a.email || ""), name: String(a.name || ""), hash: String(args[1] || "") };
      told.ident = 0;
    }
    tell();
    if (cmd != "chat") return;
    if (a == "open") toggle(true);
    else if (a == "close") toggle(false);
    else if (a && typeof a == "object") {
      // nudge('chat', {offer: {...}, vars: {...}}): an accepted offer opens
      // the chat and starts it at once: the visitor already said yes.
      meta = a as Record<string, unknown>;
      toggle(true);
      if (!token && !ws) {
        welcomeBox?.remove();
        welcomeBox = null;
        connect();
      }
    }
  };
});
