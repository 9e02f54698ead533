import { test } from "node:test";
import assert from "node:assert/strict";
import { Env, FakeStorage, read } from "./env";

const stub = read("stub.js");
const loader = read("loader.js");
const modules = { analytics: read("analytics.js") };

test("the loader replays early calls to the module once it has loaded", async () => {
  const env = new Env();
  await env.boot(stub, loader, modules, () => {
    env.window.nudge("track", "early", { plan: "green" });
  });
  assert.equal(env.scripts.length, 2, "stub injected the loader, the loader the analytics module");
  assert.match(env.scripts[1]!.src, /^https:\/\/nudge\.test\/w\/analytics\.[0-9a-f]{10}\.js$/);
  await env.advance(3000);
  const names = env.events().map((e) => e.type + ":" + (e.name ?? ""));
  assert.deepEqual(names, ["pageview:", "event:early"], "the page is recorded first, then the calls made on it");
  assert.deepEqual(env.errors, []);
});

test("the loader passes its nonce on to the modules", async () => {
  const env = new Env({ nonce: "xyz" });
  await env.boot(stub, loader, modules);
  assert.equal(env.scripts[1]!.nonce, "xyz");
});

test("running the loader twice installs one nudge", async () => {
  const env = new Env();
  await env.boot(stub, loader, modules);
  const api = env.window.nudge;
  env.run(loader);
  await env.settle();
  assert.equal(env.window.nudge, api);
  assert.equal(env.scripts.length, 2);
});

test("Do Not Track keeps the analytics module away when the site honours it", async () => {
  const env = new Env({ dnt: "1" });
  await env.boot(stub, loader, modules, () => env.window.nudge("track", "x"));
  await env.advance(60_000);
  assert.equal(env.scripts.length, 1);
  assert.equal(env.sent.length, 0);
  assert.equal(env.local.size, 0, "nothing stored");
});

test("a site that ignores Do Not Track still measures", async () => {
  const env = new Env({ dnt: "1", config: { key: "shop", dnt: false, consent: false, cookieless: false } });
  await env.boot(stub, loader, modules);
  await env.advance(3000);
  assert.equal(env.events().length, 1);
});

test("consent mode: nothing is stored or sent until consent, and consent(false) erases", async () => {
  const local = new FakeStorage();
  const env = new Env({ local, config: { key: "shop", dnt: true, consent: true, cookieless: false } });
  await env.boot(stub, loader, modules, () => env.window.nudge("track", "before-consent"));
  await env.advance(10_000);
  assert.equal(env.scripts.length, 1);
  assert.equal(env.sent.length, 0);
  assert.equal(local.size, 0);

  env.window.nudge("consent", true);
  assert.equal(env.scripts.length, 2);
  env.run(modules.analytics, env.scripts[1]!.src);
  await env.advance(3000);
  assert.ok(env.events().some((e) => e.type == "pageview"));
  assert.ok(local.getItem("nudge_v"));

  env.window.nudge("consent", false);
  env.window.nudge("track", "after-refusal");
  await env.advance(10_000);
  env.hide();
  assert.ok(!env.events().some((e) => e.name == "after-refusal"));
  assert.equal(local.getItem("nudge_v"), null);
  assert.equal(local.getItem("nudge_s"), null);
  assert.equal(local.getItem("nudge_consent"), null);
});

test("consent given on one page holds on the next", async () => {
  const local = new FakeStorage();
  const cfg = { key: "shop", dnt: true, consent: true, cookieless: false };
  const first = new Env({ local, config: cfg });
  await first.boot(stub, loader, modules);
  first.window.nudge("consent", true);
  const next = new Env({ local, config: cfg });
  await next.boot(stub, loader, modules);
  assert.equal(next.scripts.length, 2);
});

test("a site whose configuration lists no analytics module is not measured", async () => {
  const env = new Env({ config: { key: "shop", modules: [], dnt: true, consent: false, cookieless: false } });
  await env.boot(stub, loader, modules);
  await env.advance(10_000);
  assert.equal(env.scripts.length, 1);
  assert.equal(env.sent.length, 0);
});

test("unknown commands are ignored and early commands for a module that never loads stay bounded", async () => {
  const env = new Env({ dnt: "1" });
  await env.boot(stub, loader, modules);
  for (let i = 0; i < 1000; i++) env.window.nudge("track", "e" + i);
  env.window.nudge("no-such-command", 1);
  assert.deepEqual(env.errors, []);
});
