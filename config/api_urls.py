from django.urls import include, path
from rest_framework.routers import DefaultRouter

from ingest import api as ingest_api
from search import api

router = DefaultRouter()
router.register("images", ingest_api.ImageViewSet, basename="image")

urlpatterns = [
    path("", include(router.urls)),
    path("search/images/", api.search_images, name="api-search-images"),
    path("search/similar/<int:pk>/", api.similar_items, name="api-search-similar"),
    path("search/by-photo/", api.search_by_photo, name="api-search-by-photo"),
    path("search/words/", api.search_words, name="api-search-words"),
    path("classes/", api.imagenet_classes, name="api-classes"),
]
