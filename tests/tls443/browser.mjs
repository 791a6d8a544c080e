// Drives Debian's /usr/bin/chromium through playwright-core (installed for
// tests/interop, which never downloads a browser) for test_browser.py: loads
// a page over HTTPS from the daemon itself (its /healthz: the document's
// origin is the daemon's HTTPS origin), adds tests/interop/web/turn.html's
// script to it, runs window.runTurnTest() once with transport 'tls' (turns:
// URLs naming --name only) and prints one JSON line. It asserts nothing;
// the Python harness does.
//
// Usage: node browser.mjs --origin https://NAME:PORT --name NAME --spki B64
//            --user DID --profile DIR [--blob BYTES] [--text N]
import { readFileSync } from 'node:fs';

import { arg, launchChromium } from '../interop/launch.mjs';

const origin = arg('origin');
const name = arg('name');
const spki = arg('spki');
const user = arg('user');
const profile = arg('profile');
const blobBytes = Number(arg('blob', String(1 << 20)));
const textMessages = Number(arg('text', '100'));

// The test name resolves to loopback, and the test CA's server key is
// trusted by its SPKI hash (honoured with --user-data-dir), so no system
// trust store is touched.
const html = readFileSync(new URL('../interop/web/turn.html', import.meta.url), 'utf8');
const script = /<script>([\s\S]*)<\/script>/.exec(html)[1];

const browser = await launchChromium({
  profile, names: [[name, '127.0.0.1']], extra: [`--ignore-certificate-errors-spki-list=${spki}`],
});
let failed = false;
try {
  const ctx = await browser.newContext();
  const tab = await ctx.newPage();
  tab.on('console', (m) => process.stderr.write(`[page ${m.type()}] ${m.text()}\n`));
  tab.on('pageerror', (e) => process.stderr.write(`[page error] ${e}\n`));
  const resp = await tab.goto(origin + '/healthz', { timeout: 30000 });
  await tab.addScriptTag({ content: script });
  const page = { url: tab.url(), status: resp.status(), secure: await tab.evaluate(() => window.isSecureContext),
                 tls: (await resp.securityDetails())?.protocol ?? null };
  process.stdout.write(JSON.stringify({ browser: browser.version(), page }) + '\n');
  const report = await tab.evaluate((o) => window.runTurnTest(o),
    { iceUrl: '/api/v1/turn/ice-servers', user, transport: 'tls', turnsHost: name, blobBytes, textMessages });
  if (report.error) failed = true;
  process.stdout.write(JSON.stringify(report) + '\n');
} catch (e) {
  failed = true;
  process.stdout.write(JSON.stringify({ error: String(e && e.message || e) }) + '\n');
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
