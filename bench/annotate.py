"""Time `emoret annotate` against a plain per-caption loop (nltk VADER + NRCLex).

Captions: N distinct ones, each two MSR-VTT 1k-A test captions drawn at random and
joined with " and ", so no cache of repeated captions can help. The baseline is what a
user would write: one SentimentIntensityAnalyzer, then per caption polarity_scores,
Punkt + Treebank words and NRCLex().load_token_list. Both must give identical records.

    .venv/bin/python bench/annotate.py [--n 200000] [--data ../shared/data/msrvtt_ret_test1k.json]
"""

from __future__ import annotations

import argparse
import json
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "msrvtt_ret_test1k.json"


def make_captions(data: Path, n: int, seed: int) -> list[dict]:
    base = [r["caption"] for r in json.loads(data.read_text())]
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    while len(out) < n:
        caption = f"{rng.choice(base)} and {rng.choice(base)}"
        if caption not in seen:
            seen.add(caption)
            out.append({"video_id": f"v{len(out)}", "caption": caption})
    return out


def baseline(records: list[dict]) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from emoret.text.emotions import (
        ensure_vader_lexicon,  # only to make the lexicon loadable offline
    )

    ensure_vader_lexicon()
    from nltk.sentiment.vader import SentimentIntensityAnalyzer
    from nltk.tokenize import TreebankWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer
    from nrclex import NRCLex

    analyzer = SentimentIntensityAnalyzer()
    sentences, treebank = PunktSentenceTokenizer(), TreebankWordTokenizer()
    keys = ["joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation", "positive", "negative"]
    out = []
    for record in records:
        text = record["caption"]
        tokens = []
        for sentence in sentences.tokenize(text):
            for token in treebank.tokenize(sentence):
                stripped = token.strip().strip(string.punctuation)
                if stripped:
                    tokens.append(token if token.startswith("'") else stripped)
        lex = NRCLex()
        lex.load_token_list([t.lower() for t in tokens])
        scores = lex.raw_emotion_scores
        row = dict(record)
        row["sentiment"] = analyzer.polarity_scores(text)
        for key in keys:
            row[key] = scores.get(key, 0)
        row["neutral"] = int(not row["positive"] and not row["negative"])
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"bench/annotate.py: {args.data} is absent; pass --data with a caption file (MSR-VTT 1k-A test)")

    records = make_captions(args.data, args.n, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "captions.jsonl"
        source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))

        start = time.perf_counter()
        expected = baseline(records)
        base_s = time.perf_counter() - start

        def run_emoret(*extra: str) -> tuple[float, list[dict]]:
            out = Path(tmp) / "annotated.jsonl"
            command = [sys.executable, "-m", "emoret_cli", "annotate", str(source), "-o", str(out), *extra]
            start = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT)
            seconds = time.perf_counter() - start
            return seconds, [orjson.loads(line) for line in out.read_bytes().splitlines()]

        one_s, got_one = run_emoret("--workers", "1")
        emoret_s, got = run_emoret()

    identical = got == expected and got_one == expected
    print(f"captions            {args.n}")
    print(f"baseline loop       {base_s:8.2f} s  {args.n / base_s:9.0f} captions/s")
    print(f"emoret --workers 1  {one_s:8.2f} s  {args.n / one_s:9.0f} captions/s (whole command, start-up included)")
    print(f"emoret (all cores)  {emoret_s:8.2f} s  {args.n / emoret_s:9.0f} captions/s (whole command, start-up included)")
    print(f"speed-up, 1 worker  {base_s / one_s:8.2f}x")
    print(f"speed-up            {base_s / emoret_s:8.2f}x")
    print(f"identical records   {identical}")
    if not identical:
        bad = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b) if len(got) == len(expected) else -1
        print(f"first difference at {bad}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
