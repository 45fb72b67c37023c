"""Print the README's benchmark table from bench/results/*.json.

    python -m bench.table
"""

import json

from bench.stats import RESULTS_DIR


def load(name):
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows():
    out = []
    if t := load("train_time"):
        s = t["summary"]
        out.append(("Round-0 training to ≥99.0% MNIST test, whole process (`python -m bench.train_time`)", "≤ 30 s wall (2-core CPU)",
                    f"cold cache {s['cold, to 99.0%']['median_wall_s']} s, warm {s['warm, to 99.0%']['median_wall_s']} s (median of {len(t['runs']['cold, to 99.0%'])}; {s['warm, to 99.0%']['accuracies'][0]:.2%} after {s['warm, to 99.0%']['epochs'][0]} epochs); full default run {s['warm, full default run']['median_wall_s']} s → {s['warm, full default run']['accuracies'][0]:.2%}"))
        out.append(("Round-0 training on one H100", "≤ 1.0 s of training", "not measured: no GPU was lent to this task"))
    if p := load("predict_latency"):
        r = p["results"]
        big, app = r["800x800 RGBA canvas"]["preprocess+model"], r["400x400 RGBA canvas (the app's)"]["preprocess+model"]
        out.append(("Single-drawing prediction, preprocessing + model, CPU, 1 thread (`python -m bench.predict_latency`)", "p99 ≤ 2 ms (800×800)",
                    f"800×800: p50 {big['p50_ms']} ms, p99 {big['p99_ms']} ms; 400×400 (the app's canvas): p50 {app['p50_ms']} ms, p99 {app['p99_ms']} ms; model alone p50 {r['model only (28x28)']['p50_ms']} ms"))
    if h := load("http_predict"):
        res, ratios = h["results"], h["ratios"]
        app = res["app /predict"]
        for name, ratio in ratios.items():
            bare = res[name.removeprefix("vs ")]
            out.append((f"`/predict` over HTTP {name} (`python -m bench.http_predict`)", "within 1.2×",
                        f"sequential p50 {app['sequential']['p50_ms']} vs {bare['sequential']['p50_ms']} ms = **{ratio['sequential_p50_ratio']}×**; 16 clients {app['concurrent']['throughput_rps']} vs {bare['concurrent']['throughput_rps']} req/s = **{ratio['throughput_ratio_bare_over_app']}×**"))
    if f := load("flag_latency"):
        r = f["results"]
        fl, pr = r["/flag (sketchpad value + label, durable)"], r["/predict (image)"]
        out.append(("Flag latency over HTTP, durable (`python -m bench.flag_latency`)", "p50 ≤ 2× predict p50",
                    f"flag p50 {fl['p50_ms']} ms, p99 {fl['p99_ms']} ms; /predict p50 {pr['p50_ms']} ms: **{f['ratios']['flag_p50_over_predict_p50']}×**"))
    for device in ("cpu", "cuda"):
        if a := load(f"attack_throughput_{device}"):
            r = a["results"]
            pgd_key = next(k for k in r if k.startswith("PGD-40 training"))
            out.append((f"Attacks and adversarial training on {device.upper()} (`python -m bench.attack_throughput`)", "—",
                        f"FGSM {r['FGSM images/s']:,} img/s, PGD-40 {r['PGD-40 images/s']:,} img/s; epoch: standard {r['standard training, s per epoch']} s, adv-reg {r['adv-reg training, s per epoch']} s, fast {r['fast training, s per epoch']} s; PGD-40 training {r[pgd_key]} s per batch of 128"))
    if d := load("dataset_load"):
        out.append((f"`datasets` load of a {d['records']:,}-record store (`python -m bench.dataset_load`)", "—",
                    f"first load {d['first_load_s']} s (builds the Arrow cache), cached {d['cached_load_s']} s"))
    return out


def main():
    print("| benchmark (command) | target | measured |")
    print("| --- | --- | --- |")
    for name, target, measured in rows():
        print(f"| {name} | {target} | {measured} |")


if __name__ == "__main__":
    main()
