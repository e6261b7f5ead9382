// The site is split into wasm chunks (cargo leptos build --split): the track
// list loads only the main module, a page's chunk is fetched when that page
// is first shown (by a client-side navigation or a direct load, which the
// server's HTML preloads), and both ways end in a working, hydrated page.
import { expect, test, type Page } from '@playwright/test';

function chunkRequests(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (req) => {
    const path = new URL(req.url()).pathname;
    if (/^\/pkg\/(split_|chunk_).*\.wasm$/.test(path)) seen.push(path);
  });
  return seen;
}

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('the track list needs no page chunk; other pages load theirs on demand', async ({ page }) => {
  const chunks = chunkRequests(page);
  await page.goto('/');
  await hydrated(page);
  await page.waitForLoadState('networkidle');
  expect(chunks).toEqual([]);

  // A client-side navigation fetches the register page's chunk, then the page works.
  await page.getByRole('link', { name: 'Register' }).click();
  await expect(page).toHaveURL(/\/register$/);
  const pw = page.getByTestId('register-form').getByTestId('password');
  await pw.fill('short');
  await expect(page.getByTestId('password-hint')).toContainText('at least 10 characters');
  expect(chunks.some((c) => c.startsWith('/pkg/split_'))).toBe(true);
});

test('a page loaded directly preloads its chunk and hydrates', async ({ page, request }) => {
  const html = await (await request.get('/login')).text();
  const link = html.match(/<link[^>]*href="\/pkg\/split_[^"]+\.wasm"[^>]*>/);
  expect(link?.[0]).toContain('rel="preload"');

  const chunks = chunkRequests(page);
  await page.goto('/login');
  await hydrated(page);
  expect(chunks.some((c) => c.startsWith('/pkg/split_'))).toBe(true);
  // Only the hydrated page reacts: the toggle reveals the password.
  const pw = page.getByTestId('login-form').getByTestId('password');
  await pw.fill('something secret');
  await expect(pw).toHaveAttribute('type', 'password');
  await page.getByTestId('login-form').getByTestId('toggle-password').click();
  await expect(pw).toHaveAttribute('type', 'text');
});
