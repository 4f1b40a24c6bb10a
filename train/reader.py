"""`python -m train.reader`: fine-tune the packaged MiniLM into a reader, then export it to ONNX.

The reader reads "[CLS] question [SEP] sentence with its neighbours [SEP]" and gives an answerability
logit (from [CLS]) and start/end logits over the tokens (the span that answers). Negatives point start
and end at [CLS], as SQuAD 2.0 readers do. Training runs with torch on the CPU, or on a GPU where torch sees
one (`--device`); answering loads the ONNX file with onnxruntime alone. Seed, settings and figures go into a
JSON file beside the weights. `--state-only` saves the weights for `python -m train.export` instead of
exporting them here (for a run on a machine whose files must travel back small).
"""

from __future__ import annotations

import datetime
import gzip
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from rag.reader.trained import MAX_TOKENS, context_of
from train.network import model_dir, network

__all__ = ["TrainSettings", "context_of", "encode", "main", "network", "thinned", "train"]

ROOM = Path(__file__).resolve().parent


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides the trained weights."""

    data: str
    max_pairs: int
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    held_out_share: float
    threads: int
    device: str = "cpu"
    base_model: str | None = None
    question_dropout: float = 0.0


def thinned(question: str, dropout: float, rng: random.Random) -> str:
    """`question` with each word after the first (the question word) dropped with probability `dropout`.

    Generated questions copy their sentence's words; people's questions share fewer of them. Thinning the
    training questions (positives and negatives alike) keeps the reader from learning "answerable means
    every question word is in the sentence"."""
    words = question.split()
    kept = words[:1] + [word for word in words[1:] if rng.random() >= dropout]
    return " ".join(kept) if len(kept) > 1 else question


def _tokenizer(base_model: str | None = None) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir(base_model)) / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")
    return tokenizer


def encode(tokenizer: Any, question: str, before: str, sentence: str, after: str) -> tuple[Any, int]:
    """The tokenizer's encoding of one (question, context) pair, and the sentence's offset in the context."""
    context, offset = context_of(before, sentence, after)
    return tokenizer.encode(question, context), offset


def _span_tokens(encoding: Any, start: int, end: int) -> tuple[int, int]:
    """Token positions of a character span of the context (segment 1); (0, 0) when it was cut off."""
    first = last = 0
    for index, (segment, (a, b)) in enumerate(zip(encoding.type_ids, encoding.offsets, strict=True)):
        if segment != 1 or a == b:
            continue
        if first == 0 and b > start:
            first = index
        if a < end:
            last = index
    return (first, last) if first and last >= first else (0, 0)


def _padded(encodings: list[Any], field: str) -> Any:
    import torch

    width = max(len(encoding.ids) for encoding in encodings)
    rows = [getattr(encoding, field) + [0] * (width - len(encoding.ids)) for encoding in encodings]
    return torch.tensor(rows, dtype=torch.int64)


def _batches(rows: list[dict[str, Any]], tokenizer: Any, size: int, rng: random.Random | None,
             dropout: float = 0.0) -> Any:
    import torch

    order = list(range(len(rows)))
    if rng is not None:
        rng.shuffle(order)
    for at in range(0, len(order), size):
        chosen = [rows[k] for k in order[at:at + size]]
        encodings, starts, ends = [], [], []
        for row in chosen:
            question = thinned(row["question"], dropout, rng) if rng is not None and dropout > 0 else row["question"]
            encoding, offset = encode(tokenizer, question, row["before"], row["sentence"], row["after"])
            span = (0, 0) if row["label"] == 0 else _span_tokens(encoding, row["start"] + offset, row["end"] + offset)
            encodings.append(encoding)
            starts.append(span[0])
            ends.append(span[1])
        yield (
            _padded(encodings, "ids"), _padded(encodings, "attention_mask"), _padded(encodings, "type_ids"),
            torch.tensor([float(row["label"]) for row in chosen]),
            torch.tensor(starts), torch.tensor(ends),
        )


