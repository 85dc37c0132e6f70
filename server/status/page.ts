/**
 * The live page (`/`) and its script (`/page.js`): plain HTML and a few
 * lines of browser JavaScript, no framework. The script listens to
 * `/events` (Server-Sent Events, one StatusSnapshot as JSON per event) and
 * rebuilds the page's figures from each; rates come from two successive
 * snapshots. Everything shown is set through textContent, never as HTML,
 * so nothing the central reports can inject markup.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lottery central</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; margin: 0 0 1.5rem; }
  dt { color: #666; }
  dd { margin: 0; font-weight: 600; }
  table { border-collapse: collapse; min-width: 32rem; }
  th, td { padding: .25rem .75rem; border-bottom: 1px solid #ddd; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  .yes { color: #17702e; }
  .no { color: #999; }
  #stream.down { color: #b00020; }
</style>
</head>
<body>
<h1>Lottery central <small id="stream">connecting…</small></h1>
<dl>
  <dt>Central</dt><dd id="phase">–</dd>
  <dt>Barrier</dt><dd id="barrier">–</dd>
  <dt>Agencies expected</dt><dd id="expected">–</dd>
  <dt>Agencies connected</dt><dd id="connected">–</dd>
  <dt>Agencies finished</dt><dd id="finished">–</dd>
  <dt>Bets stored</dt><dd id="stored">–</dd>
  <dt>Bets per second</dt><dd id="rate">–</dd>
  <dt>Winners</dt><dd id="winners">–</dd>
</dl>
<table>
  <thead><tr><th>Agency</th><th>Connected</th><th>Finished</th><th>Bets stored</th><th>Bets/s</th><th>Winners</th></tr></thead>
  <tbody id="agencies"></tbody>
</table>
<script src="page.js"></script>
</body>
</html>
`;

export const PAGE_SCRIPT = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const number = new Intl.NumberFormat('en');
  let previous = null;

  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function rate(now, before, pick) {
    if (!before || now.atMs <= before.atMs) return 0;
    return Math.max(0, (pick(now) - pick(before)) * 1000 / (now.atMs - before.atMs));
  }

  function barrierText(s) {
    switch (s.barrier) {
      case 'no_draw': return 'no draw configured';
      case 'waiting': return 'waiting for ' + s.waitingFor + ' of ' + s.expected + ' agencies';
      case 'drawing': return 'drawing';
      case 'drawn': return 'drawn' + (s.drawSeconds === null ? '' : ' in ' + s.drawSeconds.toFixed(3) + ' s');
      default: return String(s.barrier);
    }
  }

  function show(s) {
    $('phase').textContent = s.phase;
    $('barrier').textContent = barrierText(s);
    $('barrier').dataset.state = s.barrier;
    $('expected').textContent = number.format(s.expected);
    $('connected').textContent = number.format(s.connected) + ' (' + number.format(s.connections) + ' connections)';
    $('finished').textContent = number.format(s.finished) + ' of ' + number.format(s.expected);
    $('stored').textContent = number.format(s.storedTotal);
    $('rate').textContent = number.format(Math.round(rate(s, previous, (x) => x.storedTotal)));
    $('winners').textContent = s.winnersTotal === null ? 'after the draw' : number.format(s.winnersTotal);
    const before = new Map((previous ? previous.agencies : []).map((a) => [a.agency, a]));
    const body = document.createElement('tbody');
    body.id = 'agencies';
    for (const a of s.agencies) {
      const row = document.createElement('tr');
      row.dataset.agency = String(a.agency);
      cell(row, String(a.agency) + (a.expected ? '' : ' (not expected)'));
      cell(row, a.connected ? 'yes' : 'no', a.connected ? 'yes' : 'no');
      cell(row, a.finished ? 'yes' : 'no', a.finished ? 'yes' : 'no');
      cell(row, number.format(a.stored));
      const old = before.get(a.agency);
      const perAgency = previous && old ? rate({ atMs: s.atMs, v: a.stored }, { atMs: previous.atMs, v: old.stored }, (x) => x.v) : 0;
      cell(row, number.format(Math.round(perAgency)));
      cell(row, a.winners === null ? '–' : number.format(a.winners));
      body.appendChild(row);
    }
    $('agencies').replaceWith(body);
    previous = s;
  }

  const events = new EventSource('events');
  events.onopen = () => { $('stream').textContent = 'live'; $('stream').className = ''; };
  events.onerror = () => { $('stream').textContent = 'disconnected, retrying…'; $('stream').className = 'down'; };
  events.onmessage = (event) => show(JSON.parse(event.data));
})();
`;
