// How every test starts Debian's /usr/bin/chromium through playwright-core
// (installed in tests/interop/node_modules, never downloading a browser),
// kept in one place so that no driver drifts from the switches that keep a
// run on loopback: no background networking, component updates or sync; no
// QUIC; every host name resolves to NOTFOUND except localhost, 127.0.0.1
// and the names a test maps; no mDNS (WebRtcHideLocalIpsWithMdns, and the
// Media Router, which also speaks mDNS). ignoreDefaultArgs drops all of
// playwright's own switches but the two it needs to talk to the browser.
// The resolver rules EXCLUDE 127.0.0.1 too: Chromium's network service
// passes even IP literals through the mapped resolver for page loads and for
// WebRTC's TCP sockets (TURN/TCP to 127.0.0.1 fails with -105
// ERR_NAME_NOT_RESOLVED otherwise).
import { createRequire } from 'node:module';

const require = createRequire(new URL('./package.json', import.meta.url));
const { chromium } = require('playwright-core');

/* The value after --name on the command line; def when absent (none: an error). */
export function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0) {
    if (def === undefined) throw new Error(`missing --${name}`);
    return def;
  }
  return process.argv[i + 1];
}

/*
 * Launch Chromium with a fresh profile directory. names: [[host, ip], ...]
 * resolved before everything else goes to NOTFOUND; extra: more switches
 * (a trusted SPKI, logging).
 */
export function launchChromium({ profile, names = [], extra = [] }) {
  const map = names.map(([host, ip]) => `MAP ${host} ${ip}, `).join('');
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`,
    `--host-resolver-rules=${map}MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1`,
    '--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter',
    '--remote-debugging-pipe', '--no-startup-window',
    ...extra,
  ];
  return chromium.launch({ executablePath: '/usr/bin/chromium', ignoreDefaultArgs: true, args,
                          timeout: 60000 });
}
