import pytest
import torch

from optimize import RecipeError, canonical_recipe, parse_recipe
from optimize.passes.base import Param
from optimize.recipe_syntax import PassCall, parse_calls


def test_calls_with_positional_and_keyword_arguments():
    calls = parse_calls("prune(0.3, importance=taylor, recover=10)+bf16")
    assert calls == [
        PassCall("prune", (0.3,), {"importance": "taylor", "recover": 10}),
        PassCall("bf16"),
    ]


def test_numbers_keep_their_type():
    (call,) = parse_calls("x(1, 2.5, -3, 1e-3, true)")
    assert call.args == (1, 2.5, -3, 0.001, True)
    assert isinstance(call.args[0], int) and isinstance(call.args[1], float)


@pytest.mark.parametrize("text", ["bf16", "BF16", " bf16 ", "bf16()"])
def test_same_recipe_prints_the_same_way(text):
    assert canonical_recipe(text) == "bf16"


def test_dtype_of_recipe():
    assert parse_recipe("fp16").dtype == torch.float16
    assert parse_recipe("fp32").dtype == torch.float32


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("prune(", "prune("),
        ("fp16++", "'+' at position 5"),
        ("+", "'+'"),
        ("", "empty recipe"),
        ("   ", "empty recipe"),
        ("bf16 fp16", "'fp16'"),
        ("bf16)", "')'"),
        ("a(k=1,2)", "positional argument"),
        ("a(k=)", "a value after '='"),
        ("fp16$", "'$'"),
    ],
)
def test_malformed_recipes_say_where(text, named):
    with pytest.raises(RecipeError) as error:
        parse_recipe(text)
    message = str(error.value)
    assert "\n" not in message
    assert named in message


def test_unknown_pass_lists_the_known_ones():
    with pytest.raises(RecipeError, match=r"unknown pass 'int9': known passes are .*bf16.*fp16.*fp32"):
        parse_recipe("int9")


def test_arguments_are_checked_against_the_pass():
    with pytest.raises(RecipeError, match="at most 0 argument"):
        parse_recipe("fp16(1)")
    with pytest.raises(RecipeError, match="unknown argument 'x'"):
        parse_recipe("bf16(x=1)")


def test_conflicting_dtypes_are_unsupported_with_a_reason():
    recipe = parse_recipe("fp16+bf16")
    assert "sets the compute dtype once" in recipe.unsupported_reason(torch.device("cpu"))


def test_param_binding_and_canonical_form():
    from optimize.passes.base import Pass

    class Demo(Pass):
        name = "demo"
        summary = "test only"
        params = (
            Param("ratio", float, low=0.0, high=1.0),
            Param("importance", str, default="magnitude", choices=("magnitude", "taylor")),
            Param("steps", int, default=0),
        )

        def apply(self, pipeline, context):
            return pipeline

    def bind(text):
        return Demo.bind(parse_calls(text)[0])

    assert bind("demo(0.3)").canonical() == "demo(0.3)"
    assert bind("demo(ratio=0.3)").canonical() == "demo(0.3)"
    assert bind("demo(0.30, importance=magnitude)").canonical() == "demo(0.3)"
    assert bind("demo(1e-1, steps=5, importance=taylor)").canonical() == "demo(0.1,importance=taylor,steps=5)"
    with pytest.raises(RecipeError, match=r"ratio=1.5 is outside \(0.0, 1.0\)"):
        bind("demo(1.5)")
    with pytest.raises(RecipeError, match="importance='l2' is not one of magnitude, taylor"):
        bind("demo(0.3, importance=l2)")
    with pytest.raises(RecipeError, match="missing required argument 'ratio'"):
        bind("demo")
    with pytest.raises(RecipeError, match=r"steps=0\.5 is not a int"):
        bind("demo(0.3, steps=0.5)")
    with pytest.raises(RecipeError, match="'ratio' given twice"):
        bind("demo(0.3, ratio=0.4)")


@pytest.mark.parametrize("text", ["onnx+bf16", "ort+fp16", "ort-int8+bf16", "onnx+ort+fp32"])
def test_a_dtype_pass_after_an_export_is_refused_with_the_reason(text):
    # The cast would reach only torch modules; the exported components are ORT sessions by then.
    reason = parse_recipe(text).unsupported_reason(torch.device("cpu"))
    assert reason is not None and "\n" not in reason
    cast = text.rsplit("+", 1)[1]
    assert reason.startswith(f"{cast} after ") and "does not reach them" in reason and "drop" in reason


def test_a_dtype_pass_before_an_export_is_still_accepted():
    assert parse_recipe("fp32+onnx").unsupported_reason(torch.device("cpu")) is None
    assert parse_recipe("onnx+ort").unsupported_reason(torch.device("cpu")) is None
