// Rows of feature maps (e.g. a digit's, the shifted digit's, their difference) drawn on canvases:
// one canvas per map, a title per column, a name per row, the value under the pointer shown
// beneath, outlined boxes (a chosen pixel, a receptive field). A click on a map of a clickable
// row sends {panel, column, row, col} as the "click" trigger. Data: {columns: [title],
// rows: [{name, panel, clickable, colorscale: [[t, "rgb(r,g,b)"]], lo, hi,
// maps: [[[v | null]]], outlines: [{row, col, size} | null], scales: [{colorscale, lo, hi}]
// (the last two optional, per map), titles: [caption above each map] (optional), labels:
// decimals (optional: each cell's number is written in it)}]}; null = undefined (drawn grey).

const UNDEFINED = [203, 213, 225]; // #cbd5e1

function parseColour(c) {
  if (c.startsWith("#")) return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
  return (c.match(/\d+/g) || [0, 0, 0]).slice(0, 3).map(Number); // "rgb(r, g, b)"
}

function parseScale(colorscale) {
  return colorscale.map(([t, c]) => [t, parseColour(c)]);
}

function colour(stops, lo, hi, v) {
  if (v === null || v === undefined) return UNDEFINED;
  return interpolate(stops, lo, hi, v);
}

function paint(canvas, map, stops, lo, hi, outline, decimals) {
  const rows = map.length;
  const cols = map[0].length;
  const labelled = decimals !== undefined && decimals !== null;
  const scale = labelled ? 48 : 8; // canvas pixels per map pixel: room for an outline, a number
  canvas.width = cols * scale;
  canvas.height = rows * scale;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  const rgb = map.map((vals) => vals.map((v) => colour(stops, lo, hi, v)));
  rgb.forEach((vals, r) =>
    vals.forEach((c3, c) => {
      img.data.set([...c3, 255], 4 * (r * cols + c));
    }),
  );
  const small = document.createElement("canvas");
  small.width = cols;
  small.height = rows;
  small.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  if (labelled) {
    ctx.font = `${Math.round(scale * 0.3)}px sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    map.forEach((vals, r) =>
      vals.forEach((v, c) => {
        if (v === null) return;
        const [R, G, B] = rgb[r][c];
        ctx.fillStyle = 0.299 * R + 0.587 * G + 0.114 * B < 140 ? "#ffffff" : "#0f172a";
        ctx.fillText(v.toFixed(decimals), (c + 0.5) * scale, (r + 0.5) * scale);
      }),
    );
  }
  if (outline) {
    ctx.strokeStyle = "#dc2626";
    ctx.lineWidth = 3;
    const size = (outline.size || 1) * scale;
    ctx.strokeRect(outline.col * scale + 1.5, outline.row * scale + 1.5, size - 3, size - 3);
  }
}

function pixelAt(canvas, map, e) {
  const rect = canvas.getBoundingClientRect();
  const rows = map.length;
  const cols = map[0].length;
  const c = Math.floor(((e.clientX - rect.left) / rect.width) * cols);
  const r = Math.floor(((e.clientY - rect.top) / rect.height) * rows);
  return r >= 0 && r < rows && c >= 0 && c < cols ? [r, c] : null;
}

// Bars (one chart per model, 10 classes): {bars: [{title, color, faint, values: [percent],
// pred, label | null}]}: the predicted class solid, the others faint, the true class outlined.
function drawBars(box, data) {
  box.style.gridTemplateColumns = `repeat(${data.bars.length}, minmax(0, 1fr))`;
  box.replaceChildren();
  data.bars.forEach((chart) => {
    const cell = document.createElement("figure");
    const caption = document.createElement("figcaption");
    caption.textContent = chart.title;
    const plot = document.createElement("div");
    plot.className = "bars";
    const axis = document.createElement("div");
    axis.className = "bar-labels";
    chart.values.forEach((v, d) => {
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.height = `${Math.max(0, Math.min(100, v))}%`;
      bar.style.background = d === chart.pred ? chart.color : chart.faint;
      if (d === chart.label) bar.style.outline = "2px solid #0f172a";
      bar.title = `digit ${d}: ${v.toFixed(1)}%`;
      plot.appendChild(bar);
      const tick = document.createElement("span");
      tick.textContent = String(d);
      axis.appendChild(tick);
    });
    const note = document.createElement("div");
    note.className = "bar-note";
    note.textContent = "digit · probability (%), a line every 20%";
    cell.append(caption, plot, axis, note);
    box.appendChild(cell);
  });
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  if (data.bars) {
    let bars = parentElement.querySelector(".fbars");
    if (!bars) {
      bars = document.createElement("div");
      bars.className = "fbars";
      parentElement.appendChild(bars);
    }
    drawBars(bars, data);
    return;
  }
  let box = parentElement.querySelector(".fmaps");
  if (!box) {
    box = document.createElement("div");
    box.className = "fmaps";
    parentElement.appendChild(box);
  }
  const n = Math.max(data.columns.length, ...data.rows.map((row) => row.maps.length));
  box.style.gridTemplateColumns = `repeat(${n}, minmax(0, 1fr)) auto`;
  box.replaceChildren();
  if (data.columns.some(Boolean)) {
    data.columns.forEach((title) => {
      const head = document.createElement("div");
      head.className = "col-title";
      head.textContent = title;
      box.appendChild(head);
    });
    box.appendChild(document.createElement("div"));
  }
  const readout = document.createElement("div");
  readout.className = "readout";
  readout.textContent = "\u00a0";
  data.rows.forEach((row) => {
    row.maps.forEach((map, j) => {
      const own = (row.scales || [])[j] || row; // a map's own colour scale, else the row's
      const stops = parseScale(own.colorscale);
      const canvas = document.createElement("canvas");
      canvas.style.aspectRatio = `${map[0].length} / ${map.length}`;
      paint(canvas, map, stops, own.lo, own.hi, (row.outlines || [])[j] || null, row.labels);
      if (row.clickable) canvas.classList.add("clickable");
      if (row.labels !== undefined && row.labels !== null) canvas.classList.add("labelled");
      canvas.setAttribute("data-panel", row.panel);
      canvas.setAttribute("data-column", String(j));
      canvas.onmousemove = (e) => {
        const at = pixelAt(canvas, map, e);
        if (!at) return;
        const v = map[at[0]][at[1]];
        const shown = v === null ? "undefined (uncovered by the shift)" : +v.toFixed(3);
        const hint = row.clickable ? " (click for its arithmetic)" : "";
        const where = [row.name, (row.titles || data.columns)[j]].filter(Boolean).join(", ");
        readout.textContent = `${where}, pixel (${at[0]}, ${at[1]}): ${shown}${hint}`;
      };
      canvas.onmouseleave = () => {
        readout.textContent = "\u00a0";
      };
      if (row.clickable) {
        canvas.onclick = (e) => {
          const at = pixelAt(canvas, map, e);
          if (at) setTriggerValue("click", { panel: row.panel, column: j, row: at[0], col: at[1] });
        };
      }
      if (row.titles) {
        const cell = document.createElement("figure");
        const caption = document.createElement("figcaption");
        caption.textContent = row.titles[j];
        cell.append(caption, canvas);
        box.appendChild(cell);
      } else {
        box.appendChild(canvas);
      }
    });
    for (let j = row.maps.length; j < n; j++) box.appendChild(document.createElement("div"));
    const name = document.createElement("div");
    name.className = "row-name";
    name.textContent = row.name;
    box.appendChild(name);
  });
  box.appendChild(readout);
}
