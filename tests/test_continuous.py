"""Continuous control end to end: the MuJoCo and Box2D families through the command line (train, eval, record
as GIF and MP4), normalisation on every runtime (statistics learned from every rollout, restored on resume),
and the inputs it refuses."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from asyncrl.checkpoint import resolve_checkpoint_path

from conftest import ASYNCRL, FAST, cli_env, one_line_error, run_cli

mujoco = pytest.importorskip("mujoco", reason="the mujoco extra is not installed (pip install 'asyncrl[mujoco]')")
Box2D = pytest.importorskip("Box2D", reason="the box2d extra is not installed (pip install 'asyncrl[box2d]')")
imageio = pytest.importorskip("imageio.v2", reason="the video extra is not installed (pip install 'asyncrl[video]')")


def _ckpt(run: str, name: str = "latest") -> dict:
    return torch.load(os.path.join(run, "checkpoints", f"{name}.pt"), weights_only=True)


def _mp4(path: str) -> tuple[int, tuple[int, ...]]:
    """``(frames, frame shape)`` of an MP4, decoded back with ffmpeg."""
    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        frames = [f for f in reader]
    finally:
        reader.close()
    return len(frames), frames[0].shape


@pytest.fixture(scope="module")
def cheetah(tmp_path_factory) -> str:
    """APPO on HalfCheetah-v5 with the MuJoCo family's defaults, for a few thousand steps."""
    d = str(tmp_path_factory.mktemp("mujoco") / "cheetah")
    run_cli(
        "train",
        "--algo",
        "appo",
        "--env",
        "HalfCheetah-v5",
        "--total-steps",
        "4096",
        "--eval-every",
        "2048",
        "--eval-episodes",
        "1",
        "--workers",
        "1",
        "--run-dir",
        d,
        *FAST,
        check=True,
    )
    return d


def test_mujoco_defaults_normalise_and_the_statistics_are_saved(cheetah):
    cfg = json.load(open(os.path.join(cheetah, "config.json")))
    assert cfg["normalize_obs"] is True and cfg["normalize_reward"] is True and cfg["hidden"] == [64, 64]
    ckpt = _ckpt(cheetah)
    model, steps = ckpt["model"], ckpt["counters"]["env_steps"]
    assert steps >= 4096
    assert float(model["obs_norm.count"]) == steps == float(model["return_norm.count"])  # every rollout learned on
    assert model["obs_norm.mean"].shape == (17,) and float(model["obs_norm.var"].min()) > 0
    assert not torch.allclose(model["obs_norm.var"], torch.ones(17))  # moved from its initial value


def test_mujoco_eval_json_and_record_gif_and_mp4(cheetah, tmp_path):
    p = run_cli("eval", cheetah, "--episodes", "2", "--num-envs", "2", "--json", check=True)
    res = json.loads(p.stdout)
    assert res["episodes"] == 2 and np.isfinite(res["mean"])
    gif, mp4 = str(tmp_path / "c.gif"), str(tmp_path / "c.mp4")
    p = run_cli("record", cheetah, "-o", mp4, "--fps", "50", "--max-frames", "40", check=True)
    written = int(p.stdout.split(":")[1].split("frames")[0])
    assert written == 40  # (of HalfCheetah's 1001: the episode played on without rendering)
    frames, shape = _mp4(mp4)
    assert frames == written and shape == (480, 480, 3)
    run_cli("record", cheetah, "-o", gif, "--max-frames", "30", check=True)
    assert Image.open(gif).format == "GIF" and 10 < Image.open(gif).n_frames <= 30


