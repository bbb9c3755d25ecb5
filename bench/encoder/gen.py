"""gen.py: generates what the encoder benchmark runs on (into bench/out/encoder/).

  gen.py model-minilm DIR ONNX      all-MiniLM-L6-v2's shape, random weights (seed 1),
                                    as a sentence-transformers directory, and its ONNX export
  gen.py model-bgem3 DIR            bge-m3's shape with 2 layers (XLM-R, hidden 1024),
                                    random weights (seed 2), max_seq_length 8192
  gen.py inputs SEMDEX DIR CORPUS OUT [--n 1024 --min 16 --max 128 --seed 3]
                                    texts of CORPUS (SQuAD-format JSON) whose semdex
                                    tokenization has min..max tokens, with their ids
  gen.py exact SEMDEX DIR CORPUS OUT N
                                    one text that tokenizes to exactly N tokens
  gen.py compare NAME A.f32 B.f32 DIM
                                    max |a - b| of two embedding files (n x DIM float32)

Token ids always come from `semdex tokenize -m DIR` (SEMDEX is the semdex program).
Paths are as given (the caller, run.sh, passes paths relative to the repository root).
"""
import json
import os
import random
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import encoder  # noqa: E402

import torch  # noqa: E402


def say(*a):
    print(*a, file=sys.stderr, flush=True)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_st_files(d, dim, pooling, max_seq_length):
    """The sentence-transformers module files (the layout of the fixtures)."""
    write_json(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(d, "1_Pooling", "config.json"),
               {"embedding_dimension": dim, "pooling_mode": pooling, "include_prompt": True})
    os.makedirs(os.path.join(d, "2_Normalize"), exist_ok=True)
    write_json(os.path.join(d, "2_Normalize", "config.json"),
               {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"})
    write_json(os.path.join(d, "sentence_bert_config.json"),
               {"max_seq_length": max_seq_length, "do_lower_case": False})
    write_json(os.path.join(d, "config_sentence_transformers.json"),
               {"model_type": "SentenceTransformer", "prompts": {}, "default_prompt_name": None,
                "similarity_fn_name": "cosine"})


def write_model_dir(d, cfg, model, pooling, max_seq_length, tokenizer_from):
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), cfg)
    encoder.write_safetensors(os.path.join(d, "model.safetensors"),
                              {k: v for k, v in model.hf_names().items()})
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        src = os.path.join(tokenizer_from, name)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(d, name))
    write_st_files(d, cfg["hidden_size"], pooling, max_seq_length)


def cmd_model_minilm(d, onnx_path):
    cfg = encoder.bert_config()
    torch.manual_seed(1)
    model = encoder.Encoder(cfg, "mean", True)
    model.randomize(seed=1)
    model.eval()
    write_model_dir(d, cfg, model, "mean", 256, os.path.join("examples", "models", "all-MiniLM-L6-v2"))
    say(f"gen: wrote {d} (BertModel 6x384, 12 heads, FFN 1536, vocab 30522, mean + normalize)")
    # ONNX: dynamic batch and sequence axes, attention mask input, the pooled
    # and normalized embedding as output.  Exported from the weights just
    # written, read back (what every engine reads).
    model, _ = encoder.load_model(d)
    ids = torch.tensor([[101] + [2000 + i for i in range(14)] + [102],
                        [101] + [3000 + i for i in range(8)] + [102] + [0] * 6], dtype=torch.long)
    mask = (ids != 0).long()
    tmp = onnx_path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), tmp, input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "attention_mask": {0: "batch", 1: "sequence"},
                                        "embedding": {0: "batch"}},
                          opset_version=14, do_constant_folding=True)
    try:
        import onnx
        onnx.checker.check_model(tmp)
    except ImportError:
        say("gen: python3-onnx missing; the ONNX file is not checked")
    os.replace(tmp, onnx_path)
    say(f"gen: wrote {onnx_path} (opset 14, torch {torch.__version__})")


def cmd_model_bgem3(d):
    src = os.path.join("..", "shared", "fixtures", "models", "xlmr-cls-long")
    src = os.environ.get("SEMDEX_XLMR_FIXTURE", src)
    with open(os.path.join(src, "config.json")) as f:
        fx = json.load(f)
    pad = fx.get("pad_token_id", 1)
    # bge-m3: 8192 tokens + positions starting at pad + 1 (8194 with XLM-R's pad id 1;
    # this tokenizer's pad id is 3, hence 8196)
    cfg = encoder.xlmr_config(vocab=fx["vocab_size"], max_pos=8192 + pad + 1, pad=pad,
                              bos=fx.get("bos_token_id", 0), eos=fx.get("eos_token_id", 2))
    model = encoder.Encoder(cfg, "cls", True)
    model.randomize(seed=2)
    model.eval()
    write_model_dir(d, cfg, model, "cls", 8192, src)
    say(f"gen: wrote {d} (XLMRobertaModel 2x1024, 16 heads, FFN 4096, positions {cfg['max_position_embeddings']},"
        f" vocab {cfg['vocab_size']}, CLS + normalize, max_seq_length 8192)")


# ------------------------------------------------------------------ inputs

