"""Build reviews/training/model.json from the project's own labelled texts (causes_train.csv).

    .venv/bin/python -m reviews.training.train            # cross-validate, choose, write model.json
    .venv/bin/python -m reviews.training.train --check    # rebuild in memory, fail if model.json differs

Only ``causes_train.csv`` is read: texts the team wrote and labelled itself (see README.md in this
folder). Nothing from ../shared/data is read here, so nothing is fitted to the dev set.

What is built
-------------
A linear model over the words and character bigrams of ``causes.model_features`` (which marks
negated complaint cues and praised aspects), one weight per feature and cause:

* ``naive_bayes``: multinomial naive Bayes on binary features with add-``alpha`` smoothing; or
* ``logistic``: multinomial logistic regression trained by plain SGD with L2, fixed seed and order.

``causes.suggest`` adds the model's log-probabilities to the lexicon's scores
(``causes.mixed_scores``): ``log P(cause) + lexicon x lexicon_score`` plus unclear/praise/complaint
biases for texts with no cue word. The model kind, its setting, and the four mix weights are chosen
together by stratified k-fold cross-validation on the training texts: the grid point with the
best mean of accuracy and macro-F1 over the out-of-fold predictions (ties: the earlier, simpler
point). The final model is then trained on all texts with that choice.

Everything is deterministic (sorted features, fixed fold assignment and seed, rounded weights,
sorted JSON keys): the same CSV gives the same file byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from reviews import causes  # noqa: E402

HERE = Path(__file__).resolve().parent
TRAIN_FILE = HERE / "causes_train.csv"
MODEL_FILE = causes.MODEL_FILE
FOLDS = 5
MIN_DOCUMENT_FREQUENCY = 2   # a feature seen in one training text only is noise, not a cue
DECIMALS = 4
SEED = 20240611

# The search grid. Model settings first, then the mix; the first best point wins a tie.
MODEL_GRID = (
    ("naive_bayes", 0.1), ("naive_bayes", 0.3), ("naive_bayes", 1.0),
    ("logistic", 0.0001), ("logistic", 0.001),
)
LEXICON_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
UNCLEAR_BIASES = (0.0, 1.0, 2.0, 4.0, 8.0)
PRAISE_BIASES = (0.0, 2.0, 4.0, 8.0)
COMPLAINT_BIASES = (0.0, 1.0, 2.0, 4.0)
LOGISTIC_EPOCHS = 25
LOGISTIC_RATE = 0.2


@dataclass(frozen=True)
class Example:
    text: str
    cause: int                 # index in causes.DEFAULT_CAUSES
    features: tuple[str, ...]
    lexicon: dict              # cause -> lexicon score
    state: str                 # causes.lexicon_state: "cue" | "complaint" | "praise" | "unclear"
    lexicon_cause: int


def read_training(path: Path = TRAIN_FILE) -> list[tuple[str, str]]:
    """(text, cause) rows of the training CSV; raises ValueError on an unknown cause or empty text."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != ["text", "cause"]:
            raise ValueError(f"{path.name}: expected the columns text,cause, found {reader.fieldnames}")
        rows = []
        for line, row in enumerate(reader, start=2):
            text, cause = (row["text"] or "").strip(), (row["cause"] or "").strip()
            if not text or cause not in causes.DEFAULT_CAUSES:
                raise ValueError(f"{path.name} line {line}: empty text or unknown cause {cause!r}")
            rows.append((text, cause))
    return rows


def prepare(rows: list[tuple[str, str]]) -> list[Example]:
    """Read every text once: model features and what the built-in lexicon says about it."""
    examples = []
    index = {cause: position for position, cause in enumerate(causes.DEFAULT_CAUSES)}
    for text, cause in rows:
        normal = causes.normalise(text)
        read = causes._read(normal)
        scores, evidence, complains = causes._score(normal, None, read)
        found = causes._decide(scores, evidence, complains)
        feature_list = causes.model_features(read)
        examples.append(Example(text, index[cause], tuple(feature_list), dict(scores),
                                causes.lexicon_state(found, feature_list), index[found.cause]))
    return examples


# --- the two learners; both return (bias, {feature: weights}) ------------------------------------

def vocabulary(examples: list[Example]) -> list[str]:
    frequency = Counter(feature for example in examples for feature in example.features)
    return sorted(feature for feature, count in frequency.items() if count >= MIN_DOCUMENT_FREQUENCY)


