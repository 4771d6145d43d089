// render.js PAGE.html SCREENSHOT.png - open the report in headless
// Chromium (Debian's, never a downloaded one), note every request and
// console error, read every bar back (its data-* numbers and the size
// Chromium drew it at), save a screenshot; print it all as JSON.
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

(async () => {
  const [page_path, shot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const requests = [], errors = [];
  page.on('request', r => requests.push(r.url()));
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  await page.goto('file://' + page_path, { waitUntil: 'load' });
  const result = await page.evaluate(() => {
    const bars = sel => [...document.querySelectorAll(sel)].map(r => {
      const b = r.getBoundingClientRect();
      return { ...r.dataset, width: b.width, height: b.height };
    });
    const totals = {};
    for (const t of document.querySelectorAll('[data-total]'))
      totals[t.dataset.total] = Number(t.textContent);
    return {
      title: document.title,
      scripts: document.querySelectorAll('script').length,
      svgs: document.querySelectorAll('svg').length,
      hour_bars: bars('rect.bar'), share_bars: bars('rect.share'), histo_bars: bars('rect.hbar'),
      share_labels: [...document.querySelectorAll('#refusal-share text.value')].map(t => t.textContent),
      totals,
      summary: (document.querySelector('#summary pre') || {}).textContent || '',
    };
  });
  await page.screenshot({ path: shot, fullPage: true });
  await browser.close();
  result.requests = requests;
  result.errors = errors;
  console.log(JSON.stringify(result));
})().catch(e => { console.error(String(e)); process.exit(1); });
