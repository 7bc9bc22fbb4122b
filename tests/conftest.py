"""Shared fixtures: tests that take ``backend`` run once per known backend; nothing writes the user's data cache."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from minidl.data.cache import ChecksumError, data_root, verify_file
from minidl.testing import backend_params

# JIT compiles and shared CI machines exceed hypothesis' default 200 ms deadline.
settings.register_profile("ci", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=15)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# The user's data cache ($MINIDL_DATA or ~/.cache/minidl), read once before any test changes the environment.
# Tests never write there: the whole session runs with MINIDL_DATA pointing at a temporary folder
# (`own_data_cache`), and a test that needs a real data set gets read-only links to the user's verified
# files (`link_user_data`), or is skipped when the user's cache does not hold them. So the tests run and
# skipped are the same on every run: no run fetches anything that a later run would find.
USER_DATA_ROOT = data_root()


@pytest.fixture(params=backend_params())
def backend(request):
    return request.param


@pytest.fixture(scope="session", autouse=True)
def own_data_cache(tmp_path_factory):
    """MINIDL_DATA points at a temporary folder for the whole session (module-scoped fixtures included)."""
    root = tmp_path_factory.mktemp("minidl-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINIDL_DATA", str(root))
        yield root


@pytest.fixture(scope="session")
def user_data_root():
    """The user's data cache (read before the session redirected MINIDL_DATA): only ever read, through links."""
    return USER_DATA_ROOT


def link_user_data(name: str, checksums: dict[str, str], dest_root: Path, algorithm: str = "md5") -> Path:
    """Link the user's cached, verified files of data set ``name`` into ``dest_root/name``; skip if they are not there.

    Only links are made, in ``dest_root``: a loader that replaced a file would replace the link, never the
    user's file. Returns ``dest_root``, to pass as ``root=`` or as MINIDL_DATA.
    """
    source = USER_DATA_ROOT / name
    try:
        for fname, digest in checksums.items():
            verify_file(source / fname, digest, algorithm)
    except (OSError, ChecksumError) as e:
        pytest.skip(f"the real {name} is not in the cache {source} (`python -m minidl data fetch {name}`): {e}")
    target = dest_root / name
    target.mkdir(parents=True, exist_ok=True)
    for fname in checksums:
        link = target / fname
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(source / fname)
    return dest_root


@pytest.fixture
def user_mnist(own_data_cache):
    """The real MNIST (CI fetches it before the tests), linked read-only into the session's temporary cache."""
    from minidl.data.datasets.mnist import MNIST_MD5

    assert data_root() == own_data_cache  # the examples read MINIDL_DATA: the links must be there
    return link_user_data("mnist", MNIST_MD5, own_data_cache)


@pytest.fixture
def user_data(tmp_path):
    """``user_data(name, checksums, algorithm="md5")``: a root holding read-only links to the user's cached files."""
    return lambda name, checksums, algorithm="md5": link_user_data(name, checksums, tmp_path / "user-data", algorithm)
