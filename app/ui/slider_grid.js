// An n x n grid of small sliders (the convolution page's 3x3 filter weights): plain range inputs,
// one light component instead of n*n st.slider widgets. Each slider shows its label and value and
// moves with the mouse or the arrow keys; when it comes to rest ("change") it sends
// {row, col, value, nonce} at once (setTriggerValue). The server keeps the filter and sends the
// values back, so a preset, a loaded filter or a link moves the sliders too; with them comes the
// nonce of the move it handled last ("seen"). Until the answer to the latest move has come, that
// slider stays where the student put it: quick key presses are not undone by earlier answers.

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function shown(v, decimals) {
  return Number(v).toFixed(decimals).replace("-", "−");
}

function build(s, n) {
  s.n = n;
  s.cells = [];
  s.box.replaceChildren();
  s.box.style.setProperty("--n", n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const cell = el("label", "cell");
      const head = el("span", "head");
      const name = el("span", "name");
      const value = el("span", "value");
      head.append(name, value);
      const input = el("input", "range");
      input.type = "range";
      input.dataset.r = r;
      input.dataset.c = c;
      cell.append(head, input);
      s.box.appendChild(cell);
      s.cells.push({ input, name, value });
    }
  }
}

function send(s, input) {
  if (input.value === input.dataset.shown) return;
  s.nonce += 1;
  s.last = input;
  s.setTriggerValue("edit", {
    row: Number(input.dataset.r),
    col: Number(input.dataset.c),
    value: Number(input.value),
    nonce: s.nonce,
  });
}

function init(parent) {
  // nonces grow across remounts too (the server's "seen" may come from an earlier one)
  const s = { n: 0, cells: [], nonce: Date.now(), last: null, decimals: 2 };
  s.box = el("div", "sgrid");
  s.box.setAttribute("role", "group");
  parent.appendChild(s.box);
  s.box.addEventListener("input", (e) => {
    const cell = s.cells.find((x) => x.input === e.target);
    if (cell) cell.value.textContent = shown(e.target.value, s.decimals);
  });
  s.box.addEventListener("change", (e) => {
    if (e.target.classList.contains("range")) send(s, e.target);
  });
  // the arrow keys move the slider; Streamlit's page shortcuts never see them
  s.box.addEventListener("keydown", (e) => e.stopPropagation());
  return s;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let s = parentElement.__sgrid;
  if (!s) {
    s = init(parentElement);
    parentElement.__sgrid = s;
  }
  s.setTriggerValue = setTriggerValue;
  s.decimals = data.decimals ?? 2;
  const waiting = (data.seen ?? 0) < s.nonce; // the latest move is not answered yet
  const n = data.values.length;
  if (n !== s.n) build(s, n);
  s.box.setAttribute("aria-label", data.title);
  const active = parentElement.getRootNode().activeElement;
  data.values.forEach((row, r) =>
    row.forEach((v, c) => {
      const { input, name, value } = s.cells[r * n + c];
      Object.assign(input, { min: data.lo, max: data.hi, step: data.step });
      input.setAttribute("aria-label", data.labels[r][c]);
      name.textContent = data.labels[r][c];
      // a slider the student is dragging, or whose latest move is on its way, keeps its place;
      // every other one shows the server's value
      const dragging = input === active && input.matches(":active");
      if (!dragging && !(waiting && input === s.last)) {
        input.value = String(v);
        value.textContent = shown(v, s.decimals);
      }
      input.setAttribute("aria-valuetext", shown(input.value, s.decimals));
      input.dataset.shown = input.value;
    }),
  );
}
