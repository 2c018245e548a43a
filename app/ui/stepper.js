// The convolution page's stepper: one step position drives the header, the equation, the window
// on the input, the products and the output map. All numbers and text come from cnncore
// (ConvSteps.to_payload / PoolSteps.to_payload); this file only draws them and moves the step.
// Play / pause / step / back / scrub / speed run here at frame rate; the step is reported to the
// server (setStateValue) whenever it comes to rest, so a rerun keeps it.

const SPEEDS = [["slow", 1500], ["normal", 700], ["fast", 250]];
const ENDED_GRACE_MS = 400;
const SCALES = {
  grey: [[0, [255, 255, 255]], [1, [34, 34, 34]]],
  red: [[0, [255, 255, 255]], [1, [214, 39, 40]]],
  green: [[0, [255, 255, 255]], [1, [44, 160, 44]]],
  blue: [[0, [255, 255, 255]], [1, [31, 119, 180]]],
  sign: [[0, [192, 57, 43]], [0.5, [247, 247, 247]], [1, [33, 102, 172]]],
  viridis: [
    [0, [68, 1, 84]], [0.25, [59, 82, 139]], [0.5, [33, 145, 140]],
    [0.75, [94, 201, 98]], [1, [253, 231, 37]],
  ],
};

function colour(scale, lo, hi, v) {
  const stops = SCALES[scale] || SCALES.grey;
  let t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
  t = Math.min(1, Math.max(0, t));
  for (let j = 1; j < stops.length; j++) {
    const [t1, c1] = stops[j];
    const [t0, c0] = stops[j - 1];
    if (t <= t1) {
      const f = t1 > t0 ? (t - t0) / (t1 - t0) : 0;
      return c0.map((a, k) => Math.round(a + f * (c1[k] - a)));
    }
  }
  return stops[stops.length - 1][1];
}

function paint(cell, scale, lo, hi, v, text) {
  const [r, g, b] = colour(scale, lo, hi, v);
  cell.style.background = `rgb(${r},${g},${b})`;
  cell.style.color = 0.299 * r + 0.587 * g + 0.114 * b < 140 ? "#fff" : "#111";
  cell.textContent = text;
}

