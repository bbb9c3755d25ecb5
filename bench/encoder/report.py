"""report.py: turns the lines run.sh collected (bench/out/encoder_results.txt) into
the encoder benchmark's tables.  Knows the goals and the FLOP count; knows nothing
of how the engines were run.

  report.py RESULTS [--inputs bench/out/encoder/inputs.bin] [--config bench/out/encoder/minilm-l6/config.json]

Input lines: RESULT / CHECK / INFO / ENV / ERROR followed by key=value pairs.
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)

GOALS_ORT = {"asis": 1.5, "sorted": 1.0}     # semdex / ORT throughput, at least
GOAL_TORCH = 2.0                             # semdex / PyTorch throughput, at least
GOAL_LATENCY = 0.7                           # semdex / ORT latency, at most
GOAL_CEILING = 0.60                          # semdex GFLOP/s / SGEMM ceiling, at least
GOAL_MEM_8192 = 1 << 30                      # bytes
LINEAR_SLACK = 1.15                          # growth factor per length factor accepted as linear
ENGINES = ("semdex", "ort", "torch")
NAMES = {"semdex": "semdex", "ort": "ONNX Runtime", "torch": "PyTorch"}


def parse(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            kind, _, rest = line.partition(" ")
            if kind not in ("RESULT", "CHECK", "INFO", "ENV", "ERROR"):
                continue
            rec = {"kind": kind}
            if " msg=" in rest or rest.startswith("msg="):
                i = rest.find("msg=")
                rec["msg"] = rest[i + 4:]
                rest = rest[:i]
            for kv in rest.split():
                k, eq, v = kv.partition("=")
                if eq:
                    rec["kkind" if k == "kind" else k] = v
            recs.append(rec)
    return recs


def median(xs):
    s = sorted(xs)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def fnum(x, fmt="{:.0f}"):
    return "-" if x is None or x != x else fmt.format(x)


def verdict(ok):
    return "met" if ok else "NOT met"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return out


def flops(inputs, config, texts):
    """Analytic FLOPs of the encoder over the real tokens of the first `texts` inputs:
    per layer 2*T*(4*H*H + 2*H*F) (Q, K, V, output; FFN up and down) plus
    4*L^2*H per sequence (Q K^T and P V)."""
    import encoder
    with open(config) as f:
        cfg = json.load(f)
    recs = encoder.read_inputs(inputs)
    if texts:
        recs = recs[:texts]
    H, F, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    T = sum(len(ids) for _, ids in recs)
    att = sum(4 * len(ids) ** 2 * H for _, ids in recs)
    return layers * (2 * T * (4 * H * H + 2 * H * F) + att), T


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    path = argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    base = os.path.join(os.path.dirname(path), "encoder")
    inputs = opts.get("--inputs", os.path.join(base, "inputs.bin"))
    config = opts.get("--config", os.path.join(base, "minilm-l6", "config.json"))
    recs = parse(path)
    env = {}
    for r in recs:
        if r["kind"] == "ENV":
            env.update(r)
    info = {r["engine"]: r for r in recs if r["kind"] == "INFO" and "engine" in r}
    out = []
    out.append("Encoder benchmark: semdex vs ONNX Runtime vs PyTorch, same weights, same run")
    out.append("  model: all-MiniLM-L6-v2 shape (BertModel, 6 layers, hidden 384, 12 heads, FFN 1536, "
               "vocab 30522), random weights (seed 1), mean pooling + normalize")
    out.append(f"  machine: {env.get('cpu', '?').replace('_', ' ')}, {env.get('nproc', '?')} CPUs; "
               f"rounds: {env.get('reps', '?')} (every figure is the median over them)")
    o, t = info.get("ort", {}), info.get("torch", {})
    out.append(f"  ONNX Runtime {o.get('version', '-')} (npm onnxruntime-node, node {o.get('node', '-')}); "
               f"PyTorch {t.get('version', '-')} (BLAS: {t.get('blas_core', '-')} kernels of "
               f"{t.get('blas_config', '-').split('_DYNAMIC')[0].replace('_', ' ')}; MKL-DNN "
               f"{'present' if t.get('mkldnn') == '1' else 'absent'})")
    out.append(f"  environment: OPENBLAS_CORETYPE={env.get('openblas_coretype', '?')} "
               f"OPENBLAS_L2_SIZE={env.get('openblas_l2_size', '?')} "
               f"({'kept' if env.get('kept') == '1' else 'unset for PyTorch and the SGEMM ceiling'})")
    out.append("")

    # ---- correctness
    checks = [r for r in recs if r["kind"] == "CHECK"]
    bad_semdex = False
    if checks:
        out.append("Correctness (max |difference| of the embeddings; goal ~1e-5)")
        for c in checks:
            extra = f", min cosine {c['min_cosine']}" if "min_cosine" in c else ""
            out.append(f"  {c['name']:<34} {c.get('n', '?'):>4} inputs: max abs diff {c.get('max_abs_diff')}"
                       f"{extra}  [{c.get('status')}]")
            if c["name"].startswith("semdex-") and c.get("status") != "ok":
                bad_semdex = True
        out.append("")

    # ---- throughput
    thr = [r for r in recs if r["kind"] == "RESULT" and r.get("mode") == "throughput"]
    tput = {}
    meta = {}
    for r in thr:
        key = (r["engine"], r["order"])
        tput.setdefault(key, []).extend(float(x) for x in r["times"].split(","))
        meta[key] = r
    med = {k: median(v) for k, v in tput.items()}
    tok = {k: int(meta[k]["tokens"]) / med[k] for k in med}
    semdex_invalid = bad_semdex or any(
        r["engine"] == "semdex" and (r.get("id_mismatches", "0") != "0" or r.get("model_tokens") != r.get("tokens"))
        for r in thr)
    gflop = None
    if thr:
        any_r = thr[0]
        texts = int(any_r["texts"])
        try:
            gflop, T = flops(inputs, config, texts)
        except (OSError, ValueError, KeyError) as e:
            print(f"report.py: cannot count FLOPs: {e}", file=sys.stderr)
        pads = {r["order"]: r.get("padded_tokens") for r in thr if "padded_tokens" in r}
        out.append(f"1. Throughput, {any_r['threads']} threads: real (non-padding) tokens per second, "
                   f"{texts} texts, {any_r['tokens']} tokens, batches of {any_r['batch']}")
        out.append(f"   (ORT and PyTorch pad each batch to its longest input: {pads.get('asis', '?')} tokens as they "
                   f"come, {pads.get('sorted', '?')} sorted; semdex's time includes tokenization)")
        rows = []
        for order, label in (("asis", "(a) as they come"), ("sorted", "(b) sorted by length")):
            row = [label]
            for e in ENGINES:
                k = (e, order)
                n = len(tput.get(k, []))
                row.append(f"{fnum(tok.get(k))} ({n})" if k in tok else "-")
            s, ort, tor = tok.get(("semdex", order)), tok.get(("ort", order)), tok.get(("torch", order))
            for anchor, goal in ((ort, GOALS_ORT[order]), (tor, GOAL_TORCH)):
                if s and anchor:
                    ratio = s / anchor
                    v = "INVALID" if semdex_invalid else verdict(ratio >= goal)
                    row.append(f"{ratio:.2f}x (goal >= {goal:.1f}x: {v})")
                else:
                    row.append(f"- (goal >= {goal:.1f}x)")
            rows.append(row)
        out += ["   " + x for x in table(rows, ["order", "semdex tok/s (runs)", "ORT tok/s (runs)",
                                                   "PyTorch tok/s (runs)", "semdex / ORT", "semdex / PyTorch"])]
        if semdex_invalid:
            out.append("   INVALID: semdex's ids or embeddings differ from the others' (see above)")
        spread = []
        for k, v in sorted(tput.items()):
            if len(v) > 1:
                spread.append(f"{k[0]} {k[1]} {min(v):.2f}-{max(v):.2f} s")
        if spread:
            out.append("   spread of the pass times: " + "; ".join(spread))
        out.append("")

    # ---- latency
    lat = {}
    for r in recs:
        if r["kind"] == "RESULT" and r.get("mode") == "latency":
            lat.setdefault(r["engine"], []).append(float(r["median_s"]))
    if lat:
        lm = {e: median(v) for e, v in lat.items()}
        out.append("2. Latency, 1 thread, one 16-token query (median of the per-round medians, ms)")
        row = [fnum(lm.get(e, float("nan")) * 1e3, "{:.2f}") if e in lm else "-" for e in ENGINES]
        s, ort, tor = lm.get("semdex"), lm.get("ort"), lm.get("torch")
        r1 = f"{s / ort:.2f}x (goal <= {GOAL_LATENCY}x: " \
             f"{'INVALID' if semdex_invalid else verdict(s / ort <= GOAL_LATENCY)})" if s and ort else \
             f"- (goal <= {GOAL_LATENCY}x)"
        r2 = f"{s / tor:.2f}x" if s and tor else "-"
        out += ["   " + x for x in table([row + [r1, r2]], ["semdex ms", "ORT ms", "PyTorch ms", "semdex / ORT",
                                                            "semdex / PyTorch (info)"])]
        out.append("")

    # ---- GFLOP/s against the ceiling
    # candidates: bench/encoder/sgemm (OpenBLAS, per core type) and, when it ran,
    # bench/kern's program ("RESULT kind=sgemm ... ours_2t= blas_2t=", 2 threads)
    ceil = [(float(r["gflops"]), f"OpenBLAS {r.get('core', '?')}")
            for r in recs if r["kind"] == "RESULT" and r.get("shape") == "ceiling" and "round" not in r]
    # the OpenBLAS ceiling measured again in each round, right after the passes
    round_ceil = {r["round"]: float(r["gflops"]) for r in recs
                  if r["kind"] == "RESULT" and r.get("shape") == "ceiling" and "round" in r}
    round_time = {}
    for r in thr:
        if r["order"] == "sorted" and "round" in r:
            round_time[(r["engine"], r["round"])] = median([float(x) for x in r["times"].split(",")])
    nthreads = env.get("threads", "2")
    kern = [r for r in recs if r["kind"] == "RESULT" and r.get("kkind") == "sgemm"]
    for label, key in (("semdex kern", f"ours_{nthreads}t"), ("OpenBLAS via bench/kern", f"blas_{nthreads}t")):
        vals = [(float(r[key]), f"{r.get('M')}x{r.get('N')}x{r.get('K')}") for r in kern if key in r]
        if vals:
            g, shape = max(vals)
            ceil.append((g, f"{label} {shape}"))
    peak = [r for r in recs if r["kind"] == "RESULT" and r.get("kkind") == "peak" and r.get("threads") == nthreads]
    if gflop or ceil:
        out.append("3. Achieved GFLOP/s in (1b), FLOPs counted for the real tokens: per layer "
                   "2*T*(4*H*H + 2*H*F) + 4*L^2*H per sequence")
        best = max(ceil, key=lambda x: x[0]) if ceil else None
        parts = [f"{name} {g:.1f}" for g, name in ceil]
        if best:
            out.append(f"   SGEMM ceiling, {nthreads} threads: {best[0]:.1f} GFLOP/s (best of: {'; '.join(parts)})")
        if peak:
            out.append(f"   (FMA peak in registers, bench/kern, {nthreads} threads: {float(peak[-1]['gflops']):.1f} "
                       f"GFLOP/s; information, not the ceiling)")
        if round_ceil:
            vals = sorted(round_ceil.values())
            out.append(f"   OpenBLAS ceiling measured again after each round's passes: {median(vals):.1f} GFLOP/s "
                       f"(median; {vals[0]:.1f}-{vals[-1]:.1f})")
        rows = []
        for e in ENGINES:
            k = (e, "sorted")
            if gflop and k in med:
                g = gflop / med[k] / 1e9
                share = g / best[0] if best else None
                shares = [gflop / round_time[(e, rd)] / 1e9 / c for rd, c in round_ceil.items()
                          if (e, rd) in round_time and c > 0]
                same = median(shares) if shares else None
                judged = same if same is not None else share
                goal = ""
                if e == "semdex":
                    goal = f"goal >= {GOAL_CEILING:.0%}: " + (
                        "INVALID" if semdex_invalid else verdict(judged is not None and judged >= GOAL_CEILING))
                rows.append([NAMES[e], f"{g:.1f}", f"{100 * share:.0f}%" if share is not None else "-",
                             f"{100 * same:.0f}%" if same is not None else "-", goal])
        if rows:
            out.append(f"   {gflop / 1e9:.0f} GFLOP per pass over the texts")
            out += ["   " + x for x in table(rows, ["engine", "GFLOP/s", "of the ceiling at the start",
                                                   "of the same round's ceiling (median)", "goal"])]
            if round_ceil:
                out.append("   (the goal is judged on the same-round share: both figures of a round were "
                           "measured under the same load)")
            # whether GOAL_TORCH sorted is reachable at all: it asks for GOAL_TORCH times
            # PyTorch's FLOP rate, which no engine doing the same arithmetic can exceed the
            # FMA peak with
            k = ("torch", "sorted")
            if peak and k in med:
                need = GOAL_TORCH * gflop / med[k] / 1e9
                p2 = float(peak[-1]["gflops"])
                out.append(f"   {GOAL_TORCH:.0f}x PyTorch sorted needs {need:.1f} GFLOP/s, "
                           f"{100 * need / p2:.0f}% of the {nthreads}-thread FMA peak ({p2:.1f})"
                           + (": above it, out of reach for any engine doing these FLOPs" if need > p2 else ""))
        out.append("")

    # ---- memory
    mem = sorted((int(r["tokens"]), r) for r in recs if r["kind"] == "RESULT" and r.get("mode") == "memory")
    if mem:
        out.append("4. Peak memory beyond the weights, one input, bge-m3 shape (XLM-R, hidden 1024, 16 heads, "
                   "FFN 4096, 2 layers), semdex")
        rows = []
        prev = None
        all_linear = True
        for n, r in mem:
            g = int(r["peak_growth_kb"]) * 1024
            factor = ""
            if prev:
                f = g / prev[1] if prev[1] > 0 else float("inf")
                lin = f <= (n / prev[0]) * LINEAR_SLACK
                all_linear &= lin
                factor = f"{f:.2f}x for {n / prev[0]:.0f}x tokens ({'linear' if lin else 'SUPERLINEAR'})"
            rows.append([str(n), f"{g / 2**20:.1f}", f"{g / n / 1024:.1f}", factor, r.get("embed_s", "-"),
                         f"{int(r.get('rss_loaded_kb', 0)) / 1024:.0f}"])
            prev = (n, g)
        out += ["   " + x for x in table(rows, ["tokens", "peak growth MiB", "KiB/token", "growth factor",
                                                   "embed s", "RSS after load MiB"])]
        last_n, last = mem[-1]
        g = int(last["peak_growth_kb"]) * 1024
        if last_n >= 8192:
            out.append(f"   goal: linear growth and < 1 GiB at 8192 tokens: "
                       f"{verdict(all_linear and g < GOAL_MEM_8192)}")
        out.append("   (VmHWM after the call minus VmRSS before it, the peak reset by /proc/self/clear_refs; "
                   "weights loaded and warmed up first)")
        out.append("")

    errs = [r for r in recs if r["kind"] == "ERROR"]
    if errs:
        out.append("Errors:")
        for r in errs:
            out.append(f"  {r.get('name')}: {r.get('msg', '')}")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
