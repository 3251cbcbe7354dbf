"""Pipelines from Python: the same schema as the YAML files (``slipway.schemas.pipelines``).

    from slipway.pipelines import Pipeline, Parameter, ProcessStep, TrainStep, ConditionStep, Comparison

    retrain = Pipeline(
        parameters={"min_accuracy": Parameter(type="float", default=0.9)},
        steps=[
            ProcessStep(name="prep", script="prep.py", source_dir="prep", inputs={"raw": "reviews-raw:latest"},
                        outputs={"clean": "reviews"}),
            TrainStep(name="train", algorithm="logistic-regression",
                      inputs={"train": "{{ steps.prep.outputs.clean }}"}, validation_split=0.2),
            EvaluateStep(name="evaluate", model="{{ steps.train.model }}"),
            ConditionStep(name="good-enough", when=Comparison(
                op=">=", left="{{ steps.evaluate.metrics['validation:accuracy'] }}",
                right="{{ params.min_accuracy }}"), then=["register"], else_=["too-weak"]),
            RegisterStep(name="register", model="{{ steps.train.model }}", model_name="reviews"),
            FailStep(name="too-weak", message="accuracy below the bar"),
        ])
    client.pipelines.create("retrain", retrain)           # or: Pipeline.from_file("retrain.yaml")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument
from slipway.schemas.pipelines import (
    AllOf,
    AnyOf,
    Comparison,
    ConditionStep,
    DeployStep,
    EvaluateStep,
    FailStep,
    NotOf,
    Parameter,
    PipelineSpec,
    ProcessStep,
    RegisterStep,
    TrainStep,
    TransformStep,
    TuneStep,
)

__all__ = ["AllOf", "AnyOf", "Comparison", "ConditionStep", "DeployStep", "EvaluateStep", "FailStep", "NotOf",
           "Parameter", "Pipeline", "ProcessStep", "RegisterStep", "TrainStep", "TransformStep",
           "TuneStep"]


class Pipeline(PipelineSpec):
    """A pipeline definition; ``from_yaml`` / ``from_file`` read the YAML form, ``to_yaml`` writes it."""

    @classmethod
    def from_yaml(cls, text: str, base_dir: str | Path | None = None) -> Pipeline:
        import yaml

        try:
            data: Any = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidArgument(f"The pipeline file is not valid YAML: {exc}", {"field": "file"}) from None
        if not isinstance(data, dict):
            raise InvalidArgument("The pipeline file must hold a mapping with 'steps' (and optionally "
                                  "'parameters').", {"field": "file", "value": type(data).__name__})
        pipeline = cls.model_validate(data)
        if base_dir is not None:  # a step's source_dir is relative to the file
            for step in pipeline.steps:
                src = getattr(step, "source_dir", None)
                if src and not Path(src).is_absolute():
                    step.source_dir = str(Path(base_dir) / src)
        return pipeline

    @classmethod
    def from_file(cls, path: str | Path) -> Pipeline:
        p = Path(path)
        if not p.is_file():
            raise InvalidArgument(f"Pipeline file {str(p)!r} does not exist.", {"field": "file", "value": str(p)})
        return cls.from_yaml(p.read_text(), base_dir=p.parent)

    def to_yaml(self) -> str:
        import yaml

        data = self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        for step, full in zip(data["steps"], self.steps, strict=True):
            step["type"] = full.type  # the discriminator, even where it is the default
        return str(yaml.safe_dump(data, sort_keys=False))
