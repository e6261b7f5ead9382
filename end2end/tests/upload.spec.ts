// A person uploads real audio on /upload: several files at once, pause and
// resume, a page reload in the middle of a large upload (it continues where it
// stopped when the file is added again), and each file becomes a processed track.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const password = 'correct horse battery';
const dir = mkdtempSync(join(tmpdir(), 'wk-e2e-'));

function tone(name: string, secs: number, args: string[]): string {
  const out = join(dir, name);
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi',
    '-i', `sine=frequency=330:sample_rate=44100:duration=${secs}`, ...args, out]);
  return out;
}

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function signUp(page: Page) {
  const email = `up-${Date.now()}@example.com`;
  const res = await page.request.post('/api/register', { form: { email, password } });
  expect(res.ok()).toBeTruthy();
}

async function trackOf(page: Page, row: ReturnType<Page['locator']>) {
  // The row follows processing live (server-sent events) until the track is ready.
  await expect(row).toHaveAttribute('data-processing', 'ready', { timeout: 30_000 });
  await expect(row.getByTestId('upload-status')).toContainText('Ready ·');
  const href = await row.getByTestId('track-link').getAttribute('href');
  expect(href).toMatch(/^\/tracks\/\d+$/);
  const track = await (await page.request.get(`/api/v1${href}`)).json();
  expect(track.status).toBe('ready');
  return track;
}

test('upload several files; each becomes a processed track', async ({ page }) => {
  const mp3 = tone('morning.mp3', 3, ['-c:a', 'libmp3lame', '-b:a', '128k']);
  const flac = tone('evening.flac', 2, ['-c:a', 'flac']);
  await signUp(page);
  await page.goto('/upload');
  await hydrated(page);
  await page.getByTestId('file-input').setInputFiles([mp3, flac]);
  const rows = page.getByTestId('upload-row');
  await expect(rows).toHaveCount(2);
  for (const [i, ms] of [[0, 3000], [1, 2000]]) {
    const row = rows.nth(i);
    await expect(row).toHaveAttribute('data-state', 'done', { timeout: 20_000 });
    const track = await trackOf(page, row);
    expect(Math.abs(track.duration_ms - ms)).toBeLessThanOrEqual(100);
  }
  const first = await trackOf(page, rows.nth(0));
  expect(first.title).toBe('morning');
  expect(first.versions[0].asset.codec).toBe('mp3');
  // The track page shows the stored facts.
  await rows.nth(0).getByTestId('track-link').click();
  await expect(page).toHaveURL(/\/tracks\/\d+$/);
  await expect(page.getByTestId('track-title')).toHaveText('morning');
  await expect(page.getByTestId('track-status')).toHaveText('Ready');
  await expect(page.getByTestId('track-duration')).toHaveText('0:03');
  await expect(page.getByTestId('version')).toContainText('MP3 · 44.1 kHz · mono');
  await expect(page.getByTestId('job')).toHaveCount(2);
});

