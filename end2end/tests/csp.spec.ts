// The pages' Content-Security-Policy lets everything wavekeep itself needs
// run (the nonce'd hydration script, the wasm and its lazy chunks, the tus
// client, the player) and nothing else: no page logs a violation.
import { expect, test, type Page } from '@playwright/test';

const password = 'correct horse battery';

function watchViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to (load|execute|apply|connect|compile)/i.test(m.text())) {
      seen.push(m.text());
    }
  });
  page.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
  return seen;
}

test('every page hydrates under the policy without a violation', async ({ page }) => {
  test.setTimeout(60_000);
  const violations = watchViolations(page);
  const email = `csp-${Date.now()}@example.com`;
  const res = await page.request.post('/api/register', { form: { email, password } });
  expect(res.ok()).toBeTruthy();
  for (const path of ['/', '/mine', '/upload', '/account', '/downloads', '/calls', '/login', '/register', '/nowhere']) {
    const answer = await page.goto(path);
    const csp = answer!.headers()['content-security-policy'] ?? '';
    expect(csp, path).toContain("script-src 'self' 'nonce-");
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  }
  // Client-side navigation fetches lazy chunks under the same policy.
  await page.goto('/');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('link', { name: /upload/i }).first().click();
  await expect(page).toHaveURL(/\/upload$/);
  await expect(page.getByTestId('file-input')).toBeAttached();
  expect(violations).toEqual([]);
});
