"""Print the README's benchmark table from bench/results/*.json.

    python -m bench.table
"""

import json
import statistics

from bench.stats import RESULTS_DIR


def load(name):
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


NO_GPU = "not measured: no GPU was lent to this task"


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def gpu_name(result: dict) -> str:
    return result["machine"]["gpu"] or "GPU"


def pgd_training_row() -> tuple[str, str, str]:
    parts = []
    if c := load("pgd_training_cpu"):
        per_epoch = c["seconds_per_epoch"]
        which = "its first epoch" if len(per_epoch) == 1 else f"median of its first {len(per_epoch)} epochs"
        parts.append(f"CPU ({c['machine']['cpu_cores']} cores): **{statistics.median(per_epoch)} s per epoch** ({which} of {c['recipe']['epochs']}, `--timed-epochs {len(per_epoch)}`)")
    if g := load("pgd_training_cuda"):
        attack = g.get("pgd100x10_eps0.3")
        robust = f", PGD-100 × 10 ε=0.3 {attack['accuracy']:.1%} of {attack['n']:,}" if attack else ""
        met = g["run_seconds"] <= 600 and attack is not None and attack["accuracy"] >= 0.896 and g["clean_accuracy"] >= 0.985
        parts.append(f"{gpu_name(g)}: whole run **{g['run_seconds']} s** ({g['epochs_run']} epochs, median {statistics.median(g['seconds_per_epoch'])} s each), clean {g['clean_accuracy']:.2%}{robust}; {verdict(met)}")
    else:
        parts.append(f"H100: {NO_GPU}")
    return ("PGD adversarial training, robust architecture, README recipe (`python -m bench.pgd_training`)",
            "≤ 10 min on one H100; PGD-100 × 10 ε=0.3 ≥ 89.6%", "; ".join(parts))


def round_recipe_cell(r: dict) -> str:
    res, n = r["results"], max(r["examples"])
    people = ", ".join(f"{recipe} {res[f'simulated people, {n} examples, {recipe}']['mean_fresh_error_rate']:.1%}" for recipe in r["recipes"])
    hard = ", ".join(
        f"{recipe} {res[f'32 hard MNIST examples, {recipe}']['mean_mnist_test_accuracy']:.2%} "
        f"({res[f'32 hard MNIST examples, {recipe}']['rounds_passing_mnist_gate']} of {len(r['seeds'])} pass the gate)"
        for recipe in r["recipes"]
    )
    return (f"error on 10,000 fresh simulated drawings after a round on {n} of them (round 0: {res['round 0']['fresh_error_rate']:.1%}): {people}; "
            f"MNIST test after a round on 32 hard MNIST examples (round 0: {res['round 0']['mnist_test_accuracy']:.2%}): {hard}; mean of {len(r['seeds'])} seeds")


def http_predict_row(h: dict) -> tuple[str, str, str]:
    res, app = h["results"], h["results"]["app /predict"]
    parts = [f"app: sequential p50 {app['sequential']['p50_ms']} ms, 16 clients {app['concurrent']['throughput_rps']} req/s"]
    for name, ratio in h["ratios"].items():
        bare = res[name.removeprefix("vs ")]
        seq, thr = ratio["sequential_p50_ratio"], ratio["throughput_ratio_bare_over_app"]
        parts.append(f"{name} ({bare['sequential']['p50_ms']} ms, {bare['concurrent']['throughput_rps']} req/s): **{seq}×** / **{thr}×**, {verdict(max(seq, thr) <= 1.2)}")
    return ("`/predict` over HTTP vs bare Gradio apps, sequential p50 / 16-client throughput (`python -m bench.http_predict`)", "within 1.2×", "; ".join(parts))


