// The guide module in a real DOM (happy-dom) with the real bundles: offers
// appear when their rule qualifies, only while someone can answer, within
// caps and cool-downs; the control group is counted and sees nothing; the
// page API and pushed offers work; nothing is rendered as HTML; a malformed
// rule set shows nothing and throws nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Page, type Server } from "./dom";

const billing = {
  id: "R1",
  v: 3,
  priority: 10,
  when: { all: [{ fact: "page.path", op: "starts_with", value: "/billing" }, { fact: "page.seconds", op: "gte", value: 5 }] },
  action: { type: "chat_offer", queue: "Support", title: "Billing?", text: "Questions about your bill?", metadata: { topic: "billing" }, max_wait_seconds: 120 },
  limits: { per_visit: 1, cooldown_days_after_decline: 14 },
};
const cfg = (rules: unknown[], extra: Record<string, unknown> = {}) => ({
  key: "shop",
  modules: ["analytics", "guide", "chat"],
  dnt: false,
  consent: false,
  cookieless: false,
  theme: { color: "#0a7d5a", position: "right" },
  zone: "Europe/Paris",
  rules,
  templates: {},
  ...extra,
});
const staffed = { support: { agents_available: 1, estimated_wait: 30 } };

async function open(server: Server, o: ConstructorParameters<typeof Page>[1] = {}) {
  const p = new Page(server, { url: "https://shop.test/billing/invoices", ...o });
  await p.boot();
  return p;
}

