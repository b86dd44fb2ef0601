"""Run every benchmark in turn (``make benchmark``); each writes benchmarks/results/<name>.json.

Pass ``--quick`` for a smoke run with fewer inputs where a benchmark supports it.
Run on an otherwise idle machine: the numbers are wall-clock times.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
QUICK_FLAGS = {
    "bench_extraction.py": ["--quick"],
    "bench_selection.py": ["--quick"],
    "bench_training.py": ["--n", "200", "--repeats", "1"],
    "bench_distributed.py": ["--n", "16"],
    "bench_fusion_auc.py": ["--epochs", "3"],
    "bench_spacing_invariance.py": ["--quick"],
    "bench_external_validation.py": ["--quick"],
}


def main(argv):
    quick = "--quick" in argv
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        args = QUICK_FLAGS.get(script.name, []) if quick else []
        print(f"== {script.name} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(script), *args]).returncode:
            failed.append(script.name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
