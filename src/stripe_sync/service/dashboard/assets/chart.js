// The throughput chart of the detail page: records/s over the last minutes, drawn as SVG from
// the samples the page collected while it was open (the service keeps no rate history). The time
// axis grows from one minute to five as samples accumulate.

import { formatDuration, formatRate, h, svg } from "./dom.js";

const WIDTH = 960;
const HEIGHT = 200;
const PAD = { left: 56, right: 12, top: 12, bottom: 26 };
const MIN_SPAN_MS = 60 * 1000;
const MAX_SPAN_MS = 5 * 60 * 1000;

/** A time span as the axis writes it: "1 min", "2.5 min", "45s". */
function spanText(ms) {
  const seconds = Math.round(ms / 1000);
  return seconds >= 60 ? `${Math.round(seconds / 6) / 10} min` : formatDuration(seconds);
}

/** A round upper bound for the y axis: 1, 2 or 5 times a power of ten (`empty` for nothing
 * above zero). */
export function niceCeiling(value, empty = 10) {
  if (value <= 0) return empty;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** Grid lines at zero, half and the top of the y axis (`y` maps a value to its height), each
 * labelled on the left by `label(value)`. */
export function gridLines(y, top, pad, width, label) {
  return [0, 0.5, 1].flatMap((fraction) => {
    const level = y(top * fraction);
    return [
      svg("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: level, y2: level }),
      svg(
        "text",
        { class: "axis", x: pad.left - 6, y: level + 4, "text-anchor": "end" },
        label(top * fraction),
      ),
    ];
  });
}

export function throughputChart() {
  const samples = [];
  const plot = svg("g");
  const picture = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-labelledby": "chart-summary",
  });
  picture.append(plot);
  const summary = h("p", { class: "chart-summary", id: "chart-summary" }, "No sample yet.");
  const element = h("figure", { class: "chart-figure" }, picture, summary);

  function draw(now) {
    while (samples.length > 2 && samples[1].time < now - MAX_SPAN_MS) samples.shift();
    const observed = samples.length ? now - samples[0].time : 0;
    const span = Math.min(MAX_SPAN_MS, Math.max(MIN_SPAN_MS, observed));
    const start = now - span;
    const peak = Math.max(0, ...samples.map((sample) => sample.value));
    const top = niceCeiling(peak);
    const innerW = WIDTH - PAD.left - PAD.right;
    const innerH = HEIGHT - PAD.top - PAD.bottom;
    const x = (time) => PAD.left + ((Math.max(time, start) - start) / span) * innerW;
    const y = (value) => PAD.top + innerH - (value / top) * innerH;
    const parts = gridLines(y, top, PAD, WIDTH, formatRate);
    for (const [fraction, anchor] of [
      [1, "start"],
      [0.5, "middle"],
      [0, "end"],
    ]) {
      const label = fraction === 0 ? "now" : `−${spanText(span * fraction)}`;
      const at = x(now - span * fraction);
      parts.push(
        svg("text", { class: "axis", x: at, y: HEIGHT - 8, "text-anchor": anchor }, label),
      );
    }
    if (samples.length) {
      const points = samples.map(
        (sample) => `${x(sample.time).toFixed(1)},${y(sample.value).toFixed(1)}`,
      );
      const baseline = y(0).toFixed(1);
      const first = x(samples[0].time).toFixed(1);
      const last = x(samples[samples.length - 1].time).toFixed(1);
      parts.push(
        svg("polygon", {
          class: "area",
          points: `${first},${baseline} ${points.join(" ")} ${last},${baseline}`,
        }),
        svg("polyline", { class: "line", points: points.join(" ") }),
      );
      const latest = samples[samples.length - 1].value;
      summary.textContent =
        `Records per second over the last ${spanText(span)} (10 s window): ` +
        `now ${formatRate(latest)}, ` +
        `peak ${formatRate(peak)}.`;
    }
    plot.replaceChildren(...parts);
  }

  /** Add a sample (records/s at `time`, ms since the epoch) and redraw. */
  function add(value, time = Date.now()) {
    samples.push({ time, value: Math.max(0, value) });
    draw(time);
  }

  draw(Date.now());
  return { element, add };
}