def train_naive_bayes(examples: list[Example], alpha: float) -> tuple[list[float], dict[str, list[float]]]:
    width = len(causes.DEFAULT_CAUSES)
    kept = vocabulary(examples)
    known = set(kept)
    documents = Counter(example.cause for example in examples)
    counts = {feature: [0] * width for feature in kept}
    totals = [0] * width
    for example in examples:
        for feature in example.features:
            if feature in known:
                counts[feature][example.cause] += 1
                totals[example.cause] += 1
    bias = [math.log((documents[c] + 1) / (len(examples) + width)) for c in range(width)]
    denominators = [totals[c] + alpha * len(kept) for c in range(width)]
    weights = {feature: [math.log((row[c] + alpha) / denominators[c]) for c in range(width)] for feature, row in counts.items()}
    return bias, weights


def train_logistic(examples: list[Example], l2: float) -> tuple[list[float], dict[str, list[float]]]:
    width = len(causes.DEFAULT_CAUSES)
    known = set(vocabulary(examples))
    weights: dict[str, list[float]] = {feature: [0.0] * width for feature in sorted(known)}
    bias = [0.0] * width
    documents = [[feature for feature in example.features if feature in known] for example in examples]
    order = list(range(len(examples)))
    rng = random.Random(SEED)
    for epoch in range(LOGISTIC_EPOCHS):
        rng.shuffle(order)
        rate = LOGISTIC_RATE / (1 + epoch)
        for position in order:
            present = documents[position]
            totals = list(bias)
            for feature in present:
                totals = [t + w for t, w in zip(totals, weights[feature], strict=True)]
            probabilities = [math.exp(v) for v in causes._log_softmax(totals)]
            gradient = [p - (1.0 if c == examples[position].cause else 0.0) for c, p in enumerate(probabilities)]
            bias = [b - rate * g for b, g in zip(bias, gradient, strict=True)]
            for feature in present:
                row = weights[feature]
                weights[feature] = [w - rate * (g + l2 * w) for w, g in zip(row, gradient, strict=True)]
    return bias, weights


def train(examples: list[Example], kind: str, setting: float) -> tuple[list[float], dict[str, list[float]]]:
    if kind == "naive_bayes":
        return train_naive_bayes(examples, setting)
    if kind == "logistic":
        return train_logistic(examples, setting)
    raise ValueError(kind)


# --- cross-validation --------------------------------------------------------------------------

def folds(examples: list[Example], count: int = FOLDS) -> list[int]:
    """Fold of every example: stratified, each cause dealt round-robin in file order (deterministic)."""
    assigned, dealt = [], Counter()
    for example in examples:
        assigned.append(dealt[example.cause] % count)
        dealt[example.cause] += 1
    return assigned


def figures(gold: list[int], predicted: list[int]) -> dict:
    width = len(causes.DEFAULT_CAUSES)
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    scores = []
    for c in range(width):
        support = gold.count(c)
        if not support:
            continue
        hits = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == c)
        precision = hits / predicted.count(c) if predicted.count(c) else 0.0
        recall = hits / support
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {"accuracy": round(accuracy, 4), "macro_f1": round(sum(scores) / len(scores), 4)}


def predict(example: Example, log_probs: list[float] | None, mix: dict) -> int:
    """The same decision as causes._mix, on prepared examples."""
    if log_probs is None:
        return example.lexicon_cause
    combined = causes.mixed_scores(example.lexicon, example.state, log_probs, mix)
    best = max(range(len(combined)), key=lambda index: (combined[index], -index))
    return best


def out_of_fold_log_probs(examples: list[Example], kind: str, setting: float, count: int = FOLDS) -> list:
    assigned = folds(examples, count)
    found: list = [None] * len(examples)
    for fold in range(count):
        training = [example for example, f in zip(examples, assigned, strict=True) if f != fold]
        bias, weights = train(training, kind, setting)
        trained = {"bias": bias, "weights": weights}
        for position, example in enumerate(examples):
            if assigned[position] == fold:
                found[position] = causes.model_log_probs(example.features, trained)
    return found


