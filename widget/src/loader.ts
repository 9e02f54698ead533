// The loader, served at /l/{siteKey}.js. It replaces the stub's queueing
// nudge(...) with the real one, fetches the site's configuration, loads the
// modules the site needs (analytics at once unless Do Not Track or missing
// consent forbid it; the guide when rules are live or offers may be pushed;
// the chat launcher where the site has chat), and
// routes each command to its modules, queueing commands until their module
// has arrived. The guide and the chat panel also load on demand, when a
// command needs them. Budget: 1 KB gzipped.
import type { Ctx, Handler, Nudge, SiteConfig } from "./types";

/** Module name -> the content hash in its bundle's name, defined at build time. */
declare const MODULES: Record<string, string>;

const w = window;
const me = document.currentScript as HTMLScriptElement | null;

if (me && !w.nudge?.l) {
  const src = new URL(me.src);
  const base = src.origin;
  const raw = src.pathname.slice(3, -3); // the key as the URL carries it
  const key = decodeURIComponent(raw);
  const early = w.nudge?.q || [];
  const handlers: Record<string, Handler> = {};
  const pending: Record<string, unknown[][]> = {};
  const loading: Record<string, 1> = {};
  const listeners: Record<string, ((d: unknown) => void)[]> = {};
  // Which modules take a command: analytics, guide, chat; a capital loads the module for it.
  const names: Record<string, string> = { a: "analytics", g: "guide", c: "chat" };
  const owner: Record<string, string> = { token: "c", identify: "agc", set: "agc", track: "ag", page: "ag", consent: "ag", _o: "a", chat: "C", offer: "G", accept: "G", decline: "G" };
  const want: Record<string, 1> = {};
  let cfg: SiteConfig | undefined;
  let vt = 0;
  let consent: boolean | undefined;
  const ls = () => localStorage;
  // Storage keys end with the site's key: two sites on one origin share nothing.
  const ck = "nudge_consent_" + key;
  try {
    consent = !!ls()[ck];
  } catch {}

  const load = (name: string) => {
    if (loading[name] || !cfg) return;
    loading[name] = 1;
    // An inserted script runs async by itself.
    const s = document.createElement("script");
    s.src = base + "/w/" + name + "." + MODULES[name] + ".js";
    if (me.nonce) s.nonce = me.nonce;
    document.head.appendChild(s);
  };
  // may: the browser may keep and send what nudge measures (consent given where
  // the site asks for it; no Do Not Track where the site honours it).
  const may = () => {
    const n = navigator as Navigator & { globalPrivacyControl?: boolean };
    return !!cfg && !(cfg.dnt && (n.doNotTrack == "1" || n.globalPrivacyControl)) && (!cfg.consent || !!consent);
  };
  const analyticsAllowed = () => cfg?.modules.includes("analytics") && may();
  // demand loads the modules commands asked for (the chat only where the site has chat).
  const demand = () => {
    for (const m in want) if (m != "chat" || cfg?.modules.includes(m)) load(m);
  };
  const run = (args: unknown[]) => {
    const [cmd, ...rest] = args as [string, ...unknown[]];
    if (cmd == "on") (listeners[rest[0] as string] ||= []).push(rest[1] as (d: unknown) => void);
    // A secured site's chat shows once the page gives a visitor token.
    if (cmd == "token" && !vt++ && cfg?.secured) cfg.modules.push("chat"), load("launcher");
    if (cmd == "consent") {
      consent = !!rest[0];
      // Withdrawn: everything this site keeps in the browser goes (the
      // visitor id, offer caps, the chat's token and log).
      try {
        if (consent) ls()[ck] = 1;
        else for (const k in ls()) !k.indexOf("nudge_") && k.endsWith("_" + key) && delete ls()[k];
      } catch {}
      if (!consent) pending.analytics = [];
      else if (analyticsAllowed()) load("analytics");
    }
    for (const l of owner[cmd] || "") {
      const m = names[l.toLowerCase()]!;
      if (l < "a") want[m] = 1;
      const h = handlers[m];
      // Bounded: a module that never loads (no consent, Do Not Track) must not grow memory.
      h ? h(cmd, rest) : (pending[m] ||= []).length < 100 && pending[m]!.push(args);
    }
    demand();
  };

  const api = ((...args: unknown[]) => run(args)) as Nudge;
  api.l = 1;
  api.d = (name, factory) => {
    const ctx: Ctx = {
      key,
      base,
      cfg: cfg as SiteConfig,
      may,
      emit: (e, d) => listeners[e]?.forEach((f) => f(d)),
    };
    const h = (handlers[name] = factory(ctx));
    (pending[name] || []).forEach((a) => h(a[0] as string, a.slice(1)));
    pending[name] = [];
  };
  w.nudge = api;
  for (const a of early) run([...(a as unknown[])]);

  fetch(base + "/config/" + raw, { credentials: "omit" })
    .then((r) => (r.ok ? r.json().then((c) => ((c.country = r.headers.get("x-nudge-country")), c)) : Promise.reject()))
    .then((c: SiteConfig) => {
      cfg = c;
      if (c.secured && !vt) c.modules = c.modules.filter((m) => m != "chat");
      if (analyticsAllowed()) load("analytics");
      if (c.modules.includes("guide")) load("guide");
      if (c.modules.includes("chat")) load("launcher");
      demand();
    })
    .catch(() => {});
}