test("a chat offer appears after its delay, accessible, and its steps are counted", async () => {
  const p = await open({ config: cfg([billing]), queues: staffed });
  await p.advance(3000);
  assert.equal(p.card(), null, "not before page.seconds reaches 5");
  await p.advance(3000);
  const card = p.card();
  assert.ok(card, "the offer shows after 5 seconds on /billing");
  assert.equal(card.getAttribute("role"), "dialog");
  assert.equal(card.querySelector("h2").textContent, "Billing?");
  assert.equal(card.querySelector("p").textContent, "Questions about your bill?");
  assert.equal(p.root("guide").querySelector("[aria-live]").textContent.trim(), "Billing? Questions about your bill?", "a live region announces it");
  assert.equal(p.root("guide").activeElement?.textContent, "Start chat", "focus moves to the offer");
  await p.advance(3000);
  assert.deepEqual(p.offerEvents(), ["R1:offer:qualified", "R1:offer:shown"]);
  assert.equal(p.events.find((e) => e.type == "offer").offer.v, 3);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("a chat offer waits while nobody can answer, and while the wait is over its limit", async () => {
  const server: Server = { config: cfg([billing]), queues: { support: { agents_available: 0, estimated_wait: -1 } } };
  const p = await open(server);
  await p.advance(10_000);
  assert.equal(p.card(), null, "no agent free: no offer");
  server.queues = { support: { agents_available: 2, estimated_wait: 600 } };
  await p.advance(10_000);
  assert.equal(p.card(), null, "an estimated wait of 10 minutes is over the rule's 2");
  server.queues = staffed;
  await p.advance(10_000);
  assert.ok(p.card(), "shown once an agent is free with a short wait");
  assert.ok(p.fetched.filter((f) => f.startsWith("/availability/")).length <= 7, "availability is fetched at most every few seconds: " + p.fetched.length);
  await p.close();
});

test("a decline is remembered across visits until the cool-down ends", async () => {
  const p = await open({ config: cfg([billing]), queues: staffed });
  await p.advance(6000);
  [...p.card().querySelectorAll("button")].find((b: any) => b.textContent == "No thanks").click();
  await p.settle();
  assert.equal(p.card(), null);
  await p.advance(3000);
  assert.deepEqual(p.offerEvents(), ["R1:offer:qualified", "R1:offer:shown", "R1:offer:declined"]);
  const storage = p.storage();
  await p.close();

  // The next day, a new visit: still declined.
  const next = await open({ config: cfg([billing]), queues: staffed }, { now: p.now + 864e5, storage });
  await next.advance(10_000);
  assert.equal(next.card(), null, "declined 1 day ago, cool-down 14 days");
  await next.close();
  // Fifteen days later: offered again.
  const later = await open({ config: cfg([billing]), queues: staffed }, { now: p.now + 15 * 864e5, storage });
  await later.advance(10_000);
  assert.ok(later.card(), "the cool-down is over");
  await later.close();
});

test("once per visit by default; Escape dismisses", async () => {
  const p = await open({ config: cfg([billing]), queues: staffed });
  await p.advance(6000);
  p.card().dispatchEvent(new p.w.KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
  await p.settle();
  assert.equal(p.card(), null, "Escape closes the offer");
  p.w.history.pushState({}, "", "/billing/other");
  await p.advance(10_000);
  assert.equal(p.card(), null, "per_visit 1: not again in this visit");
  await p.advance(3000);
  assert.deepEqual(p.offerEvents(), ["R1:offer:qualified", "R1:offer:shown", "R1:offer:dismissed"]);
  await p.close();
});

test("the control group qualifies and is counted, and sees nothing", async () => {
  // Bucket of visitor "v-control" for rule R1 is below 50 (the Go and page buckets are tested equal).
  const rule = { ...billing, split: { control_percent: 90 } };
  const p = await open({ config: cfg([rule]), queues: staffed }, { storage: { nudge_v_shop: "v-control" } });
  await p.advance(10_000);
  assert.equal(p.card(), null);
  assert.deepEqual(p.offerEvents(), ["R1:control:qualified"]);
  await p.close();
});

test("the highest priority offer wins, one at a time; an entry point stays", async () => {
  const low = { ...billing, id: "R2", priority: 1, action: { ...billing.action, title: "Low" } };
  const tab = { id: "R3", priority: 0, when: { all: [] }, action: { type: "entry_point", label: "Help", queue: "Support" }, limits: { per_visit: 1 } };
  const p = await open({ config: cfg([low, billing, tab]), queues: staffed });
  await p.advance(6000);
  assert.equal(p.card().querySelector("h2").textContent, "Billing?");
  assert.equal(p.root("guide").querySelectorAll(".o").length, 1);
  assert.equal(p.root("guide").querySelector(".t").textContent, "Help");
  await p.close();
});

test("templates show their words as text, images and links only over http(s)", async () => {
  const rule = { id: "R4", priority: 0, when: { fact: "page.exit_intent", op: "eq", value: true }, action: { type: "content_offer", template: "T1" }, limits: { per_visit: 1 } };
  const templates = {
    T1: {
      title: '<img src=x onerror="document.title=1">',
      body: "<b>10 % off</b>",
      image_url: "javascript:alert(1)",
      buttons: [{ label: "Shop", action: "link", url: "javascript:alert(2)" }, { label: "No thanks", action: "dismiss" }],
    },
  };
  const p = await open({ config: cfg([rule], { templates }) });
  await p.advance(2000);
  assert.equal(p.card(), null, "no exit intent yet");
  p.w.document.dispatchEvent(new p.w.MouseEvent("mouseout", { clientY: 0, relatedTarget: null, bubbles: true }));
  await p.settle();
  const card = p.card();
  assert.ok(card, "exit intent shows the offer at once");
  assert.equal(card.querySelector("h2").textContent, '<img src=x onerror="document.title=1">');
  assert.equal(card.querySelector("p").textContent, "<b>10 % off</b>");
  assert.equal(card.querySelectorAll("img, b").length, 0, "no markup, no unsafe image");
  [...card.querySelectorAll("button")].find((b: any) => b.textContent == "Shop").click();
  await p.settle();
  assert.equal(p.w.location.href, "https://shop.test/billing/invoices", "a javascript: link goes nowhere");
  assert.equal(p.w.document.title, "Billing · Shop");
  await p.close();
});

test("a malformed rule set shows nothing and throws nothing", async () => {
  const bad = [null, 1, "x", { id: 2 }, { id: "a", when: "x", action: { type: "chat_offer" } }, { id: "b", when: { fact: "page.path", op: "regex", value: ".*" }, action: { type: "chat_offer" } }];
  const p = await open({ config: cfg(bad), queues: staffed });
  await p.advance(20_000);
  assert.equal(p.card(), null);
  assert.deepEqual(p.errors, []);
  const q = await open({ config: cfg("nonsense" as any) });
  await q.advance(5000);
  assert.deepEqual(q.errors, []);
  await p.close();
  await q.close();
});

test("page code offers a chat with nudge('offer'), with or without nudge's UI, and accepts it", async () => {
  const p = await open({ config: cfg([]), queues: staffed });
  const seen: string[] = [];
  for (const e of ["offer", "offer:shown", "offer:accepted", "offer:declined"]) p.w.nudge("on", e, (d: any) => seen.push(e + ":" + d.queue));
  p.w.nudge("offer", "Sales", { cart: 129 }, { ui: false });
  await p.settle();
  assert.equal(p.card(), null, "ui false: the site shows its own");
  assert.deepEqual(seen, ["offer:Sales"]);
  p.w.nudge("accept");
  await p.settle();
  assert.deepEqual(seen, ["offer:Sales", "offer:accepted:Sales"]);
  assert.ok(p.ran.has("chat"), "accepting loads the chat panel");
  p.w.nudge("offer", "Sales");
  await p.settle();
  assert.ok(p.card(), "with nudge's own UI");
  p.w.nudge("decline");
  await p.settle();
  assert.equal(p.card(), null);
  assert.ok(seen.includes("offer:declined:Sales"));
  await p.close();
});

test("an offer pushed by the site's backend reaches the open page within seconds", async () => {
  const server: Server = { config: cfg([], { push: true }), queues: staffed };
  const p = await open(server, { storage: { nudge_v_shop: "v1" } });
  await p.advance(4000);
  assert.ok(p.fetched.some((f) => f.startsWith("/offers/shop?visitor=v1")), "the page polls");
  server.pushed = [{ id: "P1", queue: "support", text: "Your order is ready", ui: true }];
  await p.advance(4000);
  assert.equal(p.card()?.querySelector("p").textContent, "Your order is ready");
  await p.close();
});

test("a rule published while the page is open takes effect without a reload", async () => {
  const server: Server = { config: cfg([]), queues: staffed };
  const p = await open(server);
  await p.advance(5000);
  server.config = cfg([billing]);
  p.w.history.pushState({}, "", "/billing/2026"); // a navigation revalidates (at most every 10 s)
  await p.advance(15_000);
  if (!p.card()) await p.advance(60_000); // else the minute's revalidation
  assert.ok(p.card(), "the new rule's offer shows");
  await p.close();
});

test("under consent mode nothing is stored before consent, and caps hold for the page view", async () => {
  const p = await open({ config: cfg([billing], { consent: true }), queues: staffed });
  await p.advance(6000);
  assert.ok(p.card());
  p.card().querySelector(".x").click();
  await p.advance(10_000);
  assert.equal(p.card(), null, "dismissed: not again on this page");
  assert.deepEqual(Object.keys(p.storage()), [], "nothing stored without consent");
  p.w.nudge("consent", true);
  await p.settle();
  assert.ok(p.storage().nudge_g_shop, "stored after consent");
  await p.close();
});

test("the guide's decision follows a fact change within a frame", async () => {
  const rule = { id: "R5", priority: 0, when: { fact: "vars.plan", op: "eq", value: "trial" }, action: { type: "chat_offer", queue: "Support", text: "Need help?" } };
  const p = await open({ config: cfg([rule]), queues: staffed });
  await p.advance(6000); // availability fetched
  p.w.nudge("set", { plan: "trial" });
  await p.settle(); // one animation frame, no clock tick
  assert.ok(p.card(), "shown in the frame after nudge('set')");
  await p.close();
});

test("under Do Not Track offers still show, and nothing is stored or sent", async () => {
  const p = await open({ config: cfg([billing], { dnt: true }), queues: staffed }, { dnt: true });
  await p.advance(6000);
  assert.ok(p.card(), "the offer is made in the page");
  p.card().querySelector(".x").click();
  await p.advance(10_000);
  assert.equal(p.card(), null, "the caps hold for the page view");
  assert.deepEqual(Object.keys(p.storage()), []);
  assert.deepEqual(p.events, [], "no analytics module, nothing sent");
  await p.close();
});

test("visitor.country comes from the configuration's country header", async () => {
  const rule = { id: "R6", priority: 0, when: { fact: "visitor.country", op: "in", value: ["CH", "DE"] }, action: { type: "content_offer", template: "T" } };
  const templates = { T: { title: "Grüezi" } };
  const p = await open({ config: cfg([rule], { templates }), country: "CH" });
  await p.advance(2000);
  assert.equal(p.card()?.querySelector("h2").textContent, "Grüezi");
  const q = await open({ config: cfg([rule], { templates }) });
  await q.advance(2000);
  assert.equal(q.card(), null, "no header: the fact is missing");
  await p.close();
  await q.close();
});

test("cookieless sites keep caps without a visitor id", async () => {
  const rule = { ...billing, split: { control_percent: 50 } };
  const p = await open({ config: cfg([rule], { cookieless: true }), queues: staffed });
  await p.advance(10_000);
  const stored = p.storage();
  assert.equal(stored.nudge_v_shop, undefined, "no visitor id");
  const g = JSON.parse(stored.nudge_g_shop ?? "{}");
  assert.equal(typeof g.r.R1.b, "number", "a bucket drawn for the rule instead");
  assert.equal(g.r.R1.n, 1, "the show (or hold-back) is capped");
  const variant = p.offerEvents()[0]!.split(":")[1];
  await p.close();
  // The next visit keeps the same variant and the caps.
  const next = await open({ config: cfg([rule], { cookieless: true }), queues: staffed }, { now: p.now + 40 * 60_000, storage: stored });
  await next.advance(10_000);
  const again = next.offerEvents().find((e) => e.endsWith(":qualified"));
  assert.equal(again?.split(":")[1], variant, "same group on the next visit");
  await next.close();
});

test("a failing availability answer is not asked again every second", async () => {
  const p = await open({ config: cfg([billing]), queues: staffed, down: true });
  await p.advance(60_000);
  const asked = p.fetched.filter((f) => f.startsWith("/availability/")).length;
  assert.ok(asked >= 2 && asked <= 13, `asked ${asked} times in a minute`);
  assert.equal(p.card(), null, "no chat offer without an answer");
  assert.deepEqual(p.errors, []);
  await p.close();
});
