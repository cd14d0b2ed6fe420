import { debianTool } from '@imagehost/backends';
import { launch, type Browser } from 'puppeteer-core';

/**
 * Debian's Chromium, installed with apt-get when it is missing (as the backends' packages
 * are), with a font so screenshots show text. Fails with the reason when it cannot be had:
 * a browser test never skips.
 */
export async function chromiumExecutable(): Promise<string> {
  await debianTool({ candidates: ['/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf'], packages: ['fonts-liberation'], otherwise: 'install fonts-liberation' });
  return debianTool({
    candidates: ['/usr/bin/chromium'],
    packages: ['chromium'],
    otherwise: 'install Debian\'s chromium package by hand; the browser tests need it',
  });
}

/** Headless Chromium driven by puppeteer-core (with a temporary profile it removes on close). */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await chromiumExecutable();
  return launch({
    executablePath,
    headless: true,
    // The test runs as root on CI, where Chromium's sandbox cannot start; the pages are our own.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}
