"""``python -m minidl.distributed.run``: the ranks' environment, exit codes, signal forwarding, host files."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import minidl.distributed as dist
from minidl.distributed import bootstrap
from minidl.distributed.run import mpiexec_command, parse_args, read_hostfile

SCRIPT = Path(__file__).with_name("launched.py")
ROOT = Path(__file__).resolve().parents[2]


def launch(tmp_path, n, mode, *extra, wait=True):
    if not (Path(sys.executable).parent / "mpiexec").exists() or not dist.is_mpi_available():
        pytest.skip('no mpiexec next to python: pip install "minidl[dist]"')
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NUMBA_THREADING_LAYER": "workqueue"}
    cmd = [sys.executable, "-m", "minidl.distributed.run", "-n", str(n), *extra, str(SCRIPT), mode, str(tmp_path),
           "--lr", "0.1"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    try:
        proc.stdout_text, proc.stderr_text = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # forwarded to mpiexec: no rank is left behind
        proc.communicate(timeout=30)
        raise
    return proc


def records(tmp_path, n):
    out = []
    for r in range(n):
        lines = (tmp_path / f"rank{r}.txt").read_text().splitlines()
        out.append(dict(line.split("=", 1) for line in lines))
    return out


def test_ranks_get_torchrun_variables_and_init_process_group_agrees(tmp_path):
    proc = launch(tmp_path, 3, "ok")
    assert proc.returncode == 0, proc.stderr_text[-4000:]
    recs = records(tmp_path, 3)
    for r, rec in enumerate(recs):
        assert rec["RANK"] == rec["get_rank"] == str(r)
        assert rec["WORLD_SIZE"] == rec["get_world_size"] == "3"
        assert rec["LOCAL_RANK"] == str(r) and rec["LOCAL_WORLD_SIZE"] == "3"
        assert rec["MASTER_ADDR"] == "127.0.0.1" and rec["MASTER_PORT"] == "29500"
        assert rec["argv"] == "--lr 0.1"  # the script's own arguments pass through
    assert len({rec["pid"] for rec in recs}) == 3


def test_a_failing_rank_ends_the_job_with_its_exit_code(tmp_path):
    t0 = time.monotonic()
    proc = launch(tmp_path, 2, "raise")
    assert proc.returncode == 1
    assert "rank 1 fails on purpose" in proc.stderr_text and "rank 1 failed" in proc.stderr_text
    proc = launch(tmp_path, 2, "exit3")
    assert proc.returncode == 3
    assert time.monotonic() - t0 < 60  # rank 0 waited in a barrier: mpiexec stopped it, nothing hung


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def all_gone(pids, within=10.0):
    """Whether every process in ``pids`` has ended (mpiexec's clean-up may take a moment after it exits)."""
    deadline = time.monotonic() + within
    while any(pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_are_forwarded_to_every_rank(tmp_path, sig):
    proc = launch(tmp_path, 2, "sleep", wait=False)
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"rank{r}.txt").exists() for r in range(2)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(0.3)  # the barrier: both ranks are in their sleep
    pids = [int(rec["pid"]) for rec in records(tmp_path, 2)]
    proc.send_signal(sig)
    code = proc.wait(timeout=30)
    assert code != 0
    assert all_gone(pids)


def test_hostfile_is_passed_to_mpiexec_and_names_master_addr(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# one machine, two slots\nlocalhost:2  # comment\n")
    proc = launch(tmp_path, 2, "ok", "--hostfile", str(hosts))
    assert proc.returncode == 0, proc.stderr_text[-4000:]
    assert [rec["MASTER_ADDR"] for rec in records(tmp_path, 2)] == ["localhost", "localhost"]
    assert [rec["RANK"] for rec in records(tmp_path, 2)] == ["0", "1"]


def test_hostfile_format_and_command_line(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("node1:4\n\n  node2   # one slot\nnode3:2\n")
    assert read_hostfile(hosts) == [("node1", 4), ("node2", 1), ("node3", 2)]
    cmd, env = mpiexec_command(parse_args(["-n", "7", "--hostfile", str(hosts), "-m", "pkg.train", "--x", "1"]))
    assert cmd[0] == str(Path(sys.executable).parent / "mpiexec")
    assert cmd[1:5] == ["-n", "7", "-hosts", "node1:4,node2:1,node3:2"]
    assert cmd[5:] == [sys.executable, bootstrap.__file__, "-m", "pkg.train", "--x", "1"]
    assert env["MASTER_ADDR"] == "node1"
    for bad in ("node1:0\n", "node1:x\n", "# nothing\n", "a b\n"):
        hosts.write_text(bad)
        with pytest.raises(ValueError, match="host"):
            read_hostfile(hosts)
    with pytest.raises(SystemExit):
        parse_args(["-n", "0", "train.py"])


def test_bootstrap_maps_mpich_variables_and_refuses_outside_mpiexec():
    env = {"PMI_RANK": "2", "PMI_SIZE": "4", "MPI_LOCALRANKID": "0", "MPI_LOCALNRANKS": "2"}
    assert bootstrap.rank_environment(env) == {"RANK": "2", "WORLD_SIZE": "4", "LOCAL_RANK": "0",
                                               "LOCAL_WORLD_SIZE": "2"}
    with pytest.raises(RuntimeError, match="PMI_RANK"):
        bootstrap.rank_environment({})


@pytest.mark.parametrize("mode", ["hang", "kill"])
def test_a_dead_or_hung_rank_makes_the_job_fail_within_the_timeout(tmp_path, mode):
    """Under plain mpiexec: rank 1 sleeps (hang) or SIGKILLs itself (kill) while rank 0 waits in a barrier.
    A hung rank: rank 0's barrier raises DistBackendError after init_process_group(timeout=3 s) and the
    job ends by MPI_Abort; a killed rank: mpiexec stops the job at once."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists() or not dist.is_mpi_available():
        pytest.skip('no mpiexec next to python: pip install "minidl[dist]"')
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NUMBA_THREADING_LAYER": "workqueue"}
    t0 = time.monotonic()
    proc = subprocess.Popen([str(mpiexec), "-n", "2", sys.executable, str(SCRIPT), mode, str(tmp_path)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.communicate(timeout=30)
        raise
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    pids = [int(rec["pid"]) for rec in records(tmp_path, 2) if "pid" in rec]
    assert all_gone(pids)
    if mode == "hang":
        assert "DistBackendError" in err and "barrier did not complete within the timeout of 3 s on rank 0 of 2" in err
        assert 3 < elapsed < 60  # the timeout, plus start-up on a loaded machine; rank 1 would sleep 120 s
    else:
        assert "signal 9" in (out + err) or "KILLED" in (out + err)
        assert elapsed < 60


def test_init_process_group_checks_rank_and_world_size_variables_against_mpi(tmp_path):
    """A stale RANK / WORLD_SIZE in the environment (not what mpiexec started) is an error naming it."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists() or not dist.is_mpi_available():
        pytest.skip('no mpiexec next to python: pip install "minidl[dist]"')
    for var, value in (("RANK", "7"), ("WORLD_SIZE", "4")):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", var: value}
        proc = subprocess.run([str(mpiexec), "-n", "2", sys.executable, str(SCRIPT), "ok", str(tmp_path)], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        assert f"init_process_group: the environment variable {var}={value} but mpiexec started this process" in \
            proc.stderr, proc.stderr[-2000:]
