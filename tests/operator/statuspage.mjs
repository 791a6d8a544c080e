// Drives Debian's /usr/bin/chromium (playwright-core from tests/interop,
// which never downloads a browser) through the status page for
// tests/operator/test_statuspage.py. It asserts nothing; it prints what the
// page shows, one JSON line at the end, and the Python side compares it
// with the admin API's JSON.
//
// Steps: the page without a token shows its token form, and a token typed
// there brings the data; the page of a second daemon, one without a
// cluster section, hides its cluster section; a fresh tab with #token= in
// the URL (removed from
// the address bar once read) polls until the bit rate chart has points
// above zero; "ready" is printed and the driver waits for GO_FILE (the
// test stopped its traffic and took its snapshot); after two more polls the
// values are read, the self-test button pressed and its table read, the
// screenshot saved, and the layout checked at a phone's width.
//
// Usage: node statuspage.mjs --base URL --base2 URL --token T --profile DIR
//            --go FILE --shot PNG
import { existsSync } from 'fs';

import { arg, launchChromium } from '../interop/launch.mjs';

const base = arg('base');
const token = arg('token');
const goFile = arg('go');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFile(path, ms) {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`no ${path} within ${ms} ms`);
    await sleep(100);
  }
}

// Everything the page shows under a data-k key, and its tables.
function readPage() {
  const text = (e) => e.textContent.trim();
  const shown = {};
  for (const e of document.querySelectorAll('[data-k]')) shown[e.dataset.k] = text(e);
  const rows = (sel) => [...document.querySelectorAll(sel)].map((tr) => ({
    ...tr.dataset, cells: [...tr.children].map(text),
  }));
  const chart = document.getElementById('chart');
  return {
    shown,
    users: rows('#topusers tr'),
    subservers: rows('#subservers tr'),
    points: Number(chart.dataset.points),
    maxBps: Number(chart.dataset.maxBps),
    clusterHidden: document.getElementById('cluster').hidden,
    cluster: rows('#cluster-nodes tr'),
    polls: Number(document.getElementById('updated').dataset.n || 0),
  };
}

const out = { requests: [], errors: [] };
const browser = await launchChromium({ profile: arg('profile') });
try {
  const watch = (ctx) => {
    ctx.on('request', (r) => out.requests.push(r.url()));
    return ctx;
  };
  const watchTab = (tab) => {
    tab.on('pageerror', (e) => out.errors.push(String(e)));
    tab.on('console', (m) => {
      // Chromium logs every HTTP error status: the 401 that brings up the
      // token form is expected.
      const url = m.location().url || '';
      if (m.type() === 'error' && !/status of 401/.test(m.text())) {
        out.errors.push(`${m.text()} (${url})`);
      }
    });
    return tab;
  };

  // 1. No token: the form asks for one; typed in, the data come.
  const ctx1 = watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  const tab1 = watchTab(await ctx1.newPage());
  const resp = await tab1.goto(`${base}/admin/`, { timeout: 30000 });
  out.csp = resp.headers()['content-security-policy'] || '';
  out.pageStatus = resp.status();
  await tab1.waitForSelector('#login:not([hidden])', { timeout: 15000 });
  out.loginShown = true;
  await tab1.fill('#token', token);
  await tab1.click('#login button');
  await tab1.waitForFunction(() => document.querySelector('[data-k="generation"]').textContent !== '',
    null, { timeout: 15000 });
  out.loginWorks = await tab1.isHidden('#login');
  await ctx1.close();

  // 1b. A daemon without a cluster section: no cluster section on its page.
  const ctx2 = watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  const tab2 = watchTab(await ctx2.newPage());
  await tab2.goto(`${arg('base2')}/admin/#token=${encodeURIComponent(token)}`, { timeout: 30000 });
  await tab2.waitForFunction(() => Number(document.getElementById('updated').dataset.n) >= 2,
    null, { timeout: 30000 });
  out.noCluster = await tab2.evaluate(readPage);
  await ctx2.close();

  // 2. The token in the fragment, in a fresh context.
  const ctx = watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  const tab = watchTab(await ctx.newPage());
  await tab.goto(`${base}/admin/#token=${encodeURIComponent(token)}`, { timeout: 30000 });
  await tab.waitForFunction(() => {
    const c = document.getElementById('chart');
    return Number(c.dataset.points) >= 4 && Number(c.dataset.maxBps) > 0;
  }, null, { timeout: 180000, polling: 250 });
  out.hashAfterLoad = await tab.evaluate(() => location.hash);
  out.busy = await tab.evaluate(readPage);
  process.stdout.write('ready\n');

  // 3. The test stopped its traffic and took its snapshot: two polls more.
  await waitFile(goFile, 120000);
  const n = (await tab.evaluate(readPage)).polls;
  await tab.waitForFunction((k) => Number(document.getElementById('updated').dataset.n) >= k + 2,
    n, { timeout: 30000, polling: 100 });
  out.quiet = await tab.evaluate(readPage);

  // 4. The self-test button.
  await tab.click('#run-selftest');
  await tab.waitForFunction(() => /passed|FAILED/.test(document.getElementById('st-verdict').textContent),
    null, { timeout: 60000 });
  out.selftest = await tab.evaluate(() => ({
    verdict: document.getElementById('st-verdict').textContent,
    steps: [...document.querySelectorAll('#st-steps tbody tr')].map((tr) => ({
      key: tr.dataset.step, cells: [...tr.children].map((td) => td.textContent) })),
    checks: [...document.querySelectorAll('#st-checks tbody tr')].map((tr) => ({
      key: tr.dataset.check, cells: [...tr.children].map((td) => td.textContent) })),
  }));
  await tab.screenshot({ path: arg('shot'), fullPage: true });

  // 5. A phone's width: nothing wider than the screen.
  await tab.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  out.phone = await tab.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    chartWidth: document.getElementById('chart').getBoundingClientRect().width,
  }));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
