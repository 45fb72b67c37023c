"""The app's settings: command-line options, each with an environment variable (a Space sets those),
checked at start with a message that names the bad one."""

from __future__ import annotations

import argparse
import errno
import math
import os
import socket

from huggingface_hub import whoami

from flagging.hub_sync import check_repo_id, hub_endpoint, hub_error
from training.rounds import RETRAIN_METHODS, RETRAIN_STARTS, SCRATCH_FROM_EXAMPLES, drop_problem


REQUIRE_SIGN_IN = {"none": frozenset(), "vote": frozenset({"vote"}), "flag": frozenset({"flag", "vote"})}


def sign_in_actions(needs_sign_in: frozenset[str]) -> str:
    """What needs a sign-in, in words ("flag and vote"; "" for nothing): for the page and the start-up log."""
    return " and ".join(action for action in ("flag", "vote") if action in needs_sign_in)


def sign_in_shown(args) -> bool:
    return args.sign_in == "on" or (args.sign_in == "auto" and bool(os.environ.get("OAUTH_CLIENT_ID")))


YES, NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def serve_problem(host: str, port: int) -> str | None:
    """Why the app could not serve on host:port, or None: found before the Hub restore and the model load,
    where Gradio would say "Cannot find empty port" after them, whether the port or the host was wrong."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        return f"--host {host} (DADC_HOST): not an address of this machine ({e.strerror})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a port just freed is free
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return f"--port {port}: {host}:{port} is in use (another app, or this one already running?): choose another --port"
            return f"--host {host} (DADC_HOST): cannot serve on {host}:{port}: {e.strerror or e}"
    return None


def mocked_sign_in_problem(args) -> str | None:
    """Why Gradio's stand-in sign-in could not start, or None. Off a Space, `--sign-in on` signs everyone in
    as HF_TOKEN's owner, and Gradio asks the Hub who that is while it launches: a Hub out of reach or a
    refused token stopped the app there with a traceback. Asked here first, as Gradio asks (the Hub of
    HF_ENDPOINT), to say what is wrong before anything loads."""
    from gradio.utils import get_space  # here: deploy_space parses settings without loading Gradio

    if args.sign_in != "on" or get_space() is not None:
        return None
    try:
        user = whoami()
    except Exception as e:  # the Hub is out of reach, or refuses the token (401)
        return f"--sign-in on outside a Hugging Face Space signs you in as HF_TOKEN's owner, but the Hub could not say who that is ({hub_error(e)}): check HF_TOKEN and the network, or use --sign-in off"
    if user.get("type") != "user":
        return f"--sign-in on outside a Hugging Face Space signs you in as HF_TOKEN's owner, which must be a person, not a {user.get('type')}: use a personal access token"
    return None


def public_dataset_repo(settings: argparse.Namespace) -> str:
    """The flags' dataset repo to name on public pages (the Space's and the model's cards): "" when there is
    none, or when it was made private, which a public card would advertise."""
    return "" if settings.hub_dataset_private else settings.hub_dataset


def parse_args(argv=None, description: str | None = None) -> argparse.Namespace:
    env = os.environ.get
    # Defaults from the environment are strings on purpose: argparse converts them with the option's
    # `type`, so a bad value (DADC_RETRAIN_THRESHOLD=ten) gets the same clear error as a bad flag.
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    # GRADIO_SERVER_NAME/PORT are what Hugging Face Spaces set.
    p.add_argument("--host", default=env("DADC_HOST") or env("GRADIO_SERVER_NAME") or "127.0.0.1", help="address to bind (default 127.0.0.1; env DADC_HOST or GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, default=env("DADC_PORT") or env("GRADIO_SERVER_PORT") or "7860", help="port (default 7860; env DADC_PORT or GRADIO_SERVER_PORT)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--retrain-threshold", type=int, default=env("DADC_RETRAIN_THRESHOLD", "10"), help="fooling examples per round before retraining (default 10)")
    p.add_argument("--retrain-method", choices=RETRAIN_METHODS, default=env("DADC_RETRAIN_METHOD", "standard"), help="training method of each round's fine-tuning (default standard)")
    p.add_argument(
        "--retrain-from",
        choices=RETRAIN_STARTS,
        default=env("DADC_RETRAIN_FROM", "auto"),
        help=f"live: each round fine-tunes the live model; scratch: trains a new one on MNIST + people's examples, ~15 s more per round on 2 cores; auto: fine-tunes while a round has fewer than {SCRATCH_FROM_EXAMPLES} people's examples to learn, then scratch (standard training only) (default auto)",
    )
    p.add_argument(
        "--max-held-out-drop",
        type=float,
        default=env("DADC_MAX_HELD_OUT_DROP", "0"),
        help="gate: largest allowed fall of a round's accuracy on held-out people's examples, a fraction (default 0: none)",
    )
    p.add_argument("--max-robust-drop", type=float, default=env("DADC_MAX_ROBUST_DROP") or None, help="gate: largest allowed fall of a round's FGSM ε=0.1 accuracy, a fraction (default: not gated)")
    p.add_argument("--validation-votes", type=int, default=env("DADC_VALIDATION_VOTES", "0"), help="agreeing votes that verify an example; 0 = validation off (default 0)")
    p.add_argument("--maintainers", default=env("DADC_MAINTAINERS", ""), help="comma-separated usernames (signed in with Hugging Face) whose vote decides alone, who may remove drawings, hold retraining and roll back rounds (default none)")
    p.add_argument(
        "--sign-in",
        choices=["auto", "on", "off"],
        default=env("DADC_SIGN_IN", "auto"),
        help="'Sign in with Hugging Face' button; auto = on when the Space has OAuth (hf_oauth: true sets OAUTH_CLIENT_ID) (default auto)",
    )
    p.add_argument("--hub-dataset", default=env("DADC_HUB_DATASET", ""), help="dataset repo 'namespace/name' to push flags to; needs HF_TOKEN in the environment (default off)")
    private = env("DADC_HUB_DATASET_PRIVATE", "").strip().lower()  # read once: the default and its check
    p.add_argument(
        "--hub-dataset-private",
        action="store_true",
        default=private in YES,
        help="create the dataset repo private (it holds every attempt, junk included, with usernames); an existing repo keeps its visibility (env DADC_HUB_DATASET_PRIVATE=1)",
    )
    p.add_argument("--hub-model", default=env("DADC_HUB_MODEL", ""), help="model repo 'namespace/name' to publish each accepted round to (tag round-N); needs HF_TOKEN (default off)")
    p.add_argument("--push-every-minutes", type=float, default=env("DADC_PUSH_EVERY_MINUTES", "5"), help="Hub push interval (default 5)")
    p.add_argument("--hub-endpoint", type=hub_endpoint, default=env("HF_ENDPOINT") or None, help="Hub URL (default: huggingface.co, env HF_ENDPOINT)")
    p.add_argument("--hub-retry-seconds", type=float, default=env("DADC_HUB_RETRY_SECONDS", "60"), help="wait between attempts to reach a Hub that failed (restore, push, publish) (default 60)")
    p.add_argument(
        "--keep-uploads-hours",
        type=float,
        default=env("DADC_KEEP_UPLOADS_HOURS", "24"),
        help="delete drawings and images from Gradio's upload cache after this many hours; flags are kept in the state directory; 0 = never (default 24)",
    )
    p.add_argument(
        "--require-sign-in",
        choices=list(REQUIRE_SIGN_IN),
        default=env("DADC_REQUIRE_SIGN_IN", "none"),
        help="what needs a Hugging Face sign-in: none; vote (only signed-in people's votes verify); flag (flags and votes) (default none)",
    )
    p.add_argument(
        "--max-flags-per-minute",
        type=int,
        default=env("DADC_MAX_FLAGS_PER_MINUTE", "30"),
        help="flags one person (signed-in name, else browser session) may send per minute; 0 = no limit (default 30)",
    )
    args = p.parse_args(argv)
    if args.retrain_threshold < 1:
        p.error(f"--retrain-threshold must be at least 1, not {args.retrain_threshold}")
    for option, value in (("--max-held-out-drop", args.max_held_out_drop), ("--max-robust-drop", args.max_robust_drop)):
        if problem := drop_problem(option, value):
            p.error(problem)
    if private not in YES + NO:
        p.error(f"DADC_HUB_DATASET_PRIVATE must be 1 or 0 (true/false, yes/no, on/off), not {env('DADC_HUB_DATASET_PRIVATE')!r}")
    # argparse checks `choices` only for values given on the command line, not for defaults from the environment.
    checked = (("DADC_RETRAIN_METHOD", args.retrain_method, RETRAIN_METHODS), ("DADC_RETRAIN_FROM", args.retrain_from, RETRAIN_STARTS), ("DADC_SIGN_IN", args.sign_in, ("auto", "on", "off")), ("DADC_REQUIRE_SIGN_IN", args.require_sign_in, tuple(REQUIRE_SIGN_IN)))
    for name, value, choices in checked:
        if value not in choices:
            p.error(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    if args.sign_in == "on" and os.environ.get("SYSTEM") != "spaces" and not os.environ.get("HF_TOKEN"):
        # Off a Space, Gradio mocks the sign-in with the owner of the local token (and asks the Hub who that is).
        p.error("--sign-in on outside a Hugging Face Space needs HF_TOKEN: you are then signed in as its owner")
    if args.require_sign_in != "none" and not sign_in_shown(args):
        p.error(f"--require-sign-in {args.require_sign_in} needs the sign-in button: a Space with hf_oauth: true, or --sign-in on")
    if not (0 <= args.keep_uploads_hours and math.isfinite(args.keep_uploads_hours)):
        p.error(f"--keep-uploads-hours must be 0 (never delete) or a positive number of hours, not {args.keep_uploads_hours}")
    if not (args.hub_retry_seconds > 0 and math.isfinite(args.hub_retry_seconds)):
        p.error(f"--hub-retry-seconds must be positive, not {args.hub_retry_seconds}")
    if not (args.push_every_minutes > 0 and math.isfinite(args.push_every_minutes)):
        p.error(f"--push-every-minutes must be positive, not {args.push_every_minutes}")
    if not 1 <= args.port <= 65535:  # found before round 0 is trained, not when the server starts
        p.error(f"--port must be between 1 and 65535, not {args.port}")
    if args.max_flags_per_minute < 0:
        p.error(f"--max-flags-per-minute must be 0 (no limit) or more, not {args.max_flags_per_minute}")
    if args.validation_votes < 0:
        p.error(f"--validation-votes must be 0 or more, not {args.validation_votes}")
    for flag, repo in (("--hub-dataset", args.hub_dataset), ("--hub-model", args.hub_model)):
        if repo:
            try:
                check_repo_id(repo)
            except ValueError as e:
                p.error(f"{flag}: {e}")
    return args

