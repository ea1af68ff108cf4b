"""Dependencies injected into routes.

All `async def`: they only read the app's state, and FastAPI runs a plain `def` dependency in
a worker thread, a thread hop (and, under load, a wait for the GIL) per dependency per
request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rag_service.core.config import Settings
from rag_service.core.errors import DatabaseUnavailable
from rag_service.pipeline import RagPipeline
from rag_service.services import Services


async def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise DatabaseUnavailable("the service is still starting")
    return services


async def get_pipeline(services: Annotated[Services, Depends(get_services)]) -> RagPipeline:
    if services.pipeline is None:
        raise DatabaseUnavailable("the ask pipeline is not loaded")
    return services.pipeline


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests give an app other limits than its
    shared services')."""
    settings: Settings = request.app.state.settings
    return settings


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PipelineDep = Annotated[RagPipeline, Depends(get_pipeline)]
