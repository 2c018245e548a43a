// An n x n grid of small text inputs for numbers (the convolution page's input and filter grids).
// The server sends the cells' text; an edited cell is sent back at once as {row, col, text} when
// the student presses Enter or leaves a changed cell (setTriggerValue, no debounce). The server
// checks it and sends the grid again, so a refused value goes back to the kept one.
// Keys like a spreadsheet: Enter saves and moves down a row, Tab / Shift+Tab move along the row,
// the arrow keys move between cells (left/right only when the caret is at the text's edge),
// Escape puts the cell back to its shown value.

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function build(s, n) {
  s.n = n;
  s.cells = [];
  s.box.replaceChildren();
  s.box.style.setProperty("--n", n);
  for (let r = 0; r < n; r++) {
    const row = [];
    for (let c = 0; c < n; c++) {
      const cell = el("input", "cell");
      Object.assign(cell, { type: "text", autocomplete: "off", spellcheck: false });
      cell.inputMode = "decimal";
      cell.dataset.r = r;
      cell.dataset.c = c;
      cell.dataset.shown = "";
      s.box.appendChild(cell);
      row.push(cell);
    }
    s.cells.push(row);
  }
}

function commit(s, cell) {
  const text = cell.value;
  if (text === cell.dataset.shown || text === cell.dataset.sent) return;
  cell.dataset.sent = text;
  s.nonce += 1;
  s.setTriggerValue("edit", {
    row: Number(cell.dataset.r),
    col: Number(cell.dataset.c),
    text,
    nonce: s.nonce,
  });
}

function move(s, r, c) {
  const cell = s.cells[r] && s.cells[r][c];
  if (cell) cell.focus(); // focusin selects its text; leaving the old cell sends it if changed
}

function whole(cell) {
  return cell.selectionStart === 0 && cell.selectionEnd === cell.value.length;
}

function onKey(s, e) {
  const cell = e.target;
  if (!cell.classList.contains("cell")) return;
  // typing stays in the cell: Streamlit's page shortcuts (e.g. "r" reruns) never see it
  e.stopPropagation();
  const r = Number(cell.dataset.r);
  const c = Number(cell.dataset.c);
  if (e.key === "Enter") {
    e.preventDefault();
    commit(s, cell);
    if (r + 1 < s.n) move(s, r + 1, c);
    else cell.select();
  } else if (e.key === "Escape") {
    cell.value = cell.dataset.shown;
    cell.select();
  } else if (e.key === "ArrowUp" || e.key === "ArrowDown") {
    e.preventDefault();
    move(s, r + (e.key === "ArrowUp" ? -1 : 1), c);
  } else if (e.key === "ArrowLeft" && (cell.selectionEnd === 0 || whole(cell)) && c > 0) {
    e.preventDefault();
    move(s, r, c - 1);
  } else if (
    e.key === "ArrowRight" &&
    (cell.selectionStart === cell.value.length || whole(cell)) &&
    c + 1 < s.n
  ) {
    e.preventDefault();
    move(s, r, c + 1);
  }
}

function init(parent) {
  const s = { n: 0, cells: [], nonce: 0 };
  s.root = el("div", "gridin");
  s.box = el("div", "cells");
  s.box.setAttribute("role", "group");
  s.hint = el("div", "hint");
  s.root.append(s.box, s.hint);
  parent.appendChild(s.root);
  s.box.addEventListener("keydown", (e) => onKey(s, e));
  s.box.addEventListener("change", (e) => {
    if (e.target.classList.contains("cell")) commit(s, e.target);
  });
  s.box.addEventListener("focusin", (e) => {
    if (e.target.classList.contains("cell")) e.target.select();
  });
  return s;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let s = parentElement.__gridin;
  if (!s) {
    s = init(parentElement);
    parentElement.__gridin = s;
  }
  s.setTriggerValue = setTriggerValue;
  const n = data.text.length;
  if (n !== s.n) build(s, n);
  s.box.setAttribute("aria-label", data.title);
  s.hint.textContent = data.hint;
  const active = parentElement.getRootNode().activeElement;
  data.text.forEach((vals, r) =>
    vals.forEach((t, c) => {
      const cell = s.cells[r][c];
      cell.setAttribute("aria-label", `${data.label} row ${r + 1}, column ${c + 1}`);
      cell.title = data.hint;
      // a cell the student is typing in keeps their text; every other cell shows the server's
      const typing = cell === active && cell.value !== cell.dataset.shown;
      if (!typing && cell.value !== t) cell.value = t;
      cell.dataset.shown = t;
      delete cell.dataset.sent;
      const bad = Array.isArray(data.bad) && data.bad[0] === r && data.bad[1] === c;
      cell.setAttribute("aria-invalid", bad ? "true" : "false");
    }),
  );
}
