"""The sandbox finds simulators through its own registry, never through the adapters."""

from __future__ import annotations

import pytest

from agencies.registry import adapter_paths
from agencies.simulators import NoSimulator, load_simulator


def test_every_built_in_agency_has_a_simulator_for_its_own_name() -> None:
    for name in adapter_paths():
        assert load_simulator(name).agency == name


def test_loading_every_adapter_imports_no_simulator() -> None:
    # A fresh interpreter: this one has already imported simulators for other tests.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from agencies.registry import adapter_classes\n"
        "adapter_classes()\n"
        "print(sorted(m for m in sys.modules if 'simulator' in m or m == 'respx'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_an_agency_without_a_simulator_is_named_in_the_error() -> None:
    with pytest.raises(NoSimulator, match="nowhere"):
        load_simulator("nowhere")


def test_a_path_that_is_not_a_simulator_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from agencies import simulators

    monkeypatch.setitem(simulators.BUILTIN_SIMULATORS, "odd", "adapters.experian:ExperianAdapter")
    with pytest.raises(TypeError, match="AgencySimulator"):
        load_simulator("odd")
