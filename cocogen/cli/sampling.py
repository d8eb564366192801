"""``--samples N --merge``: several samples per input, merged into one graph (``generate`` and ``run``)."""

from __future__ import annotations

import argparse

from cocogen.backends.base import GenerationParams
from cocogen.errors import ConfigError
from cocogen.merge import DEFAULT_SAMPLE_TEMPERATURE

__all__ = ["add_sample_options", "sampled_params"]


def add_sample_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--samples",
        type=int,
        default=None,
        metavar="N",
        help=f"N samples per input (temperature {DEFAULT_SAMPLE_TEMPERATURE:g} unless --temperature is given)",
    )
    p.add_argument("--merge", action="store_true", help="merge the samples into one graph (agreement per element)")


def sampled_params(args: argparse.Namespace, params: GenerationParams) -> tuple[GenerationParams, bool]:
    """``params`` with ``--samples`` applied, and whether to merge; a sentence for a combination that cannot work."""
    samples = getattr(args, "samples", None)
    merge = bool(getattr(args, "merge", False))
    if samples is not None:
        if samples < 1:
            raise ConfigError(f"--samples must be 1 or more, not {samples}.")
        params = params.replace(n=samples)
        if samples > 1 and getattr(args, "temperature", None) is None:
            params = params.replace(temperature=DEFAULT_SAMPLE_TEMPERATURE)
    if merge and params.n < 2:
        raise ConfigError("--merge needs two samples or more.", hint="Add --samples 5.")
    if merge and params.temperature <= 0:
        raise ConfigError(
            "--merge needs a temperature above 0: greedy samples are all the same answer.",
            hint=f"Leave --temperature out (then {DEFAULT_SAMPLE_TEMPERATURE:g}) or give one above 0.",
        )
    return params, merge