function blank(cell, text) {
  cell.style.background = "#f1f5f9";
  cell.style.color = "#475569";
  cell.textContent = text;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// A titled grid of cells; returns {box, cells[r][c], title, overlay}.
function grid(title, rows, cols, cls) {
  const box = el("div", `panel ${cls || ""}`);
  const head = el("div", "ptitle", title);
  const g = el("div", "grid");
  g.style.gridTemplateColumns = `repeat(${cols}, var(--cell))`;
  const cells = [];
  for (let r = 0; r < rows; r++) {
    const row = [];
    for (let c = 0; c < cols; c++) {
      const cell = el("div", "cell");
      cell.dataset.r = r;
      cell.dataset.c = c;
      g.appendChild(cell);
      row.push(cell);
    }
    cells.push(row);
  }
  const overlay = el("div", "win");
  overlay.style.display = "none";
  g.appendChild(overlay);
  box.append(head, g);
  return { box, cells, title: head, overlay };
}

// The orange frame over cells top..top+h-1, left..left+w-1: the overlay is placed on the grid's
// own rows and columns (an absolutely positioned grid child takes its grid area as its box), so
// drawing a step only writes styles and never makes the browser lay out the page to measure cells.
function frame(gr, top, left, h, w) {
  const inside = gr.cells[top] && gr.cells[top][left] && gr.cells[top + h - 1];
  if (!inside || !gr.cells[top + h - 1][left + w - 1]) {
    gr.overlay.style.display = "none";
    return;
  }
  gr.overlay.style.gridArea = `${top + 1} / ${left + 1} / span ${h} / span ${w}`;
  gr.overlay.style.display = "block";
}

// The grids a payload needs: a new payload of the same shape (another filter, bias or activation)
// is painted into the grids already on the page, so the browser lays out nothing new.
function shapeOf(p) {
  return JSON.stringify([
    p.inputs.map((inp) => [inp.values.length, inp.values[0].length]),
    p.kernels.length,
    p.window,
    p.pad,
    p.out_rows,
    p.out_cols,
  ]);
}

function build(s) {
  const p = s.payload;
  s.panels.replaceChildren();
  s.rows = [];
  const left = el("div", "chans");
  p.inputs.forEach((inp, ch) => {
    const row = el("div", "chan");
    const g = grid(inp.title, inp.values.length, inp.values[0].length, "input");
    inp.values.forEach((vals, r) =>
      vals.forEach((v, c) => {
        const inPad = r < p.pad || c < p.pad || r >= vals.length - p.pad || c >= vals.length - p.pad;
        if (inPad) g.cells[r][c].classList.add("padcell");
      }),
    );
    row.appendChild(g.box);
    const entry = { input: g };
    if (p.kernels[ch]) {
      const kg = grid("", p.window, p.window, "kernel");
      const pg = grid(p.products.title, p.window, p.window, "products");
      row.append(kg.box, pg.box);
      Object.assign(entry, { kernel: kg, products: pg });
    }
    left.appendChild(row);
    s.rows.push(entry);
  });
  s.out = grid(p.output.title, p.out_rows, p.out_cols, "output");
  s.panels.append(left, s.out.box);
}

// The payload's input and kernel numbers and titles (render draws the step's products and output).
function fill(s) {
  const p = s.payload;
  p.inputs.forEach((inp, ch) => {
    const row = s.rows[ch];
    row.input.title.textContent = inp.title;
    inp.values.forEach((vals, r) =>
      vals.forEach((v, c) => paint(row.input.cells[r][c], inp.scale, inp.lo, inp.hi, v, inp.text[r][c])),
    );
    const kern = p.kernels[ch];
    if (kern) {
      row.kernel.title.textContent = kern.title;
      kern.values.forEach((vals, r) =>
        vals.forEach((v, c) =>
          paint(row.kernel.cells[r][c], "sign", kern.lo, kern.hi, v, kern.text[r][c]),
        ),
      );
    }
  });
  s.out.title.textContent = p.output.title;
  s.root.dataset.n = p.n;
}

function maxIndex(s) {
  const n = s.payload.n;
  return s.quiz ? Math.min(n - 1, s.quiz.revealed) : n - 1;
}

function hidden(s, i) {
  return Boolean(s.quiz) && i >= s.quiz.revealed;
}

function render(s) {
  const p = s.payload;
  const i = s.i;
  const st = p.steps[i];
  const hide = hidden(s, i);
  const target = p.kind === "pool" ? "pooled" : "output";
  s.head.textContent =
    `Step ${i + 1} of ${p.n} · ${target}[${st.row}, ${st.col}]` +
    ` (window at row ${st.top}, column ${st.left})`;
  s.eq.textContent = hide ? st.question : st.equation;
  s.root.dataset.step = i + 1;
  s.root.dataset.hidden = hide ? "1" : "0";
  s.rows.forEach((row, ch) => {
    frame(row.input, st.top, st.left, p.window, p.window);
    row.input.cells.forEach((cells, r) =>
      cells.forEach((cell, c) => {
        const inWin = r >= st.top && r < st.top + p.window && c >= st.left && c < st.left + p.window;
        cell.classList.toggle("inwin", inWin);
      }),
    );
    if (row.products) {
      const prods = st.products[ch];
      row.products.title.textContent = `${p.products.title}: sum = ${hide ? "?" : st.sums[ch]}`;
      prods.values.forEach((vals, r) =>
        vals.forEach((v, c) => {
          const cell = row.products.cells[r][c];
          if (hide) blank(cell, "?");
          else paint(cell, "sign", p.products.lo, p.products.hi, v, prods.text[r][c]);
        }),
      );
    }
  });
  const out = p.output;
  out.values.forEach((vals, r) =>
    vals.forEach((v, c) => {
      const k = r * p.out_cols + c;
      const cell = s.out.cells[r][c];
      cell.dataset.shown = k <= i && !hidden(s, k) ? "1" : "0";
      if (k === i && hide) blank(cell, "?");
      else if (k <= i && !hidden(s, k)) paint(cell, out.scale, out.lo, out.hi, v, out.text[r][c]);
      else blank(cell, "");
    }),
  );
  frame(s.out, st.row, st.col, 1, 1);
  const last = maxIndex(s);
  s.back.disabled = i <= 0;
  s.fwd.disabled = i >= last;
  s.play.textContent = s.timer ? "❚❚ Pause" : "▶ Play";
  s.play.disabled = !s.timer && last === 0;
  s.scrub.max = p.n;
  s.scrub.value = i + 1;
  s.scrub.disabled = p.n <= 1;
  s.note.textContent =
    s.quiz && i === last && hide ? `Predict ${target}[${st.row}, ${st.col}] below, then press Check.` : "";
}

function report(s) {
  s.reports += 1;
  s.setStateValue("step", { step: s.i + 1, report: s.reports });
}

function stop(s, tell) {
  if (s.timer) clearTimeout(s.timer);
  s.timer = null;
  if (tell) report(s);
}

function tick(s) {
  if (s.i < maxIndex(s)) {
    s.i += 1;
    render(s);
  }
  if (s.i >= maxIndex(s)) {
    stop(s, true);
    s.endedAt = performance.now(); // Play ended by itself: see the Play button
    render(s);
    return;
  }
  s.timer = setTimeout(() => tick(s), s.speed);
}

function go(s, i) {
  stop(s, false);
  s.i = Math.max(0, Math.min(i, maxIndex(s)));
  render(s);
  report(s);
}

function init(parent) {
  const s = { i: 0, timer: null, speed: 700, reports: 0, seq: null, key: null, endedAt: -Infinity };
  s.root = el("div", "stepper");
  const bar = el("div", "bar");
  s.back = el("button", "back", "◀ Back");
  s.play = el("button", "play", "▶ Play");
  s.fwd = el("button", "fwd", "Step ▶");
  const scrubLabel = el("label", "scrublabel");
  scrubLabel.append(el("span", "", "Step"));
  s.scrub = el("input", "scrub");
  Object.assign(s.scrub, { type: "range", min: 1, max: 1, step: 1 });
  s.scrub.setAttribute("aria-label", "Step");
  scrubLabel.append(s.scrub);
  const speedLabel = el("label", "speedlabel");
  speedLabel.append(el("span", "", "Speed"));
  s.speedSel = el("select", "speed");
  s.speedSel.setAttribute("aria-label", "Speed");
  for (const [name, ms] of SPEEDS) {
    const o = el("option", "", name);
    o.value = ms;
    if (ms === s.speed) o.selected = true;
    s.speedSel.appendChild(o);
  }
  speedLabel.append(s.speedSel);
  bar.append(s.back, s.play, s.fwd, scrubLabel, speedLabel);
  s.head = el("div", "head");
  s.eq = el("pre", "eq");
  s.note = el("div", "note");
  s.panels = el("div", "panels");
  s.root.append(bar, s.head, s.eq, s.note, s.panels);
  parent.appendChild(s.root);

  s.back.onclick = () => go(s, s.i - 1);
  s.fwd.onclick = () => go(s, s.i + 1);
  s.play.onclick = () => {
    if (s.timer) {
      stop(s, true);
      render(s);
      return;
    }
    // a click just after Play ended by itself was meant for "Pause", not for starting over
    if (performance.now() - s.endedAt < ENDED_GRACE_MS) return;
    if (s.i >= maxIndex(s)) {
      if (maxIndex(s) < s.payload.n - 1) return; // quiz: the next cell waits for a prediction
      s.i = 0; // at the end, Play starts over
      render(s);
    }
    s.timer = setTimeout(() => tick(s), s.speed);
    render(s);
  };
  s.scrub.oninput = () => {
    stop(s, false);
    s.i = Math.max(0, Math.min(Number(s.scrub.value) - 1, maxIndex(s)));
    render(s);
  };
  s.scrub.onchange = () => report(s);
  s.speedSel.onchange = () => {
    s.speed = Number(s.speedSel.value);
  };
  return s;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let s = parentElement.__stepper;
  if (!s) {
    s = init(parentElement);
    parentElement.__stepper = s;
  }
  s.setStateValue = setStateValue;
  s.quiz = data.quiz || null;
  if (s.key !== data.payload_key) {
    s.payload = data.payload;
    s.key = data.payload_key;
    const shape = shapeOf(data.payload);
    if (shape !== s.shape) build(s);
    s.shape = shape;
    fill(s);
  }
  if (s.seq !== data.seq) {
    // First mount, or the server moved the step itself (quiz switched on, a cell answered).
    s.seq = data.seq;
    stop(s, false);
    s.i = data.step - 1;
  }
  s.i = Math.max(0, Math.min(s.i, maxIndex(s)));
  render(s);
  // Streamlit also calls this cleanup for a call that newer data overtook while it was loading;
  // stopping Play then would leave the timer dead and the button saying Pause. Only a stepper
  // that has left the page stops.
  return () => {
    if (!parentElement.isConnected) stop(s, false);
  };
}
