"""The seed's scikit-learn recipe, timed on matrices given by bench/train.ts (same features, same 80% split).

Reads JSON {"trainX", "trainY", "testX", "testY", "seed"} from the file named on the command line (the training
rows already include their SMOTE rows, exactly as the seed fitted them), runs
RandomizedSearchCV(RandomForestClassifier(random_state=42), n_iter=10, cv=3) over the seed's grid, refits, and
prints one JSON line: {"seconds", "cpu_seconds", "accuracy", "best_params", "cv_mean", "cv_sd", "sklearn"}.
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import RandomizedSearchCV

GRID = {
    "n_estimators": [100, 200, 300],
    "max_depth": [10, 20, 30],
    "min_samples_split": [2, 5],
    "min_samples_leaf": [1, 2],
}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    train_x = np.asarray(data["trainX"], dtype=float)
    train_y = np.asarray(data["trainY"], dtype=int)
    test_x = np.asarray(data["testX"], dtype=float)
    test_y = np.asarray(data["testY"], dtype=int)

    started = time.perf_counter()
    cpu_started = time.process_time()
    search = RandomizedSearchCV(
        RandomForestClassifier(random_state=42),
        GRID,
        n_iter=10,
        cv=3,
        random_state=data.get("seed", 42),
    )
    search.fit(train_x, train_y)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    predicted = search.best_estimator_.predict(test_x)
    best = search.best_index_
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "accuracy": float(accuracy_score(test_y, predicted)),
                "best_params": search.best_params_,
                "cv_mean": float(search.cv_results_["mean_test_score"][best]),
                "cv_sd": float(search.cv_results_["std_test_score"][best]),
                "sklearn": sklearn.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
