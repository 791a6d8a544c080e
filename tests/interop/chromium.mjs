// Drives Debian's /usr/bin/chromium through playwright-core (which never
// downloads a browser) for tests/interop/test_chromium.py: opens the page,
// runs window.runTurnTest() once per requested transport and prints one JSON
// line per run. It asserts nothing; the Python harness does.
//
// Usage: node chromium.mjs --page URL --ice-url URL --user DID
//            --transports udp,tcp --profile DIR [--blob BYTES] [--text N]
import { chromium } from 'playwright-core';

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0) {
    if (def === undefined) throw new Error(`missing --${name}`);
    return def;
  }
  return process.argv[i + 1];
}

const page = arg('page');
const iceUrl = arg('ice-url');
const user = arg('user');
const transports = arg('transports', 'udp,tcp').split(',');
const profile = arg('profile');
const blobBytes = Number(arg('blob', String(1 << 20)));
const textMessages = Number(arg('text', '100'));

// Exactly these switches, plus the two playwright itself needs to talk to
// the browser (ignoreDefaultArgs drops all of playwright's own defaults).
// The resolver rules also EXCLUDE 127.0.0.1: Chromium's network service
// passes even IP literals through the mapped resolver for page loads and
// for WebRTC's TCP sockets (TURN/TCP to 127.0.0.1 fails with -105
// ERR_NAME_NOT_RESOLVED otherwise), while every name still maps to NOTFOUND.
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--user-data-dir=${profile}`,
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  '--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter',
  '--remote-debugging-pipe', '--no-startup-window',
  ...(process.env.INTEROP_CHROMIUM_LOG ? ['--enable-logging=stderr', '--v=0', '--vmodule=*turn_port*=4,*p2p_socket*=4,*tcp_port*=4,*port.cc=3'] : []),
];

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  ignoreDefaultArgs: true,
  args,
  timeout: 60000,
});
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
