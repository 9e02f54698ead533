// A fake browser for the page-side tests: enough of window, document,
// storage, fetch, beacons, history and timers to run the real bundles inside a
// node:vm context, with a clock the test moves.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import vm from "node:vm";
import { webcrypto } from "node:crypto";

export const bundles = process.env.NUDGE_BUNDLES ?? "";

/** The two loaders a site may get: the loader with the analytics module, or the measuring loader. */
export type Kind = "module" | "measuring";
export const kinds: Kind[] = ["module", "measuring"];
export const read = (name: string) => readFileSync(join(bundles, name), "utf8");

// FakeStorage is a Storage: items by getItem/setItem/removeItem and, as in
// browsers, by named properties (storage.nudge_v, delete storage.nudge_v).
export class FakeStorage {
  m = new Map<string, string>();
  constructor() {
    const own = (k: string | symbol) => typeof k != "string" || k in this;
    return new Proxy(this, {
      get: (t, k, r) => (own(k) ? Reflect.get(t, k, r) : (t.getItem(k as string) ?? undefined)),
      set: (t, k, v) => (own(k) ? Reflect.set(t, k, v) : (t.setItem(k as string, v), true)),
      deleteProperty: (t, k) => (own(k) ? Reflect.deleteProperty(t, k) : (t.removeItem(k as string), true)),
      // Object.keys(localStorage) lists the items, as in browsers.
      ownKeys: (t) => [...t.m.keys()],
      getOwnPropertyDescriptor: (t, k) =>
        typeof k == "string" && t.m.has(k) ? { value: t.m.get(k), writable: true, enumerable: true, configurable: true } : Reflect.getOwnPropertyDescriptor(t, k),
    });
  }
  getItem(k: string) {
    return this.m.has(k) ? this.m.get(k)! : null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, String(v));
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
  get size() {
    return this.m.size;
  }
}

export interface Sent {
  url: string;
  body: any;
  via: "fetch" | "keepalive" | "beacon";
}

export interface Options {
  url?: string;
  referrer?: string;
  local?: FakeStorage;
  session?: FakeStorage;
  dnt?: string;
  config?: Record<string, unknown>;
  /** The site's key (default shop): in the loader's URL, and written into the measuring loader. */
  key?: string;
  collectStatus?: number;
  collectFails?: boolean;
  nonce?: string;
}

// Env is one tab.
export class Env {
  now = Date.UTC(2026, 10, 21, 12, 0, 0);
  timers: { at: number; fn: () => void; id: number }[] = [];
  sent: Sent[] = [];
  scripts: { src: string; nonce?: string }[] = [];
  listeners: Record<string, ((e?: unknown) => void)[]> = {};
  docListeners: Record<string, (() => void)[]> = {};
  errors: unknown[] = [];
  ctx: vm.Context;
  local: FakeStorage;
  session: FakeStorage;
  visibility = "visible";
  href: string;

