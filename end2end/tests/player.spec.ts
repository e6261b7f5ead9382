// Listening (issue 22) in the browser: the player bar keeps playing while
// the pages change; a queue built from a list is reordered, skipped and
// advances by itself; a reload restores queue and position without
// playing; the Media Session knows the title and its "next track" button
// works; a link's moment (?t=) is where the track is cued; switching
// version keeps the moment; the shortcuts never fire while typing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const password = 'correct horse battery';
const dir = mkdtempSync(join(tmpdir(), 'wk-e2e-player-'));
const tag = Date.now().toString(36);

function tone(name: string, secs: number, freq: number): Buffer {
  const out = join(dir, name);
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
    `sine=frequency=${freq}:duration=${secs}`, '-ac', '1', '-b:a', '48k', out]);
  return readFileSync(out);
}

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function upload(page: Page, title: string, secs: number, freq: number, extra: Record<string, string> = {}) {
  const up = await page.request.post('/api/v1/tracks', {
    multipart: { title, ...extra, audio: { name: `${freq}.mp3`, mimeType: 'audio/mpeg', buffer: tone(`${title}-${freq}.mp3`, secs, freq) } },
  });
  expect(up.status(), await up.text()).toBe(202);
  return (await up.json()) as { id: number; version_id: number };
}

async function ready(page: Page, id: number) {
  await expect.poll(async () => (await (await page.request.get(`/api/v1/tracks/${id}`)).json()).status,
    { timeout: 60_000 }).toBe('ready');
}

const audio = (page: Page) => page.getByTestId('deck-audio');
const time = (page: Page) => audio(page).evaluate((a: HTMLAudioElement) => a.currentTime);
const paused = (page: Page) => audio(page).evaluate((a: HTMLAudioElement) => a.paused);

