"""Exports a sentence-transformers model directory (BERT-like encoder) to ONNX.

Run in its own process (`python -m rag_service.retrieval.onnx_export MODEL_DIR OUT.onnx`) by
`onnx_model_path` the first time a model is used, or ahead of time by `make install`: this module
imports torch and transformers, and the serving process must not (they are most of its memory).
The graph maps token ids to the last hidden state; pooling and normalisation stay in numpy.
"""

from __future__ import annotations

import sys
from pathlib import Path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export(model_dir: Path, out: Path) -> None:
    """Write `out` (fp32). Eager attention and a padded example batch, so the traced graph keeps
    the attention mask (an all-ones example lets the SDPA path drop it as a constant)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            hidden: torch.Tensor = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            return hidden

    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState(model),
            (ids, mask, torch.zeros_like(ids)),
            str(out),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def main() -> None:
    """With MODEL_DIR and OUT: export. Without arguments (`make install`): fill the model cache
    for the configured local model, so the first start has nothing to export."""
    import warnings

    warnings.filterwarnings("ignore")
    if len(sys.argv) == 3:
        export(Path(sys.argv[1]), Path(sys.argv[2]))
        return
    from rag_service.core.config import PACKAGED_MODEL, Settings
    from rag_service.retrieval.embedder import onnx_model_path, packaged_model_dir

    settings = Settings()
    if settings.embedding_model == PACKAGED_MODEL:
        print(onnx_model_path(packaged_model_dir(), settings.model_cache_dir))


if __name__ == "__main__":
    main()
