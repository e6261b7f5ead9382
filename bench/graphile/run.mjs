// graphile-worker on the same PostgreSQL, measured like wavekeep's queue
// benchmark: no-op jobs/s draining a full queue (concurrency 32), and
// enqueue-to-start latency p50/p99 into an idle worker.
//   node run.mjs ADMIN_URL   (a scratch database is created and dropped)
import pg from 'pg';
import { run, makeWorkerUtils } from 'graphile-worker';

const admin = process.argv[2] ?? 'postgres://postgres@127.0.0.1:5432/test';
const JOBS = Number(process.env.JOBS ?? 20000);
const SAMPLES = 500;
const name = `wk_bench_graphile_${process.pid}`;
const adminClient = new pg.Client({ connectionString: admin });
await adminClient.connect();
await adminClient.query(`CREATE DATABASE ${name}`);
const url = admin.replace(/\/[^/]*$/, `/${name}`);

let done = 0;
let onStart = null;
const taskList = {
  noop: async () => {
    if (onStart) onStart(performance.now());
    done += 1;
  },
};
const utils = await makeWorkerUtils({ connectionString: url });
await utils.migrate();

// Fill the queue (bulk insert through graphile's own SQL API).
const client = new pg.Client({ connectionString: url });
await client.connect();
const t0 = performance.now();
for (let i = 0; i < JOBS; i += 1000) {
  const n = Math.min(1000, JOBS - i);
  await client.query(
    `SELECT graphile_worker.add_jobs(array_agg(row('noop', '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec)) FROM generate_series(1, $1)`,
    [n],
  );
}
const enqueueRate = JOBS / ((performance.now() - t0) / 1000);

const start = performance.now();
const runner = await run({ connectionString: url, concurrency: 32, noHandleSignals: true, pollInterval: 1000, taskList });
while (done < JOBS) await new Promise((r) => setTimeout(r, 5));
// Completion rows: wait until the queue is empty.
for (;;) {
  const { rows } = await client.query('SELECT count(*)::int AS n FROM graphile_worker.jobs');
  if (rows[0].n === 0) break;
  await new Promise((r) => setTimeout(r, 5));
}
const rate = JOBS / ((performance.now() - start) / 1000);

const lat = [];
for (let i = 0; i < SAMPLES; i++) {
  await new Promise((r) => setTimeout(r, 2));
  const started = new Promise((resolve) => { onStart = resolve; });
  const t = performance.now();
  await utils.addJob('noop', {});
  lat.push((await started) - t);
}
onStart = null;
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
console.log(`graphile-worker 0.16 (postgres): ${rate.toFixed(0)} no-op jobs/s (${JOBS} jobs, concurrency 32) | bulk enqueue ${enqueueRate.toFixed(0)}/s | enqueue→start p50 ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms`);

await runner.stop();
await utils.release();
await client.end();
await adminClient.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
await adminClient.end();
