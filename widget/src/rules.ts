// The page's rule evaluator: the same verdicts as the Go package rules, over
// the same vectors (rules/testdata). docs/rules.md is the contract. Anything
// it does not understand compiles to null, so that a malformed rule set shows
// nothing and throws nothing into the host page.

/** Facts by name; strings folded by prep before evaluation. */
export type Facts = Record<string, string | number | boolean | undefined>;

export interface Limits {
  per_visit?: number;
  per_visitor_days?: number;
  cooldown_days_after_decline?: number;
}
export interface Schedule {
  days?: string[];
  from?: string;
  to?: string;
  start_date?: string;
  end_date?: string;
}
export interface Rule {
  id: string;
  v?: number; // the published version
  name: string;
  priority: number;
  when: unknown;
  action: Record<string, any>;
  limits?: Limits;
  schedule?: Schedule;
  split?: { control_percent: number };
}
/** What the page remembers of a rule: the Go History, with short names
 *  because it is stored in every visitor's browser. */
export interface History {
  n?: number; // shown (or held back as control) in this visit: shown_visit
  d?: boolean; // declined in this visit: declined_visit
  s?: number; // last shown, ms: last_shown
  x?: number; // last declined, ms: last_declined
}
/** A moment in the site's time zone. */
export interface Local {
  h: number; // hour
  m: number; // minute of the day
  d: number; // weekday, Sunday 0
  ymd: string;
}
export interface Compiled {
  r: Rule;
  /** The condition. */
  m: (f: Facts) => boolean;
  /** The schedule. */
  s: (t: Local) => boolean;
}

export const WD = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const DAY = 864e5;

// fold lower-cases Latin, Greek, Cyrillic and Armenian letters code point by
// code point, as rules.Fold does; other scripts compare exactly.
export const fold = (s: string) => {
  if (!/[^\0-@[-\x7f]/.test(s)) return s;
  let o = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    o += c < 0x590 || (c >= 0x1e00 && c < 0x2000) ? String.fromCodePoint(ch.toLowerCase().codePointAt(0)!) : ch;
  }
  return o;
};

/** prep folds the string facts once, before every rule is evaluated. */
export const prep = (f: Facts): Facts => {
  const o: Facts = {};
  for (const k in f) {
    const v = f[k];
    o[k] = typeof v == "string" ? fold(v) : v;
  }
  return o;
};

// Fixed fact names are not checked one by one (the server validates every
// rule): an unknown one is a missing fact, which never matches.
const FIXED = /^(page|visit|visitor|utm|time)\.[a-z_]+$/;
const NUM = /^(page\.(seconds|scroll|idle_seconds)|visit\.|time\.hour|events\.|queue\.)/;
const BOOL = /^(page\.exit_intent|visitor\.(returning|identified))$/;
const Q = /^queue\.(.+)\.(agents_available|estimated_wait)$/;

type Val = string | number | boolean;

// OPS are the operators: the value types each takes (string, boolean,
// number) and its test of a fact x against the value v (or the list vs).
const OPS: Record<string, [string, (x: any, v: any, vs: Val[]) => boolean]> = {
  eq: ["sbn", (x, v) => x === v],
  neq: ["sbn", (x, v) => x !== v],
  lt: ["n", (x, v) => x < v],
  lte: ["n", (x, v) => x <= v],
  gt: ["n", (x, v) => x > v],
  gte: ["n", (x, v) => x >= v],
  in: ["sn", (x, _, vs) => vs.includes(x)],
  not_in: ["sn", (x, _, vs) => !vs.includes(x)],
  contains: ["s", (x, v) => x.includes(v)],
  starts_with: ["s", (x, v) => x.startsWith(v)],
  ends_with: ["s", (x, v) => x.endsWith(v)],
  glob: ["s", (x, p) => glob(p, x)],
};
const typ = (v: unknown) => {
  const t = typeof v;
  return t == "string" || t == "boolean" || (t == "number" && isFinite(v as number)) ? t : "";
};

// leaf compiles one {fact, op, value} test, or null.
const leaf = (n: Record<string, any>): ((f: Facts) => boolean) | null => {
  let { fact, op, value } = n;
  if (typeof fact != "string" || Object.keys(n).some((k) => k != "fact" && k != "op" && k != "value")) return null;
  const q = Q.exec(fact);
  if (q) fact = "queue." + fold(q[1]!) + "." + q[2];
  else if (!FIXED.test(fact) && !/^(vars|events)\../.test(fact)) return null;
  const ft = NUM.test(fact) ? "number" : BOOL.test(fact) ? "boolean" : /^vars\./.test(fact) ? "" : "string";
  const ev = /^events\./.test(fact);
  const get = (f: Facts) => (ev ? f[fact] ?? 0 : f[fact]);
  if (op == "exists") {
    const want = value === undefined ? true : value;
    return typeof want == "boolean" ? (f) => (get(f) !== undefined) == want : null;
  }
  const list = op == "in" || op == "not_in";
  const vals: Val[] = list ? value : [value];
  if (!Array.isArray(vals) || !vals.length) return null;
  const vt = typ(vals[0]);
  if (!vt || vals.some((v) => typ(v) != vt) || (ft && ft != vt)) return null;
  const o = OPS[op as string];
  if (!o || !o[0].includes(vt[0]!)) return null;
  const vs = vals.map((v) => (typeof v == "string" ? fold(v) : v));
  const v = op == "glob" ? pattern(vs[0] as string) : vs[0];
  if (v == null) return null;
  const test = (x: any) => o[1](x, v, vs);
  // A missing fact, or one of another type, fails every operator but exists.
  return (f) => {
    const x = get(f);
    return typeof x == vt && test(x);
  };
};

