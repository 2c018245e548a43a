"""Server time of a convolution-page rerun after a slider change (AppTest). Not a pytest file.

Run: python tests/bench_convolution_page.py [reruns]
"""

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.app.conftest import choose  # noqa: E402

COLOUR = "Colour image (3 channels: a 3x5x5 input and a 3xkxk filter)"


def main(n: int = 15) -> None:
    at = AppTest.from_file(str(ROOT / "app" / "views" / "convolution.py"), default_timeout=120)
    at.session_state["data_source"] = "bundled"
    at.run()  # first run loads data and warms caches
    for label, colour in (("1 channel, 3x3 sliders", False), ("3 channels", True)):
        choose(at, COLOUR, colour)
        times = []
        for i in range(n):  # what the bias slider's callback stores for a moved slider
            bias = round(-1 + 0.1 * (i % 20), 1)
            at.session_state["cv_bias_slider_edit"] = {"row": 0, "col": 0, "value": bias}
            t0 = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - t0) * 1000)
            assert not at.exception, at.exception
        print(
            f"slider-change rerun ({label}): median {statistics.median(times):.0f} ms, "
            f"max {max(times):.0f} ms over {n} reruns"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
