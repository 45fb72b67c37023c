"""Settings are checked at start, from the command line and from the environment alike (a Space sets
them as variables): a bad value gets a clear message naming it, and nothing is trained or written."""

import pytest

from tests.app_process import start_app_expecting_refusal


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"DADC_SIGN_IN": "yes"}, "DADC_SIGN_IN must be one of auto, on, off, not 'yes'"),
        ((), {"DADC_HUB_DATASET_PRIVATE": "private"}, "DADC_HUB_DATASET_PRIVATE must be 1 or 0 (true/false, yes/no, on/off), not 'private'"),
        ((), {"DADC_RETRAIN_METHOD": "bogus"}, "DADC_RETRAIN_METHOD must be one of standard, adv-reg, pgd, fast, not 'bogus'"),
        ((), {"DADC_RETRAIN_FROM": "zero"}, "DADC_RETRAIN_FROM must be one of auto, live, scratch, not 'zero'"),
        ((), {"DADC_RETRAIN_THRESHOLD": "ten"}, "argument --retrain-threshold: invalid int value: 'ten'"),
        ((), {"DADC_HUB_RETRY_SECONDS": "0"}, "--hub-retry-seconds must be positive, not 0.0"),
        (("--hub-retry-seconds", "soon"), {}, "argument --hub-retry-seconds: invalid float value: 'soon'"),
        ((), {"DADC_KEEP_UPLOADS_HOURS": "-1"}, "--keep-uploads-hours must be 0 (never delete) or a positive number of hours, not -1.0"),
        (("--keep-uploads-hours", "inf"), {}, "--keep-uploads-hours must be 0 (never delete) or a positive number of hours, not inf"),
        ((), {"DADC_PUSH_EVERY_MINUTES": "0"}, "--push-every-minutes must be positive, not 0.0"),
        ((), {"DADC_REQUIRE_SIGN_IN": "yes"}, "DADC_REQUIRE_SIGN_IN must be one of none, vote, flag, not 'yes'"),
        ((), {"DADC_REQUIRE_SIGN_IN": "vote", "OAUTH_CLIENT_ID": ""}, "--require-sign-in vote needs the sign-in button: a Space with hf_oauth: true, or --sign-in on"),
        ((), {"DADC_MAX_HELD_OUT_DROP": "2"}, "--max-held-out-drop must be between 0 and 1 (a fraction: 0.02 is 2 points), not 2.0"),
        ((), {"DADC_MAX_FLAGS_PER_MINUTE": "-5"}, "--max-flags-per-minute must be 0 (no limit) or more, not -5"),
        (("--port", "99999"), {}, "--port must be between 1 and 65535, not 99999"),
        ((), {"GRADIO_SERVER_PORT": "0"}, "--port must be between 1 and 65535, not 0"),
        # without a scheme every Hub request failed, retried in the background for as long as the app ran
        ((), {"HF_ENDPOINT": "huggingface.co"}, "argument --hub-endpoint: must be an http:// or https:// URL such as https://huggingface.co, not 'huggingface.co'"),
        (("--hub-endpoint", "ftp://hub.example"), {}, "argument --hub-endpoint: must be an http:// or https:// URL such as https://huggingface.co, not 'ftp://hub.example'"),
    ],
)
def test_a_bad_setting_is_refused_at_start_with_its_name(tmp_path, args, env, message):
    out = start_app_expecting_refusal("--state-dir", str(tmp_path / "state"), *args, env=env)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "state").exists()  # nothing was trained or written


def test_a_port_in_use_or_a_host_not_of_this_machine_is_refused_before_anything_loads(tmp_path):
    """Gradio said "Cannot find empty port" in a traceback for both, after the Hub restore and the model load."""
    import socket

    with socket.socket() as other_app:
        other_app.bind(("127.0.0.1", 0))
        other_app.listen()
        port = other_app.getsockname()[1]
        out = start_app_expecting_refusal("--state-dir", str(tmp_path / "state"), "--port", str(port))
        from serving.settings import parse_args

        assert parse_args(["--port", str(port)]).port == port  # only the app probes: deploy_space parses a Space's settings here
    assert out.returncode == 2 and f"--port {port}: 127.0.0.1:{port} is in use (another app, or this one already running?)" in out.stderr, out.stderr
    out = start_app_expecting_refusal("--state-dir", str(tmp_path / "state"), env={"DADC_HOST": "192.0.2.1"})  # a documentation address
    assert out.returncode == 2 and "--host 192.0.2.1 (DADC_HOST): cannot serve on 192.0.2.1:" in out.stderr, out.stderr
    out = start_app_expecting_refusal("--state-dir", str(tmp_path / "state"), "--host", "no-such-host.invalid")
    assert out.returncode == 2 and "--host no-such-host.invalid (DADC_HOST): not an address of this machine" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "state").exists()


def test_a_state_directory_that_is_a_file_is_refused_at_start_and_left_alone(tmp_path):
    in_the_way = tmp_path / "state"
    in_the_way.write_text("notes\n")
    out = start_app_expecting_refusal("--state-dir", str(in_the_way))
    assert out.returncode == 2 and f"--state-dir (DADC_STATE_DIR): cannot use {in_the_way}: a file, not a folder" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and in_the_way.read_text() == "notes\n"



@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("training.round_matrix", (), "no flagged examples in {state}/flags: is {state} the app's state directory?"),
        ("flagging.remove", ("1a2b3c4d", "--reason", "its author asked"), "no flagged examples in {state}/flags: is {state} the app's state directory?; nothing removed"),
        ("flagging.release", ("--out", "{tmp}/release"), "no flagged examples in {state}/flags: is {state} the app's state directory?; nothing was written"),
        ("training.rounds", (), "no model.safetensors in {state}/checkpoints/round-0"),
        ("training.publish", ("--repo", "you/dadc-mnist"), "no checkpoints under {state}"),
    ],
)
def test_a_maintainer_tool_given_a_mistyped_state_directory_says_so_and_creates_nothing(tmp_path, monkeypatch, capsys, command, args, message):
    """A typo in --state-dir must not answer with an empty result (the round matrix once printed an empty
    table and exit 0), nor leave an empty store behind for the next command to read as real."""
    import importlib

    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")  # publishing checks for a token first
    state = tmp_path / "stat"  # meant: state
    fill = {"state": state, "tmp": tmp_path}
    argv = [a.format(**fill) for a in args] + ["--state-dir", str(state)]
    assert importlib.import_module(command).main(argv) == 2
    assert message.format(**fill) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # neither the state directory nor a release was created
