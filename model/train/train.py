"""nanoGPT-style trainer for gptql's GPT (GPT-2 family, pre-LayerNorm, tied LM head).

Python is used here, and only here, because PyTorch is the field's training tool. The server
never imports this: it runs the ONNX folder that `npm run model -- build --from` makes out of
the safetensors written below (Hugging Face GPT-2 layout, Conv1D orientation).

    # CPU, Debian's PyTorch:  apt-get install python3-torch   (then /usr/bin/python3)
    python3 model/train/train.py --data corpus.txt --tokenizer tokenizer.json \
        --layers 7 --heads 5 --width 320 --context 256 --steps 4000 --out out/

Without --tokenizer the raw UTF-8 bytes are the tokens (vocabulary 256): enough for a smoke test
on a machine without the `tokenizers` package.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width, eps=1e-5)
        self.c_attn = nn.Linear(width, 3 * width)
        self.attn_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width, eps=1e-5)
        self.c_fc = nn.Linear(width, 4 * width)
        self.mlp_proj = nn.Linear(4 * width, width)
        self.dropout = dropout
        self.drop = nn.Dropout(dropout)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
            )
        else:  # Debian's PyTorch 1.13 predates the fused kernel.
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            att = self.drop(att.masked_fill(~mask, float("-inf")).softmax(-1))
            y = att @ v
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.drop(self.attn_proj(y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.ln_1(x))
        # GPT-2's GELU is the tanh approximation; the ONNX graphs use the same one.
        h = F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")
        return x + self.drop(self.mlp_proj(h))


class GPT(nn.Module):
    def __init__(self, vocab: int, context: int, layers: int, heads: int, width: int, dropout: float) -> None:
        super().__init__()
        self.context = context
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList(Block(width, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width, eps=1e-5)
        self.apply(self._init)
        # GPT-2's scaled init of the projections that write into the residual stream.
        for name, p in self.named_parameters():
            if name.endswith("attn_proj.weight") or name.endswith("mlp_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied LM head

    def gpt2_state(self) -> dict[str, torch.Tensor]:
        """Tensors under Hugging Face GPT-2 names; Conv1D stores weights as [in, out]."""
        out = {
            "transformer.wte.weight": self.wte.weight,
            "transformer.wpe.weight": self.wpe.weight,
            "transformer.ln_f.weight": self.ln_f.weight,
            "transformer.ln_f.bias": self.ln_f.bias,
        }
        for i, b in enumerate(self.h):
            p = f"transformer.h.{i}."
            out[p + "ln_1.weight"], out[p + "ln_1.bias"] = b.ln_1.weight, b.ln_1.bias
            out[p + "attn.c_attn.weight"], out[p + "attn.c_attn.bias"] = b.c_attn.weight.T, b.c_attn.bias
            out[p + "attn.c_proj.weight"], out[p + "attn.c_proj.bias"] = b.attn_proj.weight.T, b.attn_proj.bias
            out[p + "ln_2.weight"], out[p + "ln_2.bias"] = b.ln_2.weight, b.ln_2.bias
            out[p + "mlp.c_fc.weight"], out[p + "mlp.c_fc.bias"] = b.c_fc.weight.T, b.c_fc.bias
            out[p + "mlp.c_proj.weight"], out[p + "mlp.c_proj.bias"] = b.mlp_proj.weight.T, b.mlp_proj.bias
        return {k: v.detach().float().cpu().contiguous() for k, v in out.items()}


def save_safetensors(tensors: dict[str, torch.Tensor], path: str, dtype: torch.dtype) -> None:
    try:
        from safetensors.torch import save_file

        save_file({k: v.to(dtype).contiguous() for k, v in tensors.items()}, path, metadata={"format": "pt"})
        return
    except ImportError:
        pass
    # Fallback for machines without the safetensors package (Debian has none): the format is an
    # 8-byte little-endian header length, a JSON header of dtype/shape/offsets, then raw bytes.
    names = {torch.float16: "F16", torch.float32: "F32"}
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for k, v in tensors.items():
        data = v.to(dtype).contiguous().numpy().tobytes()
        header[k] = {"dtype": names[dtype], "shape": list(v.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for blob in blobs:
            f.write(blob)


def load_ids(args: argparse.Namespace) -> tuple[list[list[int]], int, object]:
    with open(args.data, encoding="utf-8") as f:
        paragraphs = [p for p in f.read().split("\n\n") if p.strip()]
    if args.tokenizer:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(args.tokenizer)
        eos = tok.token_to_id("<|endoftext|>")
        encoded = [e.ids + [eos] for e in tok.encode_batch([p.strip() for p in paragraphs])]
        return encoded, tok.get_vocab_size(), tok
    return [list(p.strip().encode()) + [10] for p in paragraphs], 256, None


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--tokenizer")
    p.add_argument("--layers", type=int, default=7)
    p.add_argument("--heads", type=int, default=5)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--max-seconds", type=float, default=float("inf"))
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--eval-batches", type=int, default=20)
    p.add_argument("--val-every", type=int, default=20, help="every Nth paragraph is held out")
    p.add_argument("--dtype", choices=["fp16", "fp32"], default="fp16", help="dtype of the saved weights")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "train.log"), "w")

    def say(msg: str) -> None:
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    paragraphs, vocab, tok = load_ids(args)
    val_ids = [t for i, para in enumerate(paragraphs) if i % args.val_every == 0 for t in para]
    train_ids = [t for i, para in enumerate(paragraphs) if i % args.val_every != 0 for t in para]
    splits = {"train": torch.tensor(train_ids, dtype=torch.long), "val": torch.tensor(val_ids, dtype=torch.long)}
    say(f"tokens: train {len(train_ids)}, val {len(val_ids)}, vocab {vocab}, device {args.device}")

    dev = torch.device(args.device)
    model = GPT(vocab, args.context, args.layers, args.heads, args.width, args.dropout).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"parameters: {n_params}")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
    )
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else torch.autocast("cpu", enabled=False)
    gen = torch.Generator().manual_seed(args.seed)

    def batch(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        data = splits[split]
        ix = torch.randint(len(data) - args.context - 1, (args.batch,), generator=gen)
        x = torch.stack([data[i : i + args.context] for i in ix])
        y = torch.stack([data[i + 1 : i + 1 + args.context] for i in ix])
        return x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        model.eval()
        out = {}
        for split in ("train", "val"):
            losses = []
            for _ in range(args.eval_batches):
                x, y = batch(split)
                with amp:
                    logits = model(x)
                losses.append(F.cross_entropy(logits.float().view(-1, vocab), y.view(-1)).item())
            out[split] = sum(losses) / len(losses)
        model.train()
        return out

    warmup = max(1, args.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    best = {"val": float("inf"), "train": float("inf"), "step": -1}
    best_state = None
    start = time.time()
    step = 0
    for step in range(args.steps + 1):
        if step % args.eval_every == 0 or step == args.steps:
            losses = evaluate()
            elapsed = time.time() - start
            say(f"step {step}: train {losses['train']:.4f}, val {losses['val']:.4f}, {elapsed:.0f}s")
            if losses["val"] < best["val"]:
                best = {"val": losses["val"], "train": losses["train"], "step": step}
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if elapsed > args.max_seconds:
                say(f"time limit reached at step {step}")
                break
        if step == args.steps:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        x, y = batch("train")
        with amp:
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    seconds = time.time() - start
    say(f"best val {best['val']:.4f} (train {best['train']:.4f}) at step {best['step']}; {seconds:.0f}s in all")

    model.load_state_dict(best_state)
    model.eval().cpu()
    saved_dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    # The shipped checkpoint is the saved one: round the weights through its dtype so that the
    # fixture below is the logits of exactly what the ONNX builder will read.
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(prm.to(saved_dtype).float())
    save_safetensors(model.gpt2_state(), os.path.join(args.out, "model.safetensors"), saved_dtype)

    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    summary = {
        "parameters": n_params,
        "layers": args.layers,
        "heads": args.heads,
        "width": args.width,
        "context": args.context,
        "vocab": vocab,
        "steps": best["step"],
        "steps_run": step,
        "batch": args.batch,
        "train_loss": round(best["train"], 4),
        "val_loss": round(best["val"], 4),
        "seconds": round(seconds, 1),
        "device": name,
        "torch": torch.__version__,
        "train_tokens": len(train_ids),
        "val_tokens": len(val_ids),
        "dtype": args.dtype,
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)

    # Parity fixture: fp32 CPU logits of the saved weights for a held-out window.
    ids = splits["val"][:32].tolist()
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0]
    stride = max(1, vocab // 256)
    fixture = {
        "input_ids": ids,
        "column_stride": stride,
        "logits_strided": [[round(v, 6) for v in row[::stride].tolist()] for row in logits],
        "last_logits": [round(v, 6) for v in logits[-1].tolist()],
    }
    with open(os.path.join(args.out, "parity.json"), "w") as f:
        json.dump(fixture, f)

    if tok is not None:
        prompt = tok.encode("In the beginning").ids
        x = torch.tensor([prompt])
        with torch.no_grad():
            for _ in range(60):
                nxt = torch.multinomial((model(x[:, -args.context :])[0, -1] / 0.8).softmax(-1), 1)
                x = torch.cat([x, nxt.view(1, 1)], dim=1)
        say("sample: " + tok.decode(x[0].tolist()))
    say(json.dumps(summary))


if __name__ == "__main__":
    main()
