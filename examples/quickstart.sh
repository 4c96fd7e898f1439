#!/usr/bin/env bash
# The whole emoret pipeline on a synthetic, captioned set of videos, with no network:
# make_demo → annotate → filter → extract-frames → train → embed → feel → index → search → eval → tsne.
#
#   examples/quickstart.sh [--family clip|siglip|siglip2] [DIR]   (default DIR: ./emoret-demo,
#                                                                 ./emoret-demo-FAMILY for the others)
#
# --family siglip / siglip2 runs it all on a tiny random SigLIP (SigLIP 2: NaFlex) base instead
# of CLIP: its preprocessing, fixed-length text, sigmoid loss and meanpool video encoder (vip
# is CLIP-ViP's); the figures below are CLIP's (SigLIP's: bench/RESULTS.md).
#
# The base model is a tiny random CLIP, trained here from scratch (500 epochs: about a minute,
# 36-90 s measured); the whole script takes about 2 minutes on 2 CPU cores (80-125 s measured in
# fresh clones on an AMD EPYC with other work running; 6 minutes at load 5-8).
# It evaluates twice: on the synthetic videos the model was trained on (the plumbing works:
# text→video R@1 100.0), and on a held-out test set (DIR/test: 60 other videos, whose
# emotional captions use emotion words no training caption uses, so only the NRC lexicon
# knows them): text→video R@1 29.3 on all its captions, 24.5 on those, the same every run
# on one CPU (another CPU's float kernels can move them a little: README, "The quickstart").
set -euo pipefail

FAMILY=clip
DIR=
while [ $# -gt 0 ]; do
    case "$1" in
        --family) FAMILY=${2:-}; shift 2 || { echo "quickstart: --family needs a value" >&2; exit 2; } ;;
        --family=*) FAMILY=${1#--family=}; shift ;;
        -*) echo "quickstart: unknown option $1 (usage: quickstart.sh [--family clip|siglip|siglip2] [DIR])" >&2; exit 2 ;;
        *) DIR=$1; shift ;;
    esac
done
case "$FAMILY" in
    clip) DIR=${DIR:-emoret-demo}; BASE=base-model; ENCODER=vip ;;
    siglip|siglip2) DIR=${DIR:-emoret-demo-$FAMILY}; BASE=base-$FAMILY; ENCODER=meanpool ;;
    *) echo "quickstart: --family must be clip, siglip or siglip2, not '$FAMILY'" >&2; exit 2 ;;
esac
# Smaller runs, for tests (tests/test_readme_commands.py runs the README's commands with them):
# EMORET_QUICKSTART_VIDEOS=N makes N training and N test videos instead of 60 each,
# EMORET_QUICKSTART_EPOCHS=N trains N epochs instead of 500. The figures above need the defaults.
VIDEOS=${EMORET_QUICKSTART_VIDEOS:-60}
EPOCHS=${EMORET_QUICKSTART_EPOCHS:-500}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! command -v emoret >/dev/null 2>&1 && [ -x "$HERE/.venv/bin/emoret" ]; then
    PATH="$HERE/.venv/bin:$PATH"
fi
command -v emoret >/dev/null 2>&1 || { echo "quickstart: 'emoret' is not installed (pip install -e .)" >&2; exit 2; }
# The interpreter emoret runs under (its console script's shebang).
PYTHON=${PYTHON:-$(head -n 1 "$(command -v emoret)" | sed 's/^#!//')}
SECONDS=0
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS" >&2; }

mkdir -p "$DIR"

step "1. synthetic videos, captions and a tiny base model; a held-out test set"
if [ ! -f "$DIR/test/captions.json" ]; then
    "$PYTHON" -c 'import sys; from emoret.demo.make import make_demo; make_demo(sys.argv[1], n_videos=int(sys.argv[2]), seed=0, test_videos=int(sys.argv[2]))' "$DIR" "$VIDEOS"
