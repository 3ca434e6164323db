#!/usr/bin/env bash
# Regenerate the gallery with the sgdlab command itself (about a minute).
set -euo pipefail
cd "$(dirname "$0")"
sgdlab animate beale --frames 100 --fps 15 --out beale.gif
sgdlab animate saddle --frames 80 --fps 15 --out saddle.gif
for f in beale saddle rosenbrock ravine himmelblau monkey_saddle; do
  sgdlab plot "$f" --out "$f.png"
done
