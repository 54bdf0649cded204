'use strict';
// Renders line charts to SVG strings with vega-lite + vega, headless in Node
// (no browser, no canvas: the SVG renderer needs neither). Shared by the
// benchmark reports and the soak report, so both look alike.

// vega and vega-lite ship as ES modules only; this file stays CommonJS like
// the rest of bench/, so they are loaded once with a dynamic import.
let libraries;
async function loadLibraries() {
  if (!libraries) {
    libraries = Promise.all([import('vega'), import('vega-lite')]).then(([vega, vegaLite]) => ({
      vega,
      vegaLite,
    }));
  }
  return libraries;
}

/**
 * An SVG line chart of `data` (an array of plain objects): one line per
 * distinct value of `seriesField` (or a single line if it is omitted), `xField`
 * against `yField`, with a log-scaled x axis when `logX` is set (for sweeps over
 * connection counts or message sizes).
 */
async function renderLineChart({ title, xField, xTitle, yField, yTitle, seriesField, data, logX = false, width = 640, height = 320 }) {
  if (!Array.isArray(data)) throw new TypeError('renderLineChart: data must be an array of rows');
  for (const [name, value] of Object.entries({ xField, yField })) {
    if (typeof value !== 'string' || value === '') throw new TypeError(`renderLineChart: ${name} must be a field name`);
  }
  const { vega, vegaLite } = await loadLibraries();
  const encoding = {
    x: { field: xField, type: 'quantitative', title: xTitle ?? xField, scale: logX ? { type: 'log' } : { zero: false } },
    y: { field: yField, type: 'quantitative', title: yTitle ?? yField },
  };
  if (seriesField) encoding.color = { field: seriesField, type: 'nominal', title: seriesField };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: title ?? '',
    width,
    height,
    background: 'white',
    data: { values: data },
    mark: { type: 'line', point: data.length <= 60 },
    encoding,
  };
  const { spec: compiled } = vegaLite.compile(spec);
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

module.exports = { renderLineChart };
