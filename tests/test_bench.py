from PIL import Image

from crnn_ctc.bench import run_bench
from crnn_ctc.bundle import new_bundle, save_bundle
from crnn_ctc.charset import Charset
from crnn_ctc.cli import main


def test_every_cell_is_timed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle = new_bundle("tiny", Charset.preset("lower-alnum"), seed=0)
    rows = run_bench(bundle, ["torch", "onnx"], [1, 2], [32, 64], threads=1, seconds=0.01, repeats=1)
    assert {(r.backend, r.batch_size, r.width) for r in rows} == {
        (b, n, w) for b in ("torch", "onnx") for n in (1, 2) for w in (32, 64)
    }
    assert all(r.images_per_s > 0 and r.latency_p50_ms <= r.latency_p99_ms for r in rows)


def test_bench_command_prints_a_table_and_plots(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = save_bundle(new_bundle("tiny", Charset.preset("lower-alnum"), seed=0), tmp_path / "m.safetensors")
    code = main(["bench", "--model", str(model), "--batch-sizes", "1", "--widths", "40,80", "--repeats", "1",
                 "--threads", "1", "--plot", str(tmp_path / "bench.png")])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "| torch | 1 | 40 |" in out and "| onnx | 1 | 80 |" in out
    assert Image.open(tmp_path / "bench.png").size[0] > 100
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    code = main(["bench", "--model", str(model), "--batch-sizes", "1", "--widths", "40", "--repeats", "1",
                 "--threads", "1", "--no-plot"])  # fmt: skip
    assert code == 0 and "latency vs width" not in capsys.readouterr().out
    assert not list((tmp_path / "empty").iterdir())