def mix_grid():
    for lexicon in LEXICON_WEIGHTS:
        for unclear in UNCLEAR_BIASES:
            for praise in PRAISE_BIASES:
                for complaint in COMPLAINT_BIASES:
                    yield {"lexicon": lexicon, "unclear": unclear, "praise": praise, "complaint": complaint}


def cross_validate(examples: list[Example], model_grid=MODEL_GRID, count: int = FOLDS, log=print) -> dict:
    """Every grid point's out-of-fold figures; returns the best choice and reference figures."""
    gold = [example.cause for example in examples]
    best = None
    results = []
    for kind, setting in model_grid:
        started = time.perf_counter()
        log_probs = out_of_fold_log_probs(examples, kind, setting, count)
        alone = figures(gold, [predict(e, lp, dict.fromkeys(causes.MIX_WEIGHTS, 0.0))
                               for e, lp in zip(examples, log_probs, strict=True)])
        point_best = None
        for mix in mix_grid():
            found = figures(gold, [predict(e, lp, mix) for e, lp in zip(examples, log_probs, strict=True)])
            objective = (found["accuracy"] + found["macro_f1"]) / 2
            if point_best is None or objective > point_best[0]:
                point_best = (objective, mix, found)
        results.append({"kind": kind, "setting": setting, "model_alone": alone, "mix": point_best[1], "mixed": point_best[2]})
        log(f"  {kind} {setting}: model alone {alone}, best mix {point_best[1]} -> {point_best[2]} "
            f"({time.perf_counter() - started:.1f} s)")
        if best is None or point_best[0] > best[0]:
            best = (point_best[0], kind, setting, point_best[1], point_best[2])
    lexicon_alone = figures(gold, [example.lexicon_cause for example in examples])
    return {"kind": best[1], "setting": best[2], "mix": best[3], "cv": best[4], "lexicon_alone": lexicon_alone,
            "folds": count, "grid": results}


# --- the model file ------------------------------------------------------------------------------

def build(rows: list[tuple[str, str]] | None = None, log=print) -> dict:
    """The model file's content, from ``rows`` or (by default) causes_train.csv."""
    from_file = rows is None
    rows = read_training() if from_file else rows
    examples = prepare(rows)
    log(f"{len(examples)} training texts: " + ", ".join(f"{c} {n}" for c, n in Counter(c for _, c in rows).most_common()))
    log(f"{FOLDS}-fold cross-validation on them (lexicon alone, no fitting: "
        f"{figures([e.cause for e in examples], [e.lexicon_cause for e in examples])}):")
    chosen = cross_validate(examples, log=log)
    bias, weights = train(examples, chosen["kind"], chosen["setting"])
    digest = hashlib.sha256(TRAIN_FILE.read_bytes()).hexdigest() if from_file else ""
    return {
        "version": causes.MODEL_VERSION,
        "classes": list(causes.DEFAULT_CAUSES),
        "kind": chosen["kind"],
        "setting": chosen["setting"],
        "mix": chosen["mix"],
        "cross_validation": {"folds": chosen["folds"], "mixed": chosen["cv"], "lexicon_alone": chosen["lexicon_alone"],
                             "grid": chosen["grid"]},
        "training": {"file": TRAIN_FILE.name, "sha256": digest, "rows": len(rows),
                     "per_cause": dict(sorted(Counter(cause for _, cause in rows).items()))},
        "bias": [round(value, DECIMALS) for value in bias],
        "weights": {feature: [round(value, DECIMALS) for value in row] for feature, row in sorted(weights.items())},
    }


def dumps(model: dict) -> str:
    return json.dumps(model, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Cross-validate and build the cause model from causes_train.csv.")
    parser.add_argument("--check", action="store_true", help="rebuild in memory and fail if model.json differs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = build()
    text = dumps(model)
    print(f"chosen: {model['kind']} {model['setting']}, mix {model['mix']}; "
          f"cross-validated {model['cross_validation']['mixed']} ({time.perf_counter() - started:.0f} s)")
    if args.check:
        current = MODEL_FILE.read_text(encoding="utf-8") if MODEL_FILE.exists() else ""
        if current != text:
            print(f"{MODEL_FILE} is out of date: run python -m reviews.training.train", file=sys.stderr)
            return 1
        print(f"{MODEL_FILE} is up to date")
        return 0
    MODEL_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {MODEL_FILE} ({len(text.encode('utf-8')) // 1024} KiB, {len(model['weights'])} features)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
