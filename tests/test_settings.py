"""Server settings: profiles, the file, environment overrides, plain refusals of bad values."""

import pytest

from cnncore.errors import UserError
from cnncore.settings import load_settings, profile_defaults


def test_laptop_is_the_default_and_listens_on_this_machine_only(tmp_path):
    s = load_settings({}, n_cores=8)
    assert s.profile == "laptop" and s.mode == "personal" and s.address == "localhost"
    assert s.jobs_at_once * s.threads_per_job <= 8


@pytest.mark.parametrize("cores", [1, 2, 4, 16, 64])
@pytest.mark.parametrize("profile", ["laptop", "class"])
def test_no_profile_puts_more_threads_to_work_than_cores(profile, cores):
    s = profile_defaults(profile, cores, 16000)
    assert s.jobs_at_once >= 1 and s.threads_per_job >= 1
    assert s.jobs_at_once * s.threads_per_job <= cores
    assert s.memory_per_job_mb <= s.memory_budget_mb


def test_class_profile_for_30_students_on_16_cores():
    s = profile_defaults("class", 16, 64000)
    assert s.mode == "class" and s.address == "0.0.0.0"
    assert (s.running_per_visitor, s.queued_per_visitor) == (1, 1)
    assert s.jobs_at_once * s.threads_per_job < 16  # a core is left for the web server
    assert s.max_batch_size <= 1024 and s.max_runs_per_workspace <= 100


def test_file_then_environment_override_the_profile(tmp_path):
    f = tmp_path / "cnn-explorer.toml"
    f.write_text('profile = "class"\njobs_at_once = 2\nmax_epochs = 5\n')
    s = load_settings({"CNN_EXPLORER_CONFIG": str(f)}, n_cores=16)
    assert (s.profile, s.jobs_at_once, s.max_epochs) == ("class", 2, 5)
    env = {"CNN_EXPLORER_CONFIG": str(f), "CNN_EXPLORER_MAX_EPOCHS": "7"}
    s = load_settings({**env, "CNN_EXPLORER_JOBS_AT_ONCE": "3"}, n_cores=16)
    assert (s.profile, s.jobs_at_once, s.max_epochs) == ("class", 3, 7)
    # the laptop profile's job takes 15 of 16 cores: two of them at once is refused
    with pytest.raises(UserError, match="2 x 15 = 30 compute threads"):
        load_settings({**env, "CNN_EXPLORER_PROFILE": "laptop"}, n_cores=16)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"CNN_EXPLORER_PROFILE": "school"}, "profile 'school' is not known"),
        ({"CNN_EXPLORER_JOBS_AT_ONCE": "many"}, "not a whole number"),
        ({"CNN_EXPLORER_MAX_BATCH_SIZE": "0"}, "must be at least 1"),
        (
            {"CNN_EXPLORER_JOBS_AT_ONCE": "4", "CNN_EXPLORER_THREADS_PER_JOB": "2"},
            "more than the 4 cores",
        ),
        ({"CNN_EXPLORER_MODE": "open"}, "use one of personal, class"),
        ({"CNN_EXPLORER_MEMORY_PER_JOB_MB": "99999999"}, "could never start"),
        ({"CNN_EXPLORER_CONFIG": "/nonexistent/cnn.toml"}, "does not exist"),
        ({"CNN_EXPLORER_JOB_NICE": "-5"}, "job_nice .* must be at least 0"),
        ({"CNN_EXPLORER_JOB_NICE": "20"}, "job_nice is 20; it can be at most 19"),
    ],
)
def test_bad_settings_are_one_plain_sentence(env, says):
    with pytest.raises(UserError, match=says) as exc:
        load_settings(env, n_cores=4)
    assert "\n" not in str(exc.value) and "Traceback" not in str(exc.value)


def test_bad_file_is_one_plain_sentence(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("jobs_at_once = [\n")
    with pytest.raises(UserError, match="not a valid TOML"):
        load_settings({"CNN_EXPLORER_CONFIG": str(f)}, n_cores=4)
    f.write_text("jobs_at_one = 2\n")
    with pytest.raises(UserError, match="unknown setting 'jobs_at_one'"):
        load_settings({"CNN_EXPLORER_CONFIG": str(f)}, n_cores=4)


def test_job_nice_defaults_to_10_and_0_turns_it_off():
    assert load_settings({}, n_cores=4).job_nice == 10
    assert load_settings({"CNN_EXPLORER_JOB_NICE": "0"}, n_cores=4).job_nice == 0
