"""Shared fixtures: every test that takes ``backend`` runs once per known backend."""

import os

import pytest
from hypothesis import HealthCheck, settings

from minidl.testing import backend_params

# JIT compiles and shared CI machines exceed hypothesis' default 200 ms deadline.
settings.register_profile("ci", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=15)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(params=backend_params())
def backend(request):
    return request.param
