"""The Coveo errors, one tree: every failure of a Coveo call becomes one of these.

Every failure becomes a `CoveoError` carrying the HTTP status, Coveo's error code
and request id (for support tickets); bot/replies/ turns each kind into user text.

    CoveoError
    ├── TokenRejected          401 or 419: the service user's token expired, was revoked, or is another region's
    ├── NotAllowed             403: the token lacks the API key View privilege on this org
    ├── OrganizationNotFound   404: no such org in this client's region
    ├── Throttled              429: Coveo asks us to slow down (retry_after seconds)
    ├── Blocked                Coveo's web application firewall blocked the request (x-coveo-waf-action: block)
    ├── CoveoUnavailable       5xx or network failure
    │   ├── BadGateway         502: Coveo could not reach one of its own services
    │   └── CoveoTimeout       no answer before the command's deadline
    ├── BadResponse            an answer that is not the JSON we expect (or a redirect)
    │   ├── ErrorPage          an HTML error page instead of the API's JSON (a proxy, a wrong host)
    │   └── ResponseTooLarge   a body past MAX_RESPONSE_BYTES
    ├── ClientFailure          anything else that went wrong in this one call (a bug, a local
    │                          problem): still this region's failure, never the whole answer's
    └── RegionClosed           a region this person may not ask (its own user groups): not asked at all

Each has a stable `kind` for audit lines and logs.
"""

from __future__ import annotations


class CoveoError(Exception):
    """A Coveo call failed. `detail` is for logs; users see text from bot/replies/."""

    kind = "coveo_error"  # stable: audit lines and logs name the error by it

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


class TokenRejected(CoveoError):
    kind = "token_rejected"


class NotAllowed(CoveoError):
    kind = "not_allowed"


class OrganizationNotFound(CoveoError):
    kind = "organization_not_found"


class Throttled(CoveoError):
    kind = "throttled"


class Blocked(CoveoError):
    kind = "blocked"


class CoveoUnavailable(CoveoError):
    kind = "coveo_unavailable"


class BadGateway(CoveoUnavailable):
    kind = "bad_gateway"


class CoveoTimeout(CoveoUnavailable):
    kind = "coveo_timeout"


class BadResponse(CoveoError):
    kind = "bad_response"


class ErrorPage(BadResponse):
    kind = "error_page"


class ResponseTooLarge(BadResponse):
    """A body past MAX_RESPONSE_BYTES."""

    kind = "response_too_large"


class ClientFailure(CoveoError):
    """A call failed in an unexpected way (not one of Coveo's answers): kept to its region."""

    kind = "client_failure"

    @classmethod
    def of(cls, exc: BaseException) -> ClientFailure:
        # Its type only: the exception's text may quote the token or the answer.
        return cls(f"the call to Coveo failed in the bot ({type(exc).__name__})")


class RegionClosed(CoveoError):
    """A region this person may not ask (it has its own user groups): it was not asked."""

    kind = "region_closed"
