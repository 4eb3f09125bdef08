import subprocess
import sys

import pytest


def _run(env: dict) -> int:
    code = "from qcproject.faults import fault_point; fault_point('x.here'); print('survived')"
    proc = subprocess.run(
        [sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True
    )
    return proc.returncode


def test_disarmed_fault_point_does_nothing():
    assert _run({}) == 0


def test_other_armed_point_does_nothing():
    assert _run({"QC_FAULT_POINT": "y.elsewhere"}) == 0


def test_armed_fault_point_kills_the_process():
    assert _run({"QC_FAULT_POINT": "x.here"}) == -9


@pytest.mark.parametrize("probability", ["0"])
def test_fault_point_with_zero_probability_never_fires(probability):
    assert _run({"QC_FAULT_POINT": "x.here", "QC_FAULT_PROBABILITY": probability}) == 0
