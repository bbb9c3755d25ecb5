"""encoder.py: the encoder benchmark's PyTorch side and its shared helpers.

A BERT / XLM-RoBERTa encoder written with plain torch.nn modules that computes
what transformers' BertModel / XLMRobertaModel compute in eager mode (float32,
exact erf GELU, softmax attention with an additive mask of finfo.min), followed
by sentence-transformers' mean (or CLS) pooling and L2 normalization.  The
weights are read from and written to model.safetensors with the tensor names
of BertModel, so that semdex loads the very same file.

Also here: the safetensors writer/reader, the inputs file format shared with
bench_encoder.c and ort_bench.js, and a small numpy-free median.

Run by Debian's python3 (python3-torch, python3-numpy); see bench/README.md.
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


# ------------------------------------------------------------------ config

def bert_config(vocab=30522, hidden=384, layers=6, heads=12, ffn=1536, max_pos=512):
    """config.json of a BertModel (all-MiniLM-L6-v2's fields)."""
    return {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "dtype": "float32",
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": ffn,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": max_pos,
        "model_type": "bert",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": vocab,
    }


def xlmr_config(vocab, hidden=1024, layers=2, heads=16, ffn=4096, max_pos=8194, pad=1, bos=0, eos=2):
    """config.json of an XLMRobertaModel (bge-m3's fields, fewer layers)."""
    return {
        "architectures": ["XLMRobertaModel"],
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": bos,
        "classifier_dropout": None,
        "dtype": "float32",
        "eos_token_id": eos,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": ffn,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": max_pos,
        "model_type": "xlm-roberta",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": pad,
        "position_embedding_type": "absolute",
        "type_vocab_size": 1,
        "use_cache": True,
        "vocab_size": vocab,
    }


# ------------------------------------------------------------------- model

class Layer(nn.Module):
    def __init__(self, h, heads, ffn, eps):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_ln = nn.LayerNorm(h, eps=eps)
        self.inter = nn.Linear(h, ffn)
        self.out = nn.Linear(ffn, h)
        self.out_ln = nn.LayerNorm(h, eps=eps)

    def forward(self, x, add_mask):
        b, l, h = x.shape
        d = h // self.heads

        def split(t):  # [b, l, h] -> [b, heads, l, d]
            return t.view(b, l, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + add_mask
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, l, h)
        x = self.attn_ln(self.attn_out(ctx) + x)
        return self.out_ln(self.out(F.gelu(self.inter(x))) + x)


class Encoder(nn.Module):
    """BertModel / XLMRobertaModel + pooling + normalization.

    forward(input_ids [B, L] int64, attention_mask [B, L] int64) -> [B, H]
    """

    def __init__(self, cfg, pooling="mean", normalize=True):
        super().__init__()
        h = cfg["hidden_size"]
        eps = cfg["layer_norm_eps"]
        self.xlmr = cfg["model_type"] == "xlm-roberta"
        self.pad = cfg.get("pad_token_id", 0)
        self.pooling = pooling
        self.normalize = normalize
        self.word = nn.Embedding(cfg["vocab_size"], h)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], h)
        self.tok_type = nn.Embedding(cfg["type_vocab_size"], h)
        self.emb_ln = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(
            Layer(h, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
            for _ in range(cfg["num_hidden_layers"]))

    def forward(self, input_ids, attention_mask):
        if self.xlmr:
            # create_position_ids_from_input_ids: padding_idx + cumsum over non-pad
            m = input_ids.ne(self.pad).long()
            pos_ids = torch.cumsum(m, dim=1) * m + self.pad
        else:
            pos_ids = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.pos(pos_ids) + self.tok_type.weight[0]
        x = self.emb_ln(x)
        maskf = attention_mask.to(x.dtype)
        add_mask = (1.0 - maskf)[:, None, None, :] * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, add_mask)
        if self.pooling == "cls":
            e = x[:, 0]
        else:
            e = (x * maskf.unsqueeze(-1)).sum(1) / torch.clamp(maskf.sum(1, keepdim=True), min=1e-9)
        if self.normalize:
            e = F.normalize(e, p=2.0, dim=1)
        return e

    # HF tensor names <-> module parameters
    def hf_names(self, prefix_layers="encoder.layer"):
        names = {
            "embeddings.word_embeddings.weight": self.word.weight,
            "embeddings.position_embeddings.weight": self.pos.weight,
            "embeddings.token_type_embeddings.weight": self.tok_type.weight,
            "embeddings.LayerNorm.weight": self.emb_ln.weight,
            "embeddings.LayerNorm.bias": self.emb_ln.bias,
        }
        for i, ly in enumerate(self.layers):
            p = f"{prefix_layers}.{i}."
            for hf, mod in (("attention.self.query", ly.query), ("attention.self.key", ly.key),
                            ("attention.self.value", ly.value), ("attention.output.dense", ly.attn_out),
                            ("attention.output.LayerNorm", ly.attn_ln), ("intermediate.dense", ly.inter),
                            ("output.dense", ly.out), ("output.LayerNorm", ly.out_ln)):
                names[p + hf + ".weight"] = mod.weight
                names[p + hf + ".bias"] = mod.bias
        return names

    def randomize(self, seed):
        """Fixed-seed random weights: N(0, 0.02) matrices and embeddings (BERT's
        initializer), biases N(0, 0.02), layer-norm scales 1 + N(0, 0.1) and
        biases N(0, 0.05), so that a missing or misplaced term shows up."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.hf_names().items():
                if "LayerNorm.weight" in name:
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                elif "LayerNorm.bias" in name:
                    p.copy_(0.05 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.02 * torch.randn(p.shape, generator=g))


def load_model(model_dir):
    """The Encoder of a model directory written by gen.py (config.json,
    model.safetensors, 1_Pooling/config.json, modules.json)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    pooling = "mean"
    pcfg = os.path.join(model_dir, "1_Pooling", "config.json")
    if os.path.exists(pcfg):
        with open(pcfg) as f:
            pooling = json.load(f).get("pooling_mode", "mean")
    normalize = os.path.isdir(os.path.join(model_dir, "2_Normalize"))
    model = Encoder(cfg, pooling, normalize)
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    params = model.hf_names()
    missing = set(params) - set(tensors)
    if missing:
        raise SystemExit(f"{model_dir}: model.safetensors lacks {sorted(missing)[:3]}")
    with torch.no_grad():
        for name, p in params.items():
            t = tensors[name]
            if tuple(t.shape) != tuple(p.shape):
                raise SystemExit(f"{model_dir}: {name} has shape {tuple(t.shape)}, want {tuple(p.shape)}")
            p.copy_(t)
    model.eval()
    return model, cfg


