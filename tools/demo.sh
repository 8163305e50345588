#!/usr/bin/env bash
# The README's first command: installs what is missing, builds leip, then optimizes the shipped
# MobileNetV2-style Fashion-MNIST model with one golden recipe: `leip optimize --recipe
# <host>-int8` quantizes it on 500 training images, compiles an int8 library for this machine
# and prints fp32 vs optimized top-1 on the 10,000 test images, latency and size; the output
# folder holds the library, results.json and report.html (a page to open in any browser).
# Then, briefly, the steps underneath: `leip inspect`, `leip run` on eight test images with the
# interpreter, `leip compile` (float32, batch 8) and `leip run` on that library, and the
# predicted classes against the labels.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: installing what is missing and building leip (tools/build.sh) ..."
bash tools/build.sh >/dev/null
MODEL=models/fmnist_mobilenetv2.onnx
WORK=build/demo
LEIP=build/src/cli/leip
mkdir -p "$WORK"
/usr/bin/python3 tools/fmnist.py --count 500 --split train --output "$WORK/train" >/dev/null
/usr/bin/python3 tools/fmnist.py --count 10000 --output "$WORK/test" >/dev/null
/usr/bin/python3 tools/fmnist.py --count 8 --output "$WORK" >/dev/null

case "$(uname -m)" in
  aarch64 | arm64) RECIPE=aarch64-int8 ;;
  *) RECIPE=x86_64-int8 ;;
esac
echo
echo "\$ leip optimize --recipe $RECIPE --input_path $MODEL --rep_dataset $WORK/train/images.npy \\"
echo "    --test_path $WORK/test/images.npy --labels $WORK/test/labels.npy --output_path $WORK/optimized"
"$LEIP" optimize --recipe "$RECIPE" --input_path "$MODEL" --rep_dataset "$WORK/train/images.npy" \
  --test_path "$WORK/test/images.npy" --labels "$WORK/test/labels.npy" --output_path "$WORK/optimized"

echo
echo "The steps underneath, on eight test images:"
echo "\$ leip inspect --input_path $MODEL"
"$LEIP" inspect --input_path "$MODEL"
echo
echo "\$ leip run --input_path $MODEL --input $WORK/images.npy --output_path $WORK/interpreted"
"$LEIP" run --input_path "$MODEL" --input "$WORK/images.npy" --output_path "$WORK/interpreted"
echo
echo "\$ leip compile --input_path $MODEL --output_path $WORK/artifact --input_shapes 8,1,28,28"
"$LEIP" compile --input_path "$MODEL" --output_path "$WORK/artifact" --input_shapes 8,1,28,28
echo
echo "\$ leip run --input_path $WORK/artifact --input $WORK/images.npy --output_path $WORK/compiled"
"$LEIP" run --input_path "$WORK/artifact" --input "$WORK/images.npy" --output_path "$WORK/compiled"
echo
/usr/bin/python3 - "$WORK" <<'PY'
import sys, numpy as np
work = sys.argv[1]
classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
logits = np.load(f"{work}/compiled/logits.npy")
reference = np.load(f"{work}/interpreted/logits.npy")
print(f"compiled vs interpreter: max |diff| / max |logit| = {np.abs(logits - reference).max() / np.abs(reference).max():.1e}")
labels = np.load(f"{work}/labels.npy")
pred = logits.argmax(axis=1)
for p, l in zip(pred, labels):
    print(f"  predicted {classes[p]:<12} label {classes[l]:<12} {'ok' if p == l else 'MISS'}")
print(f"{int((pred == labels).sum())}/{len(labels)} correct")
PY
