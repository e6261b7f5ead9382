// The transcript on the track page, against the fake provider the test
// command starts (it hears tones as words): the panel loads after the page,
// a click on a segment seeks there, the highlighted segment follows
// playback, an owner's correction survives a reload, and a search for a
// spoken word lands on its moment with the word marked (in the text and on
// the waveform).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const password = 'correct horse battery';
const dir = mkdtempSync(join(tmpdir(), 'wk-e2e-transcript-'));

// The fake provider's words: WORDS[k] is a tone of 400 + 100·k Hz.
const hz: Record<string, number> = { alpha: 400, kilo: 1400, lima: 1500 };

/** An MP3 in which each [start, length, word] is said, silence elsewhere. */
function speech(name: string, secs: number, words: [number, number, string][]): string {
  const expr = words
    .map(([at, len, w]) => `0.25*sin(2*PI*${hz[w]}*t)*between(t,${at},${at + len})`)
    .join('+');
  const out = join(dir, name);
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi',
    '-i', `aevalsrc='${expr}':s=44100:d=${secs}`, '-c:a', 'libmp3lame', '-b:a', '96k', out]);
  return out;
}

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('the transcript seeks, follows playback, keeps corrections, and search lands on the moment', async ({ page }) => {
  test.setTimeout(120_000);
  // No panic, no failed hydration, anywhere on the way.
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const email = `transcript-${Date.now()}@example.com`;
  expect((await page.request.post('/api/register', { form: { email, password } })).ok()).toBeTruthy();
  const title = `Interview ${Date.now().toString(36)}`;
  const file = speech('interview.mp3', 12, [[1, 1, 'alpha'], [4, 1, 'kilo'], [8, 1, 'lima']]);
  const up = await page.request.post('/api/v1/tracks', {
    multipart: {
      title,
      visibility: 'public',
      transcribe: '1',
      audio: { name: 'interview.mp3', mimeType: 'audio/mpeg', buffer: readFileSync(file) },
    },
  });
  expect(up.status()).toBe(202);
  const id = (await up.json()).id;
  await expect.poll(async () => (await page.request.get(`/api/v1/tracks/${id}/transcript`)).status(),
    { timeout: 60_000 }).toBe(200);

  // Lazy: the server's page has the panel's frame, not the transcript; the
  // browser asks for it once the page is up.
  const html = await (await page.request.get(`/tracks/${id}`)).text();
  expect(html).toContain('data-testid="transcript"');
  expect(html).not.toContain('data-testid="segment"');
  const asked: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/api/transcripts/get')) asked.push(r.url()); });
  await page.goto(`/tracks/${id}`);
  await hydrated(page);
  const segments = page.getByTestId('segment');
  await expect(segments).toHaveCount(3);
  expect(asked.length).toBe(1);
  await expect(segments.nth(1).getByTestId('segment-text')).toHaveText('kilo');
  await expect(segments.nth(1).getByTestId('segment-time')).toHaveText('0:04');

  // A click on a segment plays from there.
  const audio = page.getByTestId('deck-audio');
  await segments.nth(1).getByTestId('segment-time').click();
  await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.currentTime)).toBeGreaterThanOrEqual(3.9);
  await expect(segments.nth(1)).toHaveClass(/current/);
  // The highlight follows playback into the next segment.
  await expect(segments.nth(2)).toHaveClass(/current/, { timeout: 15_000 });
  await expect(segments.nth(1)).not.toHaveClass(/current/);
  await page.getByTestId('play').click();

  // The owner corrects a segment; it survives a reload.
  await segments.nth(1).getByTestId('segment-edit').click();
  await page.getByTestId('segment-input').fill('Kilimanjaro');
  await page.getByTestId('segment-save').click();
  await expect(segments.nth(1).getByTestId('segment-text')).toHaveText('Kilimanjaro');
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('segment').nth(1).getByTestId('segment-text')).toHaveText('Kilimanjaro');
  await expect(page.getByTestId('export-srt')).toHaveAttribute('href', `/api/v1/tracks/${id}/transcript?format=srt`);

  // Search for a spoken word: the result says where, and its link opens the
  // track there with the word marked.
  await page.goto('/?q=lima');
  await hydrated(page);
  const row = page.getByTestId('track-row').filter({ hasText: title });
  await expect(row.getByTestId('track-hit')).toContainText('lima');
  await expect(row.getByTestId('track-hit').locator('mark')).toHaveText('lima');
  await row.locator('a.title').click();
  await expect(page).toHaveURL(new RegExp(`/tracks/${id}\\?t=(7\\.[89]|8)&q=lima`));
  await hydrated(page);
  await expect(page.getByTestId('player')).toHaveAttribute('data-start', /^(7\.[89]|8)$/);
  await expect.poll(() => page.getByTestId('deck-audio').evaluate((a: HTMLAudioElement) => a.currentTime)).toBeGreaterThanOrEqual(7.8);
  await expect(page.getByTestId('segment').nth(2)).toHaveClass(/current/);
  await expect(page.getByTestId('segment').nth(2).locator('mark')).toHaveText('lima');
  await expect(page.getByTestId('transcript-matches')).toHaveText('1 match');
  await expect(page.getByTestId('wave-marks')).toHaveAttribute('data-count', '1');
  await expect(page.getByTestId('wave-marks')).toHaveAttribute('d', /^M\d+(\.\d)? 0V1000$/);
  expect(errors).toEqual([]);
});
