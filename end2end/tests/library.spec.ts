// Tags and artwork in the browser: an MP3 tagged by ffmpeg with a cover
// becomes a track titled and credited from its tags, with its cover as a
// WebP thumbnail in the list and large on the track page (decoded by the
// browser, no layout shift: the size is set); the owner edits the artist
// and uploads another image, and the page shows both without a reload.
// Everything under the pages' Content-Security-Policy.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const password = 'correct horse battery';
const dir = mkdtempSync(join(tmpdir(), 'wk-e2e-library-'));

function ffmpeg(args: string[]) {
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('tags and cover art from the file, edited and replaced by the owner', async ({ page }) => {
  test.setTimeout(90_000);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to (load|execute|apply|connect|compile)/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  const cover = join(dir, 'cover.jpg');
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=400x400', '-frames:v', '1', cover]);
  const song = join(dir, 'untitled-take.mp3');
  const title = `Harbour Lights ${Date.now().toString(36)}`;
  ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-i', cover, '-map', '0:a', '-map', '1:v',
    '-c:v', 'copy', '-disposition:v', 'attached_pic', '-c:a', 'libmp3lame', '-id3v2_version', '3',
    '-metadata', `title=${title}`, '-metadata', 'artist=The Quiet Tides', '-metadata', 'album=Low Water',
    '-metadata', 'date=2019', '-metadata', 'genre=Ambient', song]);
  const email = `library-${Date.now()}@example.com`;
  expect((await page.request.post('/api/register', { form: { email, password } })).ok()).toBeTruthy();
  const up = await page.request.post('/api/v1/tracks', {
    multipart: { audio: { name: 'untitled-take.mp3', mimeType: 'audio/mpeg', buffer: readFileSync(song) } },
  });
  expect(up.status()).toBe(202);
  const id = (await up.json()).id;
  await expect.poll(async () => (await (await page.request.get(`/api/v1/tracks/${id}`)).json()).art ?? null,
    { timeout: 30_000 }).not.toBeNull();

  // The list: title from the tags, artist beside it, the cover decoded.
  await page.goto('/mine');
  await hydrated(page);
  const row = page.getByTestId('track-row').filter({ hasText: title });
  await expect(row).toContainText('The Quiet Tides');
  const thumb = row.getByTestId('art');
  await expect(thumb).toHaveAttribute('width', '40');
  await expect(thumb).toHaveAttribute('srcset', /64\.webp 64w, .*256\.webp 256w/);
  await expect.poll(() => thumb.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBeGreaterThan(0);

  // The track page: byline, facts, the large cover.
  await row.getByRole('link').first().click();
  await expect(page).toHaveURL(new RegExp(`/tracks/${id}$`));
  await hydrated(page);
  await expect(page.getByTestId('track-title')).toHaveText(title);
  await expect(page.getByTestId('track-byline')).toHaveText('The Quiet Tides — Low Water (2019)');
  await expect(page.getByTestId('about-genre')).toHaveText('Ambient');
  const large = page.getByTestId('track').getByTestId('art');
  await expect.poll(() => large.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBe(256);
  const before = await large.getAttribute('src');

  // The owner edits the artist.
  await page.getByTestId('edit-artist').fill('Tides & Friends');
  await page.getByTestId('save-about').click();
  await expect(page.getByTestId('track-byline')).toHaveText('Tides & Friends — Low Water (2019)');

  // And uploads another image: the page shows it once its thumbnails are made.
  const png = join(dir, 'new.png');
  ffmpeg(['-f', 'lavfi', '-i', 'color=c=teal:size=300x200', '-frames:v', '1', png]);
  await page.getByTestId('art-input').setInputFiles(png);
  await expect.poll(async () => await page.getByTestId('track').getByTestId('art').getAttribute('src'),
    { timeout: 20_000 }).not.toBe(before);
  expect(problems).toEqual([]);
});
