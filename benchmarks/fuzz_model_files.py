"""Fuzz ``sklearn_llmrad.io.load`` with mutated model files (issue 19).

Two genuine files (the w/o-BioBERT default method: an inner-CV choice of the
fusion network and the prior-weighted linear path, and an encoder + fusion
pipeline on a tiny BERT) are mutated ``--n`` times by
``sklearn_llmrad._testing.mutate_model_file``: hostile manifest values (classes
such as ``os.system`` and ``numpy.memmap``, compile options, paths, huge sizes,
deep nesting, malformed tensors) and damaged archives (truncation, flipped bytes,
duplicate, missing, traversal or pickle members, encrypted flags).

Targets: every outcome is a loaded model or ``ModelFileError`` /
``UnsafeModelError``; no file in the canary folder (the target of every path in
a mutation) or in the working folder is created or changed; peak memory
(``ru_maxrss``) under 1 GB.

Run: ``python benchmarks/fuzz_model_files.py [--n 20000] [--seed 0]``;
results in ``benchmarks/results/fuzz_model_files.json``.
"""

import argparse
import collections
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from sklearn_llmrad._testing import genuine_model_files, mutate_model_file, save_tiny_bert  # noqa: E402
from sklearn_llmrad.io import ModelFileError, UnsafeModelError, load  # noqa: E402

RESULTS = Path(__file__).with_name("results")


def genuine_files(folder):
    return genuine_model_files(folder, language_model=save_tiny_bert(folder / "tiny-bert"))


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--make-files", help=argparse.SUPPRESS)  # child process: write the genuine files
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.make_files:
        for i, data in enumerate(genuine_files(Path(args.make_files))):
            (Path(args.make_files) / f"genuine-{i}.llmrad").write_bytes(data)
        return
    with tempfile.TemporaryDirectory(prefix="llmrad-fuzz-") as tmp:
        tmp = Path(tmp)
        # the genuine files are fitted in a child process, so that this one's peak
        # memory is that of loading (imports included), not of training
        subprocess.run([sys.executable, __file__, "--make-files", str(tmp)], check=True, capture_output=True)
        files = [(tmp / f"genuine-{i}.llmrad").read_bytes() for i in range(2)]
        canary = tmp / "canary"
        canary.mkdir()
        for i in range(0, 100, 7):
            (canary / f"f{i}").write_bytes(b"do not touch\n")
        before, cwd_before = snapshot(canary), sorted(os.listdir("."))
        load(tmp / "genuine-1.llmrad", language_model=tmp / "tiny-bert")  # imports done
        rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        outcomes, violations, guard = collections.Counter(), [], collections.Counter()
        rng = random.Random(args.seed)
        target = tmp / "m.llmrad"
        start = time.perf_counter()
        for i in range(args.n):
            seed = rng.randrange(2**32)
            which = i % len(files)
            target.write_bytes(mutate_model_file(files[which], random.Random(seed), canary))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    load(target)
                    outcomes["loaded"] += 1
                except (ModelFileError, UnsafeModelError) as exc:
                    outcomes[type(exc).__name__] += 1
                    # refused by a named check, or only by load's outer guard (an
                    # unexpected exception turned into a ModelFileError)
                    if "cannot load the model (" in str(exc):
                        guard[str(exc).split("cannot load the model (", 1)[1].split(":", 1)[0]] += 1
                except BaseException as exc:  # noqa: BLE001 - the contract under test
                    outcomes["violation"] += 1
                    violations.append(
                        {
                            "seed": seed,
                            "file": which,
                            "type": type(exc).__name__,
                            "message": str(exc)[:300],
                            "where": traceback.format_exc().splitlines()[-3][:200],
                        }
                    )
            if (i + 1) % 2000 == 0:
                print(f"{i + 1} files, {dict(outcomes)}", flush=True)
        elapsed = time.perf_counter() - start
        touched = snapshot(canary) != before or sorted(os.listdir(".")) != cwd_before
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "n": args.n,
        "seed": args.seed,
        "outcomes": dict(outcomes),
        "violations": violations[:50],
        "caught_only_by_the_outer_guard": dict(guard.most_common()),
        "files_touched_outside_the_temporary_folder": touched,
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "peak_rss_after_imports_mib": round(rss_start / 1024, 1),
        "seconds": round(elapsed, 1),
        "ms_per_file": round(1000 * elapsed / args.n, 2),
        "torch": torch.__version__,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fuzz_model_files.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    ok = not violations and not touched and peak_kib < 2**20
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
