// Browser figures for the browse benchmark, in Debian's Chromium through
// Playwright (installed in end2end/): LCP and CLS of the list and track
// pages (median of 3 loads), the time to render 1,000 rows after a client
// navigation, and the size of the site's wasm, gzipped.
//   node bench/browser/vitals.mjs <base-url> <track-id>   (run from end2end/)
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { launch, observe } from './chromium.mjs';

const [base, track] = process.argv.slice(2);

const browser = await launch();

async function vitals(path) {
  const lcp = [];
  const cls = [];
  for (let i = 0; i < 3; i++) {
    const page = await browser.newPage();
    await page.addInitScript(observe);
    await page.goto(base + path, { waitUntil: 'load' });
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
    await page.waitForTimeout(800);
    const v = await page.evaluate(() => ({ lcp: window.__lcp, cls: window.__cls }));
    lcp.push(v.lcp);
    cls.push(v.cls);
    await page.close();
  }
  const med = (a) => a.sort((x, y) => x - y)[1];
  return { lcp: med(lcp), cls: med(cls) };
}

for (const [name, path] of [['list page', '/'], ['track page', `/tracks/${track}`]]) {
  const v = await vitals(path);
  console.log(`${(name + ' (Chromium)').padEnd(44)} LCP ${v.lcp.toFixed(0)} ms   CLS ${v.cls.toFixed(3)}`);
}

// 1,000 rows: a client-side navigation to a 1,000-row page, from the click
// to the frame after the last row is in the DOM (fetch included).
const times = [];
for (let i = 0; i < 3; i++) {
  const page = await browser.newPage();
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
  const ms = await page.evaluate(async (sort) => new Promise((resolve) => {
    const a = document.createElement('a');
    a.href = `/?per=1000&sort=${sort}`;
    document.querySelector('main').appendChild(a);
    const t0 = performance.now();
    const check = () => {
      if (document.querySelectorAll('[data-testid="track-row"]').length >= 1000) {
        requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
      } else {
        requestAnimationFrame(check);
      }
    };
    a.click();
    requestAnimationFrame(check);
  }), ['newest', 'title', 'duration'][i]);
  times.push(ms);
  await page.close();
}
times.sort((x, y) => x - y);
console.log(`${'render 1,000 rows (client navigation)'.padEnd(44)} median ${times[1].toFixed(0)} ms   (runs: ${times.map((t) => t.toFixed(0)).join(', ')})`);

const wasm = join(process.cwd(), '..', 'target', 'site', 'pkg', 'wavekeep.wasm');
if (existsSync(wasm)) {
  const raw = readFileSync(wasm);
  console.log(`${'site wasm (as built)'.padEnd(44)} ${(raw.length / 1024).toFixed(1)} KiB, gzipped ${(gzipSync(raw, { level: 9 }).length / 1024).toFixed(1)} KiB`);
}
await browser.close();
