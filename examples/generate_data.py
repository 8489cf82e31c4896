"""Generate the example's synthetic loan-approval dataset (data/loans.csv) and the model's per-row feature
attributions (data/attributions.csv).

Entirely synthetic: no real person is described, so the files can ship with the repository (CC0).
Run from anywhere: `python examples/generate_data.py`; the same seed always writes the same files.

The example "model" scores z = 0.018 (credit - 680) + 1.1 (ln income - 10.6) + 0.3 (+ noise it cannot see) in
log-odds. For a model linear in its features, the SHAP value of a feature for one row is its coefficient times
the row's distance from the feature's mean, exactly (interventional SHAP, independent features): that is what
attributions.csv holds, in log-odds, with zeros for the columns the model does not read.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ROWS = 2000
SEED = 2
OUT = Path(__file__).resolve().parent / "data" / "loans.csv"
ATTRIBUTIONS = OUT.parent / "attributions.csv"
COEF = {"credit_score": 0.018, "income": 1.1}  # income enters as ln(income)


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
    write_attributions(credit, income)


def write_attributions(credit: np.ndarray, income: np.ndarray) -> None:
    """Exact SHAP values of the linear log-odds model for each row (see the module docstring)."""
    phi_credit = COEF["credit_score"] * (credit - credit.mean())
    log_income = np.log(income)
    phi_income = COEF["income"] * (log_income - log_income.mean())
    with ATTRIBUTIONS.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["age", "sex", "ethnicity", "income", "credit_score"])
        for i in range(len(credit)):
            w.writerow([0, 0, 0, f"{phi_income[i]:.6f}", f"{phi_credit[i]:.6f}"])


if __name__ == "__main__":
    main()