  constructor(public o: Options = {}) {
    this.local = o.local ?? new FakeStorage();
    this.session = o.session ?? new FakeStorage();
    this.href = o.url ?? "https://shop.test/";
    const env = this;
    let nextTimer = 1;
    const location = {
      get href() {
        return env.href;
      },
    };
    const history = {
      pushState(_s: unknown, _t: string, url: string) {
        env.href = new URL(url, env.href).href;
      },
      replaceState(_s: unknown, _t: string, url: string) {
        env.href = new URL(url, env.href).href;
      },
    };
    const head = {
      appendChild(s: { src: string; nonce?: string }) {
        env.scripts.push({ src: s.src, nonce: s.nonce });
      },
    };
    const document = {
      currentScript: null as unknown,
      referrer: o.referrer ?? "",
      title: "Test page",
      head,
      documentElement: { scrollHeight: 2000 },
      get visibilityState() {
        return env.visibility;
      },
      get hidden() {
        return env.visibility == "hidden";
      },
      createElement: () => ({ src: "", async: false, nonce: "" }),
      addEventListener(t: string, f: () => void) {
        (env.docListeners[t] ||= []).push(f);
      },
    };
    const navigator = {
      language: "en-GB",
      doNotTrack: o.dnt ?? null,
      sendBeacon(url: string, body: string) {
        env.sent.push({ url, body: JSON.parse(body), via: "beacon" });
        return true;
      },
    };
    const fetch = (url: string, init?: { method?: string; body?: string; keepalive?: boolean }) => {
      if (url.includes("/config/")) {
        return Promise.resolve({
          ok: true,
          status: 200,
          headers: new Headers(),
          json: () => Promise.resolve({ modules: ["analytics"], ...(o.config ?? { key: "shop", dnt: true, consent: false, cookieless: false }) }),
        });
      }
      if (o.collectFails) return Promise.reject(new TypeError("Failed to fetch"));
      env.sent.push({ url, body: JSON.parse(init?.body ?? "null"), via: init?.keepalive ? "keepalive" : "fetch" });
      const status = o.collectStatus ?? 202;
      return Promise.resolve({ ok: status < 300, status, json: () => Promise.resolve({}) });
    };
    const sandbox: Record<string, unknown> = {
      document,
      location,
      history,
      navigator,
      fetch,
      localStorage: this.local,
      sessionStorage: this.session,
      screen: { width: 1440, height: 900 },
      innerHeight: 800,
      scrollY: 0,
      crypto: webcrypto,
      URL,
      JSON,
      console: { ...console, error: (...a: unknown[]) => env.errors.push(a), warn: (...a: unknown[]) => env.errors.push(a) },
      setTimeout(fn: () => void, ms: number) {
        const id = nextTimer++;
        env.timers.push({ at: env.now + ms, fn, id });
        return id;
      },
      clearTimeout(id: number) {
        env.timers = env.timers.filter((t) => t.id !== id);
      },
      addEventListener(t: string, f: () => void) {
        (env.listeners[t] ||= []).push(f);
      },
    };
    sandbox.window = sandbox;
    this.ctx = vm.createContext(sandbox);
    vm.runInContext(`Date.now = () => __now()`, this.ctx);
    sandbox.__now = () => env.now;
  }

  get window(): any {
    return this.ctx;
  }

  // run evaluates a script as if a <script src> tag had loaded it.
  run(code: string, src = "https://nudge.test/l/" + (this.o.key ?? "shop") + ".js") {
    this.window.document.currentScript = { src, nonce: this.o.nonce ?? "" };
    vm.runInContext(code, this.ctx);
    this.window.document.currentScript = null;
  }

  // boot runs the snippet's stub, then the loader, then the modules it asked for.
  async boot(stub: string, loader: string, modules: Record<string, string>, before?: () => void) {
    this.run(stub, "");
    before?.();
    this.run(loader);
    await this.settle();
    for (const s of this.scripts) {
      const name = s.src.split("/w/")[1]?.split(".")[0];
      if (name && modules[name]) this.run(modules[name]!, s.src);
    }
    await this.settle();
  }

  // bootAs boots the loader a site with this Env's configuration gets:
  // "module", the loader that fetches the configuration and loads the
  // analytics module, or "measuring", the measuring loader of a site that only
  // measures (its variant for the site's privacy settings).
  async bootAs(kind: Kind, before?: () => void) {
    const c = { dnt: true, consent: false, cookieless: false, ...(this.o.config ?? {}) } as Record<string, unknown>;
    // The measuring loaders were built for the key shop (the server writes each site's in).
    const loader = kind == "module" ? read("loader.js") : read(`lite-${+!!c.dnt}${+!!c.consent}${+!!c.cookieless}.js`).replaceAll("shop", this.o.key ?? "shop");
    await this.boot(read("stub.js"), loader, { analytics: read("analytics.js") }, before);
  }

  async settle() {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }

  // advance moves the clock, firing due timers in order.
  async advance(ms: number) {
    const end = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const t = this.timers[0];
      if (!t || t.at > end) break;
      this.timers.shift();
      this.now = t.at;
      t.fn();
      await this.settle();
    }
    this.now = end;
  }

  fire(type: string) {
    (this.listeners[type] || []).forEach((f) => f());
  }

  hide() {
    this.visibility = "hidden";
    (this.docListeners["visibilitychange"] || []).forEach((f) => f());
  }

  show() {
    this.visibility = "visible";
    (this.docListeners["visibilitychange"] || []).forEach((f) => f());
  }

  events() {
    return this.sent.flatMap((s) => s.body.events.map((e: any) => ({ ...e, batch: s.body, via: s.via })));
  }
}
