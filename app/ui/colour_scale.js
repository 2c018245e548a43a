// Shared by the canvas components (prepended to their modules by Python): the colour of value v
// on a scale of stops [[t, [r, g, b]], ...] stretched from lo to hi.
function interpolate(stops, lo, hi, v) {
  const t = Math.min(1, Math.max(0, hi > lo ? (v - lo) / (hi - lo) : 0.5));
  for (let j = 1; j < stops.length; j++) {
    const [t0, c0] = stops[j - 1];
    const [t1, c1] = stops[j];
    if (t <= t1) {
      const f = t1 > t0 ? (t - t0) / (t1 - t0) : 0;
      return c0.map((a, k) => Math.round(a + f * (c1[k] - a)));
    }
  }
  return stops[stops.length - 1][1];
}

