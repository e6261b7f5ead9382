// An admin watches /admin: traffic moves the numbers without a reload (server-
// sent events), a job that failed because its file was missing shows with its
// error, and once the file is back, "Retry" on the page makes it succeed.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const adminEmail = process.env.WAVEKEEP_E2E_ADMIN_EMAIL ?? '';
const adminPassword = process.env.WAVEKEEP_E2E_ADMIN_PASSWORD ?? '';
const dataDir = process.env.WAVEKEEP_E2E_DATA_DIR ?? '';

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

function number(text: string | null): number {
  return Number((text ?? '').replace(/[^0-9.]/g, ''));
}

test('an admin sees live numbers and retries a failed job', async ({ page, browser, baseURL }) => {
  test.skip(!adminEmail || !dataDir, 'the test command creates the admin and names the data dir');
  test.setTimeout(90_000);

  // Visitors and users are refused.
  const visitor = await browser.newPage();
  expect((await visitor.goto(`${baseURL}/admin`))?.status()).toBe(401);
  await visitor.request.post(`${baseURL}/api/register`, {
    form: { email: `plain-${Date.now()}@example.com`, password: 'correct horse battery' },
  });
  expect((await visitor.goto(`${baseURL}/admin`))?.status()).toBe(403);
  await expect(visitor.getByTestId('forbidden')).toBeVisible();
  await visitor.close();

  const login = await page.request.post('/api/login', { form: { email: adminEmail, password: adminPassword } });
  expect(login.ok()).toBeTruthy();

  // A processed track whose stored file we can take away.
  const dir = mkdtempSync(join(tmpdir(), 'wk-admin-'));
  const wav = join(dir, 'admin-tone.wav');
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi',
    '-i', `sine=frequency=${200 + (Date.now() % 500)}:sample_rate=44100:duration=2`, '-c:a', 'pcm_s16le', wav]);
  const bytes = readFileSync(wav);
  const sha = createHash('sha256').update(bytes).digest('hex');
  const created = await page.request.post('/api/v1/tracks', {
    multipart: { title: 'Admin tone', audio: { name: 'admin-tone.wav', mimeType: 'audio/wav', buffer: bytes } },
  });
  expect(created.status()).toBe(202);
  const { id: trackId, asset_id: assetId } = await created.json();
  await expect
    .poll(async () => (await (await page.request.get(`/api/v1/tracks/${trackId}`)).json()).status, { timeout: 30_000 })
    .toBe('ready');
  expect(assetId).toBeGreaterThan(0);

  await page.goto('/admin');
  await hydrated(page);
  await expect(page.getByTestId('live')).toHaveText('live');
  await expect(page.getByTestId('history')).toContainText('History starts at');
  // Transcription: the provider's limits against their use, live.
  await expect(page.getByTestId('transcription-stats')).toBeVisible();
  await expect(page.getByTestId('stt-in-flight')).toHaveText(/^\d+ \/ 5$/);
  await expect(page.getByTestId('stt-rate')).toHaveText(/^\d+ \/ 30$/);
  await expect(page.getByTestId('stt-breaker')).toHaveText('closed');

  // Traffic moves the numbers on the open page.
  const before = number(await page.getByTestId('kpi-requests').textContent());
  for (let i = 0; i < 40; i++) {
    await page.request.get('/healthz');
  }
  await expect.poll(async () => number(await page.getByTestId('kpi-requests').textContent()), { timeout: 10_000 })
    .toBeGreaterThanOrEqual(before + 40);
  await expect(page.getByTestId('routes')).toContainText('GET /healthz');
  await expect(page.getByTestId('chart-throughput').locator('path')).toHaveCount(1);

  // Take the file away and queue a preview job with one attempt: it fails.
  const object = join(dataDir, 'objects', sha.slice(0, 2), sha.slice(2, 4), sha);
  expect(existsSync(object)).toBeTruthy();
  renameSync(object, `${object}.away`);
  const queued = await page.request.post('/api/admin/jobs', {
    data: { kind: 'preview', target: assetId, max_attempts: 1 },
  });
  expect(queued.status()).toBe(201);
  const job = (await queued.json()).id;
  const failedRow = page.getByTestId(`failed-${job}`);
  await expect(failedRow).toBeVisible({ timeout: 15_000 });
  await expect(failedRow).not.toHaveText(/^\s*$/);
  await expect(page.getByTestId(`job-state-${job}`)).toHaveText('dead');

  // Put it back and retry from the page: the job runs again and succeeds.
  renameSync(`${object}.away`, object);
  await page.getByTestId(`retry-${job}`).click();
  await expect(page.getByTestId(`job-state-${job}`)).toHaveText('succeeded', { timeout: 15_000 });
  await expect(failedRow).toHaveCount(0);
  await expect(page.getByTestId('live')).toHaveText('live');
});
