"""Generate the example's synthetic loan-approval dataset (data/loans.csv).

Entirely synthetic: no real person is described, so the file can ship with the repository (CC0).
Run from anywhere: `python examples/generate_data.py`; the same seed always writes the same file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ROWS = 2000
SEED = 2
OUT = Path(__file__).resolve().parent / "data" / "loans.csv"


def main() -> None:
    rng = np.random.default_rng(SEED)
    sex = rng.choice(["female", "male"], size=ROWS, p=[0.48, 0.52])
    ethnicity = rng.choice(["group_a", "group_b", "group_c"], size=ROWS, p=[0.5, 0.3, 0.2])
    age = rng.integers(18, 76, size=ROWS)
    income = np.round(rng.lognormal(mean=10.6, sigma=0.45, size=ROWS), -2).astype(int)
    credit = np.clip(rng.normal(680, 70, size=ROWS), 300, 850).astype(int)
    # Ground truth: repayment depends on credit score and income only.
    z = 0.018 * (credit - 680) + 1.1 * (np.log(income) - 10.6) + 0.3
    approved = (rng.random(ROWS) < 1 / (1 + np.exp(-z))).astype(int)
    # The model sees the same features with noise; its score is thresholded at 0.5.
    score = 1 / (1 + np.exp(-(z + rng.normal(0, 0.6, size=ROWS))))
    predicted = (score >= 0.5).astype(int)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            [
                "applicant_id",
                "age",
                "sex",
                "ethnicity",
                "income",
                "credit_score",
                "approved",
                "predicted",
                "score",
            ]
        )
        for i in range(ROWS):
            w.writerow(
                [
                    f"A{i + 1:05d}",
                    int(age[i]),
                    sex[i],
                    ethnicity[i],
                    int(income[i]),
                    int(credit[i]),
                    int(approved[i]),
                    int(predicted[i]),
                    f"{score[i]:.4f}",
                ]
            )


if __name__ == "__main__":
    main()
