"""The transcode benchmark (benchmarks/transcode.py) end to end at toy size: a 3-second 240p source, one rung,
through the real ladder step; what the README's figure is made of comes back filled in."""

from __future__ import annotations

from benchmarks import transcode


def test_transcode_bench_runs_a_tiny_ladder(capsys) -> None:
    result = transcode.main(["--seconds", "3", "--height", "240", "--ladder", "240", "--segment-seconds", "1"])
    assert result["source"]["height"] == 240 and abs(result["source"]["seconds"] - 3.0) < 0.2
    assert result["source"]["bytes"] > 0
    [rendition] = result["renditions"]
    assert (rendition["rendition"], rendition["width"], rendition["height"]) == ("240p", 426, 240)
    assert rendition["segments"] == 3 and rendition["bytes"] > 0
    assert rendition["peak_bps"] >= rendition["average_bps"] > 0
    assert result["cpu_seconds"] > 0 and result["wall_seconds"] > 0
    assert result["media_seconds_per_cpu_second"] > 0 and result["realtime_factor"] > 0
    assert "240p | 426x240" in capsys.readouterr().out
