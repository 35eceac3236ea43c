// The official Upstash client (@upstash/redis) against the repo's Upstash
// REST emulator (tests/src/bin/upstash_emulator.rs) backed by a real
// redis-server: if the client works unchanged, the emulator speaks the API
// the worker's UpstashStore relies on. Run by tests/tests/worker.rs, which
// starts redis-server and the emulator and passes their address:
//   UPSTASH_REDIS_REST_URL=http://127.0.0.1:P UPSTASH_REDIS_REST_TOKEN=T node --test tests/upstash-client/
import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";

const url = process.env.UPSTASH_REDIS_REST_URL;
const token = process.env.UPSTASH_REDIS_REST_TOKEN;
assert.ok(url && token, "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set");
const run = `${process.pid}-${Date.now()}`;

for (const enableAutoPipelining of [true, false]) {
  const redis = new Redis({ url, token, enableAutoPipelining });
  const k = (name) => `fidelity:${run}:${enableAutoPipelining ? "auto" : "single"}:${name}`;
  const mode = enableAutoPipelining ? "auto-pipelined (/pipeline)" : "one command per request (POST /)";

  test(`${mode}: SET/GET/TTL/NX/DEL`, async () => {
    assert.equal(await redis.set(k("a"), "hello", { ex: 60 }), "OK");
    assert.equal(await redis.get(k("a")), "hello");
    const ttl = await redis.ttl(k("a"));
    assert.ok(ttl > 55 && ttl <= 60, `ttl ${ttl}`);
    assert.equal(await redis.set(k("a"), "other", { nx: true }), null);
    assert.equal(await redis.get(k("a")), "hello");
    assert.equal(await redis.exists(k("a")), 1);
    assert.equal(await redis.expire(k("a"), 120), 1);
    assert.ok((await redis.ttl(k("a"))) > 100);
    assert.equal(await redis.del(k("a")), 1);
    assert.equal(await redis.get(k("a")), null);
    assert.equal(await redis.expire(k("a"), 10), 0);
  });

  test(`${mode}: a session record (JSON text) reads back as the object, unicode intact`, async () => {
    const record = { data: "session_data", unicode: "h\u00e9llo \ud83e\udd80 \"q\" \\ b", n: [1, 2.5, null, true] };
    await redis.set(k("session"), JSON.stringify(record), { ex: 60 });
    assert.deepEqual(await redis.get(k("session")), record);
    // Objects are serialized by the client; the raw value is JSON text.
    await redis.set(k("obj"), { data: "x" });
    assert.deepEqual(await redis.get(k("obj")), { data: "x" });
  });

  test(`${mode}: numbers, hashes, lists`, async () => {
    assert.equal(await redis.incr(k("n")), 1);
    assert.equal(await redis.incrby(k("n"), 41), 42);
    assert.equal(await redis.hset(k("h"), { a: "1", b: "two" }), 2);
    assert.deepEqual(await redis.hgetall(k("h")), { a: 1, b: "two" });
    assert.equal(await redis.rpush(k("l"), "x", "y", "z"), 3);
    assert.deepEqual(await redis.lrange(k("l"), 0, -1), ["x", "y", "z"]);
  });

  test(`${mode}: explicit pipeline and transaction`, async () => {
    const p = redis.pipeline();
    p.set(k("p1"), "v1");
    p.get(k("p1"));
    p.incr(k("p2"));
    assert.deepEqual(await p.exec(), ["OK", "v1", 1]);
    const tx = redis.multi();
    tx.set(k("t1"), "v", { nx: true, ex: 30 });
    tx.del(k("p1"));
    tx.get(k("t1"));
    assert.deepEqual(await tx.exec(), ["OK", 1, "v"]);
    assert.equal(await redis.get(k("p1")), null);
  });

  test(`${mode}: scripts`, async () => {
    await redis.set(k("s"), "scripted");
    assert.equal(await redis.eval("return redis.call('GET', KEYS[1])", [k("s")], []), "scripted");
  });

  test(`${mode}: Redis errors reach the client as errors`, async () => {
    await redis.set(k("str"), "not a number");
    await assert.rejects(redis.incr(k("str")), /not an integer|ERR/);
    await assert.rejects(redis.hget(k("str"), "f"), /WRONGTYPE/);
  });
}

test("a wrong token is refused (401 Unauthorized)", async () => {
  const bad = new Redis({ url, token: "wrong-token", enableAutoPipelining: false, retry: false });
  await assert.rejects(bad.get("anything"), /Unauthorized/);
});
