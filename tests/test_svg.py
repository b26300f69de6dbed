"""The report's SVG building blocks (harness/report/svg.py): round ticks, their labels, escaping, markers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.report import svg


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (-0.27, 0.36, [-0.2, -0.1, 0.0, 0.1, 0.2, 0.3]),
    (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (-0.013, 0.004, [-0.0125, -0.01, -0.0075, -0.005, -0.0025, 0.0, 0.0025]),
    (3.0, 3.0, [3.0]),
])
def test_round_ticks_are_round_and_inside(lo: float, hi: float, expected: list[float]) -> None:
    assert svg.round_ticks(lo, hi) == pytest.approx(expected, abs=1e-12)


def test_tick_labels_have_the_decimals_of_the_step() -> None:
    ticks = svg.round_ticks(-0.013, 0.004)
    assert [svg.tick_label(t, ticks) for t in ticks] == ["-0.0125", "-0.0100", "-0.0075", "-0.0050", "-0.0025",
                                                         "0", "0.0025"]
    assert [svg.tick_label(t, [0.0, 0.2]) for t in (0.0, 0.4)] == ["0", "0.4"]


def test_text_from_files_is_escaped_and_the_document_parses() -> None:
    body = svg.text(1, 2, "a<b & $x^$", 10, text_anchor="end") + svg.lines_of_text(0, 0, ["<x>", "y"], 9)
    body += "".join(svg.marker(m, 5, 5, 3, "#000", "white", tip="Δ <0>") for m in "osDx^v")
    doc = svg.document(100, 50, "t<", body, "probe")
    root = ET.fromstring(doc)
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["a<b & $x^$", "<x>y"]
    assert [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")] == ["t<", *["Δ <0>"] * 6]
    with pytest.raises(ValueError, match="unknown marker shape"):
        svg.marker("?", 0, 0, 1, "#000", "#000")


def test_scale_maps_ends_and_padded_includes_zero() -> None:
    y = svg.Scale(-1.0, 1.0, 200.0, 0.0)
    assert (y(-1.0), y(0.0), y(1.0)) == (200.0, 100.0, 0.0)
    lo, hi = svg.padded([0.2, 0.4], include=(0.0,))
    assert lo == pytest.approx(-0.02) and hi == pytest.approx(0.42)


@pytest.mark.parametrize("shape", [(1, 5, 4), (37, 53, 4), (300, 120, 4)])
def test_the_heatmaps_png_writer_round_trips_every_pixel(shape: tuple[int, int, int]) -> None:
    import base64
    import io

    import numpy as np
    from PIL import Image

    from harness.report.heatmaps import _png

    rgba = np.repeat((np.random.default_rng(1).random(shape) * 255).astype(np.uint8), 3, axis=0)  # repeated rows
    uri = _png(rgba)
    assert uri.startswith("data:image/png;base64,")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))), rgba)
