import { test } from "node:test";
import assert from "node:assert/strict";
import { Env, FakeStorage, kinds } from "./env";

// Every test runs with both loaders: the analytics module, and the measuring
// loader that carries the analytics itself.
for (const kind of kinds) {
  const t = (name: string, fn: () => Promise<void>) => test(`${name} (${kind})`, fn);

  t("a pageview carries the page, the referrer, the visitor id and the screen", async () => {
    const env = new Env({ url: "https://shop.test/pricing?utm_source=news", referrer: "https://www.google.com/" });
    await env.bootAs(kind);
    await env.advance(2000);
    const [b] = env.sent;
    assert.equal(b!.url, "https://nudge.test/collect");
    assert.equal(b!.body.site, "shop");
    assert.match(b!.body.visitor, /^[0-9]{6,20}$/);
    assert.equal(b!.body.visit, undefined, "the server keeps visits");
    assert.equal(b!.body.screen, "1440x900");
    assert.equal(typeof b!.body.sent, "number");
    const [pv] = b!.body.events;
    assert.equal(pv.type, "pageview");
    assert.equal(pv.url, "https://shop.test/pricing?utm_source=news");
    assert.equal(pv.ref, "https://www.google.com/");
    assert.equal(pv.title, "Test page");
  });

  t("the visitor id lasts across pages and tabs", async () => {
    const local = new FakeStorage();
    const a = new Env({ local });
    await a.bootAs(kind);
    await a.advance(2000);
    const b = new Env({ local }); // another tab or a later page: the same localStorage
    b.now = a.now + 40 * 60 * 1000;
    await b.bootAs(kind);
    await b.advance(2000);
    assert.equal(b.sent[0]!.body.visitor, a.sent[0]!.body.visitor);
    assert.deepEqual([...local.m.keys()], ["nudge_v_shop"], "the visitor id, nothing else");
  });

  t("events are batched: 20 at once, or after 2 seconds", async () => {
    const env = new Env();
    await env.bootAs(kind);
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

  t("hiding the page sends the leave event with engaged time and scroll depth, in a request that outlives the page", async () => {
    const env = new Env();
    await env.bootAs(kind);
    await env.advance(5000);
    env.window.scrollY = 1200;
    env.listeners["scroll"]!.forEach((f) => f());
    env.hide();
    const last = env.sent.at(-1)!;
    assert.equal(last.via, "keepalive");
    const leave = last.body.events.find((e: any) => e.type == "leave");
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

  t("history changes of a single-page app count as pageviews", async () => {
    const env = new Env({ url: "https://shop.test/" });
    await env.bootAs(kind);
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

  t("identify and set are sent as given", async () => {
    const env = new Env();
    await env.bootAs(kind);
    env.window.nudge("identify", { id: "u1", email: "a@b.c" }, "f".repeat(64));
    env.window.nudge("set", { plan: "green" }, "ignored");
    await env.advance(2000);
    const ev = env.events();
    assert.deepEqual(ev.find((e) => e.type == "identify").user, { id: "u1", email: "a@b.c" });
    const set = ev.find((e) => e.type == "set");
    assert.deepEqual(Object.keys(set).sort(), ["batch", "ts", "type", "url", "vars", "via"]);
    assert.deepEqual(set.vars, { plan: "green" });
  });

  t("cookieless sites store nothing in the browser", async () => {
    const local = new FakeStorage();
    const session = new FakeStorage();
    const env = new Env({ local, session, config: { key: "shop", dnt: true, consent: false, cookieless: true } });
    await env.bootAs(kind);
    await env.advance(2000);
    assert.equal(env.sent[0]!.body.visitor, "");
    assert.equal(local.size, 0);
    assert.equal(session.size, 0);
  });

  t("an unreachable collector switches analytics off for half an hour, quietly", async () => {
    const local = new FakeStorage();
    const env = new Env({ local, collectFails: true });
    await env.bootAs(kind);
    await env.advance(2000);
    env.window.nudge("track", "x");
    await env.advance(10_000);
    assert.deepEqual(env.errors, []);
    const next = new Env({ local }); // a later page, collector back
    next.now = env.now + 60_000;
    await next.bootAs(kind);
    await next.advance(10_000);
    assert.equal(next.sent.length, 0, "still off");
    const later = new Env({ local });
    later.now = next.now + 31 * 60 * 1000;
    await later.bootAs(kind);
    await later.advance(2000);
    assert.equal(later.sent.length, 1, "measuring again");
  });

  t("a refusal by the collector (403) also switches it off; 429 and 503 do not", async () => {
    for (const [status, off] of [[403, true], [429, false], [503, false]] as const) {
      const env = new Env({ collectStatus: status });
      await env.bootAs(kind);
      await env.advance(2000);
      env.window.nudge("track", "again");
      await env.advance(2000);
      assert.equal(env.sent.length, off ? 1 : 2, `status ${status}`);
    }
  });
}
