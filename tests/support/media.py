"""Real media made with ffmpeg at test time (nothing generated is committed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    _ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=640x360:rate=25", "-f", "lavfi",
            "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-shortest", str(folder / "clip.mp4"))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libmp3lame", str(folder / "tone.mp3"))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=330:duration=2", "-f", "lavfi",
            "-i", "testsrc=size=600x600:rate=1:duration=1", "-map", "0:a", "-map", "1:v", "-frames:v", "1",
            "-c:a", "aac", "-c:v", "mjpeg", "-disposition:v:0", "attached_pic", str(folder / "covered.m4a"))
    (folder / "notes.mp4").write_text("This is a text file pretending to be a video.\n" * 20)
    return folder
