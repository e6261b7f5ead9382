// The day-to-day journey: upload → processing → listed → search finds it →
// play and seek → open the stems (nothing requested before) → download
// through the signed link → the history shows it. And an edit shows in the
// list at once.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const password = 'correct horse battery';
const dir = mkdtempSync(join(tmpdir(), 'wk-e2e-browse-'));

function tone(name: string, secs: number, freq: number): string {
  const out = join(dir, name);
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi',
    '-i', `sine=frequency=${freq}:sample_rate=44100:duration=${secs}`,
    '-c:a', 'libmp3lame', '-b:a', '128k', out]);
  return out;
}

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function signUp(page: Page, tag: string) {
  const email = `${tag}-${Date.now()}@example.com`;
  const res = await page.request.post('/api/register', { form: { email, password } });
  expect(res.ok()).toBeTruthy();
}

test('upload, find, play, seek, stems, download, history', async ({ page }) => {
  test.setTimeout(90_000);
  // The whole journey runs under the pages' Content-Security-Policy.
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to (load|execute|apply|connect|compile)/i.test(m.text())) violations.push(m.text());
  });
  const word = `zephyr${Date.now().toString(36)}`;
  const song = tone(`${word}.mp3`, 8, 330);
  const drums = tone('drums.mp3', 8, 110);
  await signUp(page, 'journey');

  // Upload, public, and watch it process.
  await page.goto('/upload');
  await hydrated(page);
  await page.getByTestId('upload-visibility').selectOption('public');
  await page.getByTestId('file-input').setInputFiles([song]);
  const row = page.getByTestId('upload-row').first();
  await expect(row).toHaveAttribute('data-state', 'done', { timeout: 20_000 });
  await expect(row.getByTestId('upload-status')).toContainText(/processing|Ready/i);
  await expect(row).toHaveAttribute('data-processing', 'ready', { timeout: 30_000 });
  const href = (await row.getByTestId('track-link').getAttribute('href'))!;
  const track = await (await page.request.get(`/api/v1${href}`)).json();
  expect(track.visibility).toBe('public');

  // A stem for its version, through the machine API (the session cookie works).
  const stem = await page.request.post('/api/v1/tracks', {
    multipart: {
      target: 'stem',
      version_id: String(track.primary_version_id),
      role: 'drums',
      audio: { name: 'drums.mp3', mimeType: 'audio/mpeg', buffer: readFileSync(drums) },
    },
  });
  expect(stem.status()).toBe(202);

  // Listed on the front page, server-rendered.
  await page.goto('/');
  await hydrated(page);
  await expect(page.getByTestId('track-list')).toContainText(word);

  // Search: one request after typing stops, not one per keystroke.
  const listCalls: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/api/tracks/list')) listCalls.push(r.url()); });
  await page.getByTestId('search').pressSequentially(word.slice(0, 9), { delay: 40 });
  await expect(page).toHaveURL(new RegExp(`q=${word.slice(0, 9)}`));
  await expect(page.getByTestId('track-row')).toHaveCount(1);
  await expect(page.getByTestId('track-row')).toContainText(word);
  expect(listCalls.length).toBeLessThanOrEqual(1);
  // The back button returns to the unfiltered list.
  await page.goBack();
  await expect(page).not.toHaveURL(/q=/);

  // The track page: nothing about stems is requested until the panel opens.
  const stemCalls: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/api/tracks/stems') || r.url().includes('/stems/')) stemCalls.push(r.url()); });
  await page.goto(href);
  await hydrated(page);
  await expect(page.getByTestId('track-title')).toHaveText(word);
  await expect(page.locator('[data-testid="waveform"] svg')).toBeVisible();
  const audio = page.getByTestId('deck-audio');

  // Play, then seek by clicking three quarters into the waveform.
  await page.getByTestId('play').click();
  await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.currentTime), { timeout: 10_000 }).toBeGreaterThan(0.2);
  const wave = page.getByTestId('waveform');
  const box = (await wave.boundingBox())!;
  await wave.click({ position: { x: box.width * 0.75, y: box.height / 2 } });
  await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.currentTime)).toBeGreaterThan(5.5);
  // Keyboard: ← goes back five seconds, space pauses.
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('ArrowLeft');
  await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.currentTime)).toBeLessThan(4);
  await page.keyboard.press(' ');
  await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.paused)).toBe(true);

  expect(stemCalls).toEqual([]);
  await page.getByTestId('stems-toggle').click();
  await expect(page.getByTestId('stem')).toHaveCount(1);
  await expect(page.getByTestId('stem')).toHaveAttribute('data-role', 'drums');
  expect(stemCalls.filter((u) => u.includes('/api/tracks/stems'))).toHaveLength(1);

  // Download through the signed link.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('download').first().click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/\.mp3$/);
  const saved = await download.path();
  expect(statSync(saved!).size).toBe(statSync(song).size);

  // The history shows it.
  await page.goto('/downloads');
  await hydrated(page);
  await expect(page.getByTestId('download-row').first()).toContainText(word);
  expect(violations).toEqual([]);
});

test('an edit shows in the list at once', async ({ page }) => {
  const word = `quartz${Date.now().toString(36)}`;
  const song = tone(`${word}.mp3`, 2, 440);
  await signUp(page, 'edit');
  const up = await page.request.post('/api/v1/tracks', {
    multipart: {
      title: word,
      visibility: 'public',
      audio: { name: `${word}.mp3`, mimeType: 'audio/mpeg', buffer: readFileSync(song) },
    },
  });
  expect(up.status()).toBe(202);
  const { id } = await up.json();
  // The list is cached (30 s)…
  await page.goto('/');
  await expect(page.getByTestId('track-list')).toContainText(word);
  // …and an edit drops it.
  await page.goto(`/tracks/${id}`);
  await hydrated(page);
  await page.getByTestId('edit-title').fill(`${word} renamed`);
  await page.getByTestId('save-track').click();
  await expect(page.getByTestId('saved')).toBeVisible();
  await expect(page.getByTestId('track-title')).toHaveText(`${word} renamed`);
  await page.goto('/');
  await expect(page.getByTestId('track-list')).toContainText(`${word} renamed`);
  // Private: gone from the public list at once.
  await page.goto(`/tracks/${id}`);
  await hydrated(page);
  await page.getByTestId('edit-visibility').selectOption('private');
  await page.getByTestId('save-track').click();
  await expect(page.getByTestId('track-visibility')).toHaveText('private');
  await page.goto('/');
  await expect(page.locator('main')).not.toContainText(word);
  await page.goto('/mine');
  await expect(page.getByTestId('track-list')).toContainText(word);
});
