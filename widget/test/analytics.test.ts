import { test } from "node:test";
import assert from "node:assert/strict";
import { Env, FakeStorage, read } from "./env";

const stub = read("stub.js");
const loader = read("loader.js");
const modules = { analytics: read("analytics.js") };
const boot = async (env: Env) => env.boot(stub, loader, modules);

test("a pageview carries the page, the referrer and the visitor, visit and tab ids", async () => {
  const env = new Env({ url: "https://shop.test/pricing?utm_source=news", referrer: "https://www.google.com/" });
  await boot(env);
  await env.advance(2000);
  const [b] = env.sent;
  assert.equal(b!.url, "https://nudge.test/collect");
  assert.equal(b!.body.site, "shop");
  assert.match(b!.body.visitor, /^[a-z0-9]{12}$/);
  assert.match(b!.body.visit, /^[a-z0-9]{12}$/);
  assert.equal(b!.body.visit_n, 1);
  assert.equal(b!.body.screen, "1440x900");
  assert.equal(b!.body.lang, "en-GB");
  const [pv] = b!.body.events;
  assert.equal(pv.type, "pageview");
  assert.equal(pv.url, "https://shop.test/pricing?utm_source=news");
  assert.equal(pv.ref, "https://www.google.com/");
  assert.equal(pv.title, "Test page");
});

test("the visitor id lasts; the visit is shared by tabs and ends after 30 minutes idle", async () => {
  const local = new FakeStorage();
  const a = new Env({ local });
  await boot(a);
  await a.advance(2000);
  const first = a.sent[0]!.body;

  const b = new Env({ local }); // another tab: same localStorage, its own sessionStorage
  b.now = a.now + 10 * 60 * 1000;
  await boot(b);
  await b.advance(2000);
  const second = b.sent[0]!.body;
  assert.equal(second.visitor, first.visitor);
  assert.equal(second.visit, first.visit, "activity in any tab keeps the visit");
  assert.notEqual(second.tab, first.tab);

  const c = new Env({ local });
  c.now = b.now + 31 * 60 * 1000;
  await boot(c);
  await c.advance(2000);
  const third = c.sent[0]!.body;
  assert.equal(third.visitor, first.visitor);
  assert.notEqual(third.visit, first.visit);
  assert.equal(third.visit_n, 2);
});

test("events are batched: 20 at once, or after 2 seconds", async () => {
  const env = new Env();
  await boot(env);
  for (let i = 0; i < 25; i++) env.window.nudge("track", "click", { i });
  assert.equal(env.sent.length, 1);
  assert.equal(env.sent[0]!.body.events.length, 20);
  await env.advance(1999);
  assert.equal(env.sent.length, 1);
  await env.advance(1);
  assert.equal(env.sent.length, 2);
  assert.equal(env.sent[1]!.body.events.length, 6);
  const click = env.events().find((e) => e.name == "click");
  assert.deepEqual(click.props, { i: 0 });
});

test("hiding the page sends the leave event with engaged time and scroll depth by beacon", async () => {
  const env = new Env();
  await boot(env);
  await env.advance(5000);
  env.window.scrollY = 1200;
  env.listeners["scroll"]!.forEach((f) => f());
  env.hide();
  const beacon = env.sent.filter((s) => s.via == "beacon");
  assert.equal(beacon.length, 1);
  const leave = beacon[0]!.body.events.find((e: any) => e.type == "leave");
  assert.equal(leave.engaged_ms, 5000);
  assert.equal(leave.scroll, 100);
  // Hidden time is not engaged time.
  await env.advance(60_000);
  env.show();
  await env.advance(1000);
  env.hide();
  const again = env.events().filter((e) => e.type == "leave");
  assert.equal(again[1].engaged_ms, 1000);
});

test("history changes of a single-page app count as pageviews", async () => {
  const env = new Env({ url: "https://shop.test/" });
  await boot(env);
  await env.advance(3000);
  env.window.history.pushState({}, "", "/pricing");
  env.window.history.replaceState({}, "", "/pricing"); // same URL: no new pageview
  env.window.history.pushState({}, "", "/checkout");
  env.href = "https://shop.test/pricing";
  env.fire("popstate");
  await env.advance(3000);
  const views = env.events().filter((e) => e.type == "pageview").map((e) => [new URL(e.url).pathname, e.ref]);
  assert.deepEqual(views, [
    ["/", ""],
    ["/pricing", "https://shop.test/"],
    ["/checkout", "https://shop.test/pricing"],
    ["/pricing", "https://shop.test/checkout"],
  ]);
  assert.equal(env.events().filter((e) => e.type == "leave").length, 3);
});

test("identify and set are sent as given", async () => {
  const env = new Env();
  await boot(env);
  env.window.nudge("identify", { id: "u1", email: "a@b.c" }, "f".repeat(64));
  env.window.nudge("set", { plan: "green" });
  await env.advance(2000);
  const ev = env.events();
  assert.deepEqual(ev.find((e) => e.type == "identify").user, { id: "u1", email: "a@b.c" });
  assert.deepEqual(ev.find((e) => e.type == "set").vars, { plan: "green" });
});

test("cookieless sites store nothing in the browser", async () => {
  const local = new FakeStorage();
  const session = new FakeStorage();
  const env = new Env({ local, session, config: { key: "shop", dnt: true, consent: false, cookieless: true } });
  await boot(env);
  await env.advance(2000);
  assert.equal(env.sent[0]!.body.visitor, "");
  assert.equal(local.size, 0);
  assert.equal(session.size, 0);
});

test("an unreachable collector switches analytics off for the visit, quietly", async () => {
  const local = new FakeStorage();
  const env = new Env({ local, collectFails: true });
  await boot(env);
  await env.advance(2000);
  env.window.nudge("track", "x");
  await env.advance(10_000);
  assert.deepEqual(env.errors, []);
  const next = new Env({ local }); // a later page of the same visit, collector back
  next.now = env.now + 60_000;
  await boot(next);
  await next.advance(10_000);
  assert.equal(next.sent.length, 0, "still off for this visit");
  const later = new Env({ local });
  later.now = next.now + 31 * 60 * 1000;
  await boot(later);
  await later.advance(2000);
  assert.equal(later.sent.length, 1, "a new visit measures again");
});

test("a refusal by the collector (403) also switches it off; 429 and 503 do not", async () => {
  for (const [status, off] of [[403, true], [429, false], [503, false]] as const) {
    const env = new Env({ collectStatus: status });
    await boot(env);
    await env.advance(2000);
    env.window.nudge("track", "again");
    await env.advance(2000);
    assert.equal(env.sent.length, off ? 1 : 2, `status ${status}`);
  }
});
