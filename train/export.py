"""`python -m train.export`: turn trained reader weights into the ONNX files the question path loads.

The trainer calls `export` at the end of a run. A run on another machine (a lent GPU, say) can instead
save its weights with `python -m train.reader --state-only` and bring back the state file alone; this
command then rebuilds the network from the base model, loads that state and writes the same ONNX files
and hashes here.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import click

__all__ = ["export", "export_onnx", "main"]


def export_onnx(model: Any, target: Path) -> None:
    """Write `model` (question/context ids in; answerability, start and end logits out) as ONNX to `target`."""
    import torch

    model.eval()
    sample = tuple(torch.ones((2, 16), dtype=torch.int64) for _ in range(3))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    outputs = ["answerable", "start_logits", "end_logits"]
    dynamic = {name: {0: "batch", 1: "tokens"} for name in names + outputs[1:]}
    dynamic["answerable"] = {0: "batch"}
    # Tracing BERT's mask arithmetic warns that Python booleans are fixed in the trace; the shapes that
    # vary (batch, tokens) are declared dynamic below, so the warning says nothing about this graph. The
    # exporter also warns that advanced indexing breaks on negative indices; the heads index with 0 and 1.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index", category=UserWarning)
        torch.onnx.export(
            model, sample, str(target), input_names=names, output_names=outputs, dynamic_axes=dynamic,
            opset_version=17, dynamo=False, do_constant_folding=True,
        )


def export(model: Any, out: Path) -> dict[str, Any]:
    """Write reader-fp32.onnx and its int8 quantization into `out`; returns their sha256 and sizes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out / "reader-fp32.onnx", out / "reader-int8.onnx"
    export_onnx(model.float().cpu(), fp32)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return {
        "files": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (fp32, int8)},
        "sizes_mb": {path.name: round(path.stat().st_size / 2**20, 1) for path in (fp32, int8)},
    }


@click.command()
@click.argument("state", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the ONNX files [default: the state file's folder].")
@click.option("--base-model", default=None, help="MiniLM folder the network was built from [default: the packaged one].")
def main(state: Path, out: Path | None, base_model: str | None) -> None:
    """Rebuild the reader from a saved state (`train.reader --state-only`) and export it to ONNX.

    \b
    Example:
        python -m train.export train/out/reader-state.pt
    """
    import torch

    from train.network import network

    model = network(base_model)
    model.load_state_dict({k: v.float() for k, v in torch.load(state, map_location="cpu").items()})
    target = out or state.parent
    figures = export(model, target)
    record_file = target / "reader.json"
    record = json.loads(record_file.read_text(encoding="utf-8")) if record_file.is_file() else {}
    record.update(figures)
    record_file.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
