"""Pipeline definitions: what `create` refuses (a test for each kind), YAML and Python giving one schema."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from slipway.errors import InvalidArgument
from slipway.pipelines import Comparison, ConditionStep, EvaluateStep, FailStep, Parameter, Pipeline, TrainStep
from slipway.services import Platform
from slipway.services.pipeline_graph import check_parameters

YAML = """
parameters:
  min_accuracy: {type: float, default: 0.9}
steps:
  - name: train
    type: train
    algorithm: logistic-regression
    inputs: {train: "cancer:1"}
    validation_split: 0.2
  - name: evaluate
    type: evaluate
    model: "{{ steps.train.model }}"
  - name: check
    type: condition
    when: {op: ">=", left: "{{ steps.evaluate.metrics['validation:accuracy'] }}", right: "{{ params.min_accuracy }}"}
    then: [register]
    else: [too-weak]
  - name: register
    type: register
    model: "{{ steps.train.model }}"
    model_name: cancer
  - name: too-weak
    type: fail
    message: "accuracy below {{ params.min_accuracy }}"
"""


def _base() -> dict[str, Any]:
    return Pipeline.from_yaml(YAML).model_dump(mode="json", by_alias=True)


def test_yaml_and_python_give_the_same_definition_and_graph(platform: Platform) -> None:
    from_yaml = Pipeline.from_yaml(YAML)
    from_python = Pipeline(
        parameters={"min_accuracy": Parameter(type="float", default=0.9)},
        steps=[TrainStep(name="train", algorithm="logistic-regression", inputs={"train": "cancer:1"},
                         validation_split=0.2),
               EvaluateStep(name="evaluate", model="{{ steps.train.model }}"),
               ConditionStep(name="check", when=Comparison(
                   op=">=", left="{{ steps.evaluate.metrics['validation:accuracy'] }}",
                   right="{{ params.min_accuracy }}"), then=["register"], else_=["too-weak"]),
               {"name": "register", "type": "register", "model": "{{ steps.train.model }}", "model_name": "cancer"},
               FailStep(name="too-weak", message="accuracy below {{ params.min_accuracy }}")])
    assert from_python.model_dump() == from_yaml.model_dump()
    assert Pipeline.from_yaml(from_yaml.to_yaml()).model_dump() == from_yaml.model_dump()
    view = platform.pipelines.create("retrain", from_python)
    assert view.version == 1
    assert view.graph == {"train": [], "evaluate": ["train"], "check": ["evaluate"], "register": ["train", "check"],
                          "too-weak": ["check"]}
    assert platform.pipelines.create("retrain", from_yaml).version == 1  # same definition: no new version


def _refused(platform: Platform, data: dict[str, Any]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as err:
        platform.pipelines.create("p", Pipeline.model_validate(data))
    return err.value


def test_a_cycle_is_refused_naming_its_steps(platform: Platform) -> None:
    data = _base()
    data["steps"][0]["depends_on"] = ["register"]
    err = _refused(platform, data)
    assert "cycle" in err.message and err.details["value"] == ["train", "register", "train"]


def test_a_reference_to_a_missing_step_or_output_is_refused(platform: Platform) -> None:
    data = _base()
    data["steps"][1]["model"] = "{{ steps.trian.model }}"
    err = _refused(platform, data)
    assert err.details["field"] == "steps.evaluate.model" and "'trian'" in err.message
    data = _base()
    data["steps"][3]["model"] = "{{ steps.train.weights }}"
    assert "output 'weights'" in _refused(platform, data).message
    data = _base()
    data["steps"][0]["hyperparameters"] = {"C": "{{ params.c }}"}
    assert "parameter 'c'" in _refused(platform, data).message
    data = _base()
    data["steps"][1]["depends_on"] = ["nope"]
    assert _refused(platform, data).details["field"] == "steps.evaluate.depends_on"


def test_a_parameter_of_the_wrong_type_is_refused_at_create_and_at_run(platform: Platform) -> None:
    data = _base()
    data["parameters"]["min_accuracy"]["default"] = "high"
    err = _refused(platform, data)
    assert err.details == {"field": "parameters.min_accuracy.default", "value": "high", "expected": "float"}
    spec = Pipeline.from_yaml(YAML)
    assert check_parameters(spec, {"min_accuracy": "0.95"}) == {"min_accuracy": 0.95}
    with pytest.raises(InvalidArgument, match="is a float"):
        check_parameters(spec, {"min_accuracy": "abc"})
    with pytest.raises(InvalidArgument, match="Unknown parameter"):
        check_parameters(spec, {"min_acc": 1})


def test_a_condition_on_incompatible_types_is_refused(platform: Platform) -> None:
    data = _base()
    data["steps"][2]["when"] = {"op": ">=", "left": "{{ steps.train.model }}", "right": 0.9}
    err = _refused(platform, data)
    assert "incompatible types" in err.message and err.details["value"] == "model >= float"
    data["steps"][2]["when"] = {"all": [{"op": "==", "left": "{{ params.min_accuracy }}", "right": "x"}]}
    assert "incompatible" in _refused(platform, data).message


def test_a_tune_step_with_a_bad_range_or_strategy_is_refused(platform: Platform) -> None:
    data = _base()
    data["steps"][0] = {**data["steps"][0], "type": "tune", "objective": "validation:accuracy",
                        "ranges": ["nope=1:2"]}
    err = _refused(platform, data)
    assert err.details["field"] == "steps.train.range" and "no hyperparameter 'nope'" in err.message
    data["steps"][0]["ranges"] = ["C=0.1:10:log"]
    data["steps"][0]["strategy"] = "psychic"
    assert "psychic" in _refused(platform, data).message


@pytest.mark.parametrize(("field", "value"), [("cpus", 0), ("cpus", 2000), ("gpus", -1), ("gpus", 65)])
def test_a_step_asking_impossible_cpus_or_gpus_is_refused_naming_the_field(field: str, value: float) -> None:
    data = _base()
    data["steps"][0][field] = value
    with pytest.raises(ValidationError) as err:
        Pipeline.model_validate(data)
    assert any(e["loc"][-1] == field and e["input"] == value for e in err.value.errors()), err.value
