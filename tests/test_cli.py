import json
import sys
import types

import pytest

from phymo.app.benchmarks.registry import BENCHMARKS, Benchmark
from phymo.app.commands import bench, cli
from phymo.data import DataFormatError


def test_help_lists_every_registered_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_user_error_becomes_one_line_and_exit_2(monkeypatch, capsys):
    fake = types.ModuleType("phymo_fake_cmd")
    fake.add_arguments = lambda parser: None

    def run(_args):
        raise DataFormatError("clip.bvh: line 3: unknown channel 'Wrot'")

    fake.run = run
    monkeypatch.setitem(sys.modules, "phymo_fake_cmd", fake)
    monkeypatch.setitem(cli.COMMANDS, "fake", ("phymo_fake_cmd", "raises a user error"))
    assert cli.main(["fake"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["phymo fake: error: clip.bvh: line 3: unknown channel 'Wrot'"]


def test_bench_table_and_json(tmp_path, monkeypatch, capsys):
    rows = [{"task": "ackley", "dim": 2, "ms": 0.123456}, {"task": "levy", "dim": 10, "extra": "x"}]
    seen = {}

    def fake(quick, size):
        seen.update(quick=quick, size=size)
        return rows

    def options(parser):
        parser.add_argument("--size", type=int, default=3)

    monkeypatch.setitem(BENCHMARKS, "fake", Benchmark("tests.fake:run", "a fake", options))
    monkeypatch.setattr(bench, "load", lambda _target: fake)
    assert cli.main(["bench", "fake", "--quick", "--size", "5", "--json", str(tmp_path / "out" / "b.json")]) == 0
    assert seen == {"quick": True, "size": 5}  # the benchmark's own option reaches it
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["task", "dim", "ms", "extra"]
    assert out[2].split() == ["ackley", "2", "0.1235"]
    assert json.loads((tmp_path / "out" / "b.json").read_text()) == {"benchmark": "fake", "rows": rows}
    with pytest.raises(SystemExit):
        cli.main(["bench", "optimizers", "--size", "5"])  # another benchmark does not take it


def test_the_shared_data_moves_with_phymo_data(tmp_path, monkeypatch, caplog, capsys):
    """One data root, read when asked: ``PHYMO_DATA`` moves it, and the benchmarks look there."""
    import logging

    from phymo.data import data_root

    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("PHYMO_DATA", str(elsewhere))
    assert data_root() == elsewhere
    with caplog.at_level(logging.WARNING):
        assert cli.main(["bench", "plausibility", "--quick"]) == 0
    missing = [r.getMessage() for r in caplog.records if "benchmark clip" in r.getMessage()]
    assert missing and all(f"not found at {elsewhere}/" in m for m in missing)
    assert capsys.readouterr().out.startswith("(no rows)")  # no clip and no mocap corpus there
    monkeypatch.delenv("PHYMO_DATA")
    assert data_root().parts[-2:] == ("shared", "data") and data_root() != elsewhere
