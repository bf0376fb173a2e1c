"""How the API commands reach the API, and the one-line errors they give when they cannot.

A key comes from ``--api-key`` / ``--token``, else ``BATCHGATE_API_KEY`` / ``BATCHGATE_TOKEN``,
else from the running local stack whose API is the ``--url`` (``batchgate up`` writes its URL and
key to its state file). Every failure a person can fix ends as one line on stderr that says how,
and exit code 2: never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any

import requests

from batchgate_tools.client import Client, ClientError
from batchgate_tools.local.state import running_stacks

EXIT_ERROR = 2
LOCAL_URL = "http://localhost:3000"


class CliError(Exception):
    """A failure the user can fix; its message says how."""


def same_url(a: str, b: str) -> bool:
    norm = [u.rstrip("/").replace("://localhost:", "://127.0.0.1:") for u in (a, b)]
    return norm[0] == norm[1]


def local_stack_for(url: str) -> dict[str, Any] | None:
    """The running local stack serving ``url`` (for the default URL: the newest one running)."""
    stacks = running_stacks()
    for info in stacks:
        if same_url(str(info.get("api", "")), url):
            return info
    if same_url(url, LOCAL_URL) and stacks:
        return stacks[0]
    return None


def api_client(args: argparse.Namespace) -> Client:
    url, key, token, org, sandbox = args.url, args.api_key, args.token, args.org, args.sandbox
    if not key or not token:
        info = local_stack_for(url)
        if info is None:
            raise CliError(
                "no API key: pass --api-key/--token or set BATCHGATE_API_KEY/BATCHGATE_TOKEN "
                "(in AWS: `batchgate keys create --stack NAME`); with `batchgate up` running, its key is used"
            )
        url, key, token = str(info["api"]), str(info["keyId"]), str(info["token"])
        org, sandbox = org or str(info["org"]), sandbox or str(info["sandbox"])
    return Client(url, key, token, org or "local", sandbox or "prod")


def _api_error(exc: ClientError, url: str) -> str:
    if exc.code in ("HTTP-401", "HTTP-403"):
        # API Gateway's own answer: the authorizer refused the key before the API saw the call.
        return (
            f"error: {url} refused the key ({exc.status} {exc.message}): check --api-key/--token "
            "(BATCHGATE_API_KEY/BATCHGATE_TOKEN) and --org/--sandbox"
        )
    if exc.code.startswith("HTTP-"):
        return (
            f"error: {url} answered {exc.status} but is not a batchgate API: check --url / BATCHGATE_URL "
            "(in AWS the stack's ApiUrl output, stage included; locally what `batchgate up` prints)"
        )
    rid = f" (request {exc.request_id})" if exc.request_id else ""
    return f"error {exc.code}: {exc.message}{rid}"


def aws_error(exc: Exception) -> str | None:
    """A botocore error a person can fix, as one line; None for anything else."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoRegionError):
        return "error: no AWS region: pass --region or set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)"
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.ProfileNotFound):
        return (
            f"error: no usable AWS credentials ({exc}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (`aws configure` writes a profile)"
        )
    if isinstance(exc, bx.EndpointConnectionError):
        return f"error: cannot reach AWS ({exc}): check AWS_ENDPOINT_URL and the network"
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        return f"error: AWS said {err.get('Code')}: {err.get('Message')}"
    return None


def guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Known failures → one readable line on stderr and exit code 2, never a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        url = getattr(args, "url", None) or LOCAL_URL
        try:
            return int(func(args))
        except CliError as exc:
            message = f"error: {exc}"
        except ClientError as exc:
            message = _api_error(exc, url)
        except requests.ConnectionError:
            message = (
                f"error: nothing answers at {url}: start the local stack with `batchgate up`, or point "
                "--url / BATCHGATE_URL at your API (in AWS the stack's ApiUrl output)"
            )
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ):
            message = (
                f"error: {url!r} is not a URL: give --url / BATCHGATE_URL as http(s)://host[:port][/stage]"
            )
        except requests.Timeout:
            message = f"error: {url} did not answer in time: is it the batchgate API? (--url / BATCHGATE_URL)"
        except (OSError, ValueError, TimeoutError) as exc:
            message = f"error: {exc}"
        except Exception as exc:
            known = aws_error(exc)
            if known is None:
                raise
            message = known
        print(message, file=sys.stderr)
        return EXIT_ERROR

    return run