test('pause, resume, and survive a reload', async ({ page }) => {
  test.setTimeout(90_000);
  // 300 s of stereo PCM ≈ 53 MB: eleven 5 MB chunks, four in flight, so
  // chunks are still to send when the page reloads (with 26 MB the last
  // parts could all land together with the first progress after Resume).
  const wav = tone('long-take.wav', 300, ['-c:a', 'pcm_s16le', '-ac', '2']);
  await signUp(page);
  // Slow every PATCH down so there is time to pause and to reload.
  await page.route('**/api/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH') await new Promise((r) => setTimeout(r, 1200));
    // The reload below cancels a PATCH held here: the route is gone by then.
    await route.continue().catch(() => {});
  });
  await page.goto('/upload');
  await hydrated(page);
  await page.getByTestId('file-input').setInputFiles(wav);
  const row = page.getByTestId('upload-row').first();
  await expect(row).toHaveAttribute('data-state', 'uploading', { timeout: 15_000 });
  await expect(row.getByTestId('upload-status')).toContainText('/s');

  await row.getByRole('button', { name: 'Pause' }).click();
  await expect(row).toHaveAttribute('data-state', 'paused');
  const paused = Number(await row.locator('progress').getAttribute('value'));
  await page.waitForTimeout(2500);
  expect(Number(await row.locator('progress').getAttribute('value'))).toBe(paused);
  await row.getByRole('button', { name: 'Resume' }).click();
  await expect(row).toHaveAttribute('data-state', 'uploading');

  // Reload in the middle; the browser remembers the unfinished upload.
  await expect(async () => {
    expect(Number(await row.locator('progress').getAttribute('value'))).toBeGreaterThan(paused);
  }).toPass({ timeout: 15_000 });
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('pending-uploads')).toContainText('long-take.wav');
  await page.unroute('**/api/uploads/*');
  await page.getByTestId('file-input').setInputFiles(wav);
  const again = page.getByTestId('upload-row').first();
  await expect(again.getByTestId('resumed')).toBeVisible();
  // A part cut off by the reload may answer the first retries with a
  // conflict (tus-js-client then waits 0, 1, 3, 5, 10 … s): allow for them.
  await expect(again).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
  const track = await trackOf(page, again);
  expect(Math.abs(track.duration_ms - 300_000)).toBeLessThanOrEqual(100);
  expect(track.versions[0].asset.channels).toBe(2);
  // After a finished upload nothing is left to resume.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('pending-uploads')).toHaveCount(0);
});

test('the track page follows processing live until ready', async ({ page }) => {
  await signUp(page);
  // Upload through the API while the page is open on the new track.
  const flac = tone('live.flac', 4, ['-c:a', 'flac']);
  const body = readFileSync(flac);
  const res = await page.request.post('/api/v1/tracks', {
    multipart: { title: 'Live one', audio: { name: 'live.flac', mimeType: 'audio/flac', buffer: body } },
  });
  expect(res.status()).toBe(202);
  const { id } = await res.json();
  await page.goto(`/tracks/${id}`);
  await hydrated(page);
  await expect(page.getByTestId('track-title')).toHaveText('Live one');
  await expect(page.getByTestId('track-status')).toHaveText('Ready', { timeout: 30_000 });
  await expect(page.getByTestId('track-duration')).toHaveText('0:04');
});

test('others cannot see a private track', async ({ page, browser, baseURL }) => {
  await signUp(page);
  const mp3 = tone('secret.mp3', 1, ['-c:a', 'libmp3lame']);
  const res = await page.request.post('/api/v1/tracks', {
    multipart: { title: 'Secret', audio: { name: 'secret.mp3', mimeType: 'audio/mpeg', buffer: readFileSync(mp3) } },
  });
  const { id } = await res.json();
  const stranger = await browser.newPage();
  const visit = await stranger.goto(`${baseURL}/tracks/${id}`);
  expect(visit?.status()).toBe(404);
  await expect(stranger.getByTestId('not-found')).toBeVisible();
  await stranger.close();
});

test('a file that is not audio fails with a reason on its track', async ({ page }) => {
  const fake = join(dir, 'notes.mp3');
  writeFileSync(fake, '<!doctype html><p>this is not audio</p>');
  await signUp(page);
  await page.goto('/upload');
  await hydrated(page);
  await page.getByTestId('file-input').setInputFiles(fake);
  const row = page.getByTestId('upload-row').first();
  await expect(row).toHaveAttribute('data-state', 'done', { timeout: 20_000 });
  await expect(row).toHaveAttribute('data-processing', 'failed', { timeout: 30_000 });
  await expect(row.getByTestId('upload-status')).toContainText('not an audio file');
  const href = await row.getByTestId('track-link').getAttribute('href');
  const t = await (await page.request.get(`/api/v1${href}`)).json();
  expect(t.status).toBe('failed');
  expect(t.error).toContain('not an audio file');
  // The track page says why, in words.
  await page.goto(href!);
  await expect(page.getByTestId('track-status')).toHaveText('Failed');
  await expect(page.getByTestId('track-error')).toContainText('not an audio file');
  await expect(page.getByTestId('job').first()).toHaveAttribute('data-state', 'dead');
});
