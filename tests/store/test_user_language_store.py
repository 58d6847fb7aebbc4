"""Each person's dashboard language is kept in the cache (migration 6)."""

import pytest

from paynet_core.store import Store


def test_a_language_choice_is_kept_per_person_without_touching_the_data_version(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    version = store.data_version()
    assert store.user_language("ayse@example.com") is None
    store.set_user_language("ayse@example.com", "en")
    store.set_user_language("ayse@example.com", "tr")
    store.set_user_language("bob@example.com", "en")
    again = Store.open(tmp_path / "cache.db")  # another replica, or after a restart
    assert again.user_language("ayse@example.com") == "tr"
    assert again.user_language("bob@example.com") == "en"
    assert store.data_version() == version  # no chart recomputes for a preference


def test_only_known_languages_are_stored(tmp_path):
    store = Store.open(tmp_path / "cache.db")
    with pytest.raises(ValueError, match="unknown language"):
        store.set_user_language("ayse@example.com", "de")
    assert store.user_language("") is None
