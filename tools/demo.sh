#!/usr/bin/env bash
# The README's first command: installs what is missing, builds leip, then shows it on the
# shipped MobileNetV2-style Fashion-MNIST model: `leip inspect`, `leip run` on eight real
# test images with the interpreter, `leip compile` to modelLibrary.so, `leip run` on that
# artifact, and the predicted classes against the labels; then an int8 binary of the same
# model (quantized on 200 training images) and its top-1 on 1000 test images.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh >/dev/null
MODEL=models/fmnist_mobilenetv2.onnx
WORK=build/demo
mkdir -p "$WORK"
/usr/bin/python3 tools/fmnist.py --count 8 --output "$WORK" >/dev/null
/usr/bin/python3 tools/fmnist.py --count 200 --split train --output "$WORK/train" >/dev/null
/usr/bin/python3 tools/fmnist.py --count 1000 --output "$WORK/test" >/dev/null

echo "\$ leip inspect --input_path $MODEL"
build/src/cli/leip inspect --input_path "$MODEL"
echo
echo "\$ leip run --input_path $MODEL --input $WORK/images.npy --output_path $WORK/interpreted"
build/src/cli/leip run --input_path "$MODEL" --input "$WORK/images.npy" --output_path "$WORK/interpreted"
echo
echo "\$ leip compile --input_path $MODEL --output_path $WORK/artifact --input_shapes 8,1,28,28"
build/src/cli/leip compile --input_path "$MODEL" --output_path "$WORK/artifact" --input_shapes 8,1,28,28
echo
echo "\$ leip run --input_path $WORK/artifact --input $WORK/images.npy --output_path $WORK/compiled"
build/src/cli/leip run --input_path "$WORK/artifact" --input "$WORK/images.npy" --output_path "$WORK/compiled"
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
echo
echo "\$ leip compile --input_path $MODEL --output_path $WORK/int8 --data_type int8 --rep_dataset $WORK/train/images.npy"
build/src/cli/leip compile --input_path "$MODEL" --output_path "$WORK/int8" --data_type int8 \
  --rep_dataset "$WORK/train/images.npy"
echo
for artifact in artifact int8; do
  echo "\$ leip evaluate --input_path $WORK/$artifact --test_path $WORK/test/images.npy --labels $WORK/test/labels.npy"
  build/src/cli/leip evaluate --input_path "$WORK/$artifact" --test_path "$WORK/test/images.npy" \
    --labels "$WORK/test/labels.npy" --output_path "$WORK/eval_$artifact" | grep -E "^  (top-1|latency) " || true
done
