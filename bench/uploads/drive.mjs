// Upload load generator: N concurrent clients each upload one file of SIZE
// bytes (distinct content) and the run prints success, latency p50/p95/max
// and throughput as JSON.
//   node drive.mjs tus URL [KEY]        tus-js-client, one PATCH per file
//   node drive.mjs multipart URL KEY    POST multipart (wavekeep's machine API)
import { randomFillSync } from 'node:crypto';
import * as tus from 'tus-js-client';

const [mode, url, key] = process.argv.slice(2);
const clients = Number(process.env.CLIENTS ?? 100);
const size = Number(process.env.SIZE ?? 1024 * 1024);
const headers = key ? { Authorization: `Bearer ${key}` } : {};

function tusUpload(i, body) {
  return new Promise((resolve, reject) => {
    const up = new tus.Upload(body, {
      endpoint: url,
      headers,
      chunkSize: Infinity,
      uploadSize: body.length,
      retryDelays: [],
      metadata: { filename: `bench-${i}.wav` },
      onSuccess: resolve,
      onError: reject,
    });
    up.start();
  });
}

async function multipartUpload(i, body) {
  const form = new FormData();
  form.append('title', `bench ${i}`);
  form.append('audio', new Blob([body]), `bench-${i}.wav`);
  const res = await fetch(url, { method: 'POST', headers, body: form });
  if (res.status !== 202) throw new Error(`status ${res.status}: ${await res.text()}`);
}

const bodies = Array.from({ length: clients }, () => randomFillSync(Buffer.alloc(size)));
const times = [];
let failed = 0;
const start = performance.now();
await Promise.all(bodies.map(async (body, i) => {
  const t = performance.now();
  try {
    await (mode === 'tus' ? tusUpload(i, body) : multipartUpload(i, body));
    times.push(performance.now() - t);
  } catch (e) {
    failed += 1;
    if (failed === 1) console.error(String(e));
  }
}));
const wall = (performance.now() - start) / 1000;
times.sort((a, b) => a - b);
const q = (p) => times.length ? times[Math.min(times.length - 1, Math.floor(times.length * p))] : NaN;
console.log(JSON.stringify({
  mode, clients, size, ok: times.length, failed,
  p50_ms: +q(0.5).toFixed(1), p95_ms: +q(0.95).toFixed(1), max_ms: +q(1).toFixed(1),
  mb_per_s: +((times.length * size) / 1048576 / wall).toFixed(1), wall_s: +wall.toFixed(2),
}));
