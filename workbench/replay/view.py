"""The notebook control bar and view over a :class:`Replay`: ipywidgets + a plotly FigureWidget
updated in place (at most ``MAX_FPS`` redraws a second while playing)."""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.replay.replay import Breakpoints, Replay

MAX_FPS = 10          # chart redraws per second while playing (the engine runs faster)
WINDOW = 2_000        # price points shown around the cursor
SPEEDS = {"1x": 1, "10x": 10, "100x": 100, "1000x": 1_000, "max": None}  # events per frame (None: all)
GATE_LEVELS = {"NORMAL": 0, "REDUCE": 1, "HALT": 2}  # StormGuard WARM/STORM shrink or block new risk: REDUCE
LOG_LINES = 15        # timeline lines shown up to the cursor
STALL_S = 2.0         # longest a play frame waits for the browser to draw the previous one (backpressure)


def _iso(ts: Any) -> np.ndarray:
    """UTC ns -> ISO-8601 strings with a Z (vectorised; plotly turns tz-aware pandas times into objects
    one by one, which cost more than the engine step itself)."""
    return np.datetime_as_string(np.asarray(ts, dtype=np.int64).astype("datetime64[ns]"), unit="ms",
                                 timezone="UTC")


class ReplayView:
    """``ReplayView(replay).widget`` — play/pause, step, seek, restart, run to end, breakpoints."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self._ts, self._mid = replay._stepper.mids()
        self._playing = False
        self._task: Any = None
        self._sigs: dict[int, tuple] = {}  # per trace: what was last sent
        self._acked = False  # a browser has drawn (acknowledged) one of our chart updates: a view is live
        self.fig = go.FigureWidget(make_subplots(rows=5, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                                                 row_heights=[0.44, 0.17, 0.13, 0.13, 0.13]))
        self.fig.add_scatter(x=[], y=[], name="mid", mode="lines", row=1, col=1)
        self.fig.add_scatter(x=[], y=[], name="fills", mode="markers", marker={"size": 9, "symbol": "diamond"},
                             row=1, col=1)
        self.fig.add_scatter(x=[], y=[], name="rejects", mode="markers", marker={"size": 11, "symbol": "x"},
                             row=1, col=1)
        self.fig.add_scatter(x=[], y=[], name="equity", mode="lines", row=2, col=1)
        self.fig.add_scatter(x=[], y=[], name="drawdown", mode="lines", fill="tozeroy", row=3, col=1)
        self.fig.add_scatter(x=[], y=[], name="position", mode="lines", line_shape="hv", row=4, col=1)
        # the gate's global StormGuard state as a band: 0 NORMAL, 1 REDUCE (WARM/STORM), 2 HALT
        self.fig.add_scatter(x=[], y=[], name="gate", mode="lines", line_shape="hv", fill="tozeroy",
                             hovertext=[], row=5, col=1)
        self.fig.update_yaxes(tickvals=[0, 1, 2], ticktext=list(GATE_LEVELS), range=[-0.2, 2.2], row=5, col=1)
        self.fig.update_layout(height=620, margin={"l": 60, "r": 10, "t": 20, "b": 20})
        # plotly's frontend answers each trace edit with its trace deltas once drawn; seeing one means a live view
        self.fig.observe(self._on_drawn, names="_js2py_traceDeltas")
        b = w.Button
        self.play_btn, self.pause_btn = b(description="play"), b(description="pause")
        self.step_btn, self.order_btn = b(description="step"), b(description="next order event")
        self.n_field, self.n_btn = w.BoundedIntText(value=100, min=1, max=10**9, layout={"width": "90px"}), \
            b(description="step N")
        self.restart_btn, self.end_btn = b(description="restart"), b(description="run to end")
        self.speed = w.Dropdown(options=list(SPEEDS), value="100x", description="speed")
        self.slider = w.IntSlider(min=-1, max=replay.n_events - 1, value=replay.cursor, continuous_update=False,
                                  description="seek", layout={"width": "600px"})
        self.when = w.Text(placeholder="2024-03-04 14:31", description="time")
        self.bp_order, self.bp_fill, self.bp_reject, self.bp_kill = (
            w.Checkbox(value=v, description=d, indent=False)
            for v, d in ((False, "order"), (True, "fill"), (True, "reject"), (True, "kill switch")))
        self.bp_dd = w.FloatText(value=0.0, description="dd stop")
        self.label = w.HTML()
        self.table = w.HTML()
        self.inspector = w.HTML()
        self.log = w.HTML()
        self.play_btn.on_click(lambda _: self.play())
        self.pause_btn.on_click(lambda _: self.pause())
        self.step_btn.on_click(lambda _: self._do(self.replay.step, 1))
        self.n_btn.on_click(lambda _: self._do(self.replay.step, self.n_field.value))
        self.order_btn.on_click(lambda _: self._do(self.replay.run_until, Breakpoints(drawdown=None)))
        self.restart_btn.on_click(lambda _: self._do(self.replay.restart))
        self.end_btn.on_click(lambda _: self._do(self.replay.run_to_end))
        self.slider.observe(self._on_slider, names="value")
        self.when.on_submit(lambda _: self._do(self.replay.seek, self.when.value))
        self.widget = w.VBox([
            w.HBox([self.play_btn, self.pause_btn, self.step_btn, self.n_field, self.n_btn, self.order_btn,
                    self.restart_btn, self.end_btn, self.speed]),
            w.HBox([self.slider, self.when]),
            w.HBox([w.Label("break on"), self.bp_order, self.bp_fill, self.bp_reject, self.bp_kill, self.bp_dd]),
            self.label, self.fig, w.HBox([self.table, self.inspector]), self.log,
        ])
        # stable CSS classes (wb-replay-<part>): the browser test (tests/browser) selects by them, not by layout
        self.widget.add_class("wb-replay")
        for part, widget in {"play": self.play_btn, "pause": self.pause_btn, "step": self.step_btn,
                             "n": self.n_field, "step-n": self.n_btn, "next-order": self.order_btn,
                             "restart": self.restart_btn, "end": self.end_btn, "speed": self.speed,
                             "seek": self.slider, "time": self.when, "bp-order": self.bp_order,
                             "bp-fill": self.bp_fill, "bp-reject": self.bp_reject, "bp-kill": self.bp_kill,
                             "bp-dd": self.bp_dd,
                             "label": self.label, "chart": self.fig, "table": self.table,
                             "inspector": self.inspector, "log": self.log}.items():
            widget.add_class(f"wb-replay-{part}")
        self.render()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

    def breakpoints(self) -> Breakpoints:
        dd = self.bp_dd.value
        return Breakpoints(order=self.bp_order.value, fill=self.bp_fill.value, reject=self.bp_reject.value,
                           kill_switch=self.bp_kill.value, drawdown=dd if dd > 0 else None)

    def _do(self, fn: Any, *args: Any) -> None:
        self.pause()
        fn(*args)
        self.render()

    def _on_slider(self, change: dict) -> None:
        if change["new"] != self.replay.cursor:
            self._do(self.replay.seek, int(change["new"]))

    # -- play ----------------------------------------------------------------------------------------
    def play(self) -> None:
        if self._playing:
            return
        self._playing = True
        self._task = asyncio.get_event_loop().create_task(self._play())

    def pause(self) -> None:
        self._playing = False

    def play_frames(self, frames: int) -> str | None:
        """Play synchronously for ``frames`` redraws (what one play tick does); returns a breakpoint hit."""
        hit = None
        for _ in range(frames):
            per = SPEEDS[self.speed.value]
            hit = self.replay.run_until(self.breakpoints(), max_events=per, budget_s=1 / MAX_FPS)
            self.render()
            if hit or self.replay.cursor >= self.replay.n_events - 1:
                break
        return hit

    async def _play(self) -> None:
        while self._playing and self.replay.cursor < self.replay.n_events - 1:
            t0 = time.monotonic()
            hit = self.play_frames(1)
            if hit:
                self.label.value += f" — <b>break: {hit}</b>"
                break
            await asyncio.sleep(max(0.0, 1 / MAX_FPS - (time.monotonic() - t0)))
            await self._browser_caught_up()
        self._playing = False

    def _on_drawn(self, change: dict) -> None:
        if change["new"]:
            self._acked = True

    def browser_behind(self) -> bool:
        """True while a live browser view has not yet drawn the last chart update sent to it."""
        return self._acked and bool(self.fig._trace_edit_in_process)

    async def _browser_caught_up(self) -> None:
        """Backpressure: the next frame waits until the browser has drawn the last one (at most ``STALL_S``).
        Without it a loaded browser fell seconds behind the kernel's 10 frames/s, and after pause the chart and
        label went on moving through the queued frames. ``_trace_edit_in_process`` is plotly's own flag for an
        edit the frontend has not acknowledged; with no view displayed nothing is ever acknowledged, so the
        wait applies only once a browser has answered."""
        deadline = time.monotonic() + STALL_S
        while self._playing and self.browser_behind() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    # -- view ----------------------------------------------------------------------------------------
    def render(self) -> None:
        r, st = self.replay, self.replay._stepper
        k = r.cursor
        now = int(st.times[k]) if k >= 0 else int(self._ts[0]) - 1 if len(self._ts) else 0
        hi = int(self._ts.searchsorted(now, side="right"))
        lo = max(0, hi - WINDOW)
        since = int(self._ts[lo]) if hi > 0 else now  # the other panels show the price window's span
        ev = st.order_events  # (kind, ts, order id, px, signed qty); no DataFrame per frame
        fills = [e for e in ev if e[0] == "Filled"]
        rej_ts = np.array([e[1] for e in ev if e[0] in ("Rejected", "Denied")], dtype=np.int64)
        fill_ts = np.array([e[1] for e in fills], dtype=np.int64)
        # equity from the run itself: its fixed-event samples plus the cursor (nothing before the start)
        eq = [*st.equity_curve, (now, r.equity())] if k >= 0 else []
        eq_ts = np.array([e[0] for e in eq], dtype=np.int64)
        eq_v = np.array([e[1] for e in eq], dtype=float)
        dd = eq_v - np.maximum.accumulate(eq_v) if len(eq_v) else eq_v
        keep = eq_ts >= since
        pos_ts, pos = self._steps(fill_ts, np.cumsum([e[4] for e in fills]), k, now)
        band = [(e[5], "HALT" if e[3] == "HALT" else "NORMAL" if e[3] == "NORMAL" else "REDUCE", e[3])
                for e in st.risk_events if e[:2] == ("STORMGUARD", "GLOBAL")]
        gate_ts, gate = self._steps(np.array([b[0] for b in band], dtype=np.int64),
                                    np.array([GATE_LEVELS[b[1]] for b in band], dtype=float), k, now)
        names = ["NORMAL"] + [f"{b[1]} ({b[2]})" for b in band]
        gate_txt = (names + names[-1:])[:len(gate)]
        rej_y = np.interp(rej_ts.astype(float), self._ts.astype(float), self._mid) if len(rej_ts) else []
        traces = [(self._ts[lo:hi], self._mid[lo:hi]), (fill_ts, [e[3] for e in fills]), (rej_ts, rej_y),
                  (eq_ts[keep], eq_v[keep]), (eq_ts[keep], dd[keep]), (np.maximum(pos_ts, since), pos),
                  (np.maximum(gate_ts, since), gate)]
        with self.fig.batch_update():
            for i, (x, y) in enumerate(traces):
                sig = (len(x), int(x[0]) if len(x) else 0, int(x[-1]) if len(x) else 0,
                       float(y[-1]) if len(y) else 0.0)
                if self._sigs.get(i) != sig:  # only changed traces go to the browser
                    self._sigs[i] = sig
                    self.fig.data[i].x, self.fig.data[i].y = _iso(x), np.asarray(y, dtype=float)
            self.fig.data[6].hovertext = gate_txt
        self.slider.unobserve(self._on_slider, names="value")
        self.slider.value = k
        self.slider.observe(self._on_slider, names="value")
        s = r.state()
        when = r.time.isoformat() if r.time is not None else "start"
        self.label.value = (f"event <b>{k + 1}</b>/{r.n_events} at {when} · orders {len(s['orders'])} · "
                            f"fills {s['fills']} · gate decisions {len(s['gate'])} · gate "
                            f"{band[-1][1] if band and k >= 0 else 'NORMAL'}")
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (kind, _iso([ts])[0][11:23],
                                                                                     oid, px, qty)) + "</tr>"
                       for kind, ts, oid, px, qty in ev[-12:])
        self.table.value = ("<table><tr><th>kind</th><th>time</th><th>order</th><th>px</th><th>qty</th></tr>"
                            f"{rows}</table>")
        fields = "".join(f"<tr><td>{n}</td><td>{v[:60]}</td></tr>" for n, v in s["strategy"][0])
        self.inspector.value = f"<table>{fields}</table>"
        self.log.value = "<pre>" + html.escape("\n".join(self.log_lines())) + "</pre>"

    def _steps(self, ts: np.ndarray, values: np.ndarray, k: int, now: int) -> tuple[np.ndarray, np.ndarray]:
        """A step line from 0 at the first event through ``values`` at ``ts`` to the cursor."""
        if k < 0:
            return np.array([], dtype=np.int64), np.array([], dtype=float)
        start = int(self.replay._stepper.times[0])
        last = values[-1] if len(values) else 0.0
        return np.r_[start, ts, now].astype(np.int64), np.r_[0.0, values, last]

    def log_lines(self, n: int = LOG_LINES) -> list[str]:
        """The run's timeline up to the cursor, newest last: order events, gate decisions, risk events."""
        st = self.replay._stepper
        lines = [(ts, 0, f"ORDER {kind} {oid}" + (f" {qty:+g} @ {px:g}" if kind == "Filled" else ""))
                 for kind, ts, oid, px, qty in st.order_events[-n:]]
        decisions = [d for s in st.gated for d in s.decisions[-n:]]
        lines += [(d.intent.ts_event, 1, f"GATE {d.verdict} {d.intent.action} {d.intent.side} {d.intent.qty}"
                   + (f" ({', '.join(map(str, d.reasons))})" if d.reasons else "")) for d in decisions]
        lines += [(e[5], 2, f"RISK {e[0]} {e[1]} {e[2]} -> {e[3]}: {e[4]}") for e in st.risk_events[-n:]]
        lines.sort(key=lambda x: (x[0], x[1]))
        return [f"{pd.Timestamp(ts, tz='UTC'):%H:%M:%S.%f} {text}" for ts, _, text in lines[-n:]]