@pytest.mark.parametrize(
    "env, extra, obs_shape",
    [
        ("BipedalWalker-v3", ["--normalize-obs", "--normalize-reward"], (24,)),
        ("CarRacing-v3", ["--n-steps", "5", "--num-envs", "2"], (3, 96, 96)),  # frames channels-first, to the CNN
    ],
)
def test_box2d_train_eval_record(env, extra, obs_shape, tmp_path):
    d = str(tmp_path / "run")
    run_cli(
        "train",
        "--algo",
        "a2c",
        "--env",
        env,
        "--total-steps",
        "200",
        "--eval-every",
        "0",
        "--run-dir",
        d,
        *extra,
        *FAST,
        check=True,
        timeout=300,
    )
    spec = json.loads(_ckpt(d)["model_spec"])
    assert spec["obs_shape"] == list(obs_shape) and spec["action_kind"] == "continuous"
    assert spec["torso"] == ("mlp" if len(obs_shape) == 1 else "a3c-cnn")
    out = str(tmp_path / "ep.mp4")
    p = run_cli("record", d, "-o", out, "--max-frames", "30", check=True, timeout=300)
    written = int(p.stdout.split(":")[1].split("frames")[0])
    frames, shape = _mp4(out)
    assert frames == written and 1 < written <= 30 and shape[2] == 3


@pytest.mark.parametrize(
    "algo, extra",
    [
        ("a2c", []),
        ("a3c", ["--workers", "2", "--serial"]),
        ("impala", ["--workers", "2", "--serial"]),
        ("appo", ["--workers", "1"]),
        ("a3c-ps", ["--workers", "2", "--serial"]),
    ],
)
def test_every_runtime_learns_the_statistics_from_every_rollout_and_resume_restores_them(algo, extra, tmp_path):
    """The saved statistics count every env step the run learned from (so no rollout was missed or counted
    twice, and the actors' data reached the learner); a resumed run continues them, not restarts them."""
    d = str(tmp_path / "run")
    args = [
        "--algo",
        algo,
        "--env",
        "Pendulum-v1",
        "--normalize-obs",
        "--normalize-reward",
        "--num-envs",
        "4",
        "--n-steps",
        "8",
        "--eval-every",
        "0",
        "--lr-schedule",
        "constant",
        *extra,
        *FAST,
    ]
    run_cli("train", *args, "--total-steps", "1024", "--run-dir", d, check=True)
    first = _ckpt(d)
    steps = first["counters"]["env_steps"]
    assert float(first["model"]["obs_norm.count"]) == steps == float(first["model"]["return_norm.count"])
    run_cli("train", "--resume", d, "--total-steps", "2048", *FAST, check=True)
    second = _ckpt(d)
    assert float(second["model"]["obs_norm.count"]) == second["counters"]["env_steps"] >= 2048


