// Playwright drives Debian's Chromium (/usr/bin/chromium); no browser is downloaded.
// The test command starts wavekeep on WAVEKEEP_E2E_URL with a fresh data dir.
import { defineConfig } from '@playwright/test';

const baseURL = process.env.WAVEKEEP_E2E_URL ?? 'http://127.0.0.1:3100';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
