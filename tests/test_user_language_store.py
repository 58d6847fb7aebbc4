from paynet_core.store import Store
def test_lang(tmp_path):
    s = Store.open(tmp_path/"c.db") if hasattr(Store,"open") else Store(tmp_path/"c.db")
    v = s.data_version()
    assert s.user_language("a@b") is None
    s.set_user_language("a@b","en"); s.set_user_language("a@b","tr")
    assert s.user_language("a@b")=="tr" and s.data_version()==v