def _split(rows: list[dict[str, Any]], share: float, rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Held-out rows are whole source documents, so no sentence is seen in both parts."""
    sources = sorted({row["source"] for row in rows})
    rng.shuffle(sources)
    held = set(sources[: max(1, int(len(sources) * share))])
    return [row for row in rows if row["source"] not in held], [row for row in rows if row["source"] in held]


def _read_rows(path: str) -> list[dict[str, Any]]:
    """The generated pairs of a .jsonl file, gzip-compressed or not."""
    raw = Path(path).read_bytes()
    text = gzip.decompress(raw).decode("utf-8") if path.endswith(".gz") else raw.decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def evaluate(model: Any, rows: list[dict[str, Any]], tokenizer: Any, device: str = "cpu") -> dict[str, float]:
    """Answerability AUROC and accuracy at 0, and exact span match on the positives."""
    import torch
    from sklearn.metrics import roc_auc_score

    model.eval()
    scores: list[float] = []
    exact: list[bool] = []
    with torch.no_grad():
        for ids, mask, types, labels, starts, ends in _batches(rows, tokenizer, 64, None):
            logit, start_logits, end_logits = (t.cpu() for t in model(ids.to(device), mask.to(device), types.to(device)))
            scores.extend(logit.tolist())
            for k in range(len(labels)):
                if labels[k] == 1 and starts[k] > 0:
                    exact.append(bool(start_logits[k].argmax() == starts[k] and end_logits[k].argmax() == ends[k]))
    labels_all = [row["label"] for row in rows]
    return {
        "auroc": float(roc_auc_score(labels_all, scores)) if len(set(labels_all)) == 2 else float("nan"),
        "accuracy": float(np.mean([(s > 0) == (y == 1) for s, y in zip(scores, labels_all, strict=True)])),
        "span_exact": float(np.mean(exact)) if exact else float("nan"),
        "rows": float(len(rows)),
    }


def train(settings: TrainSettings, out: Path, state_only: bool = False) -> dict[str, Any]:
    """Fine-tune, evaluate on held-out documents, export fp32 and int8 ONNX (or, with `state_only`, save the
    weights as fp16 for `python -m train.export`); returns the record written."""
    import torch

    from train.export import export

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    device = settings.device
    rng = random.Random(settings.seed)
    rows = _read_rows(settings.data)
    fit_rows, held_rows = _split(rows, settings.held_out_share, rng)
    rng.shuffle(fit_rows)
    fit_rows = fit_rows[: settings.max_pairs]
    held_rows = held_rows[: max(500, settings.max_pairs // 10)]
    tokenizer = _tokenizer(settings.base_model)
    model = network(settings.base_model).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    steps = settings.epochs * math.ceil(len(fit_rows) / settings.batch_size)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (steps - step) / steps)
    )
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    seen = 0
    for _ in range(settings.epochs):
        model.train()
        for batch in _batches(fit_rows, tokenizer, settings.batch_size, rng, settings.question_dropout):
            ids, mask, types, labels, starts, ends = (t.to(device) for t in batch)
            logit, start_logits, end_logits = model(ids, mask, types)
            loss = bce(logit, labels) + (ce(start_logits, starts) + ce(end_logits, ends)) / 2
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            seen += len(labels)
            if (seen // settings.batch_size) % 20 == 0:
                rate = seen / (time.perf_counter() - started)
                print(f"{seen}/{len(fit_rows) * settings.epochs} pairs, loss {loss.item():.3f}, {rate:.1f} pairs/s",
                      file=sys.stderr)
    seconds = time.perf_counter() - started
    figures = evaluate(model, held_rows, tokenizer, device)
    out.mkdir(parents=True, exist_ok=True)
    if state_only:
        torch.save({k: v.half().cpu() for k, v in model.state_dict().items()}, out / "reader-state.pt")
        files: dict[str, Any] = {"state": "reader-state.pt (fp16; python -m train.export builds the ONNX files)"}
    else:
        files = export(model, out)
    record = {
        "date": datetime.date.today().isoformat(),
        "settings": asdict(settings),
        "pairs_fitted": len(fit_rows),
        "train_seconds": round(seconds, 1),
        "pairs_per_second": round(len(fit_rows) * settings.epochs / seconds, 2),
        "held_out": figures,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
    } | files
    (out / "reader.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


@click.command()
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=str(ROOM / "data" / "pairs.jsonl"),
              show_default=True, help="Generated pairs (.jsonl or .jsonl.gz).")
@click.option("--out", type=click.Path(path_type=Path), default=ROOM / "out", show_default=True)
@click.option("--max-pairs", type=int, default=40_000, show_default=True)
@click.option("--epochs", type=int, default=1, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--learning-rate", type=float, default=5e-5, show_default=True)
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, or auto (cuda where torch sees a GPU).")
@click.option("--base-model", default=None, help="MiniLM folder to start from [default: the packaged one].")
@click.option("--state-only", is_flag=True, help="Save fp16 weights for `python -m train.export` instead of ONNX.")
@click.option("--question-dropout", type=float, default=0.0, show_default=True,
              help="Drop each training question's words (but the first) with this probability.")
def main(data: str, out: Path, max_pairs: int, epochs: int, batch_size: int, learning_rate: float, seed: int,
         threads: int, device: str, base_model: str | None, state_only: bool, question_dropout: float) -> None:
    """Fine-tune MiniLM on the generated pairs and export the reader to ONNX.

    \b
    Example:
        python -m train.reader --max-pairs 2000
    """
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = TrainSettings(data, max_pairs, epochs, batch_size, learning_rate, seed, 0.05, threads, device, base_model,
                             question_dropout)
    click.echo(json.dumps(train(settings, out, state_only), indent=2))


if __name__ == "__main__":
    main()
