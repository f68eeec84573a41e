from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

handler404 = "config.api_errors.not_found"
handler500 = "config.unavailable.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("config.api_urls")),
    path("search/", include("search.urls")),
    path("", include("catalog.urls")),
]


# What stored files can be (originals in the formats uploads accept, JPEG thumbnails); no SVG.
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff", "image/heic"}


def serve_media(request: HttpRequest, path: str) -> HttpResponse:
    """Local-disk media: images with their own type, never sniffed; anything else (a file stored
    under its uploader's name before uploads were named by content) only as a download."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    if response.status_code == 200 and response.get("Content-Type") not in IMAGE_TYPES:
        response["Content-Type"] = "application/octet-stream"
        response["Content-Disposition"] = "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    return response


if settings.SERVE_MEDIA:
    # Local-disk media without a separate web server (development and the demo).
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", serve_media)]
