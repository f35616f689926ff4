"""How good and how fast is the offline cause suggestion? A script, not a test.

    .venv/bin/python bench/causes.py                 # the dev set, then 5,000 texts for speed
    .venv/bin/python bench/causes.py --speed-only    # speed alone: does not read the dev set
    .venv/bin/python bench/causes.py --lexicon-only  # the hand-written lexicon without the model

Reads the hand-labelled dev set ``reviews_dev_labelled_400.csv`` from the shared data folder
(``../shared/data`` beside the project, or ``SHARED_DATA_DIR``), suggests a cause for every
review and compares it with the label. Prints accuracy, macro-F1, per-cause precision, recall,
F1 and support, the most frequent confusions, the majority-class baseline and the time per
review. The targets from the issue: accuracy >= 80% and macro-F1 >= 0.6. No review text is
printed (the data's licence keeps it out of our files and logs). The last line printed is one
JSON object with every number.

The dev set is for measuring only: every run is a measurement, and each one is recorded in
reviews/training/README.md. Speed over ``--speed-texts`` reviews is timed on distinct texts made
by joining three of the project's own training texts (reviews/training/causes_train.csv), longer
than most reviews, so no shared data is needed for it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reviews import causes  # noqa: E402

DATA_DIR = Path(os.environ.get("SHARED_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
DEV_FILE = "reviews_dev_labelled_400.csv"
TRAIN_FILE = Path(__file__).resolve().parent.parent / "reviews" / "training" / "causes_train.csv"
TARGET_ACCURACY = 0.80
TARGET_MACRO_F1 = 0.60


def read_dev(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["cause"].strip() for row in rows]


def per_cause(gold: list[str], predicted: list[str], labels: list[str]) -> dict[str, dict]:
    figures = {}
    for label in labels:
        true_positive = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        predicted_count = predicted.count(label)
        support = gold.count(label)
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        figures[label] = {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
                          "support": support, "predicted": predicted_count}
    return figures


def speed(count: int) -> dict:
    """Seconds for ``suggest_many`` over ``count`` distinct texts built from our own training texts."""
    with TRAIN_FILE.open(encoding="utf-8", newline="") as handle:
        own = [row["text"] for row in csv.DictReader(handle)]
    rng = random.Random(0)
    texts = [f"{rng.choice(own)}，{rng.choice(own)}，{rng.choice(own)} {number}" for number in range(count)]
    started = time.perf_counter()
    causes.suggest_many(texts)
    seconds = time.perf_counter() - started
    print(f"suggest_many over {count} distinct texts ({sum(map(len, texts)) / count:.0f} characters on average): "
          f"{seconds:.2f} s")
    return {"texts": count, "seconds": round(seconds, 3)}


def arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lexicon-only", action="store_true", help="suggest without the trained model (the lexicon alone)")
    parser.add_argument("--speed-only", action="store_true", help="only time suggest_many; do not read the dev set")
    parser.add_argument("--speed-texts", type=int, default=5_000, metavar="N", help="texts to time suggest_many on (default 5000)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = arguments(argv)
    if args.lexicon_only:
        causes.use_model(None)
    started = time.perf_counter()
    causes.tokenizer()
    trained = causes.model()
    init_seconds = time.perf_counter() - started
    mode = "lexicon + model" if trained else "lexicon alone"
    if args.speed_only:
        print(f"jieba, lexicon and model start-up: {init_seconds * 1000:.0f} ms ({mode})")
        result = {"mode": mode, "init_ms": round(init_seconds * 1000, 1), "speed": speed(args.speed_texts)}
        print(json.dumps(result, ensure_ascii=False))
        return result

    path = DATA_DIR / DEV_FILE
    if not path.exists():
        sys.exit(f"{path} is absent: set SHARED_DATA_DIR to the folder holding {DEV_FILE}")
    texts, gold = read_dev(path)
    started = time.perf_counter()
    suggestions = causes.suggest_many(texts)
    batch_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts:
        causes.suggest(text)
    single_seconds = time.perf_counter() - started
    predicted = [suggestion.cause for suggestion in suggestions]

    labels = [label for label in causes.DEFAULT_CAUSES if label in gold or label in predicted]
    labels += sorted(set(gold) - set(labels))
    figures = per_cause(gold, predicted, labels)
    gold_labels = [label for label in labels if figures[label]["support"]]
    accuracy = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p) / len(gold)
    macro_f1 = sum(figures[label]["f1"] for label in gold_labels) / len(gold_labels)
    majority_label, majority_count = Counter(gold).most_common(1)[0]
    baseline = majority_count / len(gold)
    confusions = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    rules = Counter(suggestion.rule for suggestion in suggestions)

    print(f"dev set: {path} ({len(gold)} reviews), suggesting with the {mode}")
    print(f"accuracy: {accuracy:.1%} (target {TARGET_ACCURACY:.0%}: {'met' if accuracy >= TARGET_ACCURACY else 'NOT met'})")
    print(f"macro-F1: {macro_f1:.3f} (target {TARGET_MACRO_F1}: {'met' if macro_f1 >= TARGET_MACRO_F1 else 'NOT met'})")
    print(f"majority-class baseline (always {majority_label}): {baseline:.1%}")
    print()
    print(f"{'cause':<14}{'precision':>10}{'recall':>8}{'F1':>7}{'support':>9}{'predicted':>11}")
    for label in labels:
        row = figures[label]
        print(f"{label:<14}{row['precision']:>10.3f}{row['recall']:>8.3f}{row['f1']:>7.3f}{row['support']:>9}{row['predicted']:>11}")
    print()
    print("most frequent confusions (labelled -> suggested: count):")
    for (g, p), count in confusions.most_common(12):
        print(f"  {g} -> {p}: {count}")
    print("how the suggestions were reached:", ", ".join(f"{rule} {count}" for rule, count in rules.most_common()))
    print()
    per_review_ms = batch_seconds / len(texts) * 1000
    print(f"jieba, lexicon and model start-up: {init_seconds * 1000:.0f} ms (once per process)")
    print(f"suggest_many: {batch_seconds * 1000:.0f} ms for {len(texts)} reviews, {per_review_ms:.2f} ms per review")
    print(f"suggest one by one: {single_seconds / len(texts) * 1000:.2f} ms per review")
    timed = speed(args.speed_texts)

    result = {
        "mode": mode,
        "reviews": len(gold),
        "accuracy": round(accuracy, 4),
        "macro_f1": round(macro_f1, 4),
        "majority_baseline": round(baseline, 4),
        "majority_label": majority_label,
        "targets": {"accuracy": TARGET_ACCURACY, "macro_f1": TARGET_MACRO_F1,
                    "met": accuracy >= TARGET_ACCURACY and macro_f1 >= TARGET_MACRO_F1},
        "per_cause": figures,
        "confusions": [{"labelled": g, "suggested": p, "count": count} for (g, p), count in confusions.most_common()],
        "rules": dict(rules),
        "init_ms": round(init_seconds * 1000, 1),
        "ms_per_review": round(per_review_ms, 3),
        "ms_per_review_single": round(single_seconds / len(texts) * 1000, 3),
        "speed": timed,
    }
    print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