def rows():
    out = []
    if t := load("train_time_cpu"):
        s = t["summary"]
        out.append(("Round-0 training to ≥99.0% MNIST test, whole process (`python -m bench.train_time`)", "≤ 30 s wall (2-core CPU)",
                    f"cold cache {s['cold, to 99.0%']['median_wall_s']} s, warm {s['warm, to 99.0%']['median_wall_s']} s (median of {len(t['runs']['cold, to 99.0%'])}; {s['warm, to 99.0%']['accuracies'][0]:.2%} after {s['warm, to 99.0%']['epochs'][0]} epochs); full default run {s['warm, full default run']['median_wall_s']} s → {s['warm, full default run']['accuracies'][0]:.2%}; {verdict(max(s['cold, to 99.0%']['median_wall_s'], s['warm, to 99.0%']['median_wall_s']) <= 30)}"))
    if g := load("train_time_cuda"):
        s = g["summary"]["warm, to 99.0%"]
        full = g["summary"]["warm, full default run"]
        measured = (f"{gpu_name(g)}: training {s['median_train_s']} s to {s['accuracies'][0]:.2%} ({s['epochs'][0]} epochs; whole process {s['median_wall_s']} s, median of {len(s['accuracies'])}); "
                    f"full default run {full['median_train_s']} s of training → {full['accuracies'][0]:.2%}; {verdict(s['median_train_s'] <= 1.0)}")
    else:
        measured = NO_GPU
    out.append(("Round-0 training to ≥99.0% on one H100 (`python -m bench.train_time --device cuda`)", "≤ 1.0 s of training", measured))
    if p := load("predict_latency"):
        r = p["results"]
        big, app = r["800x800 RGBA canvas"]["preprocess+model"], r["400x400 RGBA canvas (the app's)"]["preprocess+model"]
        out.append(("Single-drawing prediction, preprocessing + model, CPU, 1 thread (`python -m bench.predict_latency`)", "p99 ≤ 2 ms (800×800)",
                    f"800×800: p50 {big['p50_ms']} ms, p99 {big['p99_ms']} ms; 400×400 (the app's canvas): p50 {app['p50_ms']} ms, p99 {app['p99_ms']} ms; model alone p50 {r['model only (28x28)']['p50_ms']} ms; {verdict(big['p99_ms'] <= 2.0)}"))
    if h := load("http_predict"):
        out.append(http_predict_row(h))
    if f := load("flag_latency"):
        r = f["results"]
        fl, pr = r["/flag (sketchpad value + label, durable)"], r["/predict (image)"]
        out.append(("Flag latency over HTTP, durable (`python -m bench.flag_latency`)", "p50 ≤ 2× predict p50",
                    f"flag p50 {fl['p50_ms']} ms, p99 {fl['p99_ms']} ms; /predict p50 {pr['p50_ms']} ms: **{f['ratios']['flag_p50_over_predict_p50']}×**, {verdict(f['ratios']['flag_p50_over_predict_p50'] <= 2.0)}"))
    for device in ("cpu", "cuda"):
        if a := load(f"attack_throughput_{device}"):
            r = a["results"]
            pgd_key = next(k for k in r if k.startswith("PGD-40 training"))
            where = gpu_name(a) if device == "cuda" else "CPU"
            command = "python -m bench.attack_throughput" + (" --device cuda" if device == "cuda" else "")
            out.append((f"Attacks and adversarial training on {where} (`{command}`)", "—",
                        f"FGSM {r['FGSM images/s']:,} img/s, PGD-40 {r['PGD-40 images/s']:,} img/s; epoch: standard {r['standard training, s per epoch']} s, adv-reg {r['adv-reg training, s per epoch']} s, fast {r['fast training, s per epoch']} s; PGD-40 training {r[pgd_key]} s per batch of 128"))
        elif device == "cuda":
            out.append(("Attacks and adversarial training on one H100 (`python -m bench.attack_throughput --device cuda`)", "—", NO_GPU))
    out.append(pgd_training_row())
    if r := load("round_recipe"):
        out.append(("One retraining round per recipe, people's examples per batch × steps (`python -m bench.round_recipe`)", "—", round_recipe_cell(r)))
    for path in sorted(RESULTS_DIR.glob("rounds_view*.json"), key=lambda p: (len(p.name), p.name)):  # rounds_view, then rounds_view_40_rounds
        r = json.loads(path.read_text())
        rounds = r.get("rounds", 1)
        against = f", collected against {rounds} rounds' models" if rounds > 1 else ""
        option = f" --rounds {rounds}" if rounds > 1 else ""
        first = f"; the first view after a start (the models shown classify their rounds' held-out examples) {r['first_view_s']} s" if "first_view_s" in r else ""
        out.append((f"Rounds tab rebuild on a {r['records']:,}-record store{against}, what the open tabs do after each flag (`python -m bench.rounds_view{option}`)", "—",
                    f"median {r['rebuild_median_s']} s as loaded, {r['rebuild_median_s_after_gc_freeze']} s after `gc.freeze()` (what the app does once loaded)"
                    + (f"; {r['tabs']} open tabs after a flag: {r['tabs_after_a_flag_median_s']} s, one shared rebuild (one each: {r['tabs_after_a_flag_median_s_one_rebuild_each']} s)" if "tabs" in r else "")
                    + first))
    if r := load("hub_restore"):
        out.append((f"Restore of a {r['records']:,}-flag store ({r['files']:,} files) from a Hub, the local test server over loopback (`python -m bench.hub_restore`)", "—",
                    f"restore {r['restore_s']} s; choosing the files to download: one pattern per file {r['choosing_files_per_file_patterns_s']} s (grows with the square of the files), `download_patterns` {r['choosing_files_download_patterns_s']} s"))
    if d := load("dataset_load"):
        out.append((f"`datasets` load of a {d['records']:,}-record store (`python -m bench.dataset_load`)", "—",
                    f"first load {d['first_load_s']} s (builds the Arrow cache), cached {d['cached_load_s']} s"))
    return out


def markdown() -> str:
    lines = ["| benchmark (command) | target | measured |", "| --- | --- | --- |"]
    lines += [f"| {name} | {target} | {measured} |" for name, target, measured in rows()]
    return "\n".join(lines)


def main():
    print(markdown())


if __name__ == "__main__":
    main()
