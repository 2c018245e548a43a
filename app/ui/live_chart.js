// A line chart on a canvas for the live training panel: one chart per component, redrawn in a
// few milliseconds when new points arrive (a Plotly figure re-sent every second cost the browser
// ~150 ms of main-thread time per second). Data (cnncore.plots.training.chart_payload, plus the
// page's version): {version, title, height, x: {title, dtick, tozero}, y: {title, log, range,
// percent}, series: [{name, x, y, color, width, opacity, lines, markers, text, percent}],
// lines: [{x0, x1, y0, y1, xref, yref, color, dash}], labels: [{text, x, y, xref, yref, angle,
// color, xanchor, yanchor}], note}. Hovering shows every series' value at the nearest x. With
// data.feed ({url, every}: live_poll.js), it asks the server for new points while a job trains.

const PAD = { l: 62, r: 16, t: 34, b: 44 };
const FONT = "12px sans-serif";

function niceStep(span, count) {
  const raw = span / Math.max(count, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function ticks(lo, hi, count, dtick) {
  const step = dtick || niceStep(hi - lo, count);
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

function logTicks(lo, hi) {
  // lo, hi: log10 of the range; a tick at 1, 2 and 5 x each power of ten when there is room
  const out = [];
  const few = hi - lo > 2.5;
  for (let p = Math.floor(lo); p <= Math.ceil(hi); p++) {
    for (const m of few ? [1] : [1, 2, 5]) {
      const v = Math.log10(m) + p;
      if (v >= lo - 1e-9 && v <= hi + 1e-9) out.push(v);
    }
  }
  return out;
}

function fmt(v, percent) {
  if (percent) return `${(v * 100).toFixed(0)}%`;
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(0);
  return `${+v.toPrecision(4)}`;
}

function readout(v, percent) {
  return percent ? `${(v * 100).toFixed(2)}%` : v.toFixed(4);
}

function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function scales(d, w, h) {
  const xs = d.series.flatMap((s) => s.x);
  d.lines.filter((l) => l.xref === "x").forEach((l) => xs.push(l.x0, l.x1));
  let [x0, x1] = extent(xs);
  if (!Number.isFinite(x0)) [x0, x1] = [0, 1];
  if (d.x.tozero) x0 = Math.min(0, x0);
  if (d.x.dtick) [x0, x1] = [x0 - 0.3, x1 + 0.3]; // room for a marker at each end
  if (x1 <= x0) x1 = x0 + 1;
  const log = d.y.log;
  const ys = d.series.flatMap((s) => s.y).filter((v) => v !== null && (!log || v > 0));
  d.lines.filter((l) => l.yref === "y").forEach((l) => ys.push(l.y0, l.y1));
  let [y0, y1] = d.y.range || extent(log ? ys.map(Math.log10) : ys);
  if (!Number.isFinite(y0)) [y0, y1] = log ? [-1, 1] : [0, 1];
  if (!d.y.range) {
    const pad = (y1 - y0 || Math.abs(y0) || 1) * 0.06;
    [y0, y1] = [y0 - pad, y1 + pad];
  }
  const px = (v) => PAD.l + ((v - x0) / (x1 - x0)) * (w - PAD.l - PAD.r);
  const py = (v) =>
    h - PAD.b - (((log ? Math.log10(v) : v) - y0) / (y1 - y0)) * (h - PAD.t - PAD.b);
  return { x0, x1, y0, y1, px, py, log };
}

function at(ref, v, s, w, h, axis) {
  if (ref === axis) return axis === "x" ? s.px(v) : s.py(v);
  return axis === "x" ? PAD.l + v * (w - PAD.l - PAD.r) : h - PAD.b - v * (h - PAD.t - PAD.b);
}

function draw(canvas, d) {
  const w = canvas.clientWidth;
  const h = d.height;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const s = scales(d, w, h);
  ctx.font = FONT;
  // grid and tick labels
  ctx.strokeStyle = "#e2e8f0";
  ctx.fillStyle = "#475569";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const yt = s.log ? logTicks(s.y0, s.y1) : ticks(s.y0, s.y1, 5);
  for (const t of yt) {
    const v = s.log ? 10 ** t : t;
    const y = s.py(v);
    ctx.beginPath();
    ctx.moveTo(PAD.l, y);
    ctx.lineTo(w - PAD.r, y);
    ctx.stroke();
    ctx.fillText(fmt(v, d.y.percent), PAD.l - 6, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const xt = ticks(
    Math.max(s.x0, d.x.tozero ? 0 : s.x0),
    s.x1,
    Math.max(2, (w - PAD.l) / 90),
    d.x.dtick,
  );
  for (const t of xt) ctx.fillText(fmt(t, false), s.px(t), h - PAD.b + 5);
  ctx.strokeStyle = "#94a3b8";
  ctx.beginPath();
  ctx.moveTo(PAD.l, PAD.t);
  ctx.lineTo(PAD.l, h - PAD.b);
  ctx.lineTo(w - PAD.r, h - PAD.b);
  ctx.stroke();
  // titles
  ctx.fillStyle = "#0f172a";
  ctx.textAlign = "left";
  ctx.font = "15px sans-serif";
  ctx.fillText(d.title, 8, 8);
  ctx.font = FONT;
  ctx.fillStyle = "#334155";
  ctx.textAlign = "center";
  ctx.fillText(d.x.title, (PAD.l + w - PAD.r) / 2, h - 18);
  ctx.save();
  ctx.translate(14, (PAD.t + h - PAD.b) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(d.y.title, 0, 0);
  ctx.restore();
  // series, clipped to the plot
  ctx.save();
  ctx.beginPath();
  ctx.rect(PAD.l, PAD.t - 20, w - PAD.l, h - PAD.t - PAD.b + 20);
  ctx.clip();
  for (const ser of d.series) {
    ctx.globalAlpha = ser.opacity;
    ctx.strokeStyle = ser.color;
    ctx.fillStyle = ser.color;
    ctx.lineWidth = ser.width;
    ctx.lineJoin = "round";
    const ok = (i) => ser.y[i] !== null && ser.x[i] !== null && (!s.log || ser.y[i] > 0);
    if (ser.lines) {
      ctx.beginPath();
      let pen = false;
      ser.x.forEach((x, i) => {
        if (!ok(i)) {
          pen = false;
          return;
        }
        if (pen) ctx.lineTo(s.px(x), s.py(ser.y[i]));
        else ctx.moveTo(s.px(x), s.py(ser.y[i]));
        pen = true;
      });
      ctx.stroke();
    }
    let lastRight = -Infinity; // a point's label is left out where it would cover the last one
    ser.x.forEach((x, i) => {
      if (!ok(i)) return;
      if (ser.markers) {
        ctx.beginPath();
        ctx.arc(s.px(x), s.py(ser.y[i]), ser.markers / 2, 0, 2 * Math.PI);
        ctx.fill();
      }
      if (ser.text) {
        const half = ctx.measureText(ser.text[i]).width / 2;
        const cx = Math.min(Math.max(s.px(x), PAD.l + half), w - half - 2);
        if (cx - half < lastRight + 4) return;
        lastRight = cx + half;
        ctx.textAlign = "center";
        ctx.textBaseline = "bottom";
        ctx.fillText(ser.text[i], cx, s.py(ser.y[i]) - ser.markers / 2 - 3);
      }
    });
  }
  ctx.restore();
  ctx.globalAlpha = 1;
  // marker lines and their labels
  for (const l of d.lines) {
    ctx.strokeStyle = l.color;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(l.dash);
    ctx.beginPath();
    ctx.moveTo(at(l.xref, l.x0, s, w, h, "x"), at(l.yref, l.y0, s, w, h, "y"));
    ctx.lineTo(at(l.xref, l.x1, s, w, h, "x"), at(l.yref, l.y1, s, w, h, "y"));
    ctx.stroke();
  }
  ctx.setLineDash([]);
  for (const a of d.labels) {
    const x = at(a.xref, a.x, s, w, h, "x"); // "paper" and "domain": a fraction of the plot
    const y = at(a.yref, a.y, s, w, h, "y");
    ctx.save();
    ctx.translate(x, y);
    ctx.rotate((a.angle * Math.PI) / 180);
    ctx.fillStyle = a.color;
    ctx.font = a.angle ? "10px sans-serif" : FONT;
    // Plotly anchors a rotated label by its box on the page: rotated -90, "right, top" puts
    // the text's end at the top, just left of the line
    if (a.angle) {
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      ctx.fillText(a.text, -2, -2);
    } else {
      ctx.textAlign = { left: "left", right: "right" }[a.xanchor] || "center";
      ctx.textBaseline = { top: "top", bottom: "bottom" }[a.yanchor] || "middle";
      ctx.fillText(a.text, a.xanchor === "left" ? 4 : 0, a.yanchor === "top" ? 3 : 0);
    }
    ctx.restore();
  }
  return s;
}

function nearest(xs, x) {
  let best = -1;
  let gap = Infinity;
  xs.forEach((v, i) => {
    if (v !== null && Math.abs(v - x) < gap) {
      gap = Math.abs(v - x);
      best = i;
    }
  });
  return best;
}

function legend(box, d) {
  box.replaceChildren(
    ...d.series.map((ser) => {
      const item = document.createElement("span");
      item.className = "lc-item";
      const swatch = document.createElement("i");
      swatch.style.background = ser.color;
      swatch.style.opacity = Math.max(ser.opacity, 0.35);
      swatch.style.height = `${Math.max(ser.width, 2)}px`;
      item.append(swatch, document.createTextNode(ser.name));
      return item;
    }),
  );
}

export default function (component) {
  const { data, parentElement } = component;
  let root = parentElement.querySelector(".lc");
  if (!root) {
    root = document.createElement("div");
    root.className = "lc";
    root.innerHTML =
      '<div class="lc-plot"><canvas class="lc-canvas"></canvas><canvas class="lc-hover">' +
      '</canvas></div><div class="lc-legend"></div><div class="lc-readout">\u00a0</div>' +
      '<div class="lc-note"></div>';
    parentElement.appendChild(root);
    root.state = {};
    const plot = root.querySelector(".lc-plot");
    const hover = root.querySelector(".lc-hover");
    const out = root.querySelector(".lc-readout");
    plot.onmousemove = (e) => {
      const { d, s } = root.state;
      if (!d || !s) return;
      const box = plot.getBoundingClientRect();
      const px = e.clientX - box.left;
      const x = s.x0 + ((px - PAD.l) / (box.width - PAD.l - PAD.r)) * (s.x1 - s.x0);
      const parts = [];
      let shownX = null;
      for (const ser of d.series) {
        const i = nearest(ser.x, x);
        if (i < 0 || ser.y[i] === null) continue;
        shownX = shownX ?? ser.x[i];
        parts.push(`${ser.name} ${readout(ser.y[i], ser.percent)}`);
      }
      if (shownX === null) return;
      out.textContent = `${d.x.title} ${shownX}: ${parts.join(" · ")}`;
      const ratio = window.devicePixelRatio || 1;
      hover.width = Math.round(box.width * ratio);
      hover.height = Math.round(box.height * ratio);
      const ctx = hover.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.strokeStyle = "#94a3b8";
      ctx.beginPath();
      ctx.moveTo(s.px(shownX), PAD.t);
      ctx.lineTo(s.px(shownX), box.height - PAD.b);
      ctx.stroke();
    };
    plot.onmouseleave = () => {
      out.textContent = "\u00a0";
      hover.width = hover.width; // clears it
    };
    new ResizeObserver(() => {
      if (root.state.d) root.state.s = draw(root.querySelector(".lc-canvas"), root.state.d);
    }).observe(plot);
  }
  show(root, data);
  livePoll(root, data.feed, () => root.dataset.version, (body) => show(root, body), true);
}

function show(root, data) {
  if (!data.series || root.dataset.version === data.version) return; // nothing new to draw
  root.dataset.points = String(data.series[0] ? data.series[0].x.length : 0);
  root.dataset.version = data.version;
  const plot = root.querySelector(".lc-plot");
  plot.style.height = `${data.height}px`;
  root.state.d = data;
  root.state.s = draw(root.querySelector(".lc-canvas"), data);
  legend(root.querySelector(".lc-legend"), data);
  root.querySelector(".lc-note").textContent = data.note || "";
}