# ------------------------------------------------------------- safetensors

def write_safetensors(path, tensors):
    """tensors: {name: float32 tensor}.  Format: u64 LE header length, JSON
    header {name: {dtype, shape, data_offsets}}, raw little-endian bytes."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().to(torch.float32)
        b = t.numpy().astype("<f4", copy=False).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # data starts 8-byte aligned, as the reference writer does
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name}: dtype {info['dtype']} (only F32 is read here)")
        a, b = info["data_offsets"]
        arr = np.frombuffer(data, dtype="<f4", count=(b - a) // 4, offset=base + a)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out


# ---------------------------------------------------------------- inputs

INPUTS_MAGIC = b"SDXENCI1"


def write_inputs(path, records):
    """records: [(text, ids)].  Format (all u32/i32 little-endian):
    magic "SDXENCI1", count, then per record text_len, n_ids, text bytes, ids."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(INPUTS_MAGIC)
        f.write(struct.pack("<I", len(records)))
        for text, ids in records:
            tb = text.encode("utf-8")
            f.write(struct.pack("<II", len(tb), len(ids)))
            f.write(tb)
            f.write(struct.pack(f"<{len(ids)}i", *ids))
    os.replace(tmp, path)


def read_inputs(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != INPUTS_MAGIC:
        raise SystemExit(f"{path}: not an inputs file (magic)")
    (count,) = struct.unpack_from("<I", data, 8)
    pos = 12
    out = []
    for _ in range(count):
        tl, ni = struct.unpack_from("<II", data, pos)
        pos += 8
        text = data[pos:pos + tl].decode("utf-8")
        pos += tl
        ids = list(struct.unpack_from(f"<{ni}i", data, pos))
        pos += 4 * ni
        out.append((text, ids))
    return out


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
