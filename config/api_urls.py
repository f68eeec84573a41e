from django.urls import include, path
from rest_framework.routers import DefaultRouter

from catalog.api import ImageViewSet
from search import api as search_api

router = DefaultRouter()
router.register("images", ImageViewSet, basename="image")

urlpatterns = [
    path("", include(router.urls)),
    path("search/images/", search_api.search_images, name="api-search-images"),
    path("search/by-photo/", search_api.search_by_photo, name="api-search-by-photo"),
    path("search/words/", search_api.search_words, name="api-search-words"),
    path("classes/", search_api.imagenet_classes, name="api-classes"),
]
