// A page in happy-dom (a real DOM with shadow roots, storage and events)
// running the real bundles: the snippet's stub, the loader and every module
// it asks for. Time is the test's: timers, intervals and animation frames
// run when the test advances the clock. The server is a fake that answers
// the page-side routes.
import { Window } from "happy-dom";
import { read } from "./env";

export interface Server {
  config: Record<string, any>;
  /** Queue availability by lower-cased name. */
  queues?: Record<string, { agents_available: number; estimated_wait: number }>;
  /** The availability route fails (the server is in trouble). */
  down?: boolean;
  /** The country a trusted proxy names (the X-Nudge-Country header). */
  country?: string;
  /** Offers waiting for the next poll. */
  pushed?: Record<string, any>[];
}

type Timer = { at: number; fn: () => void; id: number; every?: number };

export class Page {
  w: any;
  now: number;
  timers: Timer[] = [];
  frames: (() => void)[] = [];
  /** Events posted to /collect. */
  events: any[] = [];
  /** Paths fetched, in order. */
  fetched: string[] = [];
  ran = new Set<string>();
  errors: unknown[] = [];
  private next = 1;

  constructor(
    public server: Server,
    o: { url?: string; now?: number; storage?: Record<string, string>; coarse?: boolean; dnt?: boolean } = {},
  ) {
    this.now = o.now ?? Date.UTC(2026, 10, 30, 10, 0, 0); // a Monday, 11:00 in Paris
    const w = (this.w = new Window({
      url: o.url ?? "https://shop.test/",
      width: o.coarse ? 390 : 1280,
      height: o.coarse ? 844 : 800,
      // The test runs the bundles itself (run, settle): the DOM only notes the tags.
      settings: { disableJavaScriptFileLoading: true, disableCSSFileLoading: true, handleDisabledFileLoadingAsSuccess: true },
    }) as any);
    for (const [k, v] of Object.entries(o.storage ?? {})) w.localStorage.setItem(k, v);
    const page = this;
    w.Date.now = () => page.now;
    w.setTimeout = (fn: () => void, ms = 0) => this.add({ at: this.now + ms, fn, id: this.next++ });
    w.setInterval = (fn: () => void, ms: number) => this.add({ at: this.now + ms, fn, id: this.next++, every: ms });
    w.clearTimeout = w.clearInterval = (id: number) => (this.timers = this.timers.filter((t) => t.id != id));
    w.requestAnimationFrame = (fn: () => void) => (this.frames.push(fn), this.frames.length);
    w.matchMedia = (q: string) => ({ matches: q.includes("coarse") ? !!o.coarse : false });
    w.console.error = w.console.warn = (...a: unknown[]) => this.errors.push(a);
    w.addEventListener("error", (e: any) => this.errors.push(e.error || e.message));
    w.fetch = (url: string, init?: { method?: string; body?: string }) => this.fetch(url, init);
    w.document.title = "Billing · Shop";
    if (o.dnt) Object.defineProperty(w.navigator, "doNotTrack", { configurable: true, get: () => "1" });
  }

  private add(t: Timer) {
    this.timers.push(t);
    return t.id;
  }

  private async fetch(url: string, init?: { method?: string; body?: string }) {
    const u = new URL(url);
    this.fetched.push(u.pathname + u.search);
    const answer = (status: number, body?: unknown, headers = new Headers()) =>
      Promise.resolve({ ok: status < 300, status, headers, json: () => Promise.resolve(body) });
    if (u.pathname.startsWith("/config/"))
      return answer(200, this.server.config, new Headers(this.server.country ? { "X-Nudge-Country": this.server.country } : {}));
    if (u.pathname.startsWith("/availability/"))
      return this.server.down ? Promise.reject(new TypeError("Failed to fetch")) : answer(200, { queues: this.server.queues ?? {} });
    if (u.pathname.startsWith("/offers/")) {
      const p = this.server.pushed ?? [];
      this.server.pushed = [];
      return p.length ? answer(200, { offers: p }) : answer(204);
    }
    if (u.pathname == "/collect") {
      this.events.push(...JSON.parse(init?.body ?? "{}").events);
      return answer(202, {});
    }
    return answer(404, {});
  }

  /** run evaluates a script as if a <script src> had loaded it. */
  run(code: string, src: string) {
    const d = this.w.document;
    Object.defineProperty(d, "currentScript", { configurable: true, get: () => (src ? { src, nonce: "" } : null) });
    try {
      this.w.eval(code);
    } finally {
      Object.defineProperty(d, "currentScript", { configurable: true, get: () => null });
    }
  }

  /** boot runs the stub, then the loader, then each module it injects. */
  async boot(before?: () => void) {
    const stub = read("stub.js");
    this.run(stub, "");
    before?.();
    this.run(read("loader.js"), "https://nudge.test/l/shop.js");
    await this.settle();
  }

  /** settle lets promises run, then runs the modules the loader asked for and the animation frames. */
  async settle() {
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      let more = false;
      for (const s of this.w.document.querySelectorAll("script")) {
        const m = /\/w\/(\w+)\./.exec(s.src || "")?.[1];
        if (m && !this.ran.has(m)) {
          this.ran.add(m);
          this.run(read(m + ".js"), s.src);
          more = true;
        }
      }
      const fs = this.frames;
      this.frames = [];
      fs.forEach((f) => f());
      if (!more && !fs.length) return;
    }
  }

  /** advance moves the clock, running what falls due in order. */
  async advance(ms: number) {
    const end = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const t = this.timers[0];
      if (!t || t.at > end) break;
      this.now = t.at;
      if (t.every) t.at += t.every;
      else this.timers.shift();
      t.fn();
      await this.settle();
    }
    this.now = end;
    await this.settle();
  }

  /** root is a widget's shadow root (guide, launcher, chat). */
  root(name: string): any {
    return this.w.document.querySelector(`[data-nudge=${name}]`)?.shadowRoot;
  }

  /** card is the offer on screen, if any. */
  card(): any {
    return this.root("guide")?.querySelector(".o") ?? null;
  }

  offerEvents() {
    return this.events.filter((e) => e.type == "offer").map((e) => e.offer.rule + ":" + e.offer.variant + ":" + e.offer.stage);
  }

  storage(): Record<string, string> {
    const out: Record<string, string> = {};
    const s = this.w.localStorage;
    for (let i = 0; i < s.length; i++) out[s.key(i)] = s.getItem(s.key(i));
    return out;
  }

  async close() {
    await this.w.happyDOM.abort();
    this.w.close();
  }
}
