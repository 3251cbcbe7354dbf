"""The Python SDK: a typed client over the REST API that raises the server's error classes.

    from slipway import Client
    c = Client()                       # finds the local server (or SLIPWAY_URL)
    v = c.datasets.push("cancer", "cancer.csv", label="target")
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING

from slipway.sdk.http import Api
from slipway.settings import Settings

if TYPE_CHECKING:
    from slipway.schemas import ServerStatus
    from slipway.schemas.auth import WhoAmI
    from slipway.sdk.audit import Audit
    from slipway.sdk.datasets import Datasets
    from slipway.sdk.endpoints import Endpoints
    from slipway.sdk.jobs import Algorithms, Jobs
    from slipway.sdk.keys import Keys
    from slipway.sdk.models import Models
    from slipway.sdk.monitors import Alarms, Baselines, Monitors
    from slipway.sdk.pipelines import Pipelines
    from slipway.sdk.plain import Plain
    from slipway.sdk.roles import Roles
    from slipway.sdk.secrets import Secrets
    from slipway.sdk.transforms import Transforms
    from slipway.sdk.tuning import TuningJobs
    from slipway.sdk.users import Users

__all__ = ["Client"]


class Client:
    """Entry point of the SDK. ``url``/``api_key`` default to the local server and its credentials."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        settings: Settings | None = None,
    ) -> None:
        from slipway.credentials import find_key
        from slipway.home import read_server_file

        settings = settings or Settings.load(home=home)
        info = read_server_file(settings.home)
        local_url = info["url"] if info and "url" in info else None
        if url is None:
            url = settings.url if os.environ.get("SLIPWAY_URL") else local_url or settings.url
        # Key: argument, SLIPWAY_API_KEY, a `slipway login` profile for the URL, else the home's own admin key.
        api_key = api_key or os.environ.get("SLIPWAY_API_KEY") or find_key(settings.credentials_file, url, local_url)
        self.settings = settings
        self.url = url
        self._api = Api(url, api_key, timeout, verify=os.environ.get("SLIPWAY_CA_BUNDLE") or True)

    # Each resource (and the pydantic models it uses) is imported on first use: a command that reads the
    # status should not pay for building every model of the API.

    @cached_property
    def datasets(self) -> Datasets:
        from slipway.sdk.datasets import Datasets

        return Datasets(self._api)

    @cached_property
    def users(self) -> Users:
        from slipway.sdk.users import Users

        return Users(self._api)

    @cached_property
    def keys(self) -> Keys:
        from slipway.sdk.keys import Keys

        return Keys(self._api)

    @cached_property
    def roles(self) -> Roles:
        from slipway.sdk.roles import Roles

        return Roles(self._api)

    @cached_property
    def audit(self) -> Audit:
        from slipway.sdk.audit import Audit

        return Audit(self._api)

    @cached_property
    def secrets(self) -> Secrets:
        from slipway.sdk.secrets import Secrets

        return Secrets(self._api)

    @cached_property
    def jobs(self) -> Jobs:
        from slipway.sdk.jobs import Jobs

        return Jobs(self._api)

    @cached_property
    def algorithms(self) -> Algorithms:
        from slipway.sdk.jobs import Algorithms

        return Algorithms(self._api)

    @cached_property
    def models(self) -> Models:
        from slipway.sdk.models import Models

        return Models(self._api)

    @cached_property
    def endpoints(self) -> Endpoints:
        from slipway.sdk.endpoints import Endpoints

        return Endpoints(self._api)

    @cached_property
    def transforms(self) -> Transforms:
        from slipway.sdk.transforms import Transforms

        return Transforms(self._api)

    @cached_property
    def tuning(self) -> TuningJobs:
        from slipway.sdk.tuning import TuningJobs

        return TuningJobs(self._api)

    @cached_property
    def baselines(self) -> Baselines:
        from slipway.sdk.monitors import Baselines

        return Baselines(self._api)

    @cached_property
    def monitors(self) -> Monitors:
        from slipway.sdk.monitors import Monitors

        return Monitors(self._api)

    @cached_property
    def alarms(self) -> Alarms:
        from slipway.sdk.monitors import Alarms

        return Alarms(self._api)

    @cached_property
    def pipelines(self) -> Pipelines:
        from slipway.sdk.pipelines import Pipelines

        return Pipelines(self._api, self.jobs)

    @cached_property
    def plain(self) -> Plain:
        """Reads that give the server's JSON as records, without pydantic (slipway.sdk.plain; the CLI's lists)."""
        from slipway.sdk.plain import Plain

        return Plain(self._api)

    def status(self) -> ServerStatus:
        from slipway.schemas.common import ServerStatus

        return ServerStatus.model_validate(self._api.json("GET", "/api/v1/status"))

    def whoami(self) -> WhoAmI:
        """The user and key this client authenticates as."""
        from slipway.schemas.auth import WhoAmI

        return WhoAmI.model_validate(self._api.json("GET", "/api/v1/whoami"))

    def close(self) -> None:
        if "plain" in self.__dict__:
            self.plain.close()
        self._api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
