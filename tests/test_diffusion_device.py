"""--device of the torch validators: cpu by default, recorded in the inputs and in a sweep row;
cuda refused in one line where it cannot run (no CUDA device, or a model fitted on the CPU)."""

from __future__ import annotations

import json

import pytest

from boundcalc._checks import PARAMETERS, BoundcalcError
from boundcalc.cli.main import main

pytestmark = pytest.mark.torch
TINY = ["--n-real", "32", "--generations", "1", "--steps", "5", "--grid-size", "128", "--seeds", "1"]


def _one_line_error(capsys, argv, *words):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    for word in words:
        assert word in lines[0], lines[0]


def test_device_is_a_row_of_the_parameter_table_defaulting_to_cpu():
    row = PARAMETERS["device"]
    assert row.choices == ("cpu", "cuda") and row.default("validate diffusion") == "cpu"


def test_cuda_without_a_cuda_device_is_one_clear_line(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    _one_line_error(capsys, ["validate", "diffusion", "loop", "--model", "mlp", "--device", "cuda", *TINY],
                    "cuda", "no CUDA device", "--device cpu")


def test_cuda_with_the_random_features_model_is_refused(capsys):
    pytest.importorskip("torch")
    _one_line_error(capsys, ["validate", "diffusion", "loop", "--device", "cuda", *TINY], "cuda", "mlp")


def test_an_unknown_device_is_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["validate", "diffusion", "loop", "--device", "tpu", *TINY])
    assert stop.value.code == 2 and "--device" in capsys.readouterr().err


def test_the_api_checks_the_device():
    from boundcalc.validate import diffusion_config

    with pytest.raises(BoundcalcError, match="device"):
        diffusion_config("loop", device="gpu")
    assert diffusion_config("loop").config.device == "cpu"


def test_mlp_on_cpu_is_the_default_and_recorded(capsys):
    """--device cpu is the default: same bytes, and the inputs record the device."""
    pytest.importorskip("torch")
    argv = ["validate", "diffusion", "loop", "--scheme", "replace", "--model", "mlp", *TINY, "--json"]
    main(argv)
    default = capsys.readouterr().out
    main([*argv, "--device", "cpu"])
    explicit = capsys.readouterr().out
    assert default == explicit and json.loads(default)["inputs"]["model"]["device"] == "cpu"
