"""The README's step by step and the quickstart name things so that they do not clash."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[list[str]]:
    text = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("emoret "):
            commands.append(shlex.split(line.replace('"$DIR/', "DIR/").replace('"', "")))
    return commands


def _names(path: str) -> str:
    return path.rstrip("/")


def _embedding_outputs_and_video_inputs(commands: list[list[str]]) -> tuple[set[str], set[str]]:
    outputs, videos = set(), set()
    for words in commands:
        if words[1] == "embed":
            outputs.add(_names(words[words.index("--out") + 1]))
        if words[1] == "extract-frames":
            videos.update(_names(w) for w in words[2:] if not w.startswith("-") and w not in {">"}
                          and words[words.index(w) - 1] not in {"--out", "-o", "--num-frames", "--size"})
    return outputs, videos


def test_readme_embeddings_do_not_share_a_name_with_the_videos():
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## The pipeline step by step"):]
    block = block[: block.index("```", block.index("```") + 3)]
    outputs, videos = _embedding_outputs_and_video_inputs(_commands(block))
    assert outputs == {"video-emb", "text-emb"}
    assert videos == {"videos"}
    index_sources = [w[2] for w in _commands(block) if w[1] == "index"]
    assert index_sources == ["video-emb"]


def test_quickstart_uses_the_same_embedding_names():
    outputs, videos = _embedding_outputs_and_video_inputs(_commands((ROOT / "examples" / "quickstart.sh").read_text()))
    assert outputs == {"DIR/video-emb", "DIR/text-emb"}
    assert not outputs & videos
