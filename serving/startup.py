"""Start-up: the live model, the store, the Hub push and publish threads, and the restore from the Hub
that runs in the background until the Hub answers."""

from __future__ import annotations

import gc
import logging
import os
import threading

from huggingface_hub import HfApi

from data.state_dir import flags_dir
from flagging.hub_restore import NotFlagsRepo, restore_flags
from flagging.hub_sync import HubSync, hub_error
from flagging.store import FlagStore
from model.checkpoint import CheckpointError, load_checkpoint
from model.predict import LiveModel
from serving.settings import public_dataset_repo, sign_in_actions
from training.hold import hold_note, read_hold
from training.publish import ModelPublisher, restore_rounds
from training.rounds import RoundRunner, how_rounds_train, latest_model_dir, rollback_note

log = logging.getLogger("dadc.app")


def freeze_loaded_objects() -> None:
    """What is loaded by now (modules, models, every stored record) lives as long as the app. Out of the
    collector's sight, a full collection no longer walks every record whenever a handler allocates: a
    Rounds tab rebuild on a 50,000-record store took 0.25 s instead of 0.46 s (python -m bench.rounds_view)."""
    gc.collect()  # garbage first: frozen objects are never collected
    gc.freeze()


def hub_api(args) -> HfApi:
    return HfApi(endpoint=args.hub_endpoint, token=os.environ.get("HF_TOKEN") or None)


FLAGS_BEING_RESTORED = "the flags on the Hub are being restored"


def not_restored_yet(args, error: Exception, rounds_back: bool = False) -> str:
    """What the Hub still holds back, named: once the rounds are back, only the flags can be missing."""
    missing = " and ".join(name for name, wanted in (("flags", args.hub_dataset), ("rounds", args.hub_model and not rounds_back)) if wanted)
    return f"the {missing} on the Hub are not restored yet ({hub_error(error)}); retrying every {args.hub_retry_seconds:g} s"


def warn_not_restored(args, error: Exception) -> None:
    log.warning("could not restore from the Hub (%s); retrying in %s s", hub_error(error), args.hub_retry_seconds)


def keep_restoring(args, state_dir, live: LiveModel, rounds: RoundRunner | None, sync: HubSync | None, stop: threading.Event, rounds_back: bool) -> None:
    """Restore in the background, retrying until the Hub answers: the rounds first, served as soon as they
    are back, then the flags; then let rounds resume (paused meanwhile: never a second lineage of rounds
    under names the Hub has). Rounds not back yet means the attempt made before serving has just failed:
    the first attempt here waits its period, as between any two."""
    # A Space without persistent storage restarts from an empty disk: without this it would serve a
    # retrained round 0 and number its next round after that, while the Hub holds the later rounds.
    if not rounds_back and stop.wait(args.hub_retry_seconds):
        return
    while True:
        try:
            api = hub_api(args)
            if not rounds_back:  # once back, they are not fetched and swapped in again at each retry
                restore_rounds(api, args.hub_model, state_dir)
                live.swap(*load_checkpoint(latest_model_dir(state_dir)))  # the last published round serves at once
                rounds_back = True
                log.info("restored the rounds from the Hub: round %s is live", live.metadata.get("round"))
            if args.hub_dataset:
                if rounds is not None:
                    rounds.paused = FLAGS_BEING_RESTORED  # what is still on its way, not the outage that is over
                restore_flags(api, args.hub_dataset, flags_dir(state_dir))
                if sync is not None:
                    sync.relearn_the_repo()  # the restored files are the repo's own: not pushed back
            break
        except NotFlagsRepo as e:  # a setting to fix, not an outage to wait out
            log.error("not restoring the flags: %s", e)
            if rounds is not None:
                rounds.paused = str(e)
            return
        except Exception as e:
            warn_not_restored(args, e)
            if rounds is not None:
                rounds.paused = not_restored_yet(args, e, rounds_back)
            if stop.wait(args.hub_retry_seconds):
                return
    if rounds is not None:
        rounds.store.refresh()  # read the restored records now, to freeze them with the rest
    freeze_loaded_objects()
    if rounds is not None:
        rounds.paused = ""
        rounds.maybe_start()