def test_hogwild_workers_share_one_set_of_statistics(tmp_path):
    """Two A3C worker processes merge into the shared model's statistics (a race may lose a merge, as a
    Hogwild update may be lost, so this allows a few)."""
    d = str(tmp_path / "run")
    run_cli(
        "train",
        "--algo",
        "a3c",
        "--env",
        "Pendulum-v1",
        "--normalize-obs",
        "--workers",
        "2",
        "--num-envs",
        "2",
        "--n-steps",
        "8",
        "--total-steps",
        "4000",
        "--eval-every",
        "0",
        "--run-dir",
        d,
        *FAST,
        check=True,
    )
    ckpt = _ckpt(d)
    steps, count = ckpt["counters"]["env_steps"], float(ckpt["model"]["obs_norm.count"])
    # Races lost up to 16% of the merges with 16-step rollouts on 2 busy cores (1 run in 8, before and after
    # issue 22). Merging into a worker's own copy would leave the shared count at 0, one worker alone at half.
    assert 0.75 * steps <= count <= steps
    # Pendulum's observations are (cos, sin, angular velocity): the statistics are those of real data.
    mean, var = ckpt["model"]["obs_norm.mean"], ckpt["model"]["obs_norm.var"]
    assert float(var[:2].max()) <= 1.0 and float(var[2]) > 1.0 and float(mean.abs().max()) < 8.0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--algo", "feudal", "--env", "CartPole-v1", "--normalize-obs"], "--algo feudal"),
        (["--algo", "a2c", "--env", "CarRacing-v3", "--normalize-obs"], "a3c-cnn torso"),
        (["--algo", "a2c", "--env", "FrozenLake-v1", "--normalize-obs"], "Discrete"),
        (["--algo", "a2c", "--env", "support_envs:GoalOnly", "--normalize-obs"], "no Box entry to normalise"),
        (["--algo", "a2c", "--env", "CartPole-v1", "--bounded-mean"], "--bounded-mean squashes a Gaussian mean"),
        (["--algo", "feudal", "--env", "CartPole-v1", "--bounded-mean"], "--algo feudal"),
        (["--algo", "a2c", "--env", "CartPole-v1", "--sde"], "--sde is exploration noise for continuous"),
        (["--algo", "a3c", "--env", "MountainCarContinuous-v0", "--sde-sample-freq", "4"], "add --sde"),
        (["--algo", "a2c", "--env", "Pendulum-v1", "--sde", "--sde-sample-freq", "-1"], "--sde-sample-freq"),
        (["--algo", "a2c", "--env", "Pendulum-v1", "--obs-clip", "0"], "--obs-clip"),
        (["--algo", "a2c", "--env", "Pendulum-v1", "--reward-clip", "-1"], "--reward-clip"),
    ],
)
def test_normalisation_bad_input_is_one_line_and_exit_2(args, needle, tmp_path, capsys):
    # (in one process: the check itself; the exit path is test_inputs.py's end to end)
    line = one_line_error(capsys, ["train", *args, "--total-steps", "100", "--run-dir", str(tmp_path / "r"), *FAST])
    assert needle in line
    assert not os.path.exists(tmp_path / "r")


def test_record_refuses_an_unknown_video_format(cheetah, tmp_path, capsys):
    assert ".mp4" in one_line_error(capsys, ["record", cheetah, "-o", str(tmp_path / "x.avi")])


def test_the_shipped_halfcheetah_model_runs_forward_with_its_statistics():
    """A random policy scores about -300 on HalfCheetah; the shipped model, with the normalisation statistics it
    was trained with, runs forward (7,454 ± 649 over 100 episodes, the lowest 4,458: every one of 4 is asserted
    above 4,000). Without its statistics it would not."""
    p = run_cli("eval", "pretrained:halfcheetah", "--episodes", "4", "--num-envs", "4", "--json", check=True)
    out = json.loads(p.stdout)
    assert out["episodes"] == 4 and out["env"] == "HalfCheetah-v5"
    assert out["min"] >= 4000, out
    model = torch.load(resolve_checkpoint_path("pretrained:halfcheetah"), weights_only=True)["model"]
    assert float(model["obs_norm.count"]) > 100_000 and not torch.allclose(model["obs_norm.var"], torch.ones(17))


def test_no_working_gl_backend_gets_one_line_naming_what_to_install(cheetah, tmp_path):
    """GLFW needs a display: on this headless machine MuJoCo cannot render with it, and record says what to do."""
    env = {k: v for k, v in cli_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYOPENGL_PLATFORM")}
    p = subprocess.run(
        [*ASYNCRL, "record", cheetah, "-o", str(tmp_path / "x.mp4")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "MUJOCO_GL": "glfw"},
    )
    assert p.returncode == 2, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert "MUJOCO_GL=glfw" in last and "EGL" in last and "OSMesa" in last and "Traceback" not in p.stderr
    assert not os.path.exists(tmp_path / "x.mp4")  # nothing half-written


def test_a_bounded_mean_run_keeps_its_head_through_the_checkpoint_and_resume(tmp_path):
    from asyncrl import TrainConfig, load, train

    run_dir = str(tmp_path / "run")
    kw = dict(algo="a2c", env="MountainCarContinuous-v0", eval_every=0, progress=False, tensorboard=False)
    train(TrainConfig(**kw, bounded_mean=True, total_steps=1_000, run_dir=run_dir))
    r = train(TrainConfig(total_steps=2_000), resume=run_dir, given={"total_steps"})
    assert r.env_steps >= 2_000
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f)["bounded_mean"] is True
    model = load(run_dir).model
    assert model.spec.bounded_mean and model.mean_bounds is not None
    with torch.no_grad():
        model.policy_head.bias.fill_(100.0)  # (a raw mean far beyond the bound 1)
        mean = model(torch.zeros(1, 1, 2), None, torch.zeros(1, 1, dtype=torch.bool)).params
    assert float(mean.max()) <= 1.0 and float(mean.max()) > 0.99


