"""The Coveo errors, one tree: every failure of a Coveo call becomes one of these."""

from __future__ import annotations

import re


class CoveoError(Exception):
    """A Coveo call failed. `detail` is for logs; users see text from `replies.py`."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.message = message  # Coveo's own explanation (its `detail` or `message`), when it gave one
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        """A short stable name for logs and the audit trail."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


class TokenRejected(CoveoError): ...


class NotAllowed(CoveoError): ...


class OrganizationNotFound(CoveoError): ...


class Throttled(CoveoError): ...


class Blocked(CoveoError): ...


class CoveoUnavailable(CoveoError): ...


class BadGateway(CoveoUnavailable): ...


class CoveoTimeout(CoveoUnavailable): ...


class BadResponse(CoveoError): ...


class ErrorPage(BadResponse): ...


class ResponseTooLarge(BadResponse):
    """A body past MAX_RESPONSE_BYTES."""


class ClientFailure(CoveoError):
    """A call failed in an unexpected way (not one of Coveo's answers): kept to its region."""

    @classmethod
    def of(cls, exc: BaseException) -> ClientFailure:
        # Its type only: the exception's text may quote the token or the answer.
        return cls(f"the call to Coveo failed in the bot ({type(exc).__name__})")


class RegionClosed(CoveoError):
    """A region this person may not ask (it has its own user groups): it was not asked."""
