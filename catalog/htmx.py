"""Pages answer htmx's requests for a part of themselves with that part alone."""

from django.http import HttpRequest


def wants_partial(request: HttpRequest) -> bool:
    """An htmx request for a part of the page (not a boosted link or a history restore)."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request
