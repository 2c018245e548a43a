"""Narrow and wide windows: at 800x900 (a laptop with the sidebar open, a projector) and 1400x900,
nothing on any page is cut off or overlaps. Each check reads the browser's own layout."""

import pytest

from tests.e2e.conftest import ARTIFACTS, CHROMIUM_ARGS, assert_no_exception, wait_idle  # noqa: F401

pytestmark = pytest.mark.e2e

PAGES = {
    "home": "",
    "convolution": "convolution",
    "training": "training",
    "invariance": "invariance",
}

# Returns a list of plain-language problems found on the page as laid out now.
PROBLEMS_JS = """() => {
  const problems = [];
  const cut = (el) => el.scrollWidth > el.clientWidth + 1;
  const folded = (el) => {  // inside a closed expander (its summary line is shown)
    const shut = el.closest('details:not([open])');
    return shut !== null && !shut.querySelector(':scope > summary')?.contains(el);
  };
  const visible = (el) => el.offsetParent !== null && el.getClientRects().length > 0 && !folded(el);
  const text = (el) => (el.innerText || el.getAttribute('aria-label') || '').trim().slice(0, 40);
  const main = document.querySelector('[data-testid="stMain"]');
  if (main && cut(main)) problems.push(`the page scrolls sideways (${main.scrollWidth} px wide)`);
  for (const b of document.querySelectorAll('main button, main [data-testid^="stBaseButton"]')) {
    if (!visible(b) || !b.innerText.trim()) continue;
    if (cut(b) || [...b.querySelectorAll('*')].some(cut)) problems.push(`button label cut: "${text(b)}"`);
  }
  for (const a of document.querySelectorAll('main [data-testid="stPageLink-NavLink"]')) {
    if (visible(a) && (cut(a) || [...a.querySelectorAll('*')].some(cut))) problems.push(`link label cut: "${text(a)}"`);
  }
  for (const h of document.querySelectorAll('main h1, main h2, main h3')) {
    if (!visible(h)) continue;  // a word wider than its heading's line is broken in two
    const parts = [h, ...h.querySelectorAll('*')];
    const saved = parts.map((e) => [e.style.overflowWrap, e.style.wordBreak]);
    for (const e of parts) { e.style.overflowWrap = 'normal'; e.style.wordBreak = 'normal'; }
    if (h.scrollWidth > h.clientWidth) problems.push(`heading word broken: "${text(h)}"`);
    parts.forEach((e, i) => { [e.style.overflowWrap, e.style.wordBreak] = saved[i]; });
  }
  for (const m of document.querySelectorAll('[data-testid="stMetricValue"], [data-testid="stMetricLabel"]')) {
    if (!visible(m)) continue;
    const inner = m.querySelector('div, p') || m;
    if (cut(m) || cut(inner) || m.innerText.includes('…')) problems.push(`metric cut: "${text(m)}"`);
  }
  for (const s of document.querySelectorAll('main [data-testid="stSelectbox"]')) {
    if (!visible(s)) continue;
    const value = s.querySelector('input') || s;  // the chosen option is the combobox's value
    if (cut(value)) problems.push(`selectbox choice cut: "${value.value || text(s)}"`);
  }
  for (const g of document.querySelectorAll('main [data-testid="stDataFrameResizable"]')) {
    if (!visible(g)) continue;
    const r = g.getBoundingClientRect(), m = main.getBoundingClientRect();
    // a wide table scrolls inside its own frame (that is not cut); the frame must fit the page
    if (r.right > m.right + 1) problems.push('a table is cut on the right');
  }
  for (const host of document.querySelectorAll('main .stBidiComponent, main [data-testid^="stBidiComponent"]')) {
    const root = host.shadowRoot || host;
    const st = root.querySelector && root.querySelector('.stepper');
    if (st && visible(host) && cut(st)) problems.push('the stepper is cut on the right');
  }
  const overlap = (a, b) => !(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top);
  for (const plot of document.querySelectorAll('main .js-plotly-plot')) {
    if (!visible(plot)) continue;
    const buttons = [...plot.querySelectorAll('.updatemenu-button, .slider-group, .modebar')]
      .map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0);
    for (let i = 0; i < buttons.length; i++)
      for (let j = i + 1; j < buttons.length; j++)
        if (overlap(buttons[i], buttons[j])) { problems.push('Plotly buttons overlap'); i = buttons.length; break; }
    const pr = plot.getBoundingClientRect(), mr = main.getBoundingClientRect();
    if (pr.right > mr.right + 1) problems.push('a chart is cut on the right');
  }
  return problems;
}"""


@pytest.mark.parametrize("width", [800, 1400])
@pytest.mark.parametrize("name", list(PAGES))
def test_nothing_is_cut_or_overlaps(browser, app_server, name, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    try:
        page.goto(f"{app_server}/{PAGES[name]}")
        wait_idle(page, 120)
        assert_no_exception(page)
        page.wait_for_timeout(800)  # charts and components lay themselves out
        problems = page.evaluate(PROBLEMS_JS)
        if name == "convolution":
            problems += convolution_problems(page)
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
        )
        page.set_viewport_size({"width": width, "height": min(max(height, 900), 6000)})
        page.wait_for_timeout(500)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"layout_{name}_{width}.png")
        assert not problems, f"{name} at {width}px: " + "; ".join(dict.fromkeys(problems))
        assert page.errors == []
    finally:
        context.close()


def convolution_problems(page) -> list[str]:
    """The 5x5 grids show all five columns, each cell its whole value; the stepper is whole."""
    problems = []
    page.get_by_role("textbox", name="input row 1, column 1", exact=True).wait_for()
    # every cell of every shown grid: inside the page, wide enough to show its whole text
    cells = page.evaluate(
        """() => {
          const main = document.querySelector('[data-testid="stMain"]').getBoundingClientRect();
          const all = (node, sel) => [...node.querySelectorAll(sel)].concat(
            ...[...node.querySelectorAll('*')].filter((e) => e.shadowRoot)
              .map((e) => all(e.shadowRoot, sel)));
          const out = [];
          for (const host of document.querySelectorAll('[class*="st-key-cv_img_grid_"],'
                                                       + '[class*="st-key-cv_kernel_grid_"]')) {
            for (const c of all(host, 'input.cell')) {
              if (c.offsetParent === null) continue;  // a colour channel's hidden tab
              const r = c.getBoundingClientRect();
              out.push([c.getAttribute('aria-label'), c.value, r.right <= main.right + 1,
                        c.scrollWidth <= c.clientWidth + 1, r.width]);
            }
          }
          return out;
        }"""
    )
    if len(cells) < 25:
        problems.append(f"the input grid was not found whole ({len(cells)} cells shown)")
    for label, value, inside, whole, width in cells:
        if not inside:
            problems.append(f"grid cell {label!r} is cut on the right")
        elif not whole:
            problems.append(f"grid cell {label!r} ({width:.0f} px) cuts its value {value!r}")
    main = page.locator('[data-testid="stMain"]').bounding_box()
    right = main["x"] + main["width"]
    for loc in (
        page.locator(".st-key-cv_stepper .input .cell").last,
        page.locator(".st-key-cv_stepper .output .cell").last,
    ):
        box = loc.bounding_box()
        if box is None or box["x"] + box["width"] > right + 1:
            problems.append("a stepper grid is cut on the right")
    return problems
