// Every vector of rules/testdata through the page's evaluator, bundled and
// minified as the guide module is: any verdict that differs from Go's fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import vm from "node:vm";
import { read } from "./env";
import type * as R from "../src/rules";

const lib: typeof R = (() => {
  const ctx = vm.createContext({ Intl, TextEncoder });
  vm.runInContext(read("rules.js"), ctx);
  return (ctx as any).nudgeRules;
})();

const dir = process.env.NUDGE_VECTORS ?? "";
const files = readdirSync(dir).filter((f) => f.endsWith(".json") && f != "buckets.json");
const base = { name: "v", action: { type: "chat_offer", queue: "support", text: "Hi" } };

for (const file of files) {
  for (const v of JSON.parse(readFileSync(join(dir, file), "utf8"))) {
    test(`${file}: ${v.name}`, () => {
      const rule = { id: v.rule_id ?? "R", ...(v.rule ?? { ...base, when: v.when }) };
      if (v.error) {
        // The server never publishes an invalid rule; if one arrives anyway the
        // page must not throw, and a bad condition or schedule never matches.
        const c = lib.compile(rule);
        if (/unknown fact "(page|visit|visitor|utm|time)\./.test(v.error)) {
          // Fixed names are not listed in the page: the guide never knows an unknown one, so it never matches.
          assert.equal(c?.m(lib.prep({})) ?? false, false, v.error);
        } else if (/^(when|schedule)/.test(v.error)) assert.equal(c, null, "compiled an invalid condition: " + v.error);
        return;
      }
      const c = lib.compile(rule);
      assert.ok(c, "the page refused a valid rule");
      let facts = v.facts;
      let ok = true;
      if (v.now) {
        const now = Date.parse(v.now);
        const t = lib.local(now, v.zone ?? "UTC");
        facts = { ...facts, ...lib.timeFacts(t) };
        ok = c.s(t);
        const h = v.history;
        if (h) ok = ok && lib.allowed(rule, { n: h.shown_visit, d: h.declined_visit, s: h.last_shown, x: h.last_declined }, now);
      }
      assert.equal(ok && c.m(lib.prep(facts)), v.expect);
      if (v.variant) assert.equal(lib.variant(rule, v.visitor), v.variant);
    });
  }
}

test("buckets are the Go ones", () => {
  for (const b of JSON.parse(readFileSync(join(dir, "buckets.json"), "utf8"))) {
    assert.equal(lib.bucket(b.visitor, b.rule), b.bucket, `${b.visitor}/${b.rule}`);
  }
});

test("case folding is Go's, code point by code point", () => {
  const table: [number, string][] = JSON.parse(read("fold.json"));
  assert.ok(table.length > 1500);
  for (const [cp, want] of table) assert.equal(lib.fold(String.fromCodePoint(cp)), want, "U+" + cp.toString(16));
});

test("malformed rule sets compile to nothing and throw nothing", () => {
  for (const r of [null, 1, "x", [], {}, { id: "a" }, { id: "a", action: { type: "chat_offer" }, when: "x" }, { id: "a", action: {}, when: { all: [] } },
    { id: "a", action: { type: "x" }, when: { all: [{ fact: "page.path", op: "eq", value: "/" }] }, schedule: { days: "mon" } },
    { id: "a", action: { type: "x" }, when: { fact: "__proto__", op: "eq", value: 1 } },
    { id: "a", action: { type: "x" }, when: { fact: "page.path", op: "constructor", value: "/" } },
    { id: "a", action: { type: "x" }, when: { fact: "page.path", op: "eq", value: "/", extra: 1 } }]) {
    assert.equal(lib.compile(r as any), null, JSON.stringify(r));
  }
});

test("100 rules evaluate well under a frame", () => {
  const rules = Array.from({ length: 100 }, (_, i) =>
    lib.compile({ id: "r" + i, name: "r", priority: 0, action: { type: "chat_offer" },
      when: { all: [{ fact: "page.path", op: "starts_with", value: "/section" + (i % 10) }, { fact: "page.seconds", op: "gte", value: i },
        { not: { fact: "vars.plan", op: "in", value: ["pro", "team"] } }] } })!);
  const facts = lib.prep({ "page.path": "/section5/pricing", "page.seconds": 40, "vars.plan": "free" });
  let n = 0;
  const t0 = performance.now();
  const rounds = 2000;
  for (let k = 0; k < rounds; k++) for (const r of rules) if (r.m(facts)) n++;
  const perRule = ((performance.now() - t0) * 1e6) / rounds / 100;
  console.log(`page-side evaluation: ${perRule.toFixed(0)} ns per rule`);
  assert.ok(n > 0);
});
