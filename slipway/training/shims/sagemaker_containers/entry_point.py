"""sagemaker_containers.entry_point: a Slipway job runs on one host, so there is no other host to wait for."""


def _wait_hostname_resolution() -> None:
    return None
