"""The control bar drives the real replay and the chart's trace data follows the cursor."""

from __future__ import annotations

import pandas as pd

from workbench.replay import Replay, ReplayView


def test_buttons_move_the_cursor_and_update_the_chart(small_store, strategy, venue):
    view = ReplayView(Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue))
    assert len(view.fig.data[0].x) == 0 and "event <b>0</b>" in view.label.value
    view.step_btn.click()
    assert view.replay.cursor == 0 and len(view.fig.data[0].x) == 1
    view.n_field.value = 99
    view.n_btn.click()
    assert view.replay.cursor == 99 and len(view.fig.data[0].x) == 100 and view.slider.value == 99
    view.bp_order.value = False
    view.speed.value = "max"
    hit = view.play_frames(5)
    assert hit == "fill" and len(view.fig.data[1].x) >= 1  # stopped on a fill, drawn as a marker
    view.slider.value = 10  # seek back through the slider: re-executed
    assert view.replay.cursor == 10 and len(view.fig.data[0].x) == 11 and len(view.fig.data[1].x) == 0
    view.when.value = "2024-03-04 14:35:00"
    view._do(view.replay.seek, view.when.value)
    assert view.replay.cursor == 300
    view.end_btn.click()
    assert view.replay.cursor == 599 and "event <b>600</b>/600" in view.label.value
    assert "_ema" in view.inspector.value


def _trace(view, name):
    return next(t for t in view.fig.data if t.name == name)


def test_restart_clears_every_panel(small_store, strategy, venue):
    view = ReplayView(Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue))
    view.n_field.value = 300
    view.n_btn.click()
    assert len(_trace(view, "equity").x) > 0 and len(_trace(view, "fills").x) > 0
    view.restart_btn.click()
    assert view.replay.cursor == -1
    for name in ("mid", "fills", "equity", "drawdown", "position", "gate"):
        assert len(_trace(view, name).x) == 0, name  # nothing of the old run is left on the chart


def test_equity_after_a_seek_is_the_runs_curve(small_store, strategy, venue):
    r = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    view = ReplayView(r)
    view.slider.value = 399  # one jump, one redraw: the curve still has every sample of the run so far
    eq = _trace(view, "equity")
    xs = [pd.Timestamp(x).value for x in eq.x]
    assert len(xs) >= 200 and len(set(eq.y)) > 10
    straight = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    for k in (99, 199, 299, 399):  # each point is the equity a straight run has at that event
        straight.seek(k)
        assert eq.y[xs.index(int(r._stepper.times[k]))] == straight.equity()
    dd = _trace(view, "drawdown")
    assert max(dd.y) == 0 and min(dd.y) < 0 and len(dd.x) == len(xs)
    pos = _trace(view, "position")  # net position at the cursor = the engine's
    assert pos.y[-1] == sum(float(p[1]) for p in r.state()["positions"])


def test_gate_band_and_log_show_a_kill_switch(small_store, strategy, venue):
    base = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    base.seek(250)
    fork = base.what_if(risk={"stormguard.warm_pct": -0.00001, "stormguard.storm_pct": -0.00002,
                              "stormguard.halt_pct": -0.00003})
    view = ReplayView(fork)
    view.bp_fill.value = view.bp_reject.value = False
    assert view.play_frames(50) == "kill_switch"
    gate = _trace(view, "gate")
    assert list(gate.y[:1]) == [0] and gate.y[-1] == 2 and "HALT" in gate.hovertext[-1]
    assert "gate HALT" in view.label.value
    assert "RISK STORMGUARD GLOBAL NORMAL -&gt; HALT" in view.log.value and "CONFIG" in view.log.value
    base_view = ReplayView(base)
    base_view.end_btn.click()
    assert set(_trace(base_view, "gate").y) == {0}  # the base run never left NORMAL


def _draw(view) -> None:
    """What plotly's frontend sends once it has drawn the last trace edit (its trace deltas)."""
    view.fig._js2py_traceDeltas = {"trace_deltas": [], "trace_edit_id": view.fig._last_trace_edit_id}
    view.fig._js2py_traceDeltas = None


def test_play_waits_for_the_browser_to_draw_each_frame(small_store, strategy, venue, monkeypatch):
    import asyncio

    import workbench.replay.view as view_mod

    monkeypatch.setattr(view_mod, "STALL_S", 30.0)  # the cap is not what releases the frames below
    view = ReplayView(Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue))
    view.speed.value = "1x"
    for box in (view.bp_order, view.bp_fill, view.bp_reject, view.bp_kill):
        box.value = False

    async def scenario() -> tuple[int, int, int]:
        # no browser has answered yet (nothing displayed): play does not wait for one
        view.play()
        await asyncio.sleep(0.5)
        view.pause()
        await view._task
        headless = view.replay.cursor
        _draw(view)  # a browser draws a frame: from now on each frame waits for its drawing
        assert view._acked and not view.browser_behind()
        start = view.replay.cursor
        view.play()
        await asyncio.sleep(0.5)
        stalled = view.replay.cursor - start  # one frame sent, never drawn: no second frame
        assert view.browser_behind()
        released = []
        for _ in range(3):  # each drawing releases exactly one more frame, which again waits
            _draw(view)
            for _ in range(2000):
                await asyncio.sleep(0.01)
                if view.browser_behind():
                    break
            await asyncio.sleep(0.3)
            released.append(view.replay.cursor - start)
        view.pause()
        await view._task
        return headless, stalled, released

    headless, stalled, released = asyncio.run(scenario())
    assert headless >= 2  # several 1-event frames played with no view
    assert stalled == 1
    assert released == [2, 3, 4]
