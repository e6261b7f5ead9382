// An automated accessibility scan (axe-core, WCAG 2.1 A and AA rules) of
// the list (with the player bar and its queue open), track, upload and
// admin pages: no serious or critical violations. Plus the keyboard: the
// track page's waveform is a slider that arrow keys move.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

const password = 'correct horse battery';
const adminEmail = process.env.WAVEKEEP_E2E_ADMIN_EMAIL ?? '';
const adminPassword = process.env.WAVEKEEP_E2E_ADMIN_PASSWORD ?? '';

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function scan(page: Page, what: string) {
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  const serious = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} [${(n.failureSummary ?? '').split('\n').slice(1, 2).join('').trim()}]`).join(' | ')}`);
  expect(serious, `${what}: ${serious.join('\n')}`).toEqual([]);
}

test('list, track, upload and admin pages scan clean', async ({ page, browser }) => {
  test.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'wk-e2e-a11y-'));
  const mp3 = join(dir, 'scan.mp3');
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
    'sine=frequency=500:duration=30', '-b:a', '48k', mp3]);
  const email = `a11y-${Date.now()}@example.com`;
  expect((await page.request.post('/api/register', { form: { email, password } })).ok()).toBeTruthy();
  const title = `Scan ${Date.now().toString(36)}`;
  const up = await page.request.post('/api/v1/tracks', {
    multipart: { title, audio: { name: 'scan.mp3', mimeType: 'audio/mpeg', buffer: readFileSync(mp3) } },
  });
  expect(up.status()).toBe(202);
  const id = (await up.json()).id;
  await expect.poll(async () => (await (await page.request.get(`/api/v1/tracks/${id}`)).json()).status,
    { timeout: 60_000 }).toBe('ready');

  await page.goto('/');
  await hydrated(page);
  await scan(page, 'the public list (empty or not: the specs share one server)');

  await page.goto('/mine');
  await hydrated(page);
  await page.getByTestId('track-row').filter({ hasText: title }).getByTestId('row-play').click();
  await expect(page.getByTestId('deck-title')).toHaveText(title);
  await page.getByTestId('deck-queue-toggle').click();
  await expect(page.getByTestId('queue-item')).toHaveCount(1);
  await scan(page, 'my list with the player bar and queue');

  await page.goto(`/tracks/${id}`);
  await hydrated(page);
  await scan(page, 'the track page');
  // The waveform is a slider: arrow keys move the position (paused first).
  await page.getByTestId('deck-play').click();
  const wave = page.getByTestId('waveform');
  await wave.focus();
  await wave.press('End');
  await wave.press('ArrowLeft');
  await expect(wave).toHaveAttribute('aria-valuenow', /^2[45]$/);

  await page.goto('/upload');
  await hydrated(page);
  await scan(page, 'the upload page');

  test.skip(!adminEmail, 'the test command creates the admin');
  const context = await browser.newContext();
  const admin = await context.newPage();
  const login = await admin.request.post('/api/login', { form: { email: adminEmail, password: adminPassword } });
  expect(login.ok()).toBeTruthy();
  await admin.goto('/admin');
  await hydrated(admin);
  await expect(admin.getByTestId('dashboard')).toBeVisible();
  await scan(admin, 'the admin dashboard');
  await context.close();
});
