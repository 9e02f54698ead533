// The analytics module: visitor, visit and tab ids; pageviews (SPA history
// changes included), page leave with engaged time and scroll depth, custom
// events, identify and set; batched to POST /collect, with sendBeacon when the
// page hides. If the collector cannot be reached it switches itself off for the
// visit, quietly. Budget: 3 KB gzipped.
import type { Ctx } from "./types";

const VISIT_MS = 30 * 60 * 1000;
const MAX_BATCH = 20;

interface Visit {
  i: string; // id
  t: number; // last activity, ms
  n: number; // number of this visit for the visitor
}

window.nudge?.d?.("analytics", (c: Ctx) => {
  const url = c.base + "/collect";
  const keep = !c.cfg.cookieless;
  const now = () => Date.now();
  const rid = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => (b % 36).toString(36)).join("");
  const get = (s: Storage | null, k: string) => {
    try {
      return (keep && s?.getItem("nudge_" + k)) || null;
    } catch {
      return null;
    }
  };
  const put = (s: Storage | null, k: string, v: string | null) => {
    try {
      if (keep && s) v === null ? s.removeItem("nudge_" + k) : s.setItem("nudge_" + k, v);
    } catch {}
  };
  const ls = keep ? localStorage : null;
  const ss = keep ? sessionStorage : null;

  let visitor = get(ls, "v") || rid();
  put(ls, "v", visitor);
  const tab = get(ss, "t") || rid();
  put(ss, "t", tab);
  let memo: Visit | undefined; // the visit when nothing may be stored

  // visit returns the current visit, starting a new one after 30 minutes of
  // inactivity in any tab (localStorage is shared by the site's tabs).
  const visit = (touch?: boolean): Visit => {
    let v: Visit | undefined = memo;
    try {
      v = JSON.parse(get(ls, "s") || "null") || memo;
    } catch {}
    const t = now();
    if (!v || t - v.t > VISIT_MS) v = { i: rid(), t, n: (v?.n || 0) + 1 };
    if (touch) v.t = t;
    memo = v;
    put(ls, "s", JSON.stringify(v));
    return v;
  };

  let off = get(ls, "off") == visit().i;
  let queue: Record<string, unknown>[] = [];
  let timer = 0;

  const stop = () => {
    off = true;
    queue = [];
    put(ls, "off", visit().i);
  };
  const flush = (beacon?: boolean) => {
    clearTimeout(timer);
    timer = 0;
    if (off || !queue.length) return;
    const v = visit();
    const body = JSON.stringify({
      site: c.key,
      visitor: keep ? visitor : "",
      visit: v.i,
      visit_n: v.n,
      tab,
      sent: now(),
      lang: navigator.language,
      screen: screen.width + "x" + screen.height,
      events: queue,
    });
    queue = [];
    if (beacon && navigator.sendBeacon) {
      navigator.sendBeacon(url, body);
      return;
    }
    fetch(url, { method: "POST", body, keepalive: true, credentials: "omit" }).then(
      (r) => r.status >= 400 && r.status != 429 && r.status != 503 && stop(),
      stop,
    );
  };
  const send = (type: string, e: Record<string, unknown> = {}) => {
    if (off) return;
    visit(true);
    e.type = type;
    e.ts = now();
    e.url ||= location.href;
    queue.push(e);
    if (queue.length >= MAX_BATCH) flush();
    else timer ||= window.setTimeout(flush, 2000);
  };

  // Engaged time counts only while the page is visible.
  let shown = now();
  let engaged = 0;
  let scroll = 0;
  let page = location.href;
  const measure = () => {
    const d = document.documentElement;
    const depth = Math.round(((scrollY + innerHeight) / Math.max(d.scrollHeight, 1)) * 100);
    scroll = Math.max(scroll, Math.min(depth, 100));
  };
  const leave = () => {
    if (shown) engaged += now() - shown;
    measure();
    send("leave", { url: page, engaged_ms: engaged, scroll });
    engaged = 0;
    shown = 0;
  };
  const pageview = (ref: string) => {
    page = location.href;
    scroll = 0;
    engaged = 0;
    shown = document.visibilityState == "visible" ? now() : 0;
    measure();
    send("pageview", { ref, title: document.title });
    c.emit("pageview", page);
  };
  const navigated = () => {
    if (location.href == page) return;
    const from = page;
    leave();
    pageview(from);
  };

  addEventListener("scroll", measure, { passive: true });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState == "hidden") {
      leave();
      flush(true);
    } else shown = now();
  });
  addEventListener("pagehide", () => flush(true));
  for (const m of ["pushState", "replaceState"] as const) {
    const orig = history[m];
    history[m] = function (this: History, ...a: Parameters<History["pushState"]>) {
      orig.apply(this, a);
      navigated();
    };
  }
  addEventListener("popstate", navigated);
  pageview(document.referrer);

  return (cmd, args) => {
    const [a, b] = args;
    if (cmd == "consent") {
      off = !a;
      if (!a) {
        stop();
        for (const k of ["v", "s", "off"]) put(ls, k, null);
        put(ss, "t", null);
        visitor = rid();
      }
    } else if (cmd == "track") send("event", { name: a, props: b });
    else if (cmd == "identify") send("identify", { user: a, hash: b });
    else if (cmd == "set") send("set", { vars: a });
    else if (cmd == "page") navigated();
    else if (cmd == "_o") send("offer", { offer: a }); // an offer's step, from the guide
  };
});
