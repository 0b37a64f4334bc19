// The dashboard's plots (uPlot): memory over time and call latency per
// plugin. Back-filled from history on load and on a range change, then
// live from GET /v1/events (read with fetch, so the token goes in a header).
// `window.hostelPlots` holds what is drawn, for tests and curious operators.
"use strict";
(() => {
  const COLORS = ["#1565c0", "#6a1b9a", "#00838f", "#558b2f", "#ad1457", "#4e342e", "#37474f", "#f57f17"];
  const LEVEL_FILL = {medium: "rgba(249,168,37,.12)", high: "rgba(239,108,0,.14)", critical: "rgba(198,40,40,.14)"};
  const plots = {
    range: 300,          // seconds shown
    samples: [],         // {t, used, budget, rss, plugins: {name: bytes}}, t in seconds, oldest first
    markers: [],         // {t, kind: "eviction" | "alert", label}
    calls: [],           // {t, plugin, ms}
    thresholds: null,    // fractions of the budget
    live: false,
    memory: null,        // the uPlot instances
    latency: null,
  };
  window.hostelPlots = plots;
  const $ = (s) => document.querySelector(s);
  const now = () => Date.now() / 1000;
  const markerKeys = new Set();

  function addMarker(m) {
    const key = m.kind + "|" + Math.round(m.t * 1000) + "|" + m.label;
    if (markerKeys.has(key)) return;
    markerKeys.add(key);
    plots.markers.push(m);
  }

  async function backfill() {
    const since = Date.now() - plots.range * 1000;
    const samples = [];
    let next = since;
    for (let page = 0; page < 30 && next != null; page++) {
      const h = await get(`/v1/admin/memory/history?since=${next}&limit=1000`);
      samples.push(...h.samples);
      next = h.next_since;
    }
    plots.samples = samples.map((s) => ({t: s.ts_ms / 1000, used: s.used, budget: s.budget, rss: s.rss, plugins: s.plugins || {}}));
    const [memory, alerts, calls] = await Promise.all([
      get("/v1/admin/memory"), get("/v1/admin/alerts?limit=200"), get("/v1/invocations?page_size=500")]);
    plots.thresholds = memory.thresholds;
    plots.markers = [];
    markerKeys.clear();
    for (const e of memory.recent_evictions) addMarker({t: e.ts_ms / 1000, kind: "eviction", label: `${e.plugin} (${e.reason})`});
    for (const a of alerts.alerts) addMarker({t: a.ts_ms / 1000, kind: "alert", label: `${a.from_level} → ${a.to_level}`});
    plots.calls = calls.invocations.map((c) => ({t: c.ts_ms / 1000, plugin: c.plugin, ms: c.duration_us / 1000})).reverse();
    draw();
  }

  // Live: one long fetch of the event stream; reconnects after a drop.
  async function stream() {
    for (;;) {
      try {
        const r = await fetch("/v1/events?types=memory,instance,pressure,call", {headers: headers()});
        if (!r.ok) throw new Error("events: " + r.status);
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let pending = "";
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          pending += decoder.decode(value, {stream: true});
          let end;
          while ((end = pending.indexOf("\n\n")) >= 0) {
            const message = pending.slice(0, end);
            pending = pending.slice(end + 2);
            for (const line of message.split("\n")) {
              if (line.startsWith("data: ")) take(JSON.parse(line.slice(6)));
            }
          }
        }
      } catch (e) {
        $("#live").textContent = "not live: " + e.message;
      }
      setLive(false);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  function setLive(on) {
    plots.live = on;
    document.body.dataset.live = String(on);
    if (on) $("#live").textContent = "live";
  }

  function take(e) {
    const t = (e.ts_ms || Date.now()) / 1000;
    switch (e.type) {
      case "subscribed": setLive(true); return;
      case "memory": plots.samples.push({t, used: e.used, budget: e.budget, rss: e.rss, plugins: e.plugins || {}}); break;
      case "instance": if (e.action !== "evicted") return; addMarker({t, kind: "eviction", label: `${e.plugin} (${e.reason})`}); break;
      case "pressure": addMarker({t, kind: "alert", label: `${e.from} → ${e.to}`}); break;
      case "call": plots.calls.push({t, plugin: e.plugin, ms: e.ms}); break;
      case "dropped": $("#live").textContent = "dropped: " + e.message; return;
      default: return;
    }
    soon();
  }

  let timer = null;
  function soon() {
    if (!timer) timer = setTimeout(() => { timer = null; draw(); }, 500);
  }

  function bands(u) {
    const th = plots.thresholds;
    const budget = plots.samples.length ? plots.samples[plots.samples.length - 1].budget : 0;
    if (!th || !budget) return;
    const ctx = u.ctx, {left, width} = u.bbox;
    const levels = [["medium", th.medium, th.high], ["high", th.high, th.critical], ["critical", th.critical, 1]];
    for (const [name, lo, hi] of levels) {
      const y0 = u.valToPos(hi * budget, "y", true), y1 = u.valToPos(lo * budget, "y", true);
      ctx.fillStyle = LEVEL_FILL[name];
      ctx.fillRect(left, y0, width, y1 - y0);
    }
  }

  function lines(u) {
    const ctx = u.ctx, {top, height} = u.bbox;
    const [x0, x1] = [u.scales.x.min, u.scales.x.max];
    for (const m of plots.markers) {
      if (m.t < x0 || m.t > x1) continue;
      const x = Math.round(u.valToPos(m.t, "x", true));
      ctx.strokeStyle = m.kind === "eviction" ? "#c62828" : "#ef6c00";
      ctx.lineWidth = m.kind === "eviction" ? 2 : 1;
      ctx.setLineDash(m.kind === "eviction" ? [] : [4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  const bytesAxis = {values: (u, vals) => vals.map((v) => mib(v)), size: 80};

  function memoryData() {
    const cut = now() - plots.range;
    plots.samples = plots.samples.filter((s) => s.t >= cut);
    const s = plots.samples;
    // Largest plugins get their own band; the rest are summed as "other".
    const peak = {};
    for (const x of s) for (const [p, b] of Object.entries(x.plugins)) peak[p] = Math.max(peak[p] || 0, b);
    const names = Object.keys(peak).sort((a, b) => peak[b] - peak[a]);
    const own = names.slice(0, 7), rest = names.slice(7);
    const groups = own.map((n) => [n, [n]]);
    if (rest.length) groups.push(["other", rest]);
    // Stacked: each series is the sum of itself and those below it; drawn
    // largest first so each fill sits on top of the previous.
    const stacks = [];
    let below = s.map(() => 0);
    for (const [, members] of groups) {
      below = s.map((x, i) => below[i] + members.reduce((a, m) => a + (x.plugins[m] || 0), 0));
      stacks.push(below);
    }
    const data = [s.map((x) => x.t), s.map((x) => x.used), s.map((x) => x.rss), s.map((x) => x.budget), ...stacks.slice().reverse()];
    const series = [{}, {label: "ledger used", stroke: "#263238", width: 2}, {label: "process RSS", stroke: "#8d6e63", dash: [6, 4], width: 1.5},
      {label: "budget", stroke: "#9e9e9e", width: 1}];
    groups.slice().reverse().forEach(([name], i) => {
      const c = COLORS[(groups.length - 1 - i) % COLORS.length];
      series.push({label: name, stroke: c, fill: c + "55", width: 1});
    });
    return {data, series};
  }

  function latencyData() {
    const end = now(), start = end - plots.range, buckets = 60, step = plots.range / buckets;
    plots.calls = plots.calls.filter((c) => c.t >= start);
    const count = {};
    for (const c of plots.calls) count[c.plugin] = (count[c.plugin] || 0) + 1;
    const names = Object.keys(count).sort((a, b) => count[b] - count[a]).slice(0, 4);
    const xs = Array.from({length: buckets}, (_, i) => start + (i + 0.5) * step);
    const data = [xs], series = [{}];
    const pct = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    names.forEach((name, k) => {
      const per = xs.map(() => []);
      for (const c of plots.calls) {
        if (c.plugin !== name) continue;
        per[Math.min(buckets - 1, Math.floor((c.t - start) / step))].push(c.ms);
      }
      const sorted = per.map((b) => b.sort((a, b2) => a - b2));
      data.push(sorted.map((b) => (b.length ? pct(b, 0.5) : null)));
      data.push(sorted.map((b) => (b.length ? pct(b, 0.99) : null)));
      const c = COLORS[k % COLORS.length];
      series.push({label: name + " p50", stroke: c, width: 1, points: {show: true, size: 3}});
      series.push({label: name + " p99", stroke: c, width: 2.5, points: {show: true, size: 4}});
    });
    return {data, series};
  }

  function place(old, el, opts, data) {
    if (old && old.series.length === opts.series.length) {
      old.setData(data);
      return old;
    }
    if (old) old.destroy();
    return new uPlot(opts, data, el);
  }

  function draw() {
    const width = Math.max(400, $("#memplot").clientWidth);
    const xRange = () => [now() - plots.range, now()];
    const m = memoryData();
    plots.memory = place(plots.memory, $("#memplot"), {
      width, height: 260, series: m.series,
      scales: {x: {time: true, range: xRange}, y: {range: (u, lo, hi) => [0, Math.max(hi, 1)]}},
      axes: [{}, bytesAxis],
      hooks: {drawClear: [bands], draw: [lines]},
    }, m.data);
    const l = latencyData();
    plots.latency = place(plots.latency, $("#latplot"), {
      width, height: 220, series: l.series,
      scales: {x: {time: true, range: xRange}, y: {range: (u, lo, hi) => [0, Math.max(hi || 1, 1)]}},
      axes: [{}, {values: (u, vals) => vals.map((v) => v + " ms"), size: 70}],
    }, l.data);
    document.body.dataset.plotted = String(plots.samples.length);
  }

  $("#range").addEventListener("change", (e) => {
    plots.range = Number(e.target.value);
    backfill().catch((err) => { $("#live").textContent = "history: " + err.message; });
  });
  backfill().catch((err) => { $("#live").textContent = "history: " + err.message; }).then(stream);
})();
