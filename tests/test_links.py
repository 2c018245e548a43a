"""Shareable links: settings survive a round trip; hand-edited values fall back, named."""

import torch

from cnncore import links

FIELDS = [
    links.Field("act", "choice", "none", choices=("none", "relu", "sigmoid")),
    links.Field("stride", "int", 1, lo=1, hi=3),
    links.Field("bias", "float", 0.0, lo=-2, hi=2),
    links.Field("colour", "bool", False),
    links.Field("name", "text", "", hi=20),
    links.Field("img", "grid", torch.zeros(1, 5, 5), lo=0, hi=1, shapes=((1, 5, 5), (3, 5, 5))),
]


def test_round_trip_keeps_every_value():
    img = torch.rand(3, 5, 5).mul(1000).round().div(1000)
    values = {"act": "relu", "stride": 2, "bias": -0.5, "colour": True, "name": "Ada", "img": img}
    query = links.encode(FIELDS, values)
    decoded, ignored = links.decode(FIELDS, query)
    assert ignored == []
    assert {k: v for k, v in decoded.items() if k != "img"} == {
        "act": "relu",
        "stride": 2,
        "bias": -0.5,
        "colour": True,
        "name": "Ada",
    }
    assert torch.allclose(decoded["img"], img, atol=5e-4)


def test_defaults_are_left_out_of_the_link():
    values = {"act": "none", "stride": 1, "bias": 0.0, "colour": False, "img": torch.zeros(1, 5, 5)}
    assert links.encode(FIELDS, values) == {}
    assert links.encode(FIELDS, {**values, "stride": 3}) == {"stride": "3"}


def test_bad_values_are_ignored_and_named():
    query = {
        "act": "tanh",  # unknown choice
        "stride": "2.5",  # not whole
        "bias": "1e999",  # not finite
        "colour": "yes",
        "name": "x" * 21,
        "img": "0," * 10_000,  # a 10,000-character grid
        "other": "kept for someone else",
    }
    values, ignored = links.decode(FIELDS, query)
    assert values == {}
    assert [line.split(":")[0] for line in ignored] == [
        "act",
        "stride",
        "bias",
        "colour",
        "name",
        "img",
    ]
    assert "not one of the choices" in ignored[0]
    assert "characters long" in ignored[-1]
    assert links.ignored_message(ignored).startswith("Some values in this link were not valid")


def test_out_of_range_and_wrong_sized_grids_are_refused():
    values, ignored = links.decode(
        FIELDS, {"stride": "9", "bias": "-3", "img": ",".join(["0.5"] * 24)}
    )
    assert values == {}
    assert "outside 1..3" in ignored[0] and "outside -2..2" in ignored[1]
    assert "24 numbers, not 25 or 75" in ignored[2]
    _, ignored = links.decode(FIELDS, {"img": ",".join(["2"] * 25)})
    assert "outside 0..1" in ignored[0]
    values, _ = links.decode(FIELDS, {"img": ",".join(["0.5"] * 75)})
    assert values["img"].shape == (3, 5, 5)


def test_values_that_would_not_decode_stay_out_of_the_link():
    fields = [
        links.Field("lr", "float", 0.001, lo=1e-9, hi=10),
        links.Field("n", "int", 3, lo=1, hi=9),
    ]
    assert links.encode(fields, {"lr": "abc", "n": "2.5"}) == {}
    assert links.encode(fields, {"lr": "0.01", "n": "4"}) == {"lr": "0.01", "n": "4"}


def test_a_list_of_choices_round_trips_and_refuses_unknown_or_repeated_names():
    field = links.Field("models", "choices", ["a", "b"], choices=("a", "b", "c"))
    assert links.encode([field], {"models": ["c", "a"]}) == {"models": "c,a"}
    assert links.decode([field], {"models": "c,a"}) == ({"models": ["c", "a"]}, [])
    assert links.encode([field], {"models": ["a", "b"]}) == {}
    assert "not one of the choices" in links.decode([field], {"models": "a,z"})[1][0]
    assert "twice" in links.decode([field], {"models": "a,a"})[1][0]
    assert links.decode([field], {"models": ""})[1]  # nothing picked is not a list of models
