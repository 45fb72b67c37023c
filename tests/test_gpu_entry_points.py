"""The GPU machine has torch, torchvision, numpy, pillow, safetensors, huggingface_hub and tqdm, and no
registry to install gradio, datasets or pandas from: `bash bench/gpu.sh` and the training and robustness
commands must work there without them. CI never has a GPU, so these run the same code on the CPU, in a
Python that cannot import what the GPU machine lacks."""

import re
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT, copy_of_round0_state

ABSENT_ON_THE_GPU_MACHINE = ("gradio", "gradio_client", "datasets", "pandas", "pyarrow", "playwright")
GPU_SCRIPT = REPO_ROOT / "bench" / "gpu.sh"
# Every benchmark step gpu.sh runs (then bench.table, which takes no options), read from the script itself.
GPU_BENCHMARKS = tuple(re.findall(r"^step (bench\.\w+)", GPU_SCRIPT.read_text(), re.MULTILINE))


def run_without_the_app_stack(module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m module args` where importing any of ABSENT_ON_THE_GPU_MACHINE fails, as it would there."""
    blocked = ", ".join(repr(name) for name in ABSENT_ON_THE_GPU_MACHINE)
    code = (
        "import runpy, sys\n"
        f"for name in ({blocked},): sys.modules[name] = None  # `import name` now raises ImportError\n"
        f"sys.argv = [{module!r}, *{list(args)!r}]\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_gpu_benchmarks_import_without_gradio_datasets_or_pandas():
    assert GPU_BENCHMARKS == ("bench.train_time", "bench.attack_throughput", "bench.pgd_training")
    for module in GPU_BENCHMARKS:
        done = run_without_the_app_stack(module, "--help")
        assert done.returncode == 0, f"{module}: {done.stderr[-2000:]}"
        assert "usage:" in done.stdout, module
    table = run_without_the_app_stack("bench.table")  # what gpu.sh prints last, from the stored results
    assert table.returncode == 0, table.stderr[-2000:]
    assert table.stdout.startswith("| benchmark (command) | target | measured |")


def test_training_and_the_robustness_report_run_without_gradio_datasets_or_pandas(state_dir, round0, tmp_path):
    state = copy_of_round0_state(state_dir, tmp_path / "state")
    trained = run_without_the_app_stack("training.train", "--dry-run", "--device", "cpu", "--state-dir", str(state))
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (state / "checkpoints" / "dry-run" / "model.safetensors").exists()
    report = run_without_the_app_stack(
        "training.robustness", "--model", str(state / "checkpoints" / "round-0"), "--n", "20", "--restarts", "1", "--device", "cpu", "--state-dir", str(state)
    )
    assert report.returncode in (0, 1), report.stderr[-2000:]  # 1: a sanity check failed on 20 images, still a report
    assert "| FGSM ε=0.2 |" in report.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA, gpu.sh would run every GPU benchmark")
def test_gpu_sh_refuses_at_once_without_cuda_and_writes_nothing(tmp_path):
    copy_to = tmp_path / "out"
    results = sorted((REPO_ROOT / "bench" / "results").iterdir())
    done = subprocess.run(["bash", str(GPU_SCRIPT), str(copy_to)], env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no CUDA device visible to torch" in done.stderr
    assert not copy_to.exists() and sorted((REPO_ROOT / "bench" / "results").iterdir()) == results
