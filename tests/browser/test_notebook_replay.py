"""The replay notebook in real JupyterLab + Chromium: run all cells from the Lab menu, then drive the
ReplayView's buttons, slider and time field, and check its label and the plotly chart's trace data."""

from __future__ import annotations

import pandas as pd
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

WAIT_MS = 30_000  # one widget round trip (browser -> kernel -> browser), generous for a loaded CI machine
# Run All to the last cell: the real SPY sessions first (~30 s of wall time in nbval on the loaded 2-core dev
# machine), then the demo cells; the widget answers clicks only once the kernel is idle again
RUN_ALL_MS = 240_000

# The widget as the browser shows it: the label's event counter/time and the chart's trace data.
STATE_JS = """() => {
  const label = document.querySelector('.wb-replay-label'), gd = document.querySelector('.wb-replay-chart');
  if (!label || !gd || !gd.data) return null;
  const m = label.textContent.match(/event (\\d+)\\/(\\d+) at (\\S+)/);
  if (!m) return null;
  const trace = name => gd.data.find(t => t.name === name) || {x: []};
  const mid = trace('mid').x, ms = v => (v === undefined || v === 'start') ? null : Date.parse(v);
  return {event: +m[1], total: +m[2], time: m[3] === 'start' ? null : m[3], time_ms: ms(m[3]),
          mid_n: mid.length, mid_last_ms: mid.length ? ms(mid[mid.length - 1]) : null,
          fills_n: trace('fills').x.length, equity_n: trace('equity').x.length,
          svg_traces: gd.querySelectorAll('.scatterlayer .trace').length};
}"""

# the chart is drawn up to the label's cursor time (the demo market quotes at every event)
SYNCED = "s.time_ms !== null && s.mid_last_ms === s.time_ms"

# true once the label has not changed for 1.5 s (15 frames of play at the view's 10 frames/s)
STABLE_JS = """() => {
  const t = document.querySelector('.wb-replay-label').textContent, now = performance.now();
  if (window.__wbLabel !== t) { window.__wbLabel = t; window.__wbSince = now; return false; }
  return now - window.__wbSince > 1500;
}"""


def wait_state(page, cond: str) -> dict:
    """Wait until the widget's state ``s`` satisfies the JS condition; returns that state."""
    try:
        handle = page.wait_for_function(f"() => {{ const s = ({STATE_JS})(); return s && ({cond}) ? s : false }}",
                                        timeout=WAIT_MS, polling=50)
    except PlaywrightTimeoutError:  # say where the widget stood, not only that it timed out
        raise AssertionError(f"widget never met {cond!r}; it shows {page.evaluate(f'({STATE_JS})()')}") from None
    return handle.json_value()


def run_all_cells(page, lab) -> None:
    page.goto(lab.tree("06_replay.ipynb"))
    # the kernel started and connected: the indicator is also 'idle' while the toolbar still says No Kernel
    page.wait_for_function("""() => {
      const name = document.querySelector('.jp-Toolbar-kernelName');
      return name && !/No Kernel/.test(name.textContent)
        && document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']") !== null;
    }""", polling=100)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_selector(".wb-replay .wb-replay-play", timeout=RUN_ALL_MS)  # after the real-data cells
    # every code cell executed ([n] prompts, none pending) and the kernel idle again
    page.wait_for_function("""() => {
      const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
      return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()))
        && document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']") !== null;
    }""", timeout=RUN_ALL_MS, polling=100)
    tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                              has_text="Traceback")
    assert tracebacks.count() == 0, tracebacks.all_inner_texts()


def screenshot_controls_and_chart(page, widget, path) -> None:
    """The widget from its control bar to the chart's bottom (the README's picture)."""
    widget.scroll_into_view_if_needed()
    top, chart = widget.bounding_box(), widget.locator(".wb-replay-chart").bounding_box()
    page.screenshot(path=path, clip={"x": top["x"], "y": top["y"], "width": top["width"],
                                     "height": chart["y"] + chart["height"] - top["y"]})


def test_replay_notebook_controls_drive_label_and_chart(page, console, lab, artifacts):
    run_all_cells(page, lab)
    page.screenshot(path=artifacts / "replay-notebook-run.png")
    widget = page.locator(".wb-replay")
    click = lambda part: widget.locator(f".wb-replay-{part}").click()  # noqa: E731
    # Run All leaves the page at the last cell, below the widget: JupyterLab's content-visibility windowing skips
    # rendering off-screen cells, so bring the chart into view first
    widget.scroll_into_view_if_needed()

    # the notebook's cells left the replay at its first fill (run_until, step, seek back): drawn up to it
    first_fill = wait_state(page, f"s.event > 0 && s.fills_n > 0 && {SYNCED}")
    total = first_fill["total"]
    assert total > 1_000 and first_fill["svg_traces"] >= 3

    click("restart")
    s = wait_state(page, "s.event === 0 && s.time === null && s.mid_n === 0 && s.fills_n === 0")
    click("step")
    s = wait_state(page, f"s.event === 1 && {SYNCED}")
    assert s["mid_n"] >= 1 and s["total"] == total

    # play without fill/reject breakpoints at 10x (10 events a frame): the cursor and the chart move ...
    widget.locator(".wb-replay-bp-fill input").uncheck()
    widget.locator(".wb-replay-bp-reject input").uncheck()
    widget.locator(".wb-replay-speed select").select_option("10x")
    click("play")
    played = wait_state(page, f"s.event >= 41 && {SYNCED}")
    assert played["mid_n"] > s["mid_n"]
    # ... and pause stops them: the label stays put (a running play would move it every 100 ms)
    click("pause")
    page.wait_for_function(STABLE_JS, timeout=WAIT_MS, polling=100)
    paused = wait_state(page, SYNCED)
    assert played["event"] <= paused["event"] < total
    click("step")
    stepped = wait_state(page, f"s.event === {paused['event'] + 1} && {SYNCED}")
    assert stepped["mid_n"] >= paused["mid_n"]
    page.screenshot(path=artifacts / "replay-paused.png")

    # seek back with the slider (its editable readout): re-executed, the chart shrinks back
    readout = widget.locator(".wb-replay-seek .widget-readout")
    readout.fill("10")
    readout.press("Enter")
    back = wait_state(page, f"s.event === 11 && {SYNCED}")
    assert back["mid_n"] < stepped["mid_n"]

    # seek forward by time (UTC): the last event at or before it
    when = widget.locator(".wb-replay-time input")
    when.fill("2024-03-04 14:45")
    when.press("Enter")
    target = pd.Timestamp("2024-03-04 14:45", tz="UTC")
    fwd = wait_state(page, f"s.event > 11 && {SYNCED}")
    at = pd.Timestamp(fwd["time"])
    assert target - pd.Timedelta(minutes=1) < at <= target, at
    assert fwd["mid_n"] > back["mid_n"] and fwd["equity_n"] >= 1
    assert fwd["time_ms"] > first_fill["time_ms"] and fwd["fills_n"] >= first_fill["fills_n"]
    expect(readout).to_have_text(str(fwd["event"] - 1))  # the slider follows the cursor
    screenshot_controls_and_chart(page, widget, artifacts / "replay-widget.png")

    click("end")
    wait_state(page, f"s.event === {total} && {SYNCED}")
    assert [e.replace(lab.token, "<token>") for e in console.errors] == []  # the token stays out of logs
