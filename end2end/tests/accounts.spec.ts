// A person registers, sees the app react as they type (only hydrated client code
// can do that), logs out, fails and then succeeds to log in, and manages API keys.
import { expect, test, type Page } from '@playwright/test';

const password = 'correct horse battery';

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('register, log out, log in, API keys', async ({ page }) => {
  const email = `e2e-${Date.now()}@example.com`;

  await page.goto('/');
  await hydrated(page);
  await expect(page.getByTestId('empty-tracks')).toBeVisible();

  await page.getByRole('link', { name: 'Register' }).click();
  await expect(page).toHaveURL(/\/register$/);
  await hydrated(page);

  // Client-side only: the password rules update as you type, and the toggle reveals it.
  const form = page.getByTestId('register-form');
  await form.getByTestId('email').fill(email);
  const pw = form.getByTestId('password');
  await pw.fill('short');
  await expect(page.getByTestId('password-hint')).toContainText('at least 10 characters');
  await expect(pw).toHaveAttribute('type', 'password');
  await form.getByTestId('toggle-password').click();
  await expect(pw).toHaveAttribute('type', 'text');
  await pw.fill(password);
  await expect(page.getByTestId('password-hint')).toHaveText('Looks good.');

  await form.getByTestId('submit').click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('who')).toHaveText(email);
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);

  // The session cookie is HttpOnly: page scripts cannot read it.
  expect(await page.evaluate(() => document.cookie)).not.toContain('wk_session');
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'wk_session');
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe('Lax');

  await page.getByTestId('logout').click();
  await expect(page.getByRole('link', { name: 'Log in' })).toBeVisible();
  await expect(page.getByTestId('who')).toHaveCount(0);

  await page.getByRole('link', { name: 'Log in' }).click();
  await hydrated(page);
  const login = page.getByTestId('login-form');
  await login.getByTestId('email').fill(email);
  await login.getByTestId('password').fill('not my password');
  await login.getByTestId('submit').click();
  await expect(page.getByTestId('form-error')).toContainText('wrong email or password');
  await login.getByTestId('password').fill(password);
  await login.getByTestId('submit').click();
  await expect(page.getByTestId('who')).toHaveText(email);

  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page.getByTestId('account-email')).toHaveText(email);
  await expect(page.getByTestId('no-keys')).toBeVisible();
  await page.getByTestId('key-name').fill('e2e-key');
  await page.getByTestId('create-key').click();
  const secret = await page.getByTestId('new-key-secret').textContent();
  expect(secret).toMatch(/^wk_[0-9a-f]{64}$/);
  await expect(page.getByTestId('key-table')).toContainText('e2e-key');

  // The key works for a machine client.
  const me = await page.request.get('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
  expect(me.status()).toBe(200);
  expect((await me.json()).email).toBe(email);

  await page.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByTestId('no-keys')).toBeVisible();
  const after = await page.request.get('/api/v1/me', {
    headers: { Authorization: `Bearer ${secret}` },
    failOnStatusCode: false,
  });
  expect(after.status()).toBe(401);
});

test('unknown pages say not found; /admin refuses visitors', async ({ page }) => {
  const res = await page.goto('/no/such/page');
  expect(res?.status()).toBe(404);
  await expect(page.getByTestId('not-found')).toBeVisible();
  const admin = await page.goto('/admin');
  expect(admin?.status()).toBe(401);
  await expect(page.getByTestId('login-link')).toBeVisible();
});
