// The live panel's components ask the server's feed (app.ui.live_feed) for what changed, every
// few seconds, instead of the page rerunning a polling fragment (which re-renders every element of
// the page in the browser). Put in front of a component's code; data.feed = {url, every}.
// livePoll(root, feed, have, onData, onScreenOnly): root keeps the poll (one per element,
// restarted when the url changes); have() is the version the element shows (sent as ?have=, so an
// unchanged part comes back as its version only); onData(body) draws and may return the next
// delay in seconds. While the browser tab is hidden, or with onScreenOnly while the element is
// scrolled out of view, nothing is asked: what nobody sees costs neither the server nor the
// browser, and it is asked for at once when it shows again. Only a poll that is not onScreenOnly
// (the job's state) still asks once every HIDDEN_EVERY_MS in a hidden tab: each answer tells the
// server the student is still there (a workspace not seen for 30 min has its jobs stopped). The
// poll ends when the element leaves the page, the server no longer knows the token (404), or the
// page draws the element without a feed (the job has ended).
const HIDDEN_EVERY_MS = 60000;

function livePoll(root, feed, have, onData, onScreenOnly = false) {
  if (!feed) {
    if (root.poll) root.poll.stop();
    return;
  }
  if (root.poll && root.poll.url === feed.url) {
    Object.assign(root.poll, { have, onData, every: feed.every });
    return;
  }
  if (root.poll) root.poll.stop();
  const poll = { url: feed.url, every: feed.every, have, onData, timer: 0, stopped: false };
  poll.last = Date.now(); // the page has just drawn the current state
  poll.onScreen = !onScreenOnly;
  poll.waiting = false; // skipped while not seen: the next show asks at once
  const seen = () => !document.hidden && poll.onScreen;
  const again = () => {
    if (poll.waiting && seen() && !poll.stopped) {
      poll.waiting = false;
      clearTimeout(poll.timer);
      tick();
    }
  };
  const watcher = onScreenOnly
    ? new IntersectionObserver(
        (entries) => {
          poll.onScreen = entries[entries.length - 1].isIntersecting;
          again();
        },
        { rootMargin: "100px" },
      )
    : null;
  poll.stop = () => {
    poll.stopped = true;
    clearTimeout(poll.timer);
    if (watcher) watcher.disconnect();
    document.removeEventListener("visibilitychange", again);
  };
  const tick = async () => {
    if (poll.stopped) return;
    if (!root.isConnected) return poll.stop();
    const quiet = HIDDEN_EVERY_MS - (Date.now() - poll.last);
    if (!seen() && (onScreenOnly || quiet > 0)) {
      poll.waiting = true; // until it shows (again()), or the next keep-alive
      if (!onScreenOnly) poll.timer = setTimeout(tick, quiet);
      return;
    }
    poll.waiting = false;
    poll.last = Date.now();
    let next = poll.every;
    try {
      const query = `?have=${encodeURIComponent(poll.have() || "")}`;
      const reply = await fetch(poll.url + query, { cache: "no-store", credentials: "same-origin" });
      if (reply.status === 404) return poll.stop(); // the page's next run hands out a new token
      if (reply.ok) next = poll.onData(await reply.json()) || poll.every;
    } catch (err) {
      next = poll.every * 2; // the server is restarting or the network dropped: try again later
    }
    if (!poll.stopped) poll.timer = setTimeout(tick, next * 1000);
  };
  root.poll = poll;
  if (watcher) watcher.observe(root);
  document.addEventListener("visibilitychange", again);
  poll.timer = setTimeout(tick, poll.every * 1000); // the page has just drawn the current state
}
