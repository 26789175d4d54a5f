// The tool catalog's JSON transform, text search and table query in
// JavaScript, served one call at a time over stdin/stdout (one long-lived
// Node.js per pool worker). Each output is byte for byte what the Python
// tool returns, so the SHA-256 digests of workloads.tools.catalog check it.
//
// Start: node tool_server.js INPUT_DIR WARMUP_MS (the protocol of
// ToolServer.java). The tools fail, sleep and exhaust_heap exist for the tests.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const TOP_HITS = 10;
const TOP_K = 10;

// json.dumps(sort_keys=True, ensure_ascii=True) with the given separators.
function quote(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || (c > 0x7e && c !== 0x7f)) {
      for (let k = 0; k < ch.length; k++) out += '\\u' + ch.charCodeAt(k).toString(16).padStart(4, '0');
    } else out += ch;
  }
  return out + '"';
}

function byCodeUnits(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

function dump(v, item, key) {
  if (Array.isArray(v)) return '[' + v.map((x) => dump(x, item, key)).join(item) + ']';
  if (v === null) return 'null';
  if (typeof v === 'object') {
    return '{' + Object.keys(v).sort(byCodeUnits).map((k) => quote(k) + key + dump(v[k], item, key)).join(item) + '}';
  }
  if (typeof v === 'string') return quote(v);
  return String(v); // integers and booleans: the tools write no floats
}

function title(s) {
  let out = '';
  let prevLetter = false;
  for (const ch of s) {
    out += prevLetter ? ch.toLowerCase() : ch.toUpperCase();
    prevLetter = ch.toLowerCase() !== ch.toUpperCase();
  }
  return out;
}

function jsonTransform(text) {
  const doc = JSON.parse(text);
  const kept = [];
  for (const row of doc.data) {
    if (row.status !== 'active' || row.score < 50) continue;
    kept.push({
      id: row.id, name: title(row.name), city: row.address.city,
      score_bucket: Math.floor(row.score / 10) * 10, tag_count: row.tags.length,
      history_total: row.history.reduce((a, b) => a + b, 0),
    });
  }
  kept.sort((a, b) => (b.score_bucket - a.score_bucket) || byCodeUnits(a.id, b.id));
  const byCity = {};
  for (const r of kept) byCity[r.city] = (byCity[r.city] || 0) + 1;
  return Buffer.from(dump({ items: kept, by_city: byCity, count: kept.length }, ',', ':'));
}

// Python's inline (?i) at the start is JavaScript's i flag.
function compile(pattern) {
  return pattern.startsWith('(?i)') ? new RegExp(pattern.slice(4), 'gi') : new RegExp(pattern, 'g');
}

function textSearch(payload) {
  const results = {};
  for (const pattern of payload.patterns) {
    const rx = compile(pattern);
    const scored = [];
    payload.documents.forEach((doc, i) => {
      let n = 0;
      rx.lastIndex = 0;
      while (rx.exec(doc) !== null) n++;
      if (n) scored.push([n, i]);
    });
    scored.sort((a, b) => (b[0] - a[0]) || (a[1] - b[1]));
    results[pattern] = scored.slice(0, TOP_HITS).map(([n, i]) => [i, n]);
  }
  return Buffer.from(dump(results, ', ', ': '));
}

function tableQuery(payload) {
  const customers = new Map();
  for (const line of payload.customers.split('\n').slice(1)) {
    const c = line.split(',');
    customers.set(Number(c[0]), c);
  }
  const groups = new Map();
  for (const line of payload.orders.split('\n').slice(1)) {
    const o = line.split(',');
    const c = customers.get(Number(o[1]));
    if (!c || Number(c[2]) < 2) continue;
    const key = c[1] + '\0' + o[2];
    let g = groups.get(key);
    if (!g) groups.set(key, (g = [0, 0, 0]));
    g[0] += Number(o[3]);
    g[1] += 1;
    g[2] += Number(o[4]);
  }
  const rows = [...groups.entries()].sort((a, b) => (b[1][0] - a[1][0]) || byCodeUnits(a[0], b[0]));
  let out = 'region,category,revenue,orders,units\n';
  for (const [key, g] of rows.slice(0, TOP_K)) {
    const [region, category] = key.split('\0');
    out += `${region},${category},${g[0].toFixed(2)},${g[1]},${g[2]}\n`;
  }
  return Buffer.from(out);
}

const TOOLS = {
  noop: () => Buffer.alloc(0),
  json_transform: jsonTransform,
  text_search: textSearch,
  table_query: tableQuery,
  fail: () => { throw new Error('tool failed on purpose'); },
  sleep: (ms) => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); return Buffer.alloc(0); },
  exhaust_heap: () => { const hold = []; for (;;) hold.push(new Array(1 << 20).fill(1)); },
};
const NOT_WARMED = new Set(['fail', 'sleep', 'exhaust_heap']);

function main() {
  const [dir, warmupMs] = process.argv.slice(2);
  const inputs = {};
  for (const name of Object.keys(TOOLS)) {
    inputs[name] = [];
    for (let k = 0; fs.existsSync(path.join(dir, `${name}.${k}.json`)); k++) {
      inputs[name].push(JSON.parse(fs.readFileSync(path.join(dir, `${name}.${k}.json`), 'utf8')));
    }
  }
  const warmEnd = Date.now() + Number(warmupMs);
  for (let i = 0; i === 0 || Date.now() < warmEnd; i++) {
    for (const [name, list] of Object.entries(inputs)) {
      if (list.length && !NOT_WARMED.has(name)) {
        try { TOOLS[name](list[i % list.length]); } catch (e) { /* the measured calls report it */ }
      }
    }
  }
  const out = (text) => fs.writeSync(1, text);
  out('READY\n');
  let pending = '';
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue;
      if (e.code === 'EOF') return;
      throw e;
    }
    if (n === 0) return;
    pending += buf.toString('utf8', 0, n);
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const [id, name, index] = pending.slice(0, nl).split(' ');
      pending = pending.slice(nl + 1);
      const t0 = process.cpuUsage();
      let answer;
      try {
        if (!(name in TOOLS)) throw new Error(`unknown tool ${name}`);
        const output = TOOLS[name](inputs[name][Number(index)]);
        const used = process.cpuUsage(t0);
        answer = `0 ${(used.user + used.system) * 1000} ${crypto.createHash('sha256').update(output).digest('hex')}`;
      } catch (e) {
        const used = process.cpuUsage(t0);
        answer = `1 ${(used.user + used.system) * 1000} ${`${e.name}: ${e.message}`.replace(/\s+/g, ' ')}`;
      }
      out(`${id} ${answer}\n`);
    }
  }
}

main();
