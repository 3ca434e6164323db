"""Time to render the survey's animation to a GIF: 8 optimizers x 300 frames on Beale.

    python benchmarks/animate.py           # median of 3 runs; the issue's target is under 30 s

Counts everything `sgdlab animate` does: running the 8 optimizers, drawing, encoding the GIF.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from sgdlab import lab

OPTIMIZERS = ["sgd", "momentum", "nag", "adagrad", "adadelta", "rmsprop", "adam", "nadam"]


def main(runs: int = 3) -> None:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            t0 = time.perf_counter()
            lab.animate("beale", OPTIMIZERS, steps=300, max_frames=300, out=Path(tmp) / "beale.gif")
            times.append(time.perf_counter() - t0)
        size = (Path(tmp) / "beale.gif").stat().st_size
    print(f"8 optimizers x 300 frames -> GIF: median {statistics.median(times):.1f} s over {runs} runs "
          f"({', '.join(f'{t:.1f}' for t in times)}); file {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
