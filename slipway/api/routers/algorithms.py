"""/api/v1/algorithms: the built-in algorithms with their hyperparameters."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from slipway.algorithms import get_algorithm, list_algorithms
from slipway.api.deps import Name, permission
from slipway.schemas import AlgorithmView

router = APIRouter(prefix="/api/v1/algorithms", tags=["algorithms"])


@router.get("", response_model=list[AlgorithmView], dependencies=[Depends(permission("algorithms:List"))])
async def list_() -> list[AlgorithmView]:
    return [AlgorithmView.model_validate(a.to_dict()) for a in list_algorithms()]


@router.get("/{name}", response_model=AlgorithmView,
            dependencies=[Depends(permission("algorithms:Get", "algorithm/{name}"))])
async def show(name: Name) -> AlgorithmView:
    return AlgorithmView.model_validate(get_algorithm(name).to_dict())
