// The guide module: the site's published rules, evaluated in the page (no
// round trip) whenever a fact changes (every second for the clocks; at once
// for scrolling, exit intent, navigation, events and variables). One offer
// at a time, by priority, within each rule's caps, cool-downs and schedule;
// a chat offer only while its queue has an agent free and the estimated wait
// is under the rule's limit. Offers pushed by the site's backend arrive by a
// short poll while the page is visible. Every step is an analytics event
// (qualified, shown, accepted, declined, dismissed, chat) attributed to the
// rule and its variant; the control group qualifies and is counted but sees
// nothing. Nothing is rendered as HTML. Budget: 6 KB gzipped.
import type { Ctx, Template } from "./types";
import { allowed, compile, local, prep, timeFacts, variant, type Compiled, type Facts, type History as Hist, type Rule } from "./rules";
import { host } from "./ui";

const VISIT_MS = 30 * 60 * 1000;

const CSS =
  "*{box-sizing:border-box;font:14px/1.4 system-ui,sans-serif}" +
  ".o{position:fixed;bottom:88px;width:320px;max-width:calc(100vw - 24px);background:#fff;color:#111;border-radius:12px;box-shadow:0 8px 30px #0004;padding:16px;z-index:2147483001}" +
  "@media (prefers-reduced-motion:no-preference){.o{animation:u .2s}@keyframes u{from{opacity:0;transform:translateY(8px)}}}" +
  "@media (max-width:480px){.o{left:12px!important;right:12px!important;width:auto}}" +
  "h2{margin:0 32px 6px 0;font-size:16px}p{margin:0 0 12px;white-space:pre-wrap;overflow-wrap:anywhere}img{width:100%;border-radius:8px}" +
  ".b{display:flex;gap:8px;flex-wrap:wrap}button{border:0;border-radius:8px;padding:9px 14px;cursor:pointer;color:#fff;min-height:40px}" +
  ".s{background:#eee!important;color:#111}.x{position:absolute;top:4px;right:4px;font-size:20px;width:40px;background:none;color:#555}.t{position:fixed;z-index:2147483000}" +
  ".r{position:absolute;width:1px;height:1px;overflow:hidden}";

/** What the page remembers: the visit and, per rule, its history. */
interface State {
  s: number; // visit start, ms
  t: number; // last activity, ms
  n: number; // visit number
  p: number; // pageviews this visit
  u: Record<string, string>; // the visit's UTM fields
  e: Record<string, number>; // events this visit
  x: Record<string, string | number | boolean>; // custom variables
  d?: 1; // identified
  id?: string; // the identified user id, for pushed offers
  h?: string; // and its hash
  r: Record<string, Hist & { b?: number }>; // per rule; b: the bucket when no visitor id is kept
}

/** An offer being made. */
interface Offer {
  id: string; // rule id, "page" (nudge('offer')), "push" or "invite"
  v?: number;
  variant: string;
  a: Record<string, any>; // the action
  ui: boolean;
}

