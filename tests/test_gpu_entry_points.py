"""The GPU machine has torch, torchvision, numpy, pillow, safetensors, huggingface_hub and tqdm, and no
registry to install gradio, datasets or pandas from: `bash bench/gpu.sh` and the training and robustness
commands must work there without them. CI never has a GPU, so these run the same code on the CPU, in a
Python that cannot import what the GPU machine lacks."""

import subprocess
import sys

from tests.conftest import REPO_ROOT, copy_of_round0_state

ABSENT_ON_THE_GPU_MACHINE = ("gradio", "gradio_client", "datasets", "pandas", "pyarrow", "playwright")
GPU_BENCHMARKS = ("bench.train_time", "bench.attack_throughput", "bench.pgd_training")  # and bench.table, which takes no options


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
