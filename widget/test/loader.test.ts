import { test } from "node:test";
import assert from "node:assert/strict";
import { Env, FakeStorage, kinds, read } from "./env";

const stub = read("stub.js");
const loader = read("loader.js");
const modules = { analytics: read("analytics.js") };

for (const kind of kinds) {
  const t = (name: string, fn: () => Promise<void>) => test(`${name} (${kind})`, fn);
  // The scripts a page loads before anything is measured: the loader, and the analytics module unless it is built in.
  const scripts = kind == "module" ? 2 : 1;

  t("the loader replays early calls once the analytics run", async () => {
    const env = new Env();
    await env.bootAs(kind, () => env.window.nudge("track", "early", { plan: "green" }));
    assert.equal(env.scripts.length, scripts);
    if (kind == "module") assert.match(env.scripts[1]!.src, /^https:\/\/nudge\.test\/w\/analytics\.[0-9a-f]{10}\.js$/);
    await env.advance(3000);
    const names = env.events().map((e) => e.type + ":" + (e.name ?? ""));
    assert.deepEqual(names, ["pageview:", "event:early"], "the page is recorded first, then the calls made on it");
    assert.deepEqual(env.errors, []);
  });

  t("running the loader twice installs one nudge", async () => {
    const env = new Env();
    await env.bootAs(kind);
    const api = env.window.nudge;
    env.run(kind == "module" ? loader : read("lite-100.js"));
    await env.settle();
    assert.equal(env.window.nudge, api);
    assert.equal(env.scripts.length, scripts);
  });

  t("Do Not Track keeps the analytics away when the site honours it", async () => {
    const env = new Env({ dnt: "1" });
    await env.bootAs(kind, () => env.window.nudge("track", "x"));
    await env.advance(60_000);
    assert.equal(env.scripts.length, 1);
    assert.equal(env.sent.length, 0);
    assert.equal(env.local.size, 0, "nothing stored");
  });

  t("a site that ignores Do Not Track still measures", async () => {
    const env = new Env({ dnt: "1", config: { key: "shop", dnt: false, consent: false, cookieless: false } });
    await env.bootAs(kind);
    await env.advance(3000);
    assert.equal(env.events().length, 1);
  });

  t("consent mode: nothing is stored or sent until consent, and consent(false) erases", async () => {
    const local = new FakeStorage();
    const env = new Env({ local, config: { key: "shop", dnt: true, consent: true, cookieless: false } });
    await env.bootAs(kind, () => env.window.nudge("track", "before-consent"));
    await env.advance(10_000);
    assert.equal(env.scripts.length, 1);
    assert.equal(env.sent.length, 0);
    assert.equal(local.size, 0);

    env.window.nudge("consent", true);
    if (kind == "module") {
      assert.equal(env.scripts.length, 2);
      env.run(modules.analytics, env.scripts[1]!.src);
    }
    await env.advance(3000);
    assert.ok(env.events().some((e) => e.type == "pageview"));
    assert.ok(env.events().some((e) => e.name == "before-consent"), "what the page asked before consent follows");
    assert.ok(local.getItem("nudge_v_shop"));

    // What the chat and the guide keep, and another site's visitor on the same origin.
    local.setItem("nudge_chat_shop", "token");
    local.setItem("nudge_chat_log_shop", "{}");
    local.setItem("nudge_chat_form_shop", "{}");
    local.setItem("nudge_g_shop", "{}");
    local.setItem("nudge_v_other", "someone");
    local.setItem("cart_shop", "the site's own");
    env.window.nudge("consent", false);
    env.window.nudge("track", "after-refusal");
    await env.advance(10_000);
    env.hide();
    assert.ok(!env.events().some((e) => e.name == "after-refusal"));
    assert.equal(local.getItem("nudge_v_shop"), null);
    assert.equal(local.getItem("nudge_consent_shop"), null);
    assert.deepEqual([...local.m.keys()].sort(), ["cart_shop", "nudge_v_other"], "everything of this site's erased, nothing else");
  });

  t("two sites on one origin never share a visitor", async () => {
    const local = new FakeStorage();
    const a = new Env({ local, config: { key: "shop", dnt: true, consent: false, cookieless: false } });
    await a.bootAs(kind);
    await a.advance(3000);
    const b = new Env({ local, key: "blog", config: { key: "blog", dnt: true, consent: false, cookieless: false } });
    await b.bootAs(kind);
    await b.advance(3000);
    assert.ok(a.sent[0]!.body.visitor && b.sent[0]!.body.visitor);
    assert.notEqual(a.sent[0]!.body.visitor, b.sent[0]!.body.visitor);
    assert.deepEqual([...local.m.keys()].sort(), ["nudge_v_blog", "nudge_v_shop"]);
  });

  t("consent given on one page holds on the next", async () => {
    const local = new FakeStorage();
    const cfg = { key: "shop", dnt: true, consent: true, cookieless: false };
    const first = new Env({ local, config: cfg });
    await first.bootAs(kind);
    first.window.nudge("consent", true);
    const next = new Env({ local, config: cfg });
    await next.bootAs(kind);
    await next.advance(3000);
    assert.equal(next.scripts.length, scripts);
    assert.equal(next.events().filter((e) => e.type == "pageview").length, 1);
  });

  t("unknown commands are ignored and early commands for analytics that never run stay bounded", async () => {
    const env = new Env({ dnt: "1" });
    await env.bootAs(kind);
    for (let i = 0; i < 1000; i++) env.window.nudge("track", "e" + i);
    env.window.nudge("no-such-command", 1);
    assert.deepEqual(env.errors, []);
  });

  t("on(pageview) hears each pageview", async () => {
    const env = new Env({ url: "https://shop.test/" });
    const heard: unknown[] = [];
    await env.bootAs(kind, () => env.window.nudge("on", "pageview", (u: unknown) => heard.push(u)));
    env.window.history.pushState({}, "", "/next");
    assert.deepEqual(heard, ["https://shop.test/", "https://shop.test/next"]);
  });
}