async function signUp(page: Page) {
  const email = `player-${tag}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  expect((await page.request.post('/api/register', { form: { email, password } })).ok()).toBeTruthy();
}

test.describe.configure({ mode: 'serial' });

let titles: string[] = [];
let long = { id: 0, v1: 0, v2: 0 };
let state: { cookies: any[] } = { cookies: [] };

test.beforeAll(async ({ browser }) => {
  test.setTimeout(180_000);
  const page = await browser.newPage();
  await signUp(page);
  titles = ['Alpha', 'Bravo', 'Charlie'].map((t) => `${t} ${tag}`);
  const ids = [];
  for (const [i, t] of titles.entries()) ids.push((await upload(page, t, 20, 300 + 100 * i)).id);
  const first = await upload(page, `Long take ${tag}`, 120, 220);
  const second = await page.request.post('/api/v1/tracks', {
    multipart: { target: 'version', track_id: String(first.id),
      audio: { name: 'take2.mp3', mimeType: 'audio/mpeg', buffer: tone('take2.mp3', 120, 260) } },
  });
  expect(second.status()).toBe(202);
  long = { id: first.id, v1: first.version_id, v2: (await second.json()).version_id };
  for (const id of [...ids, first.id]) await ready(page, id);
  state = await page.context().storageState();
  await page.close();
});

test.beforeEach(async ({ context }) => {
  await context.addCookies(state.cookies);
  // Record the Media Session's handlers, so the test can press its buttons.
  await context.addInitScript(() => {
    const ms = navigator.mediaSession;
    const seen: Record<string, (d?: unknown) => void> = {};
    (window as any).__media = seen;
    const set = ms.setActionHandler.bind(ms);
    ms.setActionHandler = (action: MediaSessionAction, handler: MediaSessionActionHandler | null) => {
      if (handler) seen[action] = handler as any;
      return set(action, handler);
    };
  });
});

test('the bar keeps playing across pages', async ({ page }) => {
  await page.goto('/mine');
  await hydrated(page);
  const row = page.getByTestId('track-row').filter({ hasText: titles[0] });
  await expect(row.getByTestId('row-wave').locator('path')).toHaveAttribute('d', /^M0 \d+v\d+/);
  await row.getByTestId('row-play').click();
  await expect(page.getByTestId('deck-title')).toHaveText(titles[0]);
  await expect.poll(() => time(page)).toBeGreaterThan(0.3);
  expect(await paused(page)).toBe(false);
  let before = await time(page);
  for (const link of ['Tracks', 'Upload', 'Calls']) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
    await expect(page.getByRole('heading', { level: 1 }).first()).toBeVisible();
    await page.waitForTimeout(400);
    expect(await paused(page), `still playing on ${link}`).toBe(false);
    const now = await time(page);
    expect(now, `the position moved on ${link}`).toBeGreaterThan(before);
    before = now;
  }
  await expect(page.getByTestId('deck-title')).toHaveText(titles[0]);
  // Media Session: the title and artwork fields, and its next button.
  await expect.poll(() => page.evaluate(() => navigator.mediaSession.metadata?.title)).toBe(titles[0]);
  expect(await page.evaluate(() => navigator.mediaSession.playbackState)).toBe('playing');
});

test('a queue from a list: add, reorder, remove, skip, advance, restore', async ({ page }) => {
  await page.goto('/mine');
  await hydrated(page);
  const row = (t: string) => page.getByTestId('track-row').filter({ hasText: t });
  for (const t of titles) {
    await row(t).getByTestId('row-add').click();
    await expect(page.getByTestId('deck-live')).toContainText(t);
  }
  // The first one added is loaded (paused); the queue holds all three.
  await expect(page.getByTestId('deck-title')).toHaveText(titles[0]);
  expect(await paused(page)).toBe(true);
  await page.getByTestId('deck-queue-toggle').click();
  const items = page.getByTestId('queue-item');
  await expect(items).toHaveCount(3);
  // Charlie up one (A, C, B), then Bravo out (A, C).
  await items.nth(2).getByTestId('queue-up').click();
  await expect(items.nth(1)).toContainText(titles[2]);
  await items.nth(2).getByTestId('queue-remove').click();
  await expect(items).toHaveCount(2);
  // Play, skip: Charlie is next.
  await page.getByTestId('deck-play').click();
  await expect.poll(() => paused(page)).toBe(false);
  await page.getByTestId('deck-next').click();
  await expect(page.getByTestId('deck-title')).toHaveText(titles[2]);
  await expect(items.nth(1)).toHaveAttribute('aria-current', 'true');
  // Bravo back at the end; Charlie's end moves on to it by itself.
  await row(titles[1]).getByTestId('row-add').click();
  await expect(items).toHaveCount(3);
  await expect.poll(() => audio(page).evaluate((a: HTMLAudioElement) => a.duration)).toBeGreaterThan(10);
  await audio(page).evaluate((a: HTMLAudioElement) => { a.currentTime = a.duration - 0.5; });
  await expect(page.getByTestId('deck-title')).toHaveText(titles[1], { timeout: 15_000 });
  await expect.poll(() => paused(page)).toBe(false);
  // The Media Session's "next track" button: back to the start of the queue.
  await expect.poll(() => page.evaluate(() => navigator.mediaSession.metadata?.title)).toBe(titles[1]);
  await page.evaluate(() => (window as any).__media.nexttrack());
  await expect(page.getByTestId('deck-title')).toHaveText(titles[0]);
  await expect.poll(() => page.evaluate(() => navigator.mediaSession.metadata?.title)).toBe(titles[0]);

  // A reload: the same queue and place, not playing.
  await expect.poll(() => paused(page)).toBe(false);
  await audio(page).evaluate((a: HTMLAudioElement) => { a.currentTime = 12; a.pause(); });
  await page.waitForTimeout(1200);
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('deck-title')).toHaveText(titles[0]);
  await expect(page.getByTestId('deck-queue-toggle')).toHaveText('Queue (3)');
  await expect.poll(() => time(page)).toBeGreaterThan(11);
  expect(await time(page)).toBeLessThan(13);
  expect(await paused(page)).toBe(true);
});

test('a link to a moment cues the track there; versions switch at the same moment', async ({ page }) => {
  await page.goto(`/tracks/${long.id}?t=83`);
  await hydrated(page);
  await expect(page.getByTestId('deck-title')).toHaveText(`Long take ${tag}`);
  await expect.poll(() => time(page)).toBeGreaterThan(82.9);
  expect(await time(page)).toBeLessThan(83.1);
  expect(await paused(page)).toBe(true);
  await expect(page.getByTestId('time')).toContainText('1:23');

  // The other form of a moment.
  await page.goto(`/tracks/${long.id}?t=1m30s`);
  await hydrated(page);
  await expect.poll(() => time(page)).toBeGreaterThan(89.9);

  // Version 1 at the same moment, paused: the position is kept.
  const versions = page.getByTestId('version');
  await expect(versions).toHaveCount(2);
  const before = await time(page);
  await page.locator('[data-testid=version][data-version="1"]').getByTestId('play-version').click();
  await expect(page.getByTestId('playing-version')).toHaveText('playing v1');
  await expect(page.getByTestId('waveform')).toHaveAttribute('data-version', '1');
  await expect.poll(() => audio(page).evaluate((a: HTMLAudioElement) => a.readyState)).toBeGreaterThan(0);
  expect(Math.abs((await time(page)) - before)).toBeLessThan(0.2);
  expect(await paused(page)).toBe(true);
  // Playing, B switches back (to v2) and it keeps playing.
  await page.getByTestId('play').click();
  await expect.poll(() => paused(page)).toBe(false);
  await page.keyboard.press('b');
  await expect(page.getByTestId('playing-version')).toHaveCount(0);
  await expect(page.locator('[data-testid=version][data-version="2"]').getByTestId('play-version')).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(() => paused(page)).toBe(false);
  expect(await time(page)).toBeGreaterThan(before - 0.2);
});

test('shortcuts never fire while typing', async ({ page }) => {
  await page.goto('/mine');
  await hydrated(page);
  await page.getByTestId('track-row').filter({ hasText: titles[1] }).getByTestId('row-play').click();
  await expect.poll(() => paused(page)).toBe(false);
  const search = page.getByTestId('search');
  await search.click();
  await search.pressSequentially(' kn');
  await expect(search).toHaveValue(' kn');
  expect(await paused(page)).toBe(false);
  await expect(page.getByTestId('deck-title')).toHaveText(titles[1]);
  // Outside the field, K pauses and L goes 10 s on.
  await page.locator('h1').first().click();
  await page.keyboard.press('k');
  await expect.poll(() => paused(page)).toBe(true);
  const at = await time(page);
  await page.keyboard.press('l');
  await expect.poll(() => time(page)).toBeGreaterThan(at + 5);
});