fi
if [ "$FAMILY" != clip ] && [ ! -f "$DIR/$BASE/config.json" ]; then  # the same captions' vocabulary, SigLIP's shape
    "$PYTHON" -c 'import json, sys; from emoret.model.tiny_siglip import build_tiny_siglip; build_tiny_siglip([r["caption"] for r in json.load(open(sys.argv[1]))], sys.argv[2], family=sys.argv[3], seed=0)' \
        "$DIR/captions.json" "$DIR/$BASE" "$FAMILY"
fi

step "2. annotate: VADER sentiment and NRC emotion counts"
emoret annotate "$DIR/captions.json" -o "$DIR/annotated.jsonl"

step "3. filter: flag the emotional captions (kept all, with emotion: 0/1)"
emoret filter "$DIR/annotated.jsonl" --all --thr 0.6 -o "$DIR/flagged.jsonl"

step "4. extract-frames"
emoret extract-frames "$DIR/videos" -o "$DIR/frames" --num-frames 4 --size 64 > /dev/null  # stdout: the manifest records
emoret extract-frames "$DIR/test/videos" -o "$DIR/test/frames" --num-frames 4 --size 64 > /dev/null

step "5. train ($ENCODER video encoder, emotion embedding; base: $FAMILY)"
# A tiny model learning from scratch wants far larger steps than CLIP fine-tuning (1e-6),
# and the whole set (60 videos by default) in each batch; its ops are too small to share between threads.
emoret train --model "$DIR/$BASE" --captions "$DIR/flagged.jsonl" --frames "$DIR/frames" \
    --out "$DIR/model" --video-encoder "$ENCODER" --num-frames 4 --epochs "$EPOCHS" --batch-size "$VIDEOS" \
    --lr 3e-3 --lr-new 2e-2 --warmup 0.05 --weight-decay 0.01 --save-every 100000 --seed 0 --threads 1 \
    2> "$DIR/train.log" || { cat "$DIR/train.log" >&2; exit 1; }
tail -n 2 "$DIR/train.log" >&2  # one line an epoch: the whole log is in $DIR/train.log

step "6. embed videos and captions"
# fp32, not auto (bf16 on a CPU that has it): the tiny model gains nothing from bf16, and the
# figures below stay those of any CPU. feel, index, search and eval run fp32 on a CPU.
emoret embed --model "$DIR/model" --frames "$DIR/frames" --out "$DIR/video-emb" --precision fp32
emoret embed --model "$DIR/model" --texts "$DIR/flagged.jsonl" --out "$DIR/text-emb" --precision fp32

step "7. feel (each video's emotions, read from its scene; the synthetic videos show no faces) and index"
emoret feel --model "$DIR/model" --frames "$DIR/frames" --no-faces -o "$DIR/feel.jsonl"
emoret index "$DIR/video-emb" --out "$DIR/index" --emotions "$DIR/feel.jsonl"

step "8. search"
emoret search "something happy: a white diamond dances in the bright sunny light" --index "$DIR/index" --top 5 --json
QUERY=$(head -n 1 "$DIR/flagged.jsonl" | "$PYTHON" -c 'import json, sys; print(json.loads(sys.stdin.readline())["caption"])')
emoret search "$QUERY" --index "$DIR/index" --top 3
emoret search "a ball" --emotion joy --index "$DIR/index" --top 3  # only videos that feel joyful

step "9. eval (text→video and video→text; all captions and the emotional ones)"
echo "-- on the training videos:" >&2
emoret eval --texts "$DIR/text-emb" --videos "$DIR/video-emb"
# Held out: "Emotion" is the test captions whose only mood cue is a word never trained on.
echo "-- on the held-out test set ($DIR/test):" >&2
emoret eval --model "$DIR/model" --captions "$DIR/test/captions.json" --frames "$DIR/test/frames"

step "10. tsne"
emoret tsne --texts "$DIR/text-emb" --videos "$DIR/video-emb" --annotations "$DIR/annotated.jsonl" \
    -e joy -e fear -e sadness -e anger -o "$DIR/tsne.png"

step "done: $DIR (index: $DIR/index, figure: $DIR/tsne.png)"
