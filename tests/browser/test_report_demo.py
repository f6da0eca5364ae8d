"""The demo's HTML report opened from file:// in Chromium: every plotly figure in it is drawn, offline,
with no console errors."""

from __future__ import annotations

# per figure div: its visible traces, how many the SVG layer drew (with a non-empty path) and whether the
# WebGL traces (scattergl) got their canvas
DRAWN_JS = """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => {
  const full = (d._fullData || []).filter(t => t.visible === true);
  const gl = full.filter(t => t.type.endsWith('gl')).length;
  const drawn = [...d.querySelectorAll('.main-svg g.trace')].filter(g =>
    [...g.querySelectorAll('path')].some(p => (p.getAttribute('d') || '').length > 2)).length;
  const canvas = d.querySelector('canvas.gl-canvas-context');
  return {id: d.id, svg: d.querySelectorAll('.main-svg').length, visible: full.length, gl, drawn,
          gl_canvas: !!canvas && canvas.width > 0 && canvas.height > 0};
})"""


def test_demo_report_plots_are_drawn(demo_report, page, console, artifacts):
    expected = demo_report.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    assert expected > 0
    page.goto(demo_report.as_uri())
    page.wait_for_function(f"""() => {{
      const divs = [...document.querySelectorAll('.plotly-graph-div')];
      return divs.length === {expected} && divs.every(d => d._fullLayout && d.querySelector('.main-svg'));
    }}""", polling=100)
    figures = page.evaluate(DRAWN_JS)
    page.screenshot(path=artifacts / "demo-report.png")
    for f in figures:
        assert f["svg"] >= 1 and f["visible"] >= 1, f
        assert f["drawn"] == f["visible"] - f["gl"], f  # every SVG trace drew a path
        assert f["gl"] == 0 or f["gl_canvas"], f
    assert console.errors == []