// pattern parses a folded glob: 0 is *, 1 is ?, strings are literal characters.
const pattern = (s: string) => {
  const p: (string | number)[] = [];
  let esc = false;
  for (const c of s) {
    if (esc) (p.push(c), (esc = false));
    else if (c == "\\") esc = true;
    else p.push(c == "*" ? 0 : c == "?" ? 1 : c);
  }
  return esc ? null : p;
};

const glob = (p: (string | number)[], str: string) => {
  const s = Array.from(str);
  let pi = 0,
    si = 0,
    sp = -1,
    ss = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === 1 || p[pi] === s[si])) pi++, si++;
    else if (p[pi] === 0) (sp = pi++), (ss = si);
    else if (sp >= 0) (pi = sp + 1), (si = ++ss);
    else return false;
  }
  while (p[pi] === 0) pi++;
  return pi == p.length;
};

// node compiles a condition tree, at most 6 deep, or null.
const node = (n: unknown, depth: number): ((f: Facts) => boolean) | null => {
  if (!n || typeof n != "object" || Array.isArray(n) || depth > 6) return null;
  const o = n as Record<string, any>;
  const keys = Object.keys(o);
  const k = keys[0];
  if (keys.length == 1 && (k == "all" || k == "any")) {
    if (!Array.isArray(o[k])) return null;
    const kids = o[k].map((c: unknown) => node(c, depth + 1));
    if (kids.includes(null)) return null;
    return k == "all" ? (f) => kids.every((c: any) => c(f)) : (f) => kids.some((c: any) => c(f));
  }
  if (keys.length == 1 && k == "not") {
    const c = node(o.not, depth + 1);
    return c && ((f) => !c(f));
  }
  return leaf(o);
};

const HM = /^([01]\d|2[0-3]):[0-5]\d$/;
const mins = (s: string) => +s.slice(0, 2) * 60 + +s.slice(3);

const schedule = (s: Schedule | undefined): ((t: Local) => boolean) | null => {
  if (!s) return () => true;
  const days = s.days || [];
  if (!Array.isArray(days) || days.some((d) => !WD.includes(d))) return null;
  const on = (d: number) => !days.length || days.includes(WD[d]!);
  const hours = s.from != null || s.to != null;
  if ((hours && !(HM.test(s.from!) && HM.test(s.to!))) || (s.start_date && s.end_date && s.end_date < s.start_date)) return null;
  const from = hours ? mins(s.from!) : 0;
  const to = hours ? mins(s.to!) : 0;
  return (t) =>
    (!s.start_date || t.ymd >= s.start_date) &&
    (!s.end_date || t.ymd <= s.end_date) &&
    (!hours ? on(t.d) : from < to ? on(t.d) && t.m >= from && t.m < to : (on(t.d) && t.m >= from) || (on((t.d + 6) % 7) && t.m < to));
};

/** compile prepares a published rule, or gives null for one it cannot trust. */
export const compile = (r: Rule): Compiled | null => {
  try {
    if (!r || typeof r.id != "string" || typeof r.action?.type != "string") return null;
    const m = node(r.when, 1);
    const s = schedule(r.schedule);
    return m && s && { r, m, s };
  } catch {
    return null;
  }
};

/** allowed applies a rule's frequency caps, as Compiled.Allowed does in Go. */
export const allowed = (r: Rule, h: History, now: number) => {
  const l = r.limits || {};
  return !(
    (h.n || 0) >= Math.max(l.per_visit || 1, 1) ||
    h.d ||
    (l.per_visitor_days! > 0 && h.s! > 0 && now - h.s! < l.per_visitor_days! * DAY) ||
    (l.cooldown_days_after_decline! > 0 && h.x! > 0 && now - h.x! < l.cooldown_days_after_decline! * DAY)
  );
};

const fmts: Record<string, Intl.DateTimeFormat> = {};
/** local is a moment in the site's time zone (UTC when the zone is unknown). */
export const local = (now: number, zone: string): Local => {
  let f = fmts[zone];
  if (!f) {
    const o: Intl.DateTimeFormatOptions = { hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", weekday: "short" };
    try {
      f = new Intl.DateTimeFormat("en-US", { ...o, timeZone: zone });
    } catch {
      f = new Intl.DateTimeFormat("en-US", { ...o, timeZone: "UTC" });
    }
    fmts[zone] = f;
  }
  const p: Record<string, string> = {};
  for (const x of f.formatToParts(now)) p[x.type] = x.value;
  const h = +p.hour! % 24;
  return { h, m: h * 60 + +p.minute!, d: WD.indexOf(p.weekday!.slice(0, 3).toLowerCase()), ymd: p.year + "-" + p.month + "-" + p.day };
};

/** The time facts of a moment. */
export const timeFacts = (t: Local): Facts => ({ "time.hour": t.h, "time.weekday": WD[t.d] });

/** bucket is 0…99, FNV-1a of visitor/rule as rules.Bucket computes it. */
export const bucket = (visitor: string, rule: string) => {
  let h = 2166136261;
  for (const b of new TextEncoder().encode(visitor + "/" + rule)) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h % 100;
};

/** variant is "control" for the share of visitors a rule's split holds back. */
export const variant = (r: Rule, visitor: string) => (bucket(visitor, r.id) < (r.split?.control_percent || 0) ? "control" : "offer");
