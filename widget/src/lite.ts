// The measuring loader, served at /l/{siteKey}.js to a site whose pages only
// measure (no chat, no live rules, no pushed offers): one request, with the
// analytics in it and the site's settings built in (the server serves the
// variant of its privacy settings and writes in its key and its URL). It
// keeps the loader's API: early calls replayed, consent and Do Not Track, on,
// and the guide loaded when the page makes an offer itself. Every command goes
// to both modules; each ignores what is not its own. Budget: 1,400 bytes
// gzipped, everything included.
import { measure } from "./measure";
import type { Ctx, Handler, Nudge, SiteConfig } from "./types";

/** Defined at build time: the site's key and this server's URL (placeholders the server replaces), the site's privacy settings. */
declare const KEY: string, BASE: string, DNT: boolean, CONSENT: boolean, COOKIELESS: boolean;

const w = window;
const me = document.currentScript as HTMLScriptElement | null;

if (me && !w.nudge?.l) {
  const early = w.nudge?.q || [];
  // The settings the guide needs (theme, time zone…) come with it.
  const cfg = {} as SiteConfig;
  let consent: boolean | undefined;
  if (CONSENT)
    try {
      consent = !!localStorage["nudge_consent_" + KEY];
    } catch {}
  const on: Record<string, ((d: unknown) => void)[]> = {};
  const may = () => {
    const n = navigator as Navigator & { globalPrivacyControl?: boolean };
    const dnt = DNT && (n.doNotTrack == "1" || n.globalPrivacyControl);
    return CONSENT ? !dnt && !!consent : !dnt;
  };
  const ctx: Ctx = { key: KEY, base: BASE, cfg, may, emit: (e, d) => on[e]?.forEach((f) => f(d)) };
  // Each module's handler once it runs, and the commands (at most 100) that wait for it.
  const h: Record<string, Handler> = {};
  const q: Record<string, unknown[][]> = { a: [], g: [] };
  const start = (m: string, f: (c: Ctx) => Handler) => {
    const run = (h[m] = f(ctx));
    q[m]!.forEach((a) => run(a[0] as string, a.slice(1)));
    q[m] = [];
  };
  let guide = 0;
  const api = ((...args: unknown[]) => {
    const [cmd, a, b] = args as [string, unknown, unknown];
    if (cmd == "on") (on[a as string] ||= []).push(b as (d: unknown) => void);
    else if (cmd == "consent") {
      // Kept only where the site asks for consent: elsewhere it changes
      // nothing on the next page. Withdrawn: what the browser keeps goes.
      try {
        if ((consent = !!a)) CONSENT && (localStorage["nudge_consent_" + KEY] = 1);
        else for (const k in localStorage) !k.indexOf("nudge_") && k.endsWith("_" + KEY) && delete localStorage[k];
      } catch {}
      if (!a) q.a = [];
    }
    for (const m of "ag") h[m] ? h[m](cmd, args.slice(1)) : q[m]!.length < 100 && q[m]!.push(args);
    if (cmd == "consent" && !h.a && may()) start("a", measure);
    // The guide, for an offer the page makes: /l/{key}.js?guide is the
    // site's settings (into api.c) and the guide module, in one script.
    if (/^(offer|accept|decline)$/.test(cmd) && !guide++) {
      const s = document.createElement("script");
      s.src = me.src + "?guide";
      if (me.nonce) s.nonce = me.nonce;
      document.head.appendChild(s);
    }
  }) as Nudge;
  api.l = 1;
  api.c = cfg;
  api.d = (_, f) => start("g", f); // only the guide registers
  w.nudge = api;
  for (const a of early) api(...(a as [string]));
  if (may()) start("a", measure);
}
