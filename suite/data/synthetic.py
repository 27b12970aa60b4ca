"""Deterministic synthetic data shaped like SST-2 and MNLI: the embedded default, needs no download.

Designed so that a pretrained encoder can learn it but not trivially: the SST-2-like sentences carry
negation and contrast ("not bad", "dull at first, but moving") so that counting polar words is not enough,
and the MNLI-like pairs need the hypothesis to be checked against the premise (swapped roles, negation,
added unverifiable detail). A small fraction of labels is flipped, like annotator noise in GLUE, so that
no method reaches 100% and differences between methods stay visible.
Same (task, split, n, seed) -> the same rows, on every machine.
"""

from __future__ import annotations

import random

POS = ["good", "great", "wonderful", "charming", "moving", "clever", "delightful", "gripping", "funny",
       "beautiful", "sharp", "warm", "brilliant", "engaging", "memorable", "fresh"]
NEG = ["bad", "dull", "awful", "boring", "clumsy", "tedious", "bland", "messy", "weak", "silly",
       "forgettable", "flat", "tiresome", "shallow", "lifeless", "predictable"]
NOUNS = ["film", "movie", "story", "plot", "script", "cast", "ending", "soundtrack", "direction", "dialogue",
         "performance", "premise", "camera work", "pacing", "humor", "finale"]
ADVS = ["very", "quite", "rather", "truly", "remarkably", "somewhat", "surprisingly", "often", ""]
NEGATORS = ["not", "never", "hardly", "far from"]
OPENERS = ["", "honestly , ", "in the end , ", "for the most part , ", "to be fair , ", "overall , "]

PEOPLE = ["the teacher", "the doctor", "a farmer", "the pilot", "my neighbor", "the chef", "a student",
          "the mayor", "the lawyer", "an artist", "the driver", "a nurse", "the captain", "the writer"]
VERBS = [("bought", "sold"), ("opened", "closed"), ("found", "lost"), ("built", "destroyed"),
         ("praised", "criticized"), ("accepted", "rejected"), ("repaired", "broke"), ("won", "lost"),
         ("started", "finished"), ("liked", "hated")]
OBJECTS = ["the car", "a house", "the letter", "the painting", "a boat", "the contract", "the old bridge",
           "a small shop", "the report", "the piano", "a bicycle", "the garden"]
PLACES = ["in paris", "near the river", "at the market", "in the village", "downtown", "at the station",
          "in the north", "by the lake", "at school", "in the city"]
TIMES = ["yesterday", "last week", "in the morning", "on monday", "after lunch", "in the spring"]
REASONS = ["because it was cheap", "for the first time", "with great care", "after a long debate",
           "to impress a friend", "without telling anyone"]

LABEL_NOISE = 0.05


def _clause(rng: random.Random, positive: bool) -> tuple[str, bool]:
    """A clause about one aspect, and whether it reads positive. Negation flips the polar word."""
    negate = rng.random() < 0.3
    word_positive = positive != negate
    adj = rng.choice(POS if word_positive else NEG)
    adv = rng.choice(ADVS)
    noun = rng.choice(NOUNS)
    verb = rng.choice(["is", "was", "feels", "seems"])
    neg = f"{rng.choice(NEGATORS)} " if negate else ""
    return f"the {noun} {verb} {neg}{adv + ' ' if adv else ''}{adj}", positive


def sst2_rows(n: int, seed: int) -> dict[str, list]:
    rng = random.Random(f"sst2-{seed}")
    texts, labels = [], []
    for _ in range(n):
        label = rng.random() < 0.5
        kind = rng.random()
        if kind < 0.45:
            text, _ = _clause(rng, label)
        elif kind < 0.8:  # contrast: the clause after "but" decides
            first, _ = _clause(rng, not label)
            second, _ = _clause(rng, label)
            text = f"{first} , but {second}"
        else:  # two clauses that agree
            first, _ = _clause(rng, label)
            second, _ = _clause(rng, label)
            text = f"{first} and {second}"
        text = rng.choice(OPENERS) + text + " ."
        if rng.random() < LABEL_NOISE:
            label = not label
        texts.append(text)
        labels.append(int(label))
    return {"text_a": texts, "label": labels}


def mnli_rows(n: int, seed: int) -> dict[str, list]:
    """Labels follow the Hub order: 0 entailment, 1 neutral, 2 contradiction."""
    rng = random.Random(f"mnli-{seed}")
    prem, hyp, labels = [], [], []
    for _ in range(n):
        who, other = rng.sample(PEOPLE, 2)
        verb, antonym = rng.choice(VERBS)
        obj = rng.choice(OBJECTS)
        place = rng.choice(PLACES)
        when = rng.choice(TIMES)
        premise = f"{who} {verb} {obj} {place} {when} ."
        label = rng.randrange(3)
        if label == 0:  # entailment: a faithful, shortened or reworded restatement
            hypothesis = rng.choice([
                f"{who} {verb} {obj} .",
                f"{obj} was {verb} by {who} .",
                f"someone {verb} {obj} {place} .",
                f"{who} {verb} something {when} .",
            ])
        elif label == 1:  # neutral: adds a detail the premise does not settle
            hypothesis = rng.choice([
                f"{who} {verb} {obj} {rng.choice(REASONS)} .",
                f"{who} also {verb} {rng.choice([o for o in OBJECTS if o != obj])} .",
                f"{other} was with {who} when they {verb} {obj} .",
                f"{who} {verb} {obj} {place} {when} {rng.choice(REASONS)} .",
            ])
        else:  # contradiction: the opposite action, a negation, or the roles swapped to another person
            hypothesis = rng.choice([
                f"{who} {antonym} {obj} {place} .",
                f"{who} did not {_base(verb)} {obj} .",
                f"{who} never {verb} anything {when} .",
                f"nobody {verb} {obj} {place} {when} .",
            ])
        if rng.random() < LABEL_NOISE:
            label = rng.choice([x for x in range(3) if x != label])
        prem.append(premise)
        hyp.append(hypothesis)
        labels.append(label)
    return {"text_a": prem, "text_b": hyp, "label": labels}


_BASE = {"bought": "buy", "sold": "sell", "opened": "open", "closed": "close", "found": "find", "lost": "lose",
         "built": "build", "destroyed": "destroy", "praised": "praise", "criticized": "criticize",
         "accepted": "accept", "rejected": "reject", "repaired": "repair", "broke": "break", "won": "win",
         "started": "start", "finished": "finish", "liked": "like", "hated": "hate"}


def _base(verb: str) -> str:
    return _BASE[verb]


GENERATORS = {"sst2": sst2_rows, "mnli": mnli_rows}