@pytest.mark.parametrize("lstm", [False, True])  # (acting in numpy, and in torch)
@pytest.mark.parametrize("freq, draws_at", [(4, [0, 4, 8]), (0, [0])])
def test_gsde_holds_each_envs_noise_matrix_for_sde_sample_freq_steps(lstm, freq, draws_at):
    """The collector draws every env's noise matrix at the rollout's start and every ``sde_sample_freq`` steps,
    and each stored action is the mean plus ``features @ W`` of the matrix held at that step."""
    from asyncrl.envs.make import env_spaces
    from asyncrl.envs.vector import SyncVecEnv
    from asyncrl.nn.model import ActorCritic
    from asyncrl.nn.spec import spec_from_spaces
    from asyncrl.runtime.rollout import RolloutCollector

    venv = SyncVecEnv("Pendulum-v1", 2, seed=0)
    spec = spec_from_spaces(*env_spaces("Pendulum-v1"), hidden=[8], lstm=lstm, lstm_size=8, sde=True)
    spec.sde_sample_freq = freq
    torch.manual_seed(0)
    model = ActorCritic(spec)
    collector = RolloutCollector(venv, model, n_steps=10, gamma=0.99, seed=1)
    source = collector.fast if collector.fast is not None else model
    assert (collector.fast is None) == lstm
    drawn: list = []
    draw = source.sde_weights
    source.sde_weights = lambda batch: drawn.append(draw(batch)) or drawn[-1]  # type: ignore[method-assign]
    rollout = collector.collect()
    assert len(drawn) == len(draws_at)
    with torch.no_grad():
        params = model(rollout.obs[:-1], rollout.core_state, rollout.first[:-1]).params  # [T, B, 1 + K]
    mean, feats = params[..., :1], params[..., 1:]
    for t in range(10):
        w = torch.as_tensor(drawn[max(i for i, at in enumerate(draws_at) if at <= t)])  # [B, K, 1]
        want = mean[t] + torch.einsum("bk,bka->ba", feats[t], w)
        torch.testing.assert_close(rollout.actions[t], want, rtol=1e-4, atol=1e-4)
    venv.close()


def test_a_gsde_run_keeps_its_noise_matrix_log_std_through_the_checkpoint_and_resume(tmp_path):
    from asyncrl import TrainConfig, load, train

    run_dir = str(tmp_path / "run")
    kw = dict(algo="a2c", env="MountainCarContinuous-v0", eval_every=0, progress=False, tensorboard=False)
    train(TrainConfig(**kw, sde=True, sde_sample_freq=8, log_std_init=-1.0, total_steps=800, run_dir=run_dir))
    latest = os.path.join(run_dir, "checkpoints", "latest.pt")
    before = load(latest).model.log_std.detach().clone()
    assert before.shape == (64, 1)  # [K features, A actions]
    r = train(TrainConfig(total_steps=1_600), resume=run_dir, given={"total_steps"})
    assert r.env_steps >= 1_600
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    assert (config["sde"], config["sde_sample_freq"]) == (True, 8)
    model = load(latest).model
    assert model.spec.sde and model.log_std.shape == (64, 1)
    assert not torch.equal(model.log_std.detach(), before)  # (trained on from the checkpoint's values)
