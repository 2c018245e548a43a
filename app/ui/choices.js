// A group of option controls (menus, radio choices, switches) as plain form elements: one light
// component instead of several Streamlit widgets. Each control is labelled for screen readers and
// tests; a change sends {name, index} at once (setTriggerValue), and the server sends every
// control's index back, so a preset, a link or a refused value shows what the server keeps.

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function labelOf(c, tag) {
  const label = el(tag, "label");
  label.append(el("span", "text", c.label));
  if (c.help) {
    const help = el("span", "help", "?");
    help.title = c.help;
    help.setAttribute("aria-hidden", "true");
    label.append(help);
  }
  return label;
}

function menu(c, send) {
  const box = el("label", "control");
  const select = el("select");
  select.setAttribute("aria-label", c.label); // not "<label> <selected option>"
  c.options.forEach((text, i) => select.append(new Option(text, String(i))));
  if (c.help) select.setAttribute("aria-description", c.help);
  select.addEventListener("change", () => send(c.name, Number(select.value)));
  box.append(labelOf(c, "span"), select);
  return { box, show: (i) => (select.value = String(i)) };
}

function radios(c, send, group) {
  const box = el("fieldset", "control");
  box.setAttribute("role", "radiogroup");
  box.setAttribute("aria-label", c.label);
  if (c.help) box.setAttribute("aria-description", c.help);
  const list = el("div", c.horizontal ? "options row" : "options");
  const inputs = c.options.map((text, i) => {
    const option = el("label", "option");
    const input = el("input");
    Object.assign(input, { type: "radio", name: group, value: String(i) });
    input.addEventListener("change", () => input.checked && send(c.name, i));
    option.append(input, el("span", "", text));
    list.append(option);
    return input;
  });
  box.append(labelOf(c, "legend"), list);
  return { box, show: (i) => inputs.forEach((input, j) => (input.checked = j === i)) };
}

function toggle(c, send) {
  const box = el("div", "control");
  const label = el("label", "switch");
  const input = el("input");
  input.type = "checkbox";
  input.setAttribute("role", "switch");
  input.setAttribute("aria-label", c.label);
  if (c.help) input.setAttribute("aria-description", c.help);
  input.addEventListener("change", () => send(c.name, input.checked ? 1 : 0));
  label.append(input, el("span", "", c.label));
  box.append(label);
  return { box, show: (i) => (input.checked = i === 1) };
}

function number(c, send) {
  const box = el("label", "control");
  const input = el("input");
  Object.assign(input, { type: "number", min: c.lo, max: c.hi, step: 1 });
  input.setAttribute("aria-label", c.label);
  const hint = el("div", "hint", "");
  hint.setAttribute("aria-live", "polite");
  let kept = c.index;
  input.addEventListener("change", () => {
    const v = Number(input.value);
    if (input.value.trim() === "" || !Number.isInteger(v) || v < c.lo || v > c.hi) {
      hint.textContent = `Type a whole number from ${c.lo} to ${c.hi}; ${c.lo + kept} was kept.`;
      input.value = String(c.lo + kept);
      return;
    }
    hint.textContent = "";
    send(c.name, v - c.lo);
  });
  box.append(labelOf(c, "span"), input, hint);
  return {
    box,
    show: (i) => {
      kept = i;
      input.value = String(c.lo + i);
    },
  };
}

function tabs(c, send) {
  // a row of tabs (the ARIA tab pattern): a click or an arrow key opens one; the selected tab is
  // shown at once, and the server's answer (the index it keeps) confirms it
  const box = el("div", "control");
  const list = el("div", "tablist");
  list.setAttribute("role", "tablist");
  list.setAttribute("aria-label", c.label);
  const buttons = c.options.map((text, i) => {
    const b = el("button", "tab", text);
    b.type = "button";
    b.setAttribute("role", "tab");
    b.addEventListener("click", () => open(i));
    list.append(b);
    return b;
  });
  const show = (i) =>
    buttons.forEach((b, j) => {
      b.setAttribute("aria-selected", String(j === i));
      b.tabIndex = j === i ? 0 : -1;
    });
  const open = (i) => {
    if (buttons[i].getAttribute("aria-selected") === "true") return;
    show(i);
    send(c.name, i);
  };
  list.addEventListener("keydown", (e) => {
    const at = buttons.indexOf(e.target);
    const n = buttons.length;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1 + n, Home: 0, End: n - 1 }[e.key];
    if (at < 0 || to === undefined) return;
    e.preventDefault();
    buttons[to % n].focus();
    open(to % n);
  });
  box.append(list);
  return { box, show };
}

const DRAW = { select: menu, radio: radios, switch: toggle, number, tabs };

function build(s, controls) {
  s.box.replaceChildren();
  s.shown = controls.map((c, i) => {
    const drawn = DRAW[c.kind](c, s.send, `${s.id}-${i}`);
    s.box.append(drawn.box);
    return drawn;
  });
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let s = parentElement.__choices;
  if (!s) {
    s = { nonce: 0, layout: "", id: Math.random().toString(36).slice(2) };
    s.box = el("div", "choices");
    s.heading = el("h3");
    const frame = el("div", "frame"); // the width the columns follow
    frame.append(s.heading, s.box);
    // arrow keys move within a menu or a radio group; Streamlit's page shortcuts never see them
    s.box.addEventListener("keydown", (e) => e.stopPropagation());
    s.send = (name, index) => {
      s.nonce += 1;
      s.setTriggerValue("edit", { name, index, nonce: s.nonce });
    };
    parentElement.appendChild(frame);
    parentElement.__choices = s;
  }
  s.setTriggerValue = setTriggerValue;
  const layout = JSON.stringify(data.controls.map((c) => [c.name, c.kind, c.label, c.options, c.lo, c.hi]));
  if (layout !== s.layout) {
    build(s, data.controls);
    s.layout = layout;
  }
  s.heading.textContent = data.heading || "";
  s.heading.hidden = !data.heading;
  s.box.style.setProperty("--cols", data.columns);
  s.box.classList.toggle("many", data.columns > 2);
  data.controls.forEach((c, i) => s.shown[i].show(c.index));
}
