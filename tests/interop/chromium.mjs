// Drives Debian's /usr/bin/chromium through playwright-core (which never
// downloads a browser) for tests/interop/test_chromium.py: opens the page,
// runs window.runTurnTest() once per requested transport and prints one JSON
// line per run. It asserts nothing; the Python harness does.
//
// Usage: node chromium.mjs --page URL --ice-url URL --user DID
//            --transports udp,tcp --profile DIR [--blob BYTES] [--text N]
import { arg, launchChromium } from './launch.mjs';

const page = arg('page');
const iceUrl = arg('ice-url');
const user = arg('user');
const transports = arg('transports', 'udp,tcp').split(',');
const profile = arg('profile');
const blobBytes = Number(arg('blob', String(1 << 20)));
const textMessages = Number(arg('text', '100'));

const logging = ['--enable-logging=stderr', '--v=0',
                 '--vmodule=*turn_port*=4,*p2p_socket*=4,*tcp_port*=4,*port.cc=3'];
const browser = await launchChromium({ profile,
                                       extra: process.env.INTEROP_CHROMIUM_LOG ? logging : [] });
let failed = false;
try {
  const ctx = await browser.newContext();
  const tab = await ctx.newPage();
  tab.on('console', (m) => process.stderr.write(`[page ${m.type()}] ${m.text()}\n`));
  tab.on('pageerror', (e) => process.stderr.write(`[page error] ${e}\n`));
  await tab.goto(page, { timeout: 30000 });
  process.stdout.write(JSON.stringify({ browser: browser.version() }) + '\n');
  for (const transport of transports) {
    try {
      const report = await tab.evaluate((o) => window.runTurnTest(o),
        { iceUrl, user, transport, blobBytes, textMessages });
      if (report.error) failed = true;
      process.stdout.write(JSON.stringify(report) + '\n');
    } catch (e) {
      failed = true;
      process.stdout.write(JSON.stringify({ transport, error: String(e && e.message || e) }) + '\n');
    }
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
