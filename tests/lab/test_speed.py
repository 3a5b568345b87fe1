"""lab/speed.py: the machine's speed as the CPU time of a fixed piece of work, the figure the
bench records around each stage's search, and `python -m lab speed`."""

from __future__ import annotations

import pytest

from lab import speed
from lab.__main__ import main


def test_the_reference_is_cpu_time_for_the_work_asked() -> None:
    assert speed.reference_seconds(200_000) > 0
    with pytest.raises(ValueError, match=r"^iterations=0; allowed a positive integer$"):
        speed.reference_seconds(0)


def test_measure_takes_the_samples_asked_with_the_interval_between_them() -> None:
    seen: list[int] = []
    slept: list[float] = []
    times = iter([0.2, 0.1, 0.4])

    def sample(iterations: int) -> float:
        seen.append(iterations)
        return next(times)

    got = speed.measure(3, iterations=1000, interval=0.5, sample=sample, sleep=slept.append)
    assert seen == [1000, 1000, 1000] and slept == [0.5, 0.5]
    assert got.samples == (0.2, 0.1, 0.4) and got.median == 0.2 and got.spread == 4.0
    assert got.as_dict() == {
        "iterations": 1000, "cpu_seconds": [0.2, 0.1, 0.4], "median": 0.2, "spread": 4.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"repeat": 0}, "repeat=0; allowed"), ({"interval": -1.0}, "interval=-1.0; allowed")],
)
def test_bad_measure_arguments_are_one_line_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        speed.measure(**{"repeat": 2, **kwargs})


def test_the_command_prints_each_sample_and_the_spread(capsys) -> None:
    assert main(["speed", "--repeat", "2", "--interval", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("CPU seconds for 2,000,000 additions, 2 samples")
    assert [line.split()[0] for line in out[1:3]] == ["1", "2"]
    assert out[3].startswith("median ") and out[3].endswith("x")


def test_a_bad_repeat_is_a_one_line_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["speed", "--repeat", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("--repeat=0 out of range; allowed 1..1000")
