// The live calls page: a call uploaded the way trunk-recorder and sdrtrunk
// upload them (rdio-scanner's call-upload API) while the page is open
// appears at the top without a reload; with "Listen live" on, it starts
// playing and the player says which talkgroup it is; a filter on another
// talkgroup keeps it out; a call that arrives before the page's change feed
// has connected is fetched when it connects.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';

const password = 'correct horse battery';
const dir = mkdtempSync(join(tmpdir(), 'wk-e2e-calls-'));

let tone = 500;

/** A call's audio, different each time (a call sent twice is stored once). */
function call(name: string, secs: number): Buffer {
  const out = join(dir, name);
  tone += 37;
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi',
    '-i', `sine=frequency=${tone}:duration=${secs}`, '-ar', '8000', '-ac', '1', '-c:a', 'pcm_s16le', out]);
  return readFileSync(out);
}

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function upload(request: APIRequestContext, key: string, talkgroup: number, label: string) {
  const res = await request.post('/api/call-upload', {
    multipart: {
      key,
      system: '11',
      systemLabel: 'County',
      talkgroup: String(talkgroup),
      talkgroupLabel: label,
      dateTime: String(Math.floor(Date.now() / 1000)),
      frequency: '851012500',
      audio: { name: `${talkgroup}-${Date.now()}.wav`, mimeType: 'audio/wav', buffer: call('call.wav', 2) },
    },
  });
  expect((await res.text()).trim()).toBe('Call imported successfully.');
}

test('a call uploaded while the page is open appears, and plays when listening live', async ({ page }) => {
  test.setTimeout(90_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const email = `calls-${Date.now()}@example.com`;
  expect((await page.request.post('/api/register', { form: { email, password } })).ok()).toBeTruthy();
  const made = await page.request.post('/api/v1/api-keys', { data: { name: 'scanner' } });
  expect(made.status()).toBe(201);
  const key = (await made.json()).secret as string;

  await page.goto('/calls');
  await hydrated(page);
  await expect(page.getByTestId('no-calls')).toBeVisible();
  await page.getByTestId('listen-live').click();
  await expect(page.getByTestId('listen-live')).toHaveAttribute('aria-pressed', 'true');

  await upload(page.request, key, 4242, 'Fire Dispatch');
  const rows = page.getByTestId('call-row');
  await expect(rows).toHaveCount(1, { timeout: 5_000 });
  await expect(rows.first().getByTestId('call-talkgroup')).toHaveText('Fire Dispatch (4242)');
  await expect(page.getByTestId('now-playing')).toContainText('Fire Dispatch (4242)');

  // A second call goes on top; the list is newest first.
  await upload(page.request, key, 4343, 'EMS North');
  await expect(rows).toHaveCount(2, { timeout: 5_000 });
  await expect(rows.first().getByTestId('call-talkgroup')).toHaveText('EMS North (4343)');

  // After a reload both are there from the server, newest first.
  await page.reload();
  await hydrated(page);
  await expect(rows).toHaveCount(2);
  await expect(rows.first().getByTestId('call-talkgroup')).toHaveText('EMS North (4343)');

  // Filtered to one talkgroup: only its calls, and new calls of others stay out.
  await page.goto('/calls?talkgroup=4242');
  await hydrated(page);
  await expect(rows).toHaveCount(1);
  await upload(page.request, key, 4343, 'EMS North');
  await upload(page.request, key, 4242, 'Fire Dispatch');
  await expect(rows).toHaveCount(2, { timeout: 5_000 });
  await expect(rows.getByTestId('call-talkgroup')).toHaveText(['Fire Dispatch (4242)', 'Fire Dispatch (4242)']);
  expect(errors).toEqual([]);
});

test('a call that comes before the live feed connects still appears', async ({ page }) => {
  const email = `calls-gap-${Date.now()}@example.com`;
  expect((await page.request.post('/api/register', { form: { email, password } })).ok()).toBeTruthy();
  const made = await page.request.post('/api/v1/api-keys', { data: { name: 'scanner' } });
  expect(made.status()).toBe(201);
  const key = (await made.json()).secret as string;

  // Hold the change feed's connection until the call is in.
  let release = () => {};
  const connected = new Promise<void>((r) => (release = r));
  await page.route('**/api/v1/changes', async (route) => {
    await connected;
    await route.continue();
  });
  await page.goto('/calls');
  await hydrated(page);
  await expect(page.getByTestId('no-calls')).toBeVisible();
  await upload(page.request, key, 5151, 'Harbor Patrol');
  const rows = page.getByTestId('call-row');
  await page.waitForTimeout(500);
  await expect(rows).toHaveCount(0);
  release();
  await expect(rows).toHaveCount(1, { timeout: 5_000 });
  await expect(rows.first().getByTestId('call-talkgroup')).toHaveText('Harbor Patrol (5151)');
});
