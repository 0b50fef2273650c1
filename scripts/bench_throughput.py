#!/usr/bin/env python3
"""End-to-end throughput of `discotag label` against the Python stacks, on the same texts.

1. Generates an interview-like corpus: N utterances (default 4,000) of 1 to 4 consecutive
   sentences drawn with a fixed seed from the utterances in data/labelled/, as JSONL (with the
   all-MiniLM-L6-v2 tokenizer: median 38 tokens, mean 40.6, at most 145).
2. Runs `discotag label` on it (whole process: start-up, reading, tokenising, encoder, head,
   Parquet), `--unit turn --max-tokens 256`, once per `--precision`, and reads segments, real
   tokens and peak memory (from /usr/bin/time) back.
3. When the peers are installed (`--setup-peers` makes a virtual environment with onnxruntime,
   PyTorch and transformers under target/bench-venv), runs each on the same texts with the
   same encoder files: tokenisation included, batches of 32 sorted by length, the same threads,
   at most 256 tokens, mean pooling. Peers: onnxruntime fp32 (the model exported to ONNX by
   torch, with onnxruntime's BERT fusions), onnxruntime int8 (that model through
   `quantize_dynamic`, QInt8 weights: onnxruntime's own dynamic quantisation), PyTorch fp32,
   PyTorch bf16 autocast.
4. Prints one table with each run's rate of useful work (the encoder's multiply-adds per
   token, as GOP/s) and its share of the fp32 matrix peak measured here (PyTorch's fp32
   product of square matrices, the best of NumPy's and PyTorch's at 1024 to 4096), and the ratios; writes them as JSON (`--json`).

Usage:
  python3 scripts/bench_throughput.py                  # discotag only
  python3 scripts/bench_throughput.py --setup-peers    # once: ~3 GB of wheels for PyTorch
  python3 scripts/bench_throughput.py --peers          # discotag and every installed peer
  python3 scripts/bench_throughput.py --model models/fast --peers   # the all-MiniLM-L6-v2 model
  python3 scripts/bench_throughput.py --peers --peer onnxruntime-fp32 onnxruntime-int8   # some peers
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "target" / "bench-venv"
PEER_PACKAGES = ["onnxruntime", "onnx", "onnxscript", "numpy", "tokenizers", "transformers", "torch"]


def make_corpus(n: int, seed: int, out: Path) -> list[str]:
    """N utterances of 1-4 consecutive sentences from the labelled data, written as JSONL."""
    sources = []
    for name in ("train", "dev", "test"):
        for line in (ROOT / "data/labelled" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                text = json.loads(line)["text"]
                sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
                sources.append(sentences)
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        sentences = rng.choice(sources)
        take = min(len(sentences), rng.choice([1, 2, 2, 2, 3, 4]))
        start = rng.randrange(len(sentences) - take + 1)
        texts.append(" ".join(sentences[start : start + take]))
    with out.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"u{i:05d}", "speaker": "Respondent", "text": text}) + "\n")
    return texts


def peak_rss_mb(time_output: str) -> float:
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_output)
    return int(match.group(1)) / 1024 if match else float("nan")


def run_discotag(binary: Path, model: Path, corpus: Path, threads: int, precision: str, repeats: int) -> dict:
    best = None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            cmd = [
                "/usr/bin/time", "-v", str(binary), "label", str(corpus), "--out", out, "--model", str(model),
                "--unit", "turn", "--max-tokens", "256", "--batch-size", "32",
                "--threads", str(threads), "--precision", precision, "--quiet", "--offline",
            ]
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"discotag failed ({done.returncode}):\n{done.stderr}")
            manifest = json.loads((Path(out) / "manifest.json").read_text())
            run = manifest["runs"][-1]
            result = {
                "name": f"discotag {precision}",
                "precision_used": manifest["identity"]["precision"],
                "kernel": run.get("kernel", ""),
                "precision_reason": run.get("precision_reason", ""),
                "seconds": wall,
                "utterances": run["segments"],
                "tokens": run["tokens"],
                "peak_rss_mb": peak_rss_mb(done.stderr),
            }
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    return best


PEER_CODE = r'''
import json, sys, time
import numpy as np
from tokenizers import Tokenizer

encoder_dir, corpus, threads, which = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
texts = [json.loads(l)["text"] for l in open(corpus, encoding="utf-8") if l.strip()]
tokenizer = Tokenizer.from_file(f"{encoder_dir}/tokenizer.json")
tokenizer.enable_truncation(256)
tokenizer.no_padding()

def batches(encodings):
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    for at in range(0, len(order), 32):
        chunk = order[at:at + 32]
        width = max(len(encodings[i].ids) for i in chunk)
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        for row, i in enumerate(chunk):
            e = encodings[i].ids
            ids[row, :len(e)] = e
            mask[row, :len(e)] = 1
        yield chunk, ids, mask

def pool(hidden, mask):
    m = mask[..., None].astype(np.float32)
    mean = (hidden * m).sum(1) / m.sum(1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)

if which.startswith("onnxruntime"):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(f"{sys.argv[5]}", options, providers=["CPUExecutionProvider"])
    wants_types = any(i.name == "token_type_ids" for i in session.get_inputs())  # BERT yes, MPNet no
    def forward(ids, mask):
        feed = {"input_ids": ids, "attention_mask": mask}
        if wants_types:
            feed["token_type_ids"] = np.zeros_like(ids)
        return session.run(["last_hidden_state"], feed)[0]
else:
    import torch
    from transformers import AutoModel
    torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(encoder_dir).eval()
    bf16 = which == "pytorch-bf16-autocast"
    def forward(ids, mask):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
        return out.float().numpy()

first = next(batches(tokenizer.encode_batch(texts[:32])))
forward(first[1], first[2])  # warm-up, as a long-running service would be
start = time.perf_counter()
encodings = tokenizer.encode_batch(texts)
features = [None] * len(texts)
for chunk, ids, mask in batches(encodings):
    for i, row in zip(chunk, pool(forward(ids, mask), mask)):
        features[i] = row
seconds = time.perf_counter() - start
np.save(sys.argv[6], np.stack(features))
print(json.dumps({"name": which, "seconds": seconds, "utterances": len(texts),
                  "tokens": sum(len(e.ids) for e in encodings)}))
'''

EXPORT_CODE = r'''
import sys, torch
from transformers import AutoModel

class LastHiddenState(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
    def forward(self, input_ids, attention_mask, *token_type_ids):
        types = {"token_type_ids": token_type_ids[0]} if token_type_ids else {}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **types).last_hidden_state

model = LastHiddenState(AutoModel.from_pretrained(sys.argv[1], attn_implementation="eager").eval())
ids = torch.ones((2, 16), dtype=torch.int64)
names = ["input_ids", "attention_mask"]
inputs = (ids, ids)
if model.model.config.model_type != "mpnet":  # MPNet has no token types
    names.append("token_type_ids")
    inputs += (torch.zeros_like(ids),)
torch.onnx.export(model, inputs, sys.argv[2], input_names=names,
                  output_names=["last_hidden_state"],
                  dynamic_axes={n: {0: "batch", 1: "len"} for n in names + ["last_hidden_state"]},
                  opset_version=17, dynamo=False)
# int8 from the plain export: the fused graph's contrib operators defeat the quantiser's shape
# inference. onnxruntime fuses the quantised graph itself when it loads it.
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(sys.argv[2], sys.argv[3], weight_type=QuantType.QInt8)
try:  # onnxruntime's own BERT fusions (attention, skip layer norm, GELU): the peer at its best
    from onnxruntime.transformers.optimizer import optimize_model
    config = model.model.config
    optimize_model(sys.argv[2], model_type="bert", num_heads=config.num_attention_heads,
                   hidden_size=config.hidden_size).save_model_to_file(sys.argv[2])
    print("fused", file=sys.stderr)
except Exception as e:
    print(f"onnxruntime's BERT optimiser failed, the plain export is used: {e}", file=sys.stderr)
'''

PEAK_CODE = r'''
import sys, time, numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))
rates = []
for n in (1024, 2048, 4096):
    a, b = np.random.randn(n, n).astype(np.float32), np.random.randn(n, n).astype(np.float32)
    for product in (lambda: a @ b, lambda: torch.from_numpy(a) @ torch.from_numpy(b)):
        product()
        best = float("inf")
        for _ in range(6):
            start = time.perf_counter()
            product()
            best = min(best, time.perf_counter() - start)
        rates.append(2 * n ** 3 / best / 1e9)
print(max(rates))
'''



def venv_python() -> Path:
    return VENV / "bin" / "python"


def setup_peers() -> None:
    if not venv_python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(venv_python()), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)


PEERS = ["onnxruntime-fp32", "onnxruntime-int8", "pytorch-fp32", "pytorch-bf16-autocast"]


def run_peers(encoder_dir: Path, corpus: Path, threads: int, repeats: int, work: Path, peers: list[str]) -> list[dict]:
    python = venv_python()
    if not python.exists():
        print(f"no peers: {VENV} is missing (run with --setup-peers)", file=sys.stderr)
        return []
    script = work / "peer.py"
    script.write_text(PEER_CODE)
    onnx_path = work / "model.onnx"
    int8_path = work / "model-int8.onnx"
    results = []
    exported = subprocess.run([str(python), "-c", EXPORT_CODE, str(encoder_dir), str(onnx_path), str(int8_path)], capture_output=True, text=True)
    if exported.returncode != 0:
        print(f"ONNX export failed, skipping onnxruntime:\n{exported.stderr[-2000:]}", file=sys.stderr)
    for which in peers:
        if which.startswith("onnx") and exported.returncode != 0:
            continue
        features = work / f"{which}.npy"
        model_path = int8_path if which == "onnxruntime-int8" else onnx_path
        cmd = ["/usr/bin/time", "-v", str(python), str(script), str(encoder_dir), str(corpus), str(threads), which, str(model_path), str(features)]
        best = None
        for _ in range(repeats):
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{which} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                break
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["peak_rss_mb"] = peak_rss_mb(done.stderr)
            if best is None or result["seconds"] < best["seconds"]:
                best = result
        if best is not None:
            results.append(best)
    # The peers must compute the same thing: each one's features against PyTorch fp32's.
    check = "import sys, numpy as np; a = np.load(sys.argv[1]); b = np.load(sys.argv[2]); print(float((a * b).sum(1).min()))"
    reference = work / "pytorch-fp32.npy"
    for r in results:
        mine = work / f"{r['name']}.npy"
        if reference.exists() and mine.exists():
            out = subprocess.run([str(python), "-c", check, str(mine), str(reference)], capture_output=True, text=True)
            r["min_cosine_to_pytorch_fp32"] = float(out.stdout.strip() or "nan")
    return results


def fp32_peak_gflops(threads: int) -> float | None:
    """The best fp32 rate of NumPy's and PyTorch's large square products: the machine's practical
    fp32 peak."""
    if not venv_python().exists():
        return None
    done = subprocess.run([str(venv_python()), "-c", PEAK_CODE, str(threads)], capture_output=True, text=True)
    return float(done.stdout.strip()) if done.returncode == 0 else None


def encoder_ops_per_token(encoder_dir: Path, mean_tokens: float) -> float:
    """Multiply-adds x 2 per token of the encoder's products: the four linear layers per layer,
    and attention's two products over a segment of the corpus's mean length."""
    config = json.loads((encoder_dir / "config.json").read_text())
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    linear = 3 * h * h + h * h + 2 * h * i
    attention = 2 * mean_tokens * h
    return 2 * layers * (linear + attention)


def cpu_description() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")), "unknown CPU")
    flags = next((l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags")), [])
    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]
    return f"{model}; {os.cpu_count()} logical CPUs; " + " ".join(f for f in wanted if f in flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16", "int8", "auto"])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each (discotag per precision, and each peer); the fastest counts")
    parser.add_argument("--binary", type=Path, default=ROOT / "target/release/discotag")
    parser.add_argument("--model", type=Path, default=ROOT / "models/default", help="model folder (models/fast: all-MiniLM-L6-v2)")
    parser.add_argument("--setup-peers", action="store_true", help=f"create {VENV} with the peers, then run them")
    parser.add_argument("--peers", action="store_true", help="run the peers installed in the virtual environment")
    parser.add_argument("--peer", nargs="+", choices=PEERS, default=PEERS,
                        help="which peers --peers runs (PyTorch bf16 autocast takes minutes on CPUs without bf16 instructions)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    if args.setup_peers:
        setup_peers()
    encoder_dir = Path(subprocess.run([str(args.binary), "model", "path", "--model", str(args.model)], capture_output=True, text=True, check=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "utterances.jsonl"
        make_corpus(args.utterances, args.seed, corpus)
        results = [run_discotag(args.binary, args.model, corpus, args.threads, p, args.repeats) for p in args.precision]
        if args.peers or args.setup_peers:
            results += run_peers(encoder_dir, corpus, args.threads, args.repeats, work, args.peer)
    peak = fp32_peak_gflops(args.threads) if (args.peers or args.setup_peers) else None
    ops = encoder_ops_per_token(encoder_dir, results[0]["tokens"] / results[0]["utterances"])

    print(f"CPU: {cpu_description()}")
    print(f"corpus: {args.utterances} utterances, {results[0]['tokens']} tokens; {args.threads} threads; max 256 tokens; encoder {encoder_dir.name}")
    if peak:
        print(f"fp32 matrix peak measured here (best of NumPy and PyTorch, 1024 to 4096 square): {peak:.0f} GFLOP/s")
    print(f"{'run':<24} {'seconds':>8} {'utt/s':>8} {'tokens/s':>9} {'GOP/s':>7} {'of peak':>8} {'peak MB':>8}")
    for r in results:
        r["utterances_per_s"] = r["utterances"] / r["seconds"]
        r["tokens_per_s"] = r["tokens"] / r["seconds"]
        r["gops"] = r["tokens_per_s"] * ops / 1e9
        r["share_of_fp32_peak"] = r["gops"] / peak if peak else None
        share = f"{100 * r['share_of_fp32_peak']:7.0f}%" if peak else f"{'-':>8}"
        print(f"{r['name']:<24} {r['seconds']:8.2f} {r['utterances_per_s']:8.1f} {r['tokens_per_s']:9.0f} {r['gops']:7.1f} {share} {r['peak_rss_mb']:8.0f}")
    for r in results:
        if r.get("precision_reason"):
            print(f"{r['name']}: {r['precision_used']} on {r['kernel']} ({r['precision_reason']})")
    by_name = {r["name"]: r for r in results}
    for ours, theirs in [("discotag fp32", "onnxruntime-fp32"), ("discotag int8", "onnxruntime-int8"),
                         ("discotag auto", "onnxruntime-int8"), ("discotag fp32", "pytorch-fp32"),
                         ("discotag bf16", "pytorch-bf16-autocast"), ("discotag int8", "discotag fp32")]:
        if ours in by_name and theirs in by_name:
            ratio = by_name[ours]["utterances_per_s"] / by_name[theirs]["utterances_per_s"]
            print(f"{ours} / {theirs}: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
