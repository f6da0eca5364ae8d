"""Bad stores and bare command groups end in one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.loopback import free_port
from workbench.cli.main import main
from workbench.errors import WorkbenchError
from workbench.store import Store


def _one_line_error(capsys, argv: list[str]) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_store_info_on_mistyped_path_does_not_create_a_store(tmp_path, capsys):
    db = tmp_path / "typo.duckdb"
    line = _one_line_error(capsys, ["--store", str(db), "store", "info"])
    assert str(db) in line and "no store file" in line
    assert not db.exists()


def test_store_that_is_not_duckdb(tmp_path, capsys):
    db = tmp_path / "notes.duckdb"
    db.write_text("not a database")
    line = _one_line_error(capsys, ["--store", str(db), "store", "info"])
    assert str(db) in line and "not a DuckDB database" in line


def test_store_that_is_a_directory(tmp_path):
    with pytest.raises(WorkbenchError, match="directory"):
        Store.open(tmp_path)


def test_store_locked_by_another_process_names_the_pid(tmp_path):
    db = tmp_path / "wb.duckdb"
    Store.open(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb,sys; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); sys.stdin.read()",
         str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(WorkbenchError) as info:
            Store.open(db)
        assert f"PID {holder.pid}" in str(info.value) and "kill" in info.value.hint
    finally:
        holder.stdin.close()
        holder.wait()


@pytest.mark.parametrize("group", ["gateway", "ib"])
def test_command_group_without_subcommand_prints_its_own_help(group, capsys):
    assert main([group]) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"usage: wb {group}")


def test_ibsim_errors_are_workbench_errors():
    from workbench.ibsim.histrules import HistoryRequestError
    from workbench.ibsim.requests import RequestError
    from workbench.ibsim.wire import ProtocolError

    for cls in (RequestError, HistoryRequestError, ProtocolError):
        assert issubclass(cls, WorkbenchError) and issubclass(cls, ValueError)


def test_ib_backfill_with_nothing_listening(tmp_path, capsys):
    import ib_async

    ib_async.util.getLoop.cache_clear()  # ib_async memoises the first loop; earlier tests closed theirs

    port = free_port()  # free a moment ago: nothing listens on it
    db = tmp_path / "wb.duckdb"
    line = _one_line_error(capsys, ["--store", str(db), "ib", "backfill", "AAPL", "--from", "2024-01-02", "--to", "2024-01-03",
                                      "--port", str(port)])
    assert f"cannot connect to IB at 127.0.0.1:{port}: connection refused" in line
    assert f"wb gateway sim --port {port}" in line


@pytest.mark.parametrize(("field", "bad", "said"), [
    ("strategy_path", "strategies.quote_reversion:NoSuchStrategy", "has no class 'NoSuchStrategy'"),
    ("config_path", "strategies.no_such_module:Config", "cannot import module 'strategies.no_such_module'"),
])
def test_run_file_naming_a_missing_class(tmp_path, capsys, field, bad, said):
    from pathlib import Path

    text = Path("config/backtest_demo.yaml").read_text()
    good = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
            "config_path": "strategies.quote_reversion:QuoteReversionConfig"}[field]
    run = tmp_path / "run.yaml"
    run.write_text(text.replace(f"{field}: {good}", f"{field}: {bad}"))
    line = _one_line_error(capsys, ["--store", str(tmp_path / "wb.duckdb"), "backtest", str(run)])
    assert str(run) in line and f"strategies[0].{field}" in line and said in line


def test_gateway_sim_bad_inputs(tmp_path, capsys):
    import socket

    missing = tmp_path / "missing.duckdb"
    line = _one_line_error(capsys, ["--store", str(missing), "gateway", "sim", "--port", "0"])
    assert str(missing) in line and not missing.exists()
    line = _one_line_error(capsys, ["gateway", "sim", "--synthetic", "--replay-from", "not-a-date"])
    assert "--replay-from" in line and "not-a-date" in line
    line = _one_line_error(capsys, ["gateway", "sim", "--synthetic", "--scenario", str(tmp_path / "nope.yaml")])
    assert "--scenario" in line and "nope.yaml" in line
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["gateway", "sim", "--synthetic", "--port", str(port)]) == 2
    err = capsys.readouterr().err  # the start banner, then the one error line
    assert "Traceback" not in err and f"wb: cannot listen on 127.0.0.1:{port}" in err.strip().splitlines()[-1]
