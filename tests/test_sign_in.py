"""Sign in with Hugging Face, as on a Space with `hf_oauth: true`: the real OAuth flow (Gradio's
LoginButton, authlib, an RS256-signed ID token) against a local OpenID provider
(tests/oauth_provider.py), the page rendered through Node as a Space renders it. A signed-in person's flags and votes carry their username, they are never
asked to validate their own drawing, and a maintainer's vote decides alone."""

import httpx
import pytest
from gradio_client import Client
from playwright.sync_api import expect

from flagging.store import FlagStore
from flagging.validation import verified_examples
from tests.app_process import SERVED_THROUGH_NODE, nothing_listens_at, running_app, start_app_expecting_refusal
from tests.browser import browser, draw_and_flag
from tests.conftest import flag_as_people_would
from tests.flag_clients import distinct_drawing, flag
from tests.hub_server import LocalHub
from tests.oauth_provider import OAuthProvider


def test_a_signed_in_maintainer_is_credited_and_her_vote_decides_alone(fresh_state, hard_examples, tmp_path):
    flag_as_people_would(fresh_state, hard_examples, 1)  # someone else's fooling example, waiting for votes
    someone_elses_label = int(hard_examples[1][0])
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    waiting = next(iter(store.records))
    store.close()
    space = ("--maintainers", "mia", "--validation-votes", "3", "--require-sign-in", "flag")  # 3 ordinary votes would be needed
    log = []
    with OAuthProvider("mia") as provider, running_app(fresh_state, *space, env=provider.space_env(), output=log) as url, browser() as new_page:
        page = new_page(url)
        sign_in = page.locator("#sign-in")
        expect(sign_in).to_contain_text("Sign in with Hugging Face")
        expect(page.locator("#sign-in-note")).to_contain_text("Needed to flag and vote here")
        sign_in.click()  # to the provider and back, as on a Space
        expect(sign_in).to_contain_text("Logout (mia)", timeout=15_000)
        assert provider.logins == ["mia"]

        page.get_by_role("tab", name="Rounds").click()  # someone else fooled the model, but anonymously: nobody to rank yet
        expect(page.locator("#contributors")).to_contain_text("nobody signed in has fooled the model yet", timeout=15_000)
        page.get_by_role("tab", name="Fool the model").click()
        draw_and_flag(page, 7, 1)
        expect(page.locator("#flag-result")).to_contain_text("You fooled the model!", timeout=15_000)

        page.get_by_role("tab", name="Validate").click()
        expect(page.locator("#question")).to_contain_text(f"Is this a {someone_elses_label}?", timeout=15_000)
        page.get_by_role("button", name="Correct", exact=True).click()
        expect(page.locator("#vote-status")).to_contain_text("Thanks, vote saved", timeout=15_000)
        expect(page.locator("#question")).to_contain_text("Nothing to validate")  # her own drawing is never shown to her

        page.get_by_role("tab", name="Rounds").click()  # she is on the board: 1 fooling example, not verified yet
        first = page.locator("#contributors table tbody tr").first
        expect(first).to_contain_text("mia", timeout=15_000)
        assert [c.strip() for c in first.locator("td").all_text_contents()] == ["mia", "1", "0"]
        expect(page.locator("#contributors")).not_to_contain_text("nobody signed in has fooled the model yet")

        stranger = new_page(url)  # another browser, not signed in
        expect(stranger.locator("#sign-in")).to_contain_text("Sign in with Hugging Face")

        # Without signing in, nobody flags or votes here (--require-sign-in flag), by the page or the API
        script = Client(url, verbose=False)
        with pytest.raises(Exception, match=r"Sign in with Hugging Face \(top right\) to flag here"):
            flag(script, distinct_drawing(1, tmp_path / "1.png"), "4")
        assert script.predict(api_name="/next_example")[1:] == ("### Sign in to validate", "", "Sign in with Hugging Face (top right) to vote here: this app counts votes only from signed-in people.")
        with pytest.raises(Exception, match=r"to vote here"):
            script.predict(waiting, None, "", api_name="/vote_correct")

    assert SERVED_THROUGH_NODE in log[0]  # all of it went through Node's proxy, not around it
    assert nothing_listens_at(url)  # stopping the app stopped its Node server too: a restart gets the port
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    records = sorted(store.records.values(), key=lambda r: r.created_at)
    assert [(r.session_hash == "person-0-0", r.username) for r in records] == [(True, ""), (False, "mia")]
    assert [(v.flag_id, v.verdict, v.username, v.is_maintainer) for v in store.votes] == [(records[0].id, "correct", "mia", True)]
    verified = verified_examples(records, list(store.votes), 3)
    assert [(r.id, label) for r, label in verified] == [(records[0].id, someone_elses_label)]  # her vote alone verified it
    store.close()


def test_sign_in_off_a_space_needs_a_token(tmp_path):
    out = start_app_expecting_refusal("--state-dir", str(tmp_path / "state"), "--sign-in", "on", env={"HF_TOKEN": "", "SYSTEM": ""})
    assert out.returncode == 2 and "--sign-in on outside a Hugging Face Space needs HF_TOKEN" in out.stderr
    assert not (tmp_path / "state").exists()  # nothing was trained or written


def test_sign_in_off_a_space_asks_the_hub_who_the_token_is_before_anything_loads(fresh_state, tmp_path):
    """Off a Space, Gradio signs everyone in as HF_TOKEN's owner and asks the Hub who that is as it launches:
    a Hub out of reach or a refused token stopped the app there with a traceback. Now it is asked first."""
    off_a_space = {"HF_TOKEN": "hf_owner_token", "SYSTEM": ""}
    with LocalHub() as hub:
        out = start_app_expecting_refusal("--state-dir", str(tmp_path / "unused"), "--sign-in", "on", env={**off_a_space, "HF_ENDPOINT": "http://127.0.0.1:9"})
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "--sign-in on outside a Hugging Face Space signs you in as HF_TOKEN's owner, but the Hub could not say who that is (" in out.stderr
        hub.fail_with = 401  # the token is refused
        out = start_app_expecting_refusal("--state-dir", str(tmp_path / "unused"), "--sign-in", "on", env={**off_a_space, "HF_ENDPOINT": hub.url})
        assert out.returncode == 2 and "could not say who that is (HfHubHTTPError, HTTP 401)" in out.stderr, out.stderr
        assert "hf_owner_token" not in out.stderr and not (tmp_path / "unused").exists()

        hub.fail_with = None  # a Hub that answers: the app serves, everyone signed in as the token's owner
        with running_app(fresh_state, "--sign-in", "on", env={**off_a_space, "HF_ENDPOINT": hub.url}) as url:
            assert httpx.get(f"{url}/login/huggingface", follow_redirects=True).status_code == 200
