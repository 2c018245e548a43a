// The running model's first-layer filters and one digit's feature maps, drawn on canvases (the
// live training panel redraws them every couple of seconds: far cheaper than Plotly heatmaps).
// Data (cnncore.plots.training.weights_payload, plus the page's version): {version, step, filters: {name, caption, scale, cols,
// colorscale, lo, hi, maps}, maps: {title, rows: [{name, colorscale, lo, hi, maps}]}}; or only
// {version} when the server has sent that version's pictures before.
// Hovering a picture shows the value under the pointer.

function paint(map, stops, lo, hi, into = null) {
  const rows = map.length;
  const cols = map[0].length;
  const canvas = into || document.createElement("canvas");
  canvas.map = map;
  if (!into) {
    canvas.width = cols;
    canvas.height = rows;
    canvas.style.aspectRatio = `${cols} / ${rows}`;
  }
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  map.forEach((vals, r) =>
    vals.forEach((v, c) => {
      const rgb = v === null ? [203, 213, 225] : interpolate(stops, lo, hi, v);
      img.data.set([...rgb, 255], 4 * (r * cols + c));
    }),
  );
  ctx.putImageData(img, 0, 0);
  return canvas;
}

function hover(canvas, readout, where) {
  canvas.onmousemove = (e) => {
    const map = canvas.map; // repainted in place: always the latest
    const box = canvas.getBoundingClientRect();
    const r = Math.floor(((e.clientY - box.top) / box.height) * map.length);
    const c = Math.floor(((e.clientX - box.left) / box.width) * map[0].length);
    const v = (map[r] || [])[c];
    if (v === undefined || v === null) return;
    readout.textContent = `${where}, pixel (${r}, ${c}): ${+v.toFixed(3)}`;
  };
  canvas.onmouseleave = () => {
    readout.textContent = "\u00a0";
  };
}

function text(tag, cls, content) {
  const el = document.createElement(tag);
  el.className = cls;
  el.textContent = content;
  return el;
}

function rgbOf(c) {
  if (c.startsWith("#")) return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
  return (c.match(/\d+/g) || [0, 0, 0]).slice(0, 3).map(Number); // "rgb(r, g, b)"
}

function scaleOf(colorscale) {
  return colorscale.map(([t, c]) => [t, rgbOf(c)]);
}

function filtersBox(f) {
  const box = document.createElement("section");
  box.className = "lw-filters";
  const readout = text("div", "lw-readout", "\u00a0");
  const grid = document.createElement("div");
  grid.className = "lw-grid";
  grid.style.gridTemplateColumns = `repeat(${f.cols}, minmax(0, 1fr))`;
  const stops = scaleOf(f.colorscale);
  f.maps.forEach((map, i) => {
    const canvas = paint(map, stops, f.lo, f.hi);
    hover(canvas, readout, `filter ${i}`);
    grid.appendChild(canvas);
  });
  box.append(text("h4", "lw-title", f.name), text("div", "lw-note", f.caption), grid);
  box.append(text("div", "lw-note", f.scale), readout);
  return box;
}

function mapsBox(m) {
  const box = document.createElement("section");
  box.className = "lw-maps";
  const readout = text("div", "lw-readout", "\u00a0");
  box.appendChild(text("h4", "lw-title", m.title));
  const n = Math.max(...m.rows.map((row) => row.maps.length));
  m.rows.forEach((row) => {
    box.appendChild(text("div", "lw-label", row.name));
    const strip = document.createElement("div");
    strip.className = "lw-strip";
    strip.style.gridTemplateColumns = `repeat(${n}, minmax(0, 1fr))`;
    const stops = scaleOf(row.colorscale);
    row.maps.forEach((map, j) => {
      const canvas = paint(map, stops, row.lo, row.hi);
      hover(
        canvas,
        readout,
        row.maps.length > 1 ? `${row.name.split(":")[0]}, map ${j}` : row.name,
      );
      strip.appendChild(canvas);
    });
    box.appendChild(strip);
  });
  box.appendChild(readout);
  return box;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let root = parentElement.querySelector(".lw");
  if (!root) {
    root = document.createElement("div");
    root.className = "lw";
    parentElement.appendChild(root);
  }
  livePoll(root, data.feed, () => root.dataset.version, (body) => show(root, body), true);
  if (root.dataset.version === data.version) return; // nothing new since the last draw
  if (!data.filters) {
    // the server sent this version's pictures before, but not to this mount: ask for them (once)
    if (root.dataset.asked !== data.version) setTriggerValue("missing", data.version);
    root.dataset.asked = data.version;
    return;
  }
  show(root, data);
}

function show(root, data) {
  if (!data.filters || root.dataset.version === data.version) return; // nothing new to draw
  root.dataset.version = data.version;
  const shape = JSON.stringify([
    data.filters.cols,
    data.filters.maps.map((m) => [m.length, m[0].length]),
    data.maps.rows.map((r) => [r.name, r.maps.map((m) => [m.length, m[0].length])]),
  ]);
  if (root.dataset.shape === shape) {
    // the same pictures with new numbers (the next weights of the same run): repaint in place,
    // no new elements, so the page's layout is left alone
    const canvases = root.querySelectorAll("canvas");
    const all = [
      ...data.filters.maps.map((m) => [m, data.filters]),
      ...data.maps.rows.flatMap((r) => r.maps.map((m) => [m, r])),
    ];
    all.forEach(([m, from], i) =>
      paint(m, scaleOf(from.colorscale), from.lo, from.hi, canvases[i]),
    );
    root.querySelector(".lw-filters .lw-title").textContent = data.filters.name;
    root.querySelectorAll(".lw-filters .lw-note")[1].textContent = data.filters.scale;
    return;
  }
  root.dataset.shape = shape;
  root.replaceChildren(filtersBox(data.filters), mapsBox(data.maps));
}
