// Browser figures for the listening benchmark (bench/listening.sh), in
// Debian's Chromium through Playwright (installed in end2end/): the list
// page's LCP and CLS (median of 5 loads), the time to render 1,000 rows
// after a client navigation (median of 5, fetch included), and the bytes
// of small-waveform data in a page of 50 rows (JSON and HTML).
//   node bench/browser/listening.mjs <base-url> <label>   (run from end2end/)
import { gzipSync } from 'node:zlib';
import { launch, observe } from './chromium.mjs';

const [base, label] = process.argv.slice(2);

const browser = await launch();
const median = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];

const lcp = [];
const cls = [];
for (let i = 0; i < 5; i++) {
  const page = await browser.newPage();
  await page.addInitScript(observe);
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
  await page.waitForTimeout(800);
  const v = await page.evaluate(() => ({ lcp: window.__lcp, cls: window.__cls }));
  lcp.push(v.lcp);
  cls.push(v.cls);
  await page.close();
}

const times = [];
for (let i = 0; i < 5; i++) {
  const page = await browser.newPage();
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
  const ms = await page.evaluate(async () => {
    const a = document.createElement('a');
    a.href = '/?per=1000';
    document.body.appendChild(a);
    const start = performance.now();
    a.click();
    await new Promise((resolve) => {
      const check = () => {
        if (document.querySelectorAll('[data-testid=track-row]').length >= 1000) {
          requestAnimationFrame(() => resolve());
        } else {
          requestAnimationFrame(check);
        }
      };
      check();
    });
    return performance.now() - start;
  });
  times.push(ms);
  await page.close();
}

const json = await (await fetch(base + '/api/v1/tracks')).text();
const rows = JSON.parse(json).items;
const waveJson = rows.reduce((n, t) => n + (t.wave ? `,"wave":"${t.wave}"`.length : 0), 0);
const html = await (await fetch(base + '/')).text();
const paths = [...html.matchAll(/<svg viewBox="0 0 64 52"[^>]*>.*?<\/svg>/g)];
const waveHtml = paths.reduce((n, m) => n + m[0].length, 0);

console.log(`[${label}] list page LCP ${median(lcp).toFixed(0)} ms (runs ${lcp.map((x) => x.toFixed(0)).join(', ')})   CLS ${median(cls).toFixed(3)} (max ${Math.max(...cls).toFixed(3)})`);
console.log(`[${label}] render 1,000 rows (client navigation) median ${median(times).toFixed(0)} ms (runs ${times.map((x) => x.toFixed(0)).join(', ')})`);
console.log(`[${label}] a page of ${rows.length} rows: JSON ${json.length} B (${gzipSync(json).length} B gzipped), of which waveforms ${waveJson} B; HTML ${html.length} B (${gzipSync(html).length} B gzipped), of which waveform SVG ${waveHtml} B`);
await browser.close();