test("the loader passes its nonce on to the modules (module)", async () => {
  const env = new Env({ nonce: "xyz" });
  await env.boot(stub, loader, modules);
  assert.equal(env.scripts[1]!.nonce, "xyz");
});

test("a site whose configuration lists no analytics module is not measured (module)", async () => {
  const env = new Env({ config: { key: "shop", modules: [], dnt: true, consent: false, cookieless: false } });
  await env.boot(stub, loader, modules);
  await env.advance(10_000);
  assert.equal(env.scripts.length, 1);
  assert.equal(env.sent.length, 0);
});

// The measuring loader loads the guide for an offer the page makes: the site's
// settings and the guide in one script, which gets the commands made before.
test("the measuring loader loads the guide and the site's settings for an offer the page makes", async () => {
  const env = new Env({ nonce: "xyz" });
  await env.bootAs("measuring", () => env.window.nudge("set", { plan: "green" }));
  assert.equal(env.scripts.length, 1);
  env.window.nudge("offer", { title: "Hello" });
  env.window.nudge("accept");
  assert.equal(env.scripts.length, 2, "the guide, once");
  assert.equal(env.scripts[1]!.src, "https://nudge.test/l/shop.js?guide");
  assert.equal(env.scripts[1]!.nonce, "xyz");
  env.window.__got = [];
  env.run(
    `window.nudge?.c&&Object.assign(nudge.c,{"zone":"Europe/Paris"});
     window.nudge.d("guide", (c) => (cmd, args) => __got.push([cmd, c.cfg.zone, c.key, c.may()]))`,
    env.scripts[1]!.src,
  );
  env.window.nudge("decline");
  // What came before the guide arrived is replayed to it, in order.
  assert.deepEqual(
    env.window.__got.map((x: unknown[]) => x[0]),
    ["set", "offer", "accept", "decline"],
  );
  assert.deepEqual([...env.window.__got[0].slice(1)], ["Europe/Paris", "shop", true]);
  await env.advance(3000);
  assert.ok(env.events().some((e) => e.type == "set"), "the analytics got the set");
  assert.deepEqual(env.errors, []);
});
