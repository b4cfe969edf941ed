"""Every source mutation of ``python -m tests.mutations`` still finds its target text exactly once.

Why: the mutation run is slow and not part of the default suite, so a refactor that rewrites a
guarded line would otherwise turn its mutation into a silent "target not found" until someone runs it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.mutations import METHOD_MUTATIONS, Mutation, apply_patches

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("mutation", METHOD_MUTATIONS, ids=lambda m: m.name)
def test_mutation_target_text_is_in_the_source_once(mutation: Mutation, tmp_path: Path) -> None:
    for patch in mutation.patches:  # a copy of each patched file, so the repository is never touched
        (tmp_path / patch.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / patch.path, tmp_path / patch.path)
    assert apply_patches(tmp_path, mutation.patches) == ""
