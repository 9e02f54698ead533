import { test } from "node:test";
import assert from "node:assert/strict";
import vm from "node:vm";
import { Env, read } from "./env";

const stub = read("stub.js");

test("the stub queues calls until the loader arrives and injects the loader once", () => {
  const env = new Env({ nonce: "n0nce" });
  env.window.document.currentScript = { nonce: "n0nce" };
  env.run(stub, "");
  env.window.document.currentScript = { nonce: "n0nce" };
  env.window.nudge("track", "early", { a: 1 });
  env.window.nudge("identify", { id: "u1" }, "hash");
  assert.equal(env.window.nudge.q.length, 2);
  assert.deepEqual(Array.from(env.window.nudge.q[0]), ["track", "early", { a: 1 }]);
  assert.equal(env.scripts.length, 1);
  assert.equal(env.scripts[0]!.src, "http://localhost:8080/l/shop.js");

  // Pasted twice: the second copy changes nothing.
  const first = env.window.nudge;
  env.run(stub, "");
  assert.equal(env.window.nudge, first);
  assert.equal(env.scripts.length, 1);
});

test("the stub passes the page's CSP nonce to the loader", () => {
  const env = new Env();
  const code = stub;
  env.window.document.currentScript = { nonce: "abc123" };
  // run() sets currentScript itself; set it by hand to keep the nonce.
  vm.runInContext(code, env.ctx);
  assert.equal(env.scripts[0]!.nonce, "abc123");
});
