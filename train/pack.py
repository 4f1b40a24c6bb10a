"""`python -m train.pack`: pack what a training run on another machine needs, small enough to travel.

It writes the generated pairs gzip-compressed (train/pack/pairs.jsonl.gz, with their manifest) and the base
MiniLM with its weights in fp16 (train/base/: 45 MB instead of 91 MB). `train/gpu_run.sh` trains from these
on a GPU machine and sends back the fp16 state in 15 MiB parts; `python -m train.export` turns the joined
state into the ONNX reader here (docs/trained-reader.md).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import click

from train.network import model_dir

__all__ = ["main", "pack"]

ROOM = Path(__file__).resolve().parent
_MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def pack(data: Path, pack_dir: Path, base_dir: Path) -> dict[str, float]:
    """Write pairs.jsonl.gz (+ manifest.json) into `pack_dir` and the fp16 base model into `base_dir`;
    returns their sizes in MB."""
    from safetensors.torch import load_file, save_file

    pack_dir.mkdir(parents=True, exist_ok=True)
    with data.open("rb") as source, gzip.open(pack_dir / "pairs.jsonl.gz", "wb", compresslevel=9) as target:
        shutil.copyfileobj(source, target)
    if (data.parent / "manifest.json").is_file():
        shutil.copy(data.parent / "manifest.json", pack_dir / "manifest.json")
    base_dir.mkdir(parents=True, exist_ok=True)
    source_dir = Path(model_dir())
    for name in _MODEL_FILES:
        shutil.copy(source_dir / name, base_dir / name)
    weights = load_file(str(source_dir / "model.safetensors"))
    save_file({k: v.half().contiguous() for k, v in weights.items()}, str(base_dir / "model.safetensors"),
              metadata={"format": "pt"})

    def megabytes(folder: Path) -> float:
        return round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20, 1)

    return {"pack_mb": megabytes(pack_dir), "base_mb": megabytes(base_dir)}


@click.command()
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=ROOM / "data" / "pairs.jsonl", show_default=True)
@click.option("--pack-dir", type=click.Path(path_type=Path), default=ROOM / "pack", show_default=True)
@click.option("--base-dir", type=click.Path(path_type=Path), default=ROOM / "base", show_default=True)
def main(data: Path, pack_dir: Path, base_dir: Path) -> None:
    """Pack the pairs and an fp16 base model for a training run on another machine.

    \b
    Example:
        python -m train.pack && bash train/gpu_run.sh   # the second on the GPU machine
    """
    click.echo(json.dumps(pack(data, pack_dir, base_dir), indent=2))


if __name__ == "__main__":
    main()
