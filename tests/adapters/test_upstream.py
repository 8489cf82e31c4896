"""The upstream facts `up`, `doctor` and `verify` rely on stay tied to the pins they were read at."""

from __future__ import annotations

import pytest

from llmops_cli import versions
from llmops_cli.adapters import upstream
from llmops_cli.verify import live


@pytest.mark.parametrize("facts", [upstream.READ_AT, live.READ_AT], ids=["adapters.upstream", "verify.live"])
def test_facts_were_read_at_the_pinned_release(facts: dict[str, str]) -> None:
    for pin, read_at in facts.items():
        assert pin in versions.PINS, f"{pin!r} is not a pin in llmops_cli/versions.py"
        assert versions.PINS[pin] == read_at, (
            f"{pin} is pinned at {versions.PINS[pin]} but its facts were read at {read_at}: read them again at the "
            "new release, fix what changed, then update READ_AT"
        )


def test_the_smoke_image_is_on_the_cuda_line_of_the_pinned_vllm() -> None:
    cuda = upstream.vllm_cuda()  # a KeyError: the pinned vLLM's CUDA line was not read
    tag = versions.CUDA_SMOKE_IMAGE.rsplit(":", 1)[1]
    assert tag.startswith(f"{cuda}."), (versions.CUDA_SMOKE_IMAGE, cuda)


def test_each_cuda_major_has_a_driver_floor() -> None:
    assert upstream.min_driver(upstream.vllm_cuda()) == 580
    assert upstream.min_driver("12.9") == 525
    with pytest.raises(KeyError):
        upstream.min_driver("14.0")  # not read yet: the doctor check must not guess
