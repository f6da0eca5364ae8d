"""The control bar drives the real replay and the chart's trace data follows the cursor."""

from __future__ import annotations

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
