"""No measured number is typed: the notebooks' markdown cells and code comments, and the prose
of the README (outside its generated tables), CONTRIBUTING.md and benchmarks/README.md, carry
no result of a run. Measured values live in the notebooks' outputs, in ``records/`` (rendered
into the README by ``make readme``) and in ``benchmarks/results/``; prose says what the output
shows. Code is not scanned: thresholds in ``assert``s and settings are numbers by choice.

What counts as a typed measurement: a decimal (``0.747``, ``+0.055``, ``1.23x``), a percentage
(``27.5 %``), a signed number (``+3``) or a duration (``43 s``, ``74–88 s``). Not scanned:
inline code that is not a bare number (``std=0.1``), section and exercise numbers (``5.1``,
``Exercise 03.2``), and bounds (``≤ 3 min``, ``Python ≥ 3.10``, ``at most 3 minutes``).
``ALLOWED`` lists, per notebook, the few remaining numbers that are settings or arithmetic,
each with its reason.
"""

import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from fcnlib import summary

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DOCUMENTS = ["README.md", "CONTRIBUTING.md", "benchmarks/README.md"]

MEASURED = re.compile(
    r"(?<![\w.])[+±−]?\d+\.\d+(?!(?!x\b)\w|\.\d)"  # 0.747, +0.055, 1.23x
    r"|(?<![\w.])\d+(?:\.\d+)?\s?%"  # 27.5 %, 80%
    r"|(?<![\w.+])\+\d+(?![\w.])"  # +3
    r"|(?<![\w.-])\d+(?:\s?[–-]\s?\d+)?\s(?:s|ms|sec|seconds?|min|minutes?|hours?)\b"  # 74–88 s
)
BOUND = re.compile(r"(?:[≤≥<>]|\bat most|\bat least|\baim for)\s*$")
SECTION = re.compile(r"^#+\s*\d+(?:\.\d+)+|\bsections? \d+\.\d+|\bExercises? \d\d\.\d+", re.M)
INLINE_CODE = re.compile(r"`([^`\n]*)`")
FENCED_CODE = re.compile(r"^```.*?^```", re.M | re.S)
GENERATED = re.compile(
    "(?:"
    + "|".join(re.escape(m) for m in (summary.RESULTS_MARKER, summary.TIMES_MARKER))
    + ")"
    + ".*?"
    + re.escape(summary.END_MARKER),
    re.S,
)

SCALES = "an image scale of multi-scale training or testing, or of the models' input (settings)"
ALLOWED = {
    "00": {
        "0.15": "the margin of the self-check that the comment describes",
        "80%": "exercise 2's target (a flattering pixel accuracy to build)",
    },
    "03": {
        "10%": "the object sizes by which the figure's images are chosen (a setting)",
        "35%": "the object sizes by which the figure's images are chosen (a setting)",
    },
    "05": {
        "0.9": "DeepLab's SGD momentum and poly power (settings)",
        "0.5": SCALES,
        "0.75": SCALES,
        "1.25": SCALES,
        "1.5": SCALES,
        "1.75": SCALES,
        "0.56": "0.75 squared: the pixels of a 0.75-scale batch (arithmetic)",
        "0.25": "0.5 squared: the pixels of a 0.5-scale batch (arithmetic)",
        "1.81": "1 + 0.56 + 0.25, the pixels of multi-scale training (arithmetic)",
    },
    "06": {"0.9": "the confidence threshold whose share the notebook prints (a setting)"},
    "07": {"3%": "the share of pixels the example flips (a setting)"},
    "08": {
        "0.5": "the smallest random scale of the full training transform (a setting)",
        "2.5": "an example of a value between two labels, which NEAREST never makes",
    },
}


def _prose(text: str) -> str:
    """``text`` without section numbers and inline code (a bare number in backticks is kept)."""
    text = SECTION.sub("", text)
    return INLINE_CODE.sub(lambda m: m[0] if MEASURED.fullmatch(m[1].strip()) else "", text)


def typed_numbers(text: str, allowed=()) -> list[tuple[str, str]]:
    """``(number, line)`` for every typed measured number in ``text``."""
    found = []
    for line in _prose(text).splitlines():
        for match in MEASURED.finditer(line):
            number = re.sub(r"\s", "", match[0])
            if number not in allowed and not BOUND.search(line[: match.start()]):
                found.append((number, line.strip()))
    return found


def notebook_prose(path: Path):
    """``(cell index, kind, text)`` for every markdown cell and code comment."""
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            yield index, "markdown", source
        elif cell["cell_type"] == "code":
            lines = [
                line for line in source.splitlines() if not line.lstrip().startswith(("!", "%"))
            ]
            tokens = tokenize.generate_tokens(io.StringIO("\n".join(lines)).readline)
            for token in tokens:
                if token.type == tokenize.COMMENT:
                    yield index, "comment", token.string


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_prose_types_no_measured_number(path):
    allowed = ALLOWED.get(path.stem[:2], {})
    hits = [
        f"cell {index} ({kind}): {number!r} in {line!r}"
        for index, kind, text in notebook_prose(path)
        for number, line in typed_numbers(text, allowed)
    ]
    assert not hits, (
        f"{path.name} types measured numbers; say what the output shows instead "
        "(or, for a setting, add it to ALLOWED with its reason):\n" + "\n".join(hits)
    )


@pytest.mark.parametrize("name", DOCUMENTS)
def test_document_types_no_measured_number(name):
    text = GENERATED.sub("", FENCED_CODE.sub("", (REPO / name).read_text()))
    hits = [f"{number!r} in {line!r}" for number, line in typed_numbers(text)]
    assert not hits, f"{name} types measured numbers:\n" + "\n".join(hits)


@pytest.mark.parametrize(
    "text",
    [
        "DeepLab-v3+ reaches 0.747 mIoU",
        "+0.055 above FCN-8s",
        "27.5 % of the errors",
        "it took 74–88 s",
        "the notebook ran in 43 s",
        "channels_last is 1.23x faster",
        "`0.759`",
    ],
)
def test_the_scan_finds_typed_measurements(text):
    assert typed_numbers(text)


@pytest.mark.parametrize(
    "text",
    [
        "### 5.1 Boundaries versus interiors",
        "rerun section 5.2",
        "`torch.nn.init.normal_(w, std=0.1)`",
        "FCN-32s, 16s and 8s, upsampled 32x",
        "`layer4.1.conv2.weight`",
        "at most 3 minutes on a 2-core CPU (aim for 90 s)",
        "Python ≥ 3.10",
        "a `3 x 3` convolution with stride 2",
    ],
)
def test_the_scan_passes_what_is_not_a_measurement(text):
    assert not typed_numbers(text)