def tokenize(semdex, model_dir, texts):
    """ids of each text from `semdex tokenize` (special tokens added, no truncation)."""
    data = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    r = subprocess.run([semdex, "tokenize", "-m", model_dir], input=data.encode(), capture_output=True)
    if r.returncode != 0:
        raise SystemExit(f"gen: {semdex} tokenize failed: {r.stderr.decode()[-500:]}")
    out = []
    for line in r.stdout.decode().splitlines():
        obj = json.loads(line)
        if "ids" not in obj:
            raise SystemExit(f"gen: semdex tokenize: {obj}")
        out.append(obj["ids"])
    if len(out) != len(texts):
        raise SystemExit(f"gen: semdex tokenize gave {len(out)} lines for {len(texts)} texts")
    return out


def corpus_words(path):
    with open(path) as f:
        squad = json.load(f)
    words = []
    for art in squad["data"]:
        for par in art["paragraphs"]:
            words.extend(par["context"].split())
            for qa in par["qas"]:
                words.extend(qa["question"].split())
    return words


def cmd_inputs(semdex, model_dir, corpus, out, n=1024, lo=16, hi=128, seed=3):
    words = corpus_words(corpus)
    rng = random.Random(seed)
    recs = []
    while len(recs) < n:
        cands = []
        for _ in range(2 * n):
            k = rng.randint(lo // 2, hi)  # words; about 1.2 tokens each in English
            s = rng.randrange(len(words) - k)
            cands.append(" ".join(words[s:s + k]))
        for t, ids in zip(cands, tokenize(semdex, model_dir, cands)):
            if lo <= len(ids) <= hi and len(recs) < n:
                recs.append((t, ids))
    encoder.write_inputs(out, recs)
    lens = [len(i) for _, i in recs]
    say(f"gen: wrote {out}: {n} texts, {sum(lens)} tokens, {min(lens)}..{max(lens)} per text "
        f"(mean {sum(lens) / n:.1f})")


def cmd_exact(semdex, model_dir, corpus, out, n):
    """A text of exactly n tokens: a prefix of the corpus cut at a word boundary,
    then one-token filler words.  The BERT and Metaspace pre-tokenizers split
    at whitespace, so words are tokenized independently and counts add up."""
    words = corpus_words(corpus)
    special = len(tokenize(semdex, model_dir, [""])[0])
    filler = None
    for w in ("the", "a", "of", "and", ".", ","):
        if len(tokenize(semdex, model_dir, [w])[0]) == special + 1:
            filler = w
            break
    if filler is None:
        raise SystemExit("gen: no one-token filler word found")
    # per-word token counts, in chunks
    counts = []
    need = n - special
    i = 0
    while sum(counts) < need:
        chunk = [words[(i + j) % len(words)] for j in range(2000)]
        ids = tokenize(semdex, model_dir, chunk)
        counts.extend(len(x) - special for x in ids)
        i += len(chunk)
    used, k = 0, 0
    while k < len(counts) and used + counts[k] <= need:
        used += counts[k]
        k += 1
    seq = [words[j % len(words)] for j in range(k)] + [filler] * (need - used)
    text = " ".join(seq)
    ids = tokenize(semdex, model_dir, [text])[0]
    if len(ids) != n:
        raise SystemExit(f"gen: built a text of {len(ids)} tokens, wanted {n}")
    encoder.write_inputs(out, [(text, ids)])
    say(f"gen: wrote {out}: one text of {n} tokens ({len(text.encode())} bytes)")


def cmd_compare(name, a, b, dim):
    import numpy as np
    x = np.fromfile(a, dtype="<f4")
    y = np.fromfile(b, dtype="<f4")
    if x.size != y.size or x.size % dim:
        print(f"CHECK name={name} n=0 max_abs_diff=nan status=SIZE_MISMATCH")
        return 1
    x = x.reshape(-1, dim)
    y = y.reshape(-1, dim)
    d = float(np.max(np.abs(x - y)))
    cos = float(np.min(np.sum(x * y, 1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))))
    ok = d <= 1e-4
    print(f"CHECK name={name} n={x.shape[0]} max_abs_diff={d:.3g} min_cosine={cos:.9f} "
          f"status={'ok' if ok else 'MISMATCH'}")
    return 0 if ok else 1


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmd, args = argv[1], argv[2:]
    opts = {}
    pos = []
    it = iter(args)
    for a in it:
        if a.startswith("--"):
            opts[a[2:]] = int(next(it))
        else:
            pos.append(a)
    if cmd == "model-minilm":
        cmd_model_minilm(*pos)
    elif cmd == "model-bgem3":
        cmd_model_bgem3(*pos)
    elif cmd == "inputs":
        cmd_inputs(*pos, n=opts.get("n", 1024), lo=opts.get("min", 16), hi=opts.get("max", 128),
                   seed=opts.get("seed", 3))
    elif cmd == "exact":
        cmd_exact(pos[0], pos[1], pos[2], pos[3], int(pos[4]))
    elif cmd == "compare":
        return cmd_compare(pos[0], pos[1], pos[2], int(pos[3]))
    else:
        raise SystemExit(f"gen.py: unknown command {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
