// The live panel's progress line and bar while a job waits or trains: it asks the server's feed
// (live_poll.js) for the job's state and redraws the line; when the job's state is no longer what
// the page was drawn for (data.key: it left the queue, its run folder appeared, it ended) it asks
// the page to redraw, once. Drawn in the page's own DOM (not a shadow root): its text is part of
// the page's text, for screen readers and tests. Data: {state: {key, progress, text, error},
// key, feed: {url, every} | null}.

const ASK_AGAIN_MS = 6000;

function setState(root, s) {
  root.querySelector(".cnn-lp-text").textContent = s.text;
  const pct = Math.round(s.progress * 100);
  const bar = root.querySelector(".cnn-lp-bar");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-valuetext", s.text);
  root.querySelector(".cnn-lp-fill").style.width = `${pct}%`;
  const error = root.querySelector(".cnn-lp-error");
  error.textContent = s.error || "";
  error.hidden = !s.error;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let root = parentElement.querySelector(".cnn-lp");
  if (!root) {
    root = document.createElement("div");
    root.className = "cnn-lp";
    root.innerHTML =
      '<div class="cnn-lp-text"></div><div class="cnn-lp-bar" role="progressbar" ' +
      'aria-valuemin="0" aria-valuemax="100"><div class="cnn-lp-fill"></div></div>' +
      '<div class="cnn-lp-error" role="alert" hidden></div>';
    parentElement.appendChild(root);
  }
  setState(root, data.state);
  root.dataset.key = data.key;
  livePoll(root, data.feed, () => "", (s) => {
    setState(root, s);
    // Ask the page to redraw when the job's state is not the one it drew; again after a while if
    // the redraw has not come (its request can be lost to another run), never at every poll.
    const now = Date.now();
    if (s.key !== root.dataset.key && (root.asked !== s.key || now - root.askedAt > ASK_AGAIN_MS)) {
      root.asked = s.key;
      root.askedAt = now;
      setTriggerValue("changed", s.key);
    }
    return s.every;
  });
}
