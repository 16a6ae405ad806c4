"""Each architecture's training recipe, declared once: the values its settings take where the
user gave none (`RunConfig.of` applies them; every front end builds its config that way). An
architecture without a recipe keeps RunConfig's defaults, the seed's. Imports nothing: a leaf.
"""

from __future__ import annotations

from typing import Any

# Page's ResNet-9 DAWNBench recipe (myrtle.ai, "How to train your ResNet", 2018): batch 512,
# 24 epochs, SGD with Nesterov momentum and a one-cycle rate peaking at 0.4, weight decay 5e-4,
# random crops and flips
RECIPES: dict[str, dict[str, Any]] = {
    "resnet": {
        "batch_size": 512, "epochs": 24, "lr": 0.4, "weight_decay": 5e-4,
        "optimizer": "sgd", "augment": "crop-flip",
    },
}  # fmt: skip
# what an "auto" setting means for an architecture whose recipe does not set it
AUTO = {"optimizer": "adam", "augment": "none"}


def recipe(arch: str) -> dict[str, Any]:
    """The settings `arch`'s recipe sets ({} for one without a recipe, or an unknown name)."""
    return dict(RECIPES.get(arch, {}))
