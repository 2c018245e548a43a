"""AppTest of the shell: the entry script, the sidebar and the home page."""

from tests.app.conftest import open_page


def test_home_renders_story_and_loaded_data():
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "CNN Explorer"
    sidebar_text = " ".join(c.value for c in at.sidebar.caption)
    assert "bundled" in sidebar_text and "4,000 train / 500 validation / 500 test" in sidebar_text
    assert any("141,258 parameters" in m.value for m in at.markdown)


def test_switching_source_to_unavailable_dataset_falls_back_with_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("CNN_EXPLORER_OFFLINE", "1")
    at = open_page()
    # Fashion-MNIST is not on disk and downloads are off: the sidebar says so and the
    # page keeps working on the bundled digits.
    at.sidebar.selectbox(key="data_source").select("fashion-mnist").run()
    assert not at.exception
    assert at.sidebar.error, "the failure must be shown"
    assert "fashion-mnist" in at.sidebar.error[0].value
    assert "bundled" in " ".join(c.value for c in at.sidebar.caption)
