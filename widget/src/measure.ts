// What the analytics module does: a visitor id (the server makes visits of
// its activity, 30 minutes idle ending one); pageviews (SPA history changes
// included), page leave with engaged time and scroll depth, custom events,
// identify and set; batched to POST /collect (a keepalive fetch, which
// outlives the page as a beacon does). If the collector cannot be reached it switches itself off for half
// an hour, quietly. The analytics module registers it with the
// loader; the loader of a site that only measures carries it itself, so every
// byte here is paid on every page view: it is written to minify small.
import type { Ctx, Handler } from "./types";

/** Defined at build time: whether this is the measuring loader, and then whether the site keeps no ids. */
declare const LITE: boolean, COOKIELESS: boolean;

type Event = Record<string, unknown>;

export const measure = (c: Ctx): Handler => {
  const now = () => Date.now();
  // An id to tell visitors apart, not a secret.
  const rid = () => (Math.random() + "").slice(2);
  // Only where the site keeps ids. Whether it does is written out where it is
  // asked: in the measuring loader it is a constant, and the question folds away.
  // Storage's named properties are its items; it may throw (a sandboxed
  // frame, storage turned off). Keys end with the site's key: two sites on
  // one origin never share a visitor.
  const get = (k: string): string | 0 | undefined => {
    try {
      return (LITE ? !COOKIELESS : !c.cfg.cookieless) ? localStorage["nudge_" + k + "_" + c.key] : 0;
    } catch {
      return;
    }
  };
  // (Erasing is the loader's: consent withdrawn erases every key of the site.)
  const put = (k: string, v: string) => {
    try {
      (LITE ? !COOKIELESS : !c.cfg.cookieless) && (localStorage["nudge_" + k + "_" + c.key] = v);
    } catch {}
  };

  let visitor = get("v") as string;
  visitor || put("v", (visitor = rid()));
  let off = now() - +get("o")! < 18e5; // switched off within the last half hour
  let queue: Event[] = [];
  let timer = 0;

  const stop = () => {
    off = true;
    queue = [];
    put("o", "" + now());
  };
  const flush = () => {
    clearTimeout(timer);
    timer = 0;
    if (off || !queue.length) return;
    const body = JSON.stringify({
      site: c.key,
      visitor: (LITE ? !COOKIELESS : !c.cfg.cookieless) ? visitor : "",
      sent: now(),
      screen: screen.width + "x" + screen.height,
      events: queue,
    });
    queue = [];
    // No credentials leave a site's origin; on this server's own (the demo) its cookies are ignored.
    fetch(c.base + "/collect", { method: "POST", body, keepalive: true }).then((r) => r.status > 399 && r.status - 429 && r.status - 503 && stop(), stop);
  };
  const send = (type: string, e: Event = {}) => {
    if (off) return;
    e.type = type;
    e.ts = now();
    e.url ||= location.href;
    queue.push(e) > 19 ? flush() : (timer ||= setTimeout(flush, 2e3) as unknown as number);
  };

  // Engaged time counts only while the page is visible.
  let shown = now();
  let engaged = 0;
  let scroll = 0;
  let page = location.href;
  const depth = () => {
    scroll = Math.max(scroll, Math.min(100, ((scrollY + innerHeight) * 100) / (document.documentElement.scrollHeight || 1)) | 0);
  };
  const leave = () => {
    if (shown) engaged += now() - shown;
    depth();
    send("leave", { url: page, engaged_ms: engaged, scroll });
    engaged = shown = 0;
  };
  const pageview = (ref: string) => {
    page = location.href;
    scroll = engaged = 0;
    shown = document.hidden ? 0 : now();
    depth();
    send("pageview", { ref, title: document.title });
    c.emit("pageview", page);
  };
  const navigated = () => {
    const from = page;
    if (location.href != from) {
      leave();
      pageview(from);
    }
  };

  addEventListener("scroll", depth); // scroll events cannot be cancelled: passive already
  document.addEventListener("visibilitychange", () => (document.hidden ? (leave(), flush()) : (shown = now())));
  for (const m of ["pushState", "replaceState"] as const) {
    const orig = history[m];
    history[m] = function (this: History, ...a: Parameters<History["pushState"]>) {
      orig.apply(this, a);
      navigated();
    };
  }
  addEventListener("popstate", navigated);
  pageview(document.referrer);

  return (cmd, [a, b]) => {
    if (cmd == "consent") {
      // Withdrawn: the loader has erased what the browser kept; nothing more
      // is kept or sent.
      if (!(off = !a)) return;
      queue = [];
      visitor = rid();
    } else
      cmd == "page"
        ? navigated()
        : cmd == "track"
          ? send("event", { name: a, props: b })
          : cmd == "identify"
            ? send("identify", { user: a, hash: b })
            : cmd == "set"
              ? send("set", { vars: a })
              : cmd == "_o" && send("offer", { offer: a }); // an offer's step, from the guide
  };
};
