"""Peak RSS of one short Trainer run above the process's start, and cnncore's estimate for it.

Run by tests/test_job_limits.py (a fresh process, so nothing else is in the numbers):
``python tests/memory_peak.py MODEL BATCH N_TRAIN`` prints "<measured bytes> <estimated bytes>".
"""

import gc
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from cnncore.data import Dataset, Split  # noqa: E402
from cnncore.memory import estimate_training_bytes, rss_bytes  # noqa: E402
from cnncore.train import TrainConfig, Trainer  # noqa: E402


def main(model: str, batch: int, n: int) -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)

    def split(k):
        images = torch.randint(0, 256, (k, 1, 28, 28), dtype=torch.uint8, generator=g)
        return Split(images, torch.randint(0, 10, (k,), generator=g))

    data = Dataset("fake", "fake", tuple("0123456789"), split(n), split(1000), split(1000))
    config = TrainConfig(model=model, batch_size=batch, epochs=1, max_batches=3, precision="fp32")
    gc.collect()
    start = peak = rss_bytes()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    Trainer(config, data).run()
    done.set()
    sampler.join()
    print(peak - start, estimate_training_bytes(config, n))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
