"""``python -m minidl.examples compress`` at tiny settings: every row is produced and the numbers hang together."""

import pytest

from minidl.examples import EXAMPLES, compress


def test_compress_example_tiny(user_mnist, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "curve.png"
    weights = tmp_path / "float.pt"
    args = ["--limit", "500", "--epochs", "1", "--finetune-steps", "5", "--qat-steps", "5", "--repeats", "1",
            "--sparsities", "0.5,0.9", "--calibration-batches", "2", "--backend", "numpy",
            "--figure", str(figure), "--weights", str(weights)]
    result = compress.main(args)
    rows = {r["model"]: r for r in result["rows"]}
    assert "compress" in EXAMPLES and len(rows) == 8
    float_row = rows["float32"]
    assert float_row["accuracy"] > 0.5  # 10% is chance
    static = rows["int8 static (min-max observers)"]
    assert abs(static["accuracy"] - float_row["accuracy"]) < 0.05
    assert 3.5 < float_row["bytes"] / static["bytes"] < 4.1  # int8 weights: ~4x smaller on disk
    assert rows["50% conv filters removed + fine-tune"]["bytes"] < 0.6 * float_row["bytes"]
    assert [round(c["sparsity"], 2) for c in result["curve"]] == [0.5, 0.9]
    assert figure.stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "int8 QAT" in out and "figure written" in out
    # the saved float weights are loaded by a second run, which skips the training
    again = compress.main(args[:-4] + ["--weights", str(weights), "--skip-pruning", "--qat-steps", "0"])
    assert "weights loaded" in capsys.readouterr().out
    assert again["rows"][0]["accuracy"] == float_row["accuracy"] and len(again["rows"]) == 4