window.nudge?.d?.("guide", (c: Ctx) => {
  const n = window.nudge!;
  const cfg = c.cfg;
  const keep = !cfg.cookieless;
  const color = cfg.theme?.color || "#2563eb";
  const side = cfg.theme?.position == "left" ? "left" : "right";
  const now = () => Date.now();
  const read = (k: string) => {
    try {
      return c.may() ? localStorage.getItem(k) : null;
    } catch {
      return null;
    }
  };
  const write = (k: string, v: string | null) => {
    try {
      if (c.may()) v === null ? localStorage.removeItem(k) : localStorage.setItem(k, v);
    } catch {}
  };

  // State: in localStorage when the site's privacy settings allow (under
  // consent mode, only after consent: until then caps hold for the page view).
  let st: State;
  try {
    st = JSON.parse(read("nudge_g_" + c.key)!);
  } catch {}
  st! ||= { s: 0, t: 0, n: 0, p: 0, u: {}, e: {}, x: {}, r: {} };
  const save = () => write("nudge_g_" + c.key, JSON.stringify(st));
  const touch = () => {
    const t = now();
    if (t - st.t > VISIT_MS) {
      const q = new URLSearchParams(location.search);
      const u: Record<string, string> = {};
      for (const k of ["source", "medium", "campaign", "term", "content"]) {
        const v = q.get("utm_" + k);
        if (v) u[k] = v;
      }
      st = { ...st, s: t, n: st.n + 1, p: 0, u, e: {} };
      for (const k in st.r) st.r[k] = { ...st.r[k], n: 0, d: false };
    }
    st.t = t;
  };
  const visitor = () => (keep && read("nudge_v_" + c.key)) || "";
  const hidden = () => document.visibilityState == "hidden";
  const get = (path: string, q = "") => fetch(c.base + path + encodeURIComponent(c.key) + q, { credentials: "omit" });

  // Facts of the page, kept current by listeners.
  let shownAt = now();
  let lastInput = now();
  let scroll = 0;
  let exit = false;
  let ref = document.referrer;
  let page = location.href;
  let avail: Record<string, { agents_available: number; estimated_wait: number }> = {};
  let availAt = 0;
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "edge" : /OPR\//.test(ua) ? "opera" : /SamsungBrowser/.test(ua) ? "samsung" : /Firefox|FxiOS/.test(ua) ? "firefox" : /Chrome|CriOS/.test(ua) ? "chrome" : /Safari/.test(ua) ? "safari" : "other";
  const coarse = matchMedia("(pointer:coarse)").matches;
  const device = !coarse ? "desktop" : Math.min(screen.width, screen.height) >= 600 ? "tablet" : "mobile";
  const facts = (): Facts => {
    const t = now();
    const f: Facts = {
      "page.url": location.href.split("#")[0],
      "page.path": location.pathname,
      "page.title": document.title,
      "page.referrer": ref || undefined,
      "page.seconds": (t - shownAt) / 1000,
      "page.scroll": scroll,
      "page.exit_intent": exit,
      "page.idle_seconds": (t - lastInput) / 1000,
      "visit.seconds": (t - st.s) / 1000,
      "visit.pageviews": st.p,
      "visit.number": st.n,
      "visitor.returning": st.n > 1,
      "visitor.identified": !!st.d,
      "visitor.language": navigator.language,
      "visitor.device": device,
      "visitor.browser": browser,
      "visitor.country": cfg.country || undefined,
      ...timeFacts(local(t, cfg.zone || "UTC")),
    };
    for (const k in st.u) f["utm." + k] = st.u[k];
    for (const k in st.e) f["events." + k] = st.e[k];
    for (const k in st.x) f["vars." + k] = st.x[k];
    for (const q in avail) {
      f["queue." + q + ".agents_available"] = avail[q]!.agents_available;
      if (avail[q]!.estimated_wait >= 0) f["queue." + q + ".estimated_wait"] = avail[q]!.estimated_wait;
    }
    return prep(f);
  };

  let rules: Compiled[] = [];
  const setRules = (rs: Rule[] | undefined) => {
    rules = (Array.isArray(rs) ? rs : [])
      .map(compile)
      .filter((r): r is Compiled => !!r)
      .sort((a, b) => b.r.priority - a.r.priority || (a.r.id < b.r.id ? -1 : 1));
  };
  setRules(cfg.rules);
  let templates: Record<string, Template> = cfg.templates || {};

  // Availability, from memory on the server, cached a few seconds.
  let fetching = false;
  const fresh = () => now() - availAt < 5000;
  const refresh = () => {
    if (fetching) return;
    fetching = true;
    get("/availability/")
      .then((r) => r.json())
      .then((d) => (avail = d.queues || {}))
      .catch(() => {})
      .finally(() => {
        // A failed answer is not asked again for a while either: a server
        // in trouble must not get a request a second from every open page.
        availAt = now();
        fetching = false;
        decide();
      });
  };
  // canAnswer: a chat offer's queue has an agent free and a short enough wait.
  const canAnswer = (a: Record<string, any>) => {
    const q = avail[String(a.queue || "").toLowerCase()];
    return !!q && c.cfg.modules.includes("chat") && q.agents_available > 0 && (!a.max_wait_seconds || (q.estimated_wait >= 0 && q.estimated_wait <= a.max_wait_seconds));
  };

  const hist = (id: string) => (st.r[id] ||= {});
  const track = (o: Offer, stage: string) => {
    n("_o", { rule: o.id, v: o.v || 0, variant: o.variant, stage });
  };
  const detail = (o: Offer) => ({ ...o.a, id: o.id });

  // The offer on screen (or waiting for the page's own UI), and the entry point.
  let cur: Offer | null = null;
  let card: HTMLElement | null = null;
  let tab: { id: string; el: HTMLElement } | null = null;
  let busy = false; // the chat panel is open
  let chatFor: Offer | null = null; // the accepted offer whose chat is starting
  const ui = host("guide", CSS);
  const live = ui.root.appendChild(document.createElement("div"));
  live.className = "r";
  live.setAttribute("aria-live", "polite");
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text: string, parent: Node, cls = "") => {
    const e = document.createElement(tag);
    e.textContent = text;
    e.className = cls;
    parent.appendChild(e);
    return e;
  };
  const button = (label: string, parent: Node, act: () => void, secondary?: boolean) => {
    const b = el("button", label, parent, secondary ? "s" : "");
    b.style.background = color;
    b.onclick = act;
    return b;
  };
  const close = () => {
    card?.remove();
    card = null;
  };
  const end = (stage: string) => {
    const o = cur;
    if (!o) return;
    close();
    cur = null;
    if (stage == "declined") {
      const h = hist(o.id);
      h.d = true;
      h.x = now();
      save();
    }
    track(o, stage);
    c.emit("offer:" + stage, detail(o));
  };
  // chat opens the chat panel routed to the offer's queue, with why the visitor was invited.
  const chat = (o: Offer, queue?: string) => {
    const a = o.a;
    n("chat", { offer: { id: o.id, queue: queue || a.queue || "", data: a.metadata } });
    chatFor = o;
  };
  const accept = (queue?: string) => {
    const o = cur;
    if (!o) return;
    end("accepted");
    if (o.a.type != "content_offer" || queue !== undefined) chat(o, queue);
  };

  // show renders an offer: a chat offer's words, or its template, with text nodes only.
  const show = (o: Offer) => {
    close();
    const a = o.a;
    const t: Template | undefined = a.type == "chat_offer" ? { title: a.title || "", body: a.text } : templates[a.template];
    if (!t) return;
    const box = (card = el("div", "", ui.root, "o"));
    box.style[side] = "20px";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", t.title || "Offer");
    const x = button("×", box, () => end("dismissed"), true);
    x.className = "x"; // grey on the white card (buttons are white on the site's colour)
    x.setAttribute("aria-label", "Close");
    if (t.image_url && /^https?:\/\//i.test(t.image_url)) {
      const img = el("img", "", box);
      img.src = t.image_url;
      img.alt = t.image_alt || "";
    }
    if (t.title) el("h2", t.title, box);
    if (t.body) el("p", t.body, box);
    const row = el("div", "", box, "b");
    if (a.type == "chat_offer") {
      button(a.accept_label || "Start chat", row, () => accept());
      button(a.decline_label || "No thanks", row, () => end("declined"), true);
    } else
      for (const b of (t.buttons || []).slice(0, 3)) {
        button(b.label, row, () => {
          if (b.action == "chat") accept(b.queue || "");
          else if (b.action == "link" && /^https?:\/\//i.test(b.url || "")) {
            end("accepted");
            location.assign(b.url!);
          } else end("declined");
        }, b.action == "dismiss");
      }
    box.onkeydown = (e) => e.key == "Escape" && end("dismissed");
    live.textContent = (t.title || "") + " " + (t.body || "");
    const f = document.activeElement as HTMLElement | null;
    // Focus moves to the offer, unless the visitor is typing somewhere.
    if (!f || !(/^(INPUT|TEXTAREA|SELECT)$/.test(f.tagName) || f.isContentEditable)) (row.querySelector("button") || x).focus();
    const h = hist(o.id);
    if (o.v) {
      h.n = (h.n || 0) + 1;
      h.s = now();
      save();
    }
    track(o, "shown");
    c.emit("offer:shown", detail(o));
  };

  const make = (o: Offer) => {
    cur = o;
    c.emit("offer", detail(o));
    if (o.ui) show(o);
  };

  // entry shows the highest qualifying entry point as a tab on the page's edge.
  const entry = (r: Compiled | undefined) => {
    if (tab?.id == r?.r.id) return;
    tab?.el.remove();
    tab = null;
    if (!r) return;
    const a = r.r.action;
    const o: Offer = { id: r.r.id, v: r.r.v, variant: "offer", a: { ...a, type: a.template ? "content_offer" : "chat_offer" }, ui: true };
    const b = button(a.label, ui.root, () => (a.template ? make(o) : (track(o, "accepted"), chat(o))));
    b.className = "t";
    b.style.cssText += ";top:45%;" + (a.position == "left" ? "left" : "right") + ":0";
    tab = { id: r.r.id, el: b };
    track(o, "shown");
  };

  // decide makes at most one offer: the first rule by priority that
  // qualifies now. Its control group is counted and shown nothing.
  const decide = () => {
    if (hidden()) return;
    const f = facts();
    const t = now();
    const lt = local(t, cfg.zone || "UTC");
    let ep: Compiled | undefined;
    for (const r of rules) {
      const a = r.r.action;
      if (!r.m(f) || !r.s(lt)) continue;
      if (a.type == "entry_point") {
        ep ||= r;
        continue;
      }
      if (cur || busy || !allowed(r.r, hist(r.r.id), t)) continue;
      if (a.type == "chat_offer") {
        if (!fresh()) {
          refresh();
          continue;
        }
        if (!canAnswer(a)) continue;
      }
      const h = hist(r.r.id);
      let vid = visitor();
      if (!vid) vid = "b" + (h.b ??= Math.floor(Math.random() * 1e9));
      const o: Offer = { id: r.r.id, v: r.r.v, variant: variant(r.r, vid), a, ui: true };
      track(o, "qualified");
      if (o.variant == "control") {
        h.n = (h.n || 0) + 1;
        h.s = t;
        save();
      } else make(o);
      break;
    }
    entry(ep);
  };
  let queued = 0;
  const soon = () => (queued ||= requestAnimationFrame(() => ((queued = 0), decide())));

  // Listeners: the facts that change without a command.
  const input = () => (lastInput = now());
  addEventListener(
    "scroll",
    () => {
      input();
      const d = document.documentElement;
      const depth = Math.min(100, Math.round(((scrollY + innerHeight) / Math.max(d.scrollHeight, 1)) * 100));
      // On touch screens, a quick scroll back up after reading is the exit intent.
      if (coarse && scroll > 30 && depth < scroll - 25) exit = true;
      if (depth > scroll || exit) ((scroll = Math.max(scroll, depth)), soon());
    },
    { passive: true },
  );
  for (const e of ["pointerdown", "keydown", "touchstart", "pointermove"]) addEventListener(e, input, { passive: true });
  document.addEventListener("mouseout", (e) => {
    if (!e.relatedTarget && e.clientY <= 0 && !exit) ((exit = true), soon());
  });
  const pageview = () => {
    touch();
    st.p++;
    save();
    shownAt = lastInput = now();
    scroll = 0;
    exit = false;
    entry(undefined);
    soon();
  };
  const navigated = () => {
    if (location.href == page) return;
    ref = page;
    page = location.href;
    if (cur) end("dismissed");
    pageview();
    revalidate();
  };
  for (const m of ["pushState", "replaceState"] as const) {
    const orig = history[m];
    history[m] = function (this: History, ...a: Parameters<History["pushState"]>) {
      orig.apply(this, a);
      navigated();
    };
  }
  addEventListener("popstate", navigated);
  document.addEventListener("visibilitychange", () => {
    if (!hidden()) {
      revalidate();
      poll();
      soon();
    }
  });
  n("on", "chat:open", (o: unknown) => (busy = !!o));
  n("on", "chat:started", () => {
    if (chatFor) track(chatFor, "chat");
    chatFor = null;
  });

  // A publish reaches open pages: the configuration is revalidated (a 304
  // when unchanged) on navigation, on return to the tab, and every minute.
  let checked = now();
  const revalidate = () => {
    if (now() - checked < 10000) return;
    checked = now();
    get("/config/")
      .then((r) => (r.ok ? r.json() : Promise.reject()))
      .then((d) => {
        setRules(d.rules);
        templates = d.templates || {};
        soon();
      })
      .catch(() => {});
  };

  // Offers pushed by the site's backend: a short poll while the page is visible.
  let polled = 0;
  const poll = () => {
    if (!cfg.push || hidden() || now() - polled < 3000) return;
    polled = now();
    const q = new URLSearchParams({ visitor: visitor() });
    if (st.id && st.h) (q.set("user", st.id), q.set("hash", st.h));
    get("/offers/", "?" + q)
      .then((r) => (r.status == 200 ? r.json() : null))
      .then((d) => {
        const p = d?.offers?.[0];
        if (p && !cur) make({ id: p.rule, variant: "offer", a: { type: "chat_offer", ...p }, ui: p.ui !== false });
      })
      .catch(() => {});
  };

  pageview();
  setInterval(() => {
    if (hidden()) return;
    touch();
    decide();
    poll();
    if (now() - checked > 60000) revalidate();
  }, 1000);
  if (rules.some((r) => JSON.stringify(r.r.when).includes('"queue.'))) refresh();

  return (cmd, args) => {
    const [a, b, o] = args as [any, any, any];
    if (cmd == "track" && typeof a == "string") st.e[a] = (st.e[a] || 0) + 1;
    else if (cmd == "set" && a && typeof a == "object") Object.assign(st.x, a);
    else if (cmd == "identify" && a?.id) {
      st.d = 1;
      st.id = String(a.id);
      st.h = String(b || "");
    } else if (cmd == "page") navigated();
    else if (cmd == "offer") {
      // nudge('offer', queue, metadata, {ui}): Pega's proactive offer, from page code.
      if (cur) end("dismissed");
      const meta = b && typeof b == "object" ? b : {};
      make({ id: "page", variant: "offer", a: { type: "chat_offer", queue: String(a || ""), text: meta.text || "Can we help? Chat with us.", metadata: meta }, ui: o?.ui !== false });
    } else if (cmd == "accept") accept();
    else if (cmd == "decline") end("declined");
    touch();
    save();
    soon();
  };
});
