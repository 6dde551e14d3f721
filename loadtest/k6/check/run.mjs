// Loads a k6 script (copied, with its k6 imports pointed at the stand-ins) and checks its options; with
// SMOKE_TARGET set, also runs setup() and ITERATIONS iterations against that GraphQL endpoint.
//   node run.mjs <dir of the rewritten copy> <script.js>
import { pathToFileURL } from 'node:url';
import path from 'node:path';

globalThis.__ENV = { ...process.env, TARGET: process.env.SMOKE_TARGET || process.env.TARGET };
const [dir, script] = process.argv.slice(2);
const mod = await import(pathToFileURL(path.join(dir, script)).href);
const http = await import(pathToFileURL(path.join(dir, 'check/k6-http.mjs')).href);
const k6 = await import(pathToFileURL(path.join(dir, 'check/k6.mjs')).href);
const metrics = await import(pathToFileURL(path.join(dir, 'check/k6-metrics.mjs')).href);

const o = mod.options;
const scenarios = Object.values(o.scenarios || {});
if (scenarios.length === 0) throw new Error(`${script}: no scenarios`);
for (const s of scenarios) {
  if (!['constant-arrival-rate', 'ramping-arrival-rate'].includes(s.executor)) {
    throw new Error(`${script}: ${s.executor} is not an arrival-rate executor`);
  }
}
if (!Object.keys(o.thresholds).some((k) => k.startsWith('http_req_duration'))) {
  throw new Error(`${script}: no latency threshold`);
}
if (!/p\(99\)</.test(JSON.stringify(o.thresholds))) throw new Error(`${script}: no p99 threshold`);
if (typeof mod.default !== 'function' || typeof mod.setup !== 'function') {
  throw new Error(`${script}: needs setup() and a default function`);
}
console.log(`${script}: ${scenarios.map((s) => s.executor).join(' + ')}; thresholds ${JSON.stringify(o.thresholds)}`);

if (process.env.SMOKE_TARGET) {
  const data = mod.setup();
  const n = Number(process.env.ITERATIONS || 60);
  for (let i = 0; i < n; i++) mod.default(data);
  if (mod.teardown) mod.teardown(data);
  const ops = {};
  for (const r of http.requests) ops[r.tags.op] = (ops[r.tags.op] || 0) + 1;
  console.log(`  ${data.products.length} products, ${data.customers.length} customers; requests by op ${JSON.stringify(ops)}`);
  console.log(`  checks ${JSON.stringify(k6.checks)}; counters ${JSON.stringify(metrics.counters)}`);
  if (k6.checks.fails > 0 || k6.checks.passes === 0) throw new Error(`${script}: checks failed`);
}