def load_live_model(state_dir) -> LiveModel:
    """The last accepted round's model; round-0 (trained first if missing) when there is none."""
    from training.prepare import ensure_round0

    ensure_round0(state_dir)
    directory = latest_model_dir(state_dir)
    try:
        return LiveModel(*load_checkpoint(directory))
    except CheckpointError as e:
        # Nothing serves a model that cannot be read: say which folder, and how to get going again.
        raise SystemExit(
            f"Cannot start: {e}. Move the folder {directory} out of the state directory and start again: the app then"
            " serves the round before it (round 0 is trained anew), or, with --hub-model, downloads this round again from the Hub."
        ) from None


def open_store(state_dir, hub_dataset: str | None = None) -> tuple[FlagStore | None, str]:
    """The flag store, its card loading `hub_dataset` when set; (None, why) if the state directory cannot be written."""
    try:
        return FlagStore(flags_dir(state_dir), state_dir / "locks", card_name=hub_dataset or None), ""
    except OSError as e:
        log.error("flag store unavailable: %s", e)
        return None, f"the state directory cannot be written ({e.strerror or e})"


def startup_summary(args, services) -> str:
    """What this app serves and how it is set, in one log line. On a Space the settings come from variables
    set in another page, and its log is where a maintainer sees which took effect. Names repos, never the token."""
    metadata = services.live.metadata
    accuracy = metadata.get("metrics", {}).get("mnist_test_accuracy")
    served = f"serving round {metadata.get('round', '?')}" + (f" (MNIST test accuracy {accuracy:.2%})" if accuracy is not None else "") + rollback_note(metadata)
    parts = [f"{served} from {services.state_dir}"]
    if services.rounds is None:
        parts.append(f"flagging and retraining unavailable: {services.store_problem}")
    else:
        how = how_rounds_train(services.rounds.cfg)
        parts.append(f"{len(services.store.records)} flags stored, retraining after {args.retrain_threshold} fooling examples ({how}, {args.retrain_method})")
        if hold := read_hold(services.state_dir):
            parts.append(f"retraining {hold_note(hold)}")
        elif services.rounds.paused:
            parts.append(f"retraining paused: {services.rounds.paused}")
        elif services.rounds.running:
            parts.append("a round is training now (examples from before this start were enough)")
        elif services.rounds.waiting:
            parts.append(f"the round due {services.rounds.waiting}")
    parts.append(f"validation: {services.votes_required} agreeing votes" if services.votes_required else "validation: off")
    needs = sign_in_actions(services.needs_sign_in)
    sign_in = f"needed to {needs}" if needs else "optional" if services.sign_in else "off"
    maintainers = ", ".join(sorted(services.maintainers)) or "none"
    parts.append(f"sign-in: {sign_in}; maintainers: {maintainers}")
    parts.append(f"at most {services.flag_limit.per_minute} flags a minute per person" if services.flag_limit else "no limit on flags a minute")
    hub = [f"flags pushed to dataset {args.hub_dataset} every {args.push_every_minutes:g} min"] if services.flag_sync else []
    hub += [f"rounds published to model {args.hub_model}"] if services.publisher else []
    where = f" ({args.hub_endpoint})" if args.hub_endpoint else ""
    parts.append(f"Hub{where}: {', '.join(hub)}" if hub else "Hub: off")
    return "; ".join(parts)


def start_hub_sync(args, store: FlagStore | None) -> HubSync | None:
    token = os.environ.get("HF_TOKEN", "")
    if not args.hub_dataset:
        return None
    if not token:
        log.warning("--hub-dataset is set but HF_TOKEN is not: not pushing to the Hub")
        return None
    if store is None:
        log.warning("the flag store is unavailable: not pushing to the Hub")
        return None
    sync = HubSync(store.root, args.hub_dataset, token, store.lock, every_minutes=args.push_every_minutes, endpoint=args.hub_endpoint, retry_seconds=args.hub_retry_seconds, private=args.hub_dataset_private)
    sync.start()
    return sync


def start_publisher(args, state_dir) -> ModelPublisher | None:
    token = os.environ.get("HF_TOKEN", "")
    if not args.hub_model:
        return None
    if not token:
        log.warning("--hub-model is set but HF_TOKEN is not: not publishing models")
        return None
    publisher = ModelPublisher(state_dir, args.hub_model, token, endpoint=args.hub_endpoint, retry_seconds=args.hub_retry_seconds, dataset_repo=public_dataset_repo(args))
    publisher.start()
    return publisher
