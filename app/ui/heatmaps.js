// Pictures of number grids (a 28x28 digit and its filtered map) drawn on canvases, with the
// value under the pointer shown beneath. Data: {panels: [{title, values, scale, lo, hi}]}.

const SCALES = {
  grey: [[0, [255, 255, 255]], [1, [34, 34, 34]]],
  sign: [[0, [192, 57, 43]], [0.5, [247, 247, 247]], [1, [33, 102, 172]]],
};

function colour(scale, lo, hi, v) {
  return interpolate(SCALES[scale] || SCALES.grey, lo, hi, v);
}

function draw(box, panel) {
  const rows = panel.values.length;
  const cols = panel.values[0].length;
  const wrap = document.createElement("figure");
  const title = document.createElement("figcaption");
  title.textContent = panel.title;
  const canvas = document.createElement("canvas");
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  panel.values.forEach((vals, r) =>
    vals.forEach((v, c) => {
      const [R, G, B] = colour(panel.scale, panel.lo, panel.hi, v);
      img.data.set([R, G, B, 255], 4 * (r * cols + c));
    }),
  );
  ctx.putImageData(img, 0, 0);
  const readout = document.createElement("div");
  readout.className = "readout";
  readout.textContent = "\u00a0";
  canvas.onmousemove = (e) => {
    const rect = canvas.getBoundingClientRect();
    const c = Math.floor(((e.clientX - rect.left) / rect.width) * cols);
    const r = Math.floor(((e.clientY - rect.top) / rect.height) * rows);
    const v = panel.values[r] && panel.values[r][c];
    readout.textContent = v === undefined ? "\u00a0" : `(${r}, ${c}) = ${v.toFixed(3)}`;
  };
  canvas.onmouseleave = () => {
    readout.textContent = "\u00a0";
  };
  wrap.append(title, canvas, readout);
  box.appendChild(wrap);
}

export default function (component) {
  const { data, parentElement } = component;
  let box = parentElement.querySelector(".heatmaps");
  if (!box) {
    box = document.createElement("div");
    box.className = "heatmaps";
    parentElement.appendChild(box);
  }
  box.replaceChildren();
  data.panels.forEach((p) => draw(box, p));
}
